import {describe, expect, it} from 'vitest'
import {CircuitBreaker} from '../../src/sdk/circuit-breaker.js'
import {compareResults} from '../../src/sdk/compare.js'
import {createRouter} from '../../src/sdk/index.js'
import type {Phase, RouterOptions} from '../../src/sdk/types.js'
import type {ToggleClient} from '../../src/toggles/provider.js'
import {inRollout} from '../../src/toggles/rollout.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const never = <T>() => new Promise<T>(() => {})

/** A toggle client at a fixed percentage, bucketing like Unleash. */
function toggleAt(pct: number): ToggleClient {
  return {isEnabled: (name, ctx) => inRollout({pct, groupId: name, stickiness: 'userId'}, ctx), close: () => {}}
}

function router(phase: Phase, extra: Partial<RouterOptions> = {}) {
  return createRouter({service: 'orders', toggles: toggleAt(0), phase, ...extra})
}

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, lets one trial through after resetMs, closes on success', () => {
    let now = 0
    const changes: string[] = []
    const b = new CircuitBreaker({failures: 3, resetMs: 1000}, (from, to) => changes.push(`${from}>${to}`), () => now)
    b.failure()
    b.failure()
    b.success() // resets the streak
    b.failure()
    b.failure()
    expect(b.state).toBe('closed')
    b.failure()
    expect(b.state).toBe('open')
    expect(b.allow()).toBe(false)
    now = 999
    expect(b.allow()).toBe(false)
    now = 1000
    expect(b.allow()).toBe(true)
    expect(b.state).toBe('half-open')
    expect(b.allow()).toBe(false) // only one trial
    b.failure()
    expect(b.state).toBe('open')
    now = 2000
    expect(b.allow()).toBe(true)
    b.success()
    expect(b.state).toBe('closed')
    expect(changes).toEqual(['closed>open', 'open>half-open', 'half-open>open', 'open>half-open', 'half-open>closed'])
  })
})

describe('compareResults', () => {
  it('compares objects field by field with canonical JSON, and typed fields canonically', () => {
    expect(compareResults({a: 1, b: {y: 2, x: 1}}, {b: {x: 1, y: 2}, a: 1})).toEqual({equal: true, fields: []})
    expect(compareResults({a: 1, b: 'x', c: null}, {a: 2, b: 'x'})).toEqual({equal: false, fields: ['a']})
    expect(compareResults({price: '12.50'}, {price: 12.5}).fields).toEqual(['price'])
    expect(compareResults({price: '12.50', at: '2024-01-02 03:04:05'}, {price: 12.5, at: new Date('2024-01-02T03:04:05Z')}, {price: 'decimal(12,2)', at: 'timestamp'}).equal).toBe(true)
    expect(compareResults(null, {a: 1}).fields).toEqual(['(row)'])
    expect(compareResults([{a: 1}, {a: 2}], [{a: 1}, {a: 3}]).fields).toEqual(['[1].a'])
    expect(compareResults(5n, 5).equal).toBe(true)
    expect(compareResults({n: '5'}, {n: 5}).fields).toEqual(['n']) // untyped: a string is not a number
    expect(compareResults({n: '5'}, {n: 5n}, {n: 'bigint'}).equal).toBe(true)
  })
})

