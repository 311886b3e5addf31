/**
 * A condition that pauses the backfill while its value is over its limit
 * (relay lag in seconds, monolith load in running queries). `read` returns
 * undefined when the value is unknown, which never pauses.
 */
export interface ThrottleProbe {
  readonly name: string
  readonly limit: number
  readonly unit: string
  read(): Promise<number | undefined>
}

export interface ThrottlerOptions {
  /** Token bucket rate shared by every worker; 0 or absent: unlimited. */
  maxRowsPerSecond?: number
  probes?: readonly ThrottleProbe[]
  /** How often probes are read at most (default 1000 ms). */
  probeIntervalMs?: number
  signal?: AbortSignal
  /** Told when a pause starts and ends. */
  onPause?: (reason: string | undefined) => void
  /** Injectable clock and sleep for tests. */
  now?: () => number
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}

/**
 * The throttler: a token bucket for `--max-rows-per-second` (one second of
 * burst; a chunk larger than the bucket goes into debt and the next caller
 * waits it off), and probes that pause every worker while one is over its
 * limit. Probes are read at most once per interval, shared by all workers.
 */
export class Throttler {
  private tokens: number
  private lastRefill: number
  private probeChecked = Number.NEGATIVE_INFINITY
  private probeState: Promise<{probe: string; reason: string} | undefined> = Promise.resolve(undefined)
  private paused?: string
  private pausedMs = 0
  private pauseStart = 0
  private readonly now: () => number
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>

  constructor(private readonly opts: ThrottlerOptions = {}) {
    this.now = opts.now ?? (() => performance.now())
    this.sleep = opts.sleep ?? sleep
    this.tokens = opts.maxRowsPerSecond ?? 0
    this.lastRefill = this.now()
  }

  /** Milliseconds spent paused by probes so far. */
  get pausedMilliseconds(): number {
    return Math.round(this.pausedMs + (this.paused ? this.now() - this.pauseStart : 0))
  }

  /** Waits until `rows` rows may be copied: probes clear and tokens available. */
  async acquire(rows: number): Promise<void> {
    await this.waitForProbes()
    await this.takeTokens(rows)
  }

  private async takeTokens(rows: number): Promise<void> {
    const rate = this.opts.maxRowsPerSecond
    if (!rate || rate <= 0) return
    const t = this.now()
    this.tokens = Math.min(rate, this.tokens + ((t - this.lastRefill) / 1000) * rate)
    this.lastRefill = t
    this.tokens -= rows
    if (this.tokens < 0) await this.sleep((-this.tokens / rate) * 1000, this.opts.signal)
  }

  private check(): Promise<{probe: string; reason: string} | undefined> {
    const probes = this.opts.probes ?? []
    if (!probes.length) return Promise.resolve(undefined)
    const t = this.now()
    if (t - this.probeChecked < (this.opts.probeIntervalMs ?? 1000)) return this.probeState
    this.probeChecked = t
    this.probeState = (async () => {
      for (const p of probes) {
        let v: number | undefined
        try {
          v = await p.read()
        } catch {
          v = undefined // a probe that cannot be read never stops the copy
        }
        if (v !== undefined && v > p.limit) return {probe: p.name, reason: `${p.name} ${round(v)} ${p.unit} > ${p.limit} ${p.unit}`}
      }
      return undefined
    })()
    return this.probeState
  }

  private async waitForProbes(): Promise<void> {
    const interval = this.opts.probeIntervalMs ?? 1000
    for (;;) {
      if (this.opts.signal?.aborted) return
      const over = await this.check()
      if (over?.probe !== this.paused) {
        // told once per change (paused by another probe, or resumed), not on every reading
        if (over && !this.paused) this.pauseStart = this.now()
        if (!over && this.paused) this.pausedMs += this.now() - this.pauseStart
        this.paused = over?.probe
        this.opts.onPause?.(over?.reason)
      }
      if (!over) return
      await this.sleep(interval, this.opts.signal)
    }
  }
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1)
}
