import {describe, expect, it} from 'vitest'
import {Throttler, type ThrottleProbe} from '../../src/backfill/throttler.js'

/** A fake clock: `sleep` advances it instead of waiting. */
function clock() {
  let t = 0
  const slept: number[] = []
  return {
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms)
      t += ms
    },
    advance: (ms: number) => (t += ms),
    slept,
  }
}

describe('Throttler token bucket', () => {
  it('lets one second of rows through at once, then paces to the rate', async () => {
    const c = clock()
    const th = new Throttler({maxRowsPerSecond: 1000, now: c.now, sleep: c.sleep})
    await th.acquire(1000) // the initial burst
    expect(c.slept).toEqual([])
    await th.acquire(500)
    expect(c.slept).toEqual([500])
    await th.acquire(2000) // larger than the bucket: debt, paid by waiting
    expect(c.slept[1]).toBe(2000)
    expect(c.now()).toBe(2500)
  })

  it('refills with time and never holds more than one second of tokens', async () => {
    const c = clock()
    const th = new Throttler({maxRowsPerSecond: 100, now: c.now, sleep: c.sleep})
    await th.acquire(100)
    c.advance(10_000)
    await th.acquire(100)
    expect(c.slept).toEqual([])
    await th.acquire(50)
    expect(c.slept).toEqual([500])
  })

  it('does nothing without a rate', async () => {
    const c = clock()
    const th = new Throttler({now: c.now, sleep: c.sleep})
    for (let i = 0; i < 10; i++) await th.acquire(1_000_000)
    expect(c.slept).toEqual([])
  })
})

describe('Throttler probes', () => {
  it('pauses while a probe is over its limit, tells the change once, and counts the paused time', async () => {
    const c = clock()
    const values = [12, 9, 8, 3]
    const reads: number[] = []
    const probe: ThrottleProbe = {
      name: 'relay lag',
      unit: 's',
      limit: 5,
      read: async () => {
        const v = values.shift() ?? 0
        reads.push(v)
        return v
      },
    }
    const notes: (string | undefined)[] = []
    const th = new Throttler({probes: [probe], probeIntervalMs: 1000, now: c.now, sleep: c.sleep, onPause: (r) => notes.push(r)})
    await th.acquire(10)
    expect(reads).toEqual([12, 9, 8, 3])
    expect(notes).toEqual(['relay lag 12 s > 5 s', undefined])
    expect(th.pausedMilliseconds).toBe(3000)
  })

  it('reads a probe at most once per interval, and a probe that fails never stops the copy', async () => {
    const c = clock()
    let reads = 0
    const th = new Throttler({
      probes: [
        {name: 'broken', unit: '', limit: 1, read: async () => Promise.reject(new Error('down'))},
        {name: 'load', unit: 'queries', limit: 10, read: async () => (reads++, 2)},
      ],
      probeIntervalMs: 1000,
      now: c.now,
      sleep: c.sleep,
    })
    for (let i = 0; i < 5; i++) await th.acquire(1)
    expect(reads).toBe(1)
    c.advance(1000)
    await th.acquire(1)
    expect(reads).toBe(2)
  })

  it('stops waiting when the signal aborts', async () => {
    const ctrl = new AbortController()
    const th = new Throttler({probes: [{name: 'load', unit: 'queries', limit: 1, read: async () => 100}], probeIntervalMs: 10, signal: ctrl.signal})
    setTimeout(() => ctrl.abort(), 30)
    await th.acquire(1) // returns instead of hanging
    expect(ctrl.signal.aborted).toBe(true)
  })
})