describe('router', () => {
  it('in shadow returns the monolith result at once, even when the service hangs or throws', async () => {
    const r = router('shadow', {shadowTimeoutMs: 100})
    let serviceDone = false
    const a = await r.read('orders', 1, {monolith: async () => ({id: 1}), service: () => never()})
    const b = await r.read('orders', 2, {
      monolith: async () => ({id: 2}),
      service: () => {
        throw new Error('boom')
      },
    })
    const c = await r.read('orders', 3, {monolith: async () => ({id: 3}), service: async () => {
      await sleep(50)
      serviceDone = true
      return {id: 3}
    }})
    expect([a, b, c]).toEqual([{id: 1}, {id: 2}, {id: 3}])
    expect(serviceDone).toBe(false) // the caller did not wait for the shadow read
    await r.close()
    expect(serviceDone).toBe(true)
    expect(r.stats().shadow).toEqual({sampled: 3, mismatches: 0, errors: 2, skipped: 0})
    expect(r.stats().reads.monolith).toBe(3)
  })

  it('counts mismatches, honours the sample rate and never calls the service when not sampled', async () => {
    let coin = 0
    const r = router('write-through', {shadowSampleRate: 0.5, random: () => (coin++ % 2 === 0 ? 0.1 : 0.9)})
    let serviceCalls = 0
    for (let i = 0; i < 10; i++) {
      await r.read('orders', i, {monolith: async () => ({id: i, total: '10.00'}), service: async () => (serviceCalls++, {id: i, total: i < 4 ? '99.00' : '10.00'})})
    }
    await r.close()
    expect(serviceCalls).toBe(5)
    expect(r.stats().shadow.sampled).toBe(5)
    expect(r.stats().shadow.mismatches).toBe(2) // ids 0 and 2 were sampled and differ
  })

  it('propagates a monolith read error without waiting for the shadow read', async () => {
    const r = router('shadow')
    await expect(r.read('orders', 1, {monolith: async () => Promise.reject(new Error('monolith down')), service: async () => ({})})).rejects.toThrow('monolith down')
    await r.close()
    expect(r.stats().reads.errors).toBe(1)
    expect(r.stats().shadow.sampled).toBe(0)
  })

  it('in shift routes by the toggle, sticky per user', async () => {
    const r = createRouter({service: 'orders', toggles: toggleAt(50), phase: 'shift'})
    const sides = new Map<string, string>()
    for (let round = 0; round < 3; round++) {
      for (let u = 0; u < 200; u++) {
        const userId = `u${u}`
        const got = await r.read('orders', u, {monolith: async () => 'monolith', service: async () => 'service'}, {userId})
        if (round === 0) sides.set(userId, got)
        else expect(got).toBe(sides.get(userId))
        expect(await r.readSide({userId})).toBe(got)
      }
    }
    const toService = [...sides.values()].filter((s) => s === 'service').length
    expect(toService).toBeGreaterThan(60)
    expect(toService).toBeLessThan(140)
    await r.close()
  })

  it('in shift falls back to the monolith when the service fails, and the breaker stops calling it', async () => {
    const r = createRouter({service: 'orders', toggles: toggleAt(100), phase: 'shift', breaker: {failures: 3, resetMs: 200}, serviceTimeoutMs: 50})
    let serviceCalls = 0
    let healthy = false
    const read = () =>
      r.read('orders', 1, {
        monolith: async () => 'monolith',
        service: async () => {
          serviceCalls++
          if (healthy) return 'service'
          if (serviceCalls % 2) throw new Error('down')
          return never<string>() // hangs: the timeout applies
        },
      }, {userId: 'u1'})
    for (let i = 0; i < 10; i++) expect(await read()).toBe('monolith')
    expect(serviceCalls).toBe(3)
    expect(r.stats().breaker).toBe('open')
    expect(r.stats().reads.fallbacks).toBe(10)
    await sleep(250)
    healthy = true
    expect(await read()).toBe('service') // half-open trial succeeds
    expect(r.stats().breaker).toBe('closed')
    expect(await read()).toBe('service')
    await r.close()
  })

  it('in write-through writes the monolith first, the service in the background, in order per key, never failing the caller', async () => {
    const r = router('write-through', {serviceWriteTimeoutMs: 100, breaker: {failures: 1000, resetMs: 1000}})
    const applied: number[] = []
    const results: number[] = []
    for (let v = 1; v <= 5; v++) {
      results.push(
        await r.write('orders', 7, {
          monolith: async () => v,
          service: async (m) => {
            await sleep(v % 2 ? 30 : 1) // odd writes are slower: order must still hold
            applied.push(m!)
            return m!
          },
        }),
      )
    }
    const failed = await r.write('orders', 8, {monolith: async () => 42, service: async () => Promise.reject(new Error('service down'))})
    const hung = await r.write('orders', 9, {monolith: async () => 43, service: () => never()})
    expect(results).toEqual([1, 2, 3, 4, 5])
    expect([failed, hung]).toEqual([42, 43])
    await r.close()
    expect(applied).toEqual([1, 2, 3, 4, 5])
    expect(r.stats().writes).toEqual({monolith: 7, service: 7, serviceFailures: 2, errors: 0})
    expect(r.stats().deadLetters).toBe(2)
  })

  it('does not write the service when the monolith write fails, and writes only the monolith in shadow', async () => {
    let serviceCalls = 0
    const wt = router('write-through')
    await expect(wt.write('orders', 1, {monolith: async () => Promise.reject(new Error('constraint')), service: async () => (serviceCalls++, 0)})).rejects.toThrow('constraint')
    await wt.close()
    const sh = router('shadow')
    expect(await sh.write('orders', 1, {monolith: async () => 1, service: async () => (serviceCalls++, 2)})).toBe(1)
    await sh.close()
    expect(serviceCalls).toBe(0)
  })

  it('skips the shadow comparison of a key whose service write is still on its way', async () => {
    const r = router('write-through')
    let release!: () => void
    const gate = new Promise<void>((res) => (release = res))
    await r.write('orders', 1, {monolith: async () => 'v2', service: async () => (await gate, 'v2')})
    await r.read('orders', 1, {monolith: async () => 'v2', service: async () => 'v1'})
    release()
    await r.close()
    expect(r.stats().shadow).toEqual({sampled: 0, mismatches: 0, errors: 0, skipped: 1})
  })

  it('after decommission reads and writes the service only', async () => {
    const r = router('decommissioned')
    let monolithCalls = 0
    expect(await r.read('orders', 1, {monolith: async () => (monolithCalls++, 'm'), service: async () => 's'})).toBe('s')
    expect(await r.write('orders', 1, {monolith: async () => (monolithCalls++, 'm'), service: async (m) => (m === undefined ? 's' : 'x')})).toBe('s')
    await expect(r.read('orders', 1, {monolith: async () => 'm', service: async () => Promise.reject(new Error('svc'))})).rejects.toThrow('svc')
    await r.close()
    expect(monolithCalls).toBe(0)
  })

  it('takes the phase from a function per call', async () => {
    let phase: Phase = 'planned'
    let serviceCalls = 0
    const r = createRouter({service: 'orders', toggles: toggleAt(100), phase: () => phase})
    const src = {monolith: async () => 'm', service: async () => (serviceCalls++, 's')}
    expect(await r.read('orders', 1, src, {userId: 'a'})).toBe('m')
    expect(serviceCalls).toBe(0)
    phase = 'shift'
    expect(await r.read('orders', 1, src, {userId: 'a'})).toBe('s')
    await r.close()
  })
})
