import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {connectEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import {collectReport} from '../../src/report/collect.js'
import {renderHtml} from '../../src/report/render-html.js'
import {renderJson} from '../../src/report/render-json.js'
import {renderMarkdown} from '../../src/report/render-markdown.js'
import {StateStore} from '../../src/state/state-store.js'

/** The report of a state store with nothing in it: before `strangler init`, and right after. */
describe('report on a brand-new state store', () => {
  let engine: Engine
  let state: StateStore

  beforeAll(async () => {
    engine = await connectEngine(`pglite://memory/report-empty-${process.pid}`)
    state = StateStore.on(engine)
  }, 60_000)
  afterAll(async () => {
    await engine?.close()
  })

  it('reports the plan services as planned, and creates nothing, before init', async () => {
    const data = await collectReport(state, {services: ['users', 'orders'], generatedAt: '2026-01-01T00:00:00.000Z'})
    expect(data.stateStore).toEqual({initialised: false, prefix: 'strangler_', dialect: 'postgres'})
    expect(data.services.map((s) => [s.name, s.phase, s.status.ok])).toEqual([
      ['users', 'planned', true],
      ['orders', 'planned', true],
    ])
    expect(renderMarkdown(data)).toContain('The control-plane tables do not exist yet: run `strangler init` first.')
    expect(renderHtml(data)).toContain('<code>strangler init</code>')
    // read-only: the probe created no table
    expect(await state.isReady()).toBe(false)
    const tables = await state.sql.query<{n: string}>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name LIKE 'strangler%'`)
    expect(Number(tables[0].n)).toBe(0)
  })

  it('reports empty sections after init', async () => {
    await state.migrate()
    const data = await collectReport(state, {services: ['users'], generatedAt: '2026-01-01T00:00:00.000Z'})
    expect(data.stateStore.initialised).toBe(true)
    const [users] = data.services
    expect(users).toMatchObject({
      name: 'users',
      phase: 'planned',
      updatedAt: null,
      status: {ok: true, problems: []},
      transitions: [],
      relay: {points: [], totalPoints: 0, latest: null, maxLagSeconds: null},
      diff: {runs: [], lastRun: null, lastRunKeys: [], lastRunKeysTotal: 0},
      shadow: {points: [], totals: {sampled: 0, mismatches: 0, errors: 0, rate: 0}},
      deadLetters: {unresolved: 0, resolved: 0, items: []},
      gates: {evaluations: [], latest: []},
    })
    const md = renderMarkdown(data)
    expect(md).toContain('_Nothing recorded yet: phase transitions, toggle changes, relay samples, backfill, diff runs, shadow samples, dead letters, gate evaluations, audit records._')
    expect(JSON.parse(renderJson(data))).toEqual(data)
  })

  it('lists services the state store knows but the plan does not, after the planned ones', async () => {
    await state.db.insertInto(state.t('transitions')).values({service: 'legacy', from_phase: 'planned', to_phase: 'shadow', at: '2026-01-01T00:00:00.000Z', operator: 'bob', run_id: 'r1', reason: null, forced: false}).execute()
    await state.db.insertInto(state.t('gate_evals')).values({service: 'alpha', at: '2026-01-01T00:00:00.000Z', context: 'shift', gate: 'diff', value: 'clean', threshold: 'clean', ok: true}).execute()
    const data = await collectReport(state, {services: ['users']})
    expect(data.services.map((s) => s.name)).toEqual(['users', 'alpha', 'legacy'])
    const one = await collectReport(state, {service: 'legacy'})
    expect(one.services.map((s) => s.name)).toEqual(['legacy'])
    expect(one.services[0].transitions).toHaveLength(1)
  })
})
