import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import {runDiff} from '../../src/diff/run-diff.js'
import {advance} from '../../src/phases/machine.js'
import {verifyShadow} from '../../src/phases/shadow-verify.js'
import {runShadow} from '../../src/phases/shadow.js'
import {runShift} from '../../src/phases/shift.js'
import {serviceStatus} from '../../src/phases/status.js'
import {getService} from '../../src/state/services.js'
import {openToggleProvider} from '../../src/toggles/index.js'
import type {ToggleProvider} from '../../src/toggles/provider.js'
import {Workspace} from '../../src/workspace.js'
import {freshPg, type FreshDatabase} from '../helpers/db.js'
import {unleashInfo} from '../helpers/unleash.js'

/**
 * The traffic shift against a real Unleash: each step changes the rollout the
 * Admin API holds (verified through unleash-client by the provider), and a
 * difference planted during a soak makes the diff gate fail, so the shift
 * steps back to the last good percentage on its own.
 */
describe('shift with gates on Unleash', () => {
  let mono: FreshDatabase
  let svc: FreshDatabase
  let ws: Workspace
  let toggles: ToggleProvider
  const service = `items${process.pid % 100000}${Math.floor(Math.random() * 1000)}`

  beforeAll(async () => {
    ;[mono, svc] = await Promise.all([freshPg('shg_mono'), freshPg('shg_svc')])
    const c = new pg.Client({connectionString: mono.url})
    await c.connect()
    await c.query('CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2))')
    await c.query(`INSERT INTO items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 2000) g`)
    await c.end()
    const u = unleashInfo()
    const plan = validatePlan(
      {
        monolith: {url: mono.url},
        toggles: {provider: 'unleash', url: u.url, adminToken: u.adminToken, clientToken: u.clientToken, project: 'default', environment: 'development'},
        gates: {minShadowSamples: 20, soak: '1s'},
        services: {[service]: {target: {url: svc.url}, entities: [{source: 'items'}]}},
      },
      'shift-gates',
      {},
    )
    ws = await Workspace.open(plan, {runId: 'shift-gates'})
    await ws.state.migrate()
    await runShadow(ws, service)
    await verifyShadow(ws, service, {sample: 100})
    await runDiff(ws, {service})
    await advance(ws, service, 'write-through')
    toggles = await openToggleProvider(ws)
  })
  afterAll(async () => {
    await toggles?.close()
    await ws?.close()
    await Promise.all([mono?.drop(), svc?.drop()])
  })

  it('status shows the phase, the gates with their values, lag and dead letters', async () => {
    const s = await serviceStatus(ws, service)
    expect(s.phase).toBe('write-through')
    const gates = s.gates as {for: string; pass: boolean; results: {gate: string; value: string; threshold: string}[]}
    expect(gates.for).toBe('enter shift')
    expect(gates.results.map((g) => g.gate)).toEqual(expect.arrayContaining(['relay-lag', 'dead-letters', 'diff']))
    expect(gates.pass).toBe(true)
    expect(s.deadLetters).toBe(0)
    expect((s.relay as {lagSeconds: number}).lagSeconds).toBeGreaterThanOrEqual(0)
  })

  it('0 → 25: Unleash holds the new rollout', async () => {
    const r = await runShift(ws, service, toggles, {steps: [25], soakMs: 0, checkEveryMs: 500})
    expect(r.status).toBe('completed')
    expect(await toggles.getRollout(`strangler.${service}.reads`)).toBe(25)
    expect((await getService(ws.state, service)).readPct).toBe(25)
  })

  it('a difference planted during the soak fails the diff gate and the shift steps back', async () => {
    const planted = (async () => {
      await new Promise((r) => setTimeout(r, 800))
      const c = new pg.Client({connectionString: svc.url})
      await c.connect()
      await c.query(`UPDATE items SET price = price + 1 WHERE id IN (7, 1500)`)
      await c.end()
      const d = await runDiff(ws, {service})
      expect(d.status).toBe('differences')
    })()
    const r = await runShift(ws, service, toggles, {steps: [50, 100], soakMs: 6000, checkEveryMs: 300})
    await planted
    expect(r.status).toBe('stepped-back')
    expect(r.final).toBe(25)
    expect(r.reason).toMatch(/diff: differences/)
    expect(await toggles.getRollout(`strangler.${service}.reads`)).toBe(25)
    expect((await getService(ws.state, service)).readPct).toBe(25)
  })

  it('the next step up is refused while the diff is dirty', async () => {
    const r = await runShift(ws, service, toggles, {steps: [50], soakMs: 0, checkEveryMs: 300})
    expect(r.status).toBe('refused')
    expect(await toggles.getRollout(`strangler.${service}.reads`)).toBe(25)
  })
})
