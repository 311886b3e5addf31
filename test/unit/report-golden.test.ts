import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {connectEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import {collectReport} from '../../src/report/collect.js'
import type {ReportData} from '../../src/report/report-data.js'
import {renderJson} from '../../src/report/render-json.js'
import {renderMarkdown} from '../../src/report/render-markdown.js'
import {StateStore} from '../../src/state/state-store.js'
import {fillReportState, GENERATED_AT, PLAN_SERVICES, SECRET} from '../fixtures/report/fill-state.js'

/**
 * Golden tests: the JSON and Markdown reports of a fixed state store (embedded
 * PGlite, deterministic rows, fixed `generatedAt`) must equal the reviewed
 * files in test/fixtures/report/ byte for byte. After an intended change,
 * regenerate them with `UPDATE_GOLDEN=1 npx vitest run test/unit/report-golden.test.ts`
 * and review the diff.
 */
const DIR = join(import.meta.dirname, '..', 'fixtures', 'report')

function golden(name: string, actual: string): void {
  const file = join(DIR, name)
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, actual)
  expect(actual).toBe(readFileSync(file, 'utf8'))
}

describe('report golden files', () => {
  let engine: Engine
  let data: ReportData

  beforeAll(async () => {
    engine = await connectEngine(`pglite://memory/report-golden-${process.pid}`)
    const state = StateStore.on(engine)
    await state.migrate()
    await fillReportState(state)
    data = await collectReport(state, {services: PLAN_SERVICES, generatedAt: GENERATED_AT})
  }, 60_000)
  afterAll(async () => {
    await engine?.close()
  })

  it('renders the JSON report exactly as reviewed', () => {
    golden('report.json', renderJson(data))
  })

  it('renders the Markdown report exactly as reviewed', () => {
    golden('report.md', renderMarkdown(data))
  })

  it('masks credentials everywhere', () => {
    for (const text of [renderJson(data), renderMarkdown(data).replace(/\\\*/g, '*')]) {
      expect(text).not.toContain(SECRET)
      expect(text).toContain('postgres://admin:********@state-db/strangler')
    }
  })

  it('reads the fixture as the writers meant it', () => {
    const [users, orders, catalog] = data.services
    expect(data.services.map((s) => s.name)).toEqual(['users', 'orders', 'catalog'])
    expect(users.transitions.map((t) => t.to)).toEqual(['shadow', 'write-through', 'shift'])
    expect(users.toggles.points.map((p) => p.pct)).toEqual([10, 50])
    expect(users.relay.totalPoints).toBe(12)
    expect(users.relay.maxLagSeconds).toBe(3.5)
    expect(users.relay.latest?.other).toEqual({reconnects: 1})
    expect(orders.relay.latest).toMatchObject({lagSeconds: 4.5, pending: null, throughput: null})
    expect(users.diff.lastRun?.runId).toBe('d-multi')
    expect(users.diff.lastRunKeysTotal).toBe(28)
    expect(users.diff.lastRunKeysByKind).toEqual({changed: 25, extra: 1, missing: 2})
    expect(users.diff.runs.map((r) => r.status)).toEqual(['clean', 'differences', 'running'])
    expect(orders.diff.runs[0].other).toEqual({raw: 'not json'})
    expect(orders.backfill).toMatchObject({done: 1, total: 2, rowsCopied: 101234, rowsEstimated: 140000})
    expect(orders.backfill.entities.find((e) => e.entity === 'order_items')).toMatchObject({pct: 61.2, done: false, ranges: 2, rangesDone: 0, chunkRows: 2000, other: {throttledMs: 1200}})
    expect(users.shadow.totals).toEqual({sampled: 3500, mismatches: 3, errors: 1, rate: 3 / 3500})
    expect(users.shadow.examples.map((e) => e.key)).toEqual(['42', '7', '8'])
    expect(orders.deadLetters).toMatchObject({unresolved: 2, resolved: 1})
    expect(orders.gates.latest.map((g) => g.ok)).toEqual([false, false, false])
    expect(users.status).toEqual({ok: false, problems: ['last diff (run d-multi) found 28 differing rows']})
    expect(orders.status.ok).toBe(false)
    expect(catalog).toMatchObject({phase: 'planned', status: {ok: true, problems: []}, transitions: []})
    expect(data.audit.map((a) => a.command)).toEqual(['init'])
  })
})
