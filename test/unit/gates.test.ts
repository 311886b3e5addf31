import {describe, expect, it} from 'vitest'
import {gatesSchema} from '../../src/config/schema.js'
import {evaluate, type GateMeasurements} from '../../src/phases/gates.js'

const gates = gatesSchema.parse({maxRelayLagSeconds: 5, minShadowSamples: 100, maxShadowMismatchRate: 0.01, maxDiffAgeMinutes: 60, soak: '10m'})

const healthy = (): GateMeasurements => ({
  backfill: {entities: 2, done: 2},
  relay: {lagSeconds: 0.4, pending: 3},
  deadLetters: 0,
  shadow: {sampled: 500, mismatches: 1, since: null},
  diff: {runId: 'r1', status: 'clean', finishedAt: new Date().toISOString(), ageMinutes: 3},
  fullReadsForMs: 11 * 60_000,
})

const verdict = (ctx: Parameters<typeof evaluate>[0], m: GateMeasurements) => Object.fromEntries(evaluate(ctx, m, gates).map((g) => [g.gate, g.ok]))

describe('gates', () => {
  it('pass on a healthy service in every context', () => {
    for (const ctx of ['write-through', 'shift', 'shift-step', 'soak'] as const) {
      expect(Object.values(verdict(ctx, healthy())).every(Boolean), ctx).toBe(true)
    }
  })

  it('leaving shadow needs the backfill done and enough shadow samples', () => {
    const m = healthy()
    m.backfill.done = 1
    m.shadow.sampled = 50
    m.shadow.mismatches = 0
    const v = verdict('write-through', m)
    expect(v.backfill).toBe(false)
    expect(v['shadow-samples']).toBe(false)
  })

  it('fail on lag, dead letters, mismatch rate, a dirty or stale diff', () => {
    const m = healthy()
    m.relay = {lagSeconds: 7.5, pending: 900}
    m.deadLetters = 2
    m.shadow = {sampled: 100, mismatches: 2, since: null}
    m.diff = {runId: 'r2', status: 'differences', finishedAt: '', ageMinutes: 90}
    const results = evaluate('soak', m, gates)
    const bad = results.filter((r) => !r.ok).map((r) => r.gate)
    expect(bad).toEqual(expect.arrayContaining(['relay-lag', 'dead-letters', 'shadow-mismatch', 'diff', 'diff-age']))
    const lag = results.find((r) => r.gate === 'relay-lag')!
    expect(lag.value).toContain('7.5 s')
    expect(lag.threshold).toBe('≤ 5 s')
  })

  it('a missing diff fails the diff gate', () => {
    const m = healthy()
    m.diff = null
    expect(verdict('shift-step', m).diff).toBe(false)
  })

  it('decommission needs the relay keeping up, no dead letters and 100 % reads held for the soak', () => {
    expect(Object.values(verdict('decommission', healthy())).every(Boolean)).toBe(true)
    const m = healthy()
    m.relay = {lagSeconds: 6, pending: 10}
    expect(verdict('decommission', m)['relay-lag']).toBe(false)
    m.relay = {lagSeconds: 0, pending: 0}
    m.deadLetters = 1
    expect(verdict('decommission', m)['dead-letters']).toBe(false)
    m.deadLetters = 0
    m.fullReadsForMs = 9 * 60_000
    expect(verdict('decommission', m).soak).toBe(false)
    m.fullReadsForMs = null
    expect(verdict('decommission', m).soak).toBe(false)
  })

  it('no capture installed fails the lag gate outside decommission', () => {
    const m = healthy()
    m.relay = null
    expect(verdict('shift-step', m)['relay-lag']).toBe(false)
  })
})
