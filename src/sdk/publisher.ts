import type {Kysely} from 'kysely'
import type {StateStore} from '../state/state-store.js'
import {nowIso} from '../state/state-store.js'
import {errorMessage} from '../util/errors.js'
import type {Logger} from '../util/log.js'
import {redact} from '../util/redact.js'

/** A mismatch (or error) example as stored in `shadow_samples.examples`. */
export interface ShadowExample {
  key: unknown[]
  at: string
  /** Differing fields; empty for errors. */
  fields: string[]
  /** Values of the differing fields on each side (sensitive fields masked). */
  monolith?: Record<string, unknown>
  service?: Record<string, unknown>
  error?: string
}

export interface DeadLetter {
  entity: string
  /** The key tuple, in key order; stored as `pk` in the outbox's format (see {@link outboxKey}). */
  key: unknown[]
  error: string
  at: string
}

interface EntityShadow {
  sampled: number
  mismatches: number
  errors: number
  examples: ShadowExample[]
}

interface LatencyWindow {
  n: number
  errors: number
  samples: number[]
  max: number
}

/** Call counters: the router's totals, and one flush window's (published as `metrics` kind `sdk`). */
export interface SdkCounters {
  reads: {monolith: number; service: number; fallbacks: number; errors: number}
  writes: {monolith: number; service: number; serviceFailures: number; errors: number}
  shadow: {sampled: number; mismatches: number; errors: number; skipped: number}
  deadLetters: number
}

const MAX_LATENCY_SAMPLES = 2000
const MAX_ERROR = 2000
const MAX_PENDING_DEAD_LETTERS = 100_000

export const emptyCounters = (): SdkCounters => ({
  reads: {monolith: 0, service: 0, fallbacks: 0, errors: 0},
  writes: {monolith: 0, service: 0, serviceFailures: 0, errors: 0},
  shadow: {sampled: 0, mismatches: 0, errors: 0, skipped: 0},
  deadLetters: 0,
})

const jsonSafe = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : Buffer.isBuffer(x) ? `0x${x.toString('hex')}` : x))

/** A key as the capture triggers write it (`["42"]`, `["7","Abc"]`): the relay decodes and resolves SDK dead letters like its own. */
export function outboxKey(key: readonly unknown[]): string {
  return JSON.stringify(key.map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : String(v))))
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/**
 * Buffers what the router observes and writes it to the state store in
 * batches: one `shadow_samples` row per entity (source `sdk`), one `metrics`
 * row (kind `sdk`: counts, latency percentiles, breaker state) and the dead
 * letters, every `flushMs` and on close. A failed flush keeps the data for the
 * next one (dead letters are never dropped below a large cap); nothing here
 * ever throws into the application.
 */
export class Publisher {
  private shadow = new Map<string, EntityShadow>()
  private window = emptyCounters()
  private latency = new Map<string, LatencyWindow>()
  private deadLetters: DeadLetter[] = []
  private windowStart = nowIso()
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> | undefined
  private failing = false

  constructor(
    private readonly store: StateStore | undefined,
    private readonly service: string,
    private readonly opts: {flushMs: number; maxExamples: number; log: Logger; breakerState: () => string},
  ) {
    if (store) {
      this.timer = setInterval(() => void this.flush(), opts.flushMs)
      this.timer.unref()
    }
  }

  /** The counters of the current flush window. */
  get counters(): SdkCounters {
    return this.window
  }

  private entity(name: string): EntityShadow {
    let e = this.shadow.get(name)
    if (!e) this.shadow.set(name, (e = {sampled: 0, mismatches: 0, errors: 0, examples: []}))
    return e
  }

  /** One shadow comparison of an entity (the router counts it in `counters` itself). */
  shadowResult(entity: string, outcome: 'match' | 'mismatch' | 'error', example?: ShadowExample): void {
    const e = this.entity(entity)
    e.sampled++
    if (outcome === 'mismatch') e.mismatches++
    else if (outcome === 'error') e.errors++
    if (example && e.examples.length < this.opts.maxExamples) e.examples.push(example)
  }

  /** One timed call: `read.monolith`, `read.service`, `write.service`, `shadow.service`... */
  timing(what: string, ms: number, ok: boolean): void {
    let w = this.latency.get(what)
    if (!w) this.latency.set(what, (w = {n: 0, errors: 0, samples: [], max: 0}))
    w.n++
    if (!ok) w.errors++
    w.max = Math.max(w.max, ms)
    if (w.samples.length < MAX_LATENCY_SAMPLES) w.samples.push(ms)
    else w.samples[Math.floor(Math.random() * MAX_LATENCY_SAMPLES)] = ms
  }

  deadLetter(d: DeadLetter): void {
    this.deadLetters.push(d)
    if (this.deadLetters.length > MAX_PENDING_DEAD_LETTERS) {
      const dropped = this.deadLetters.splice(0, this.deadLetters.length - MAX_PENDING_DEAD_LETTERS)
      this.opts.log.error('dead-letter buffer full (state store unreachable); the oldest were dropped — the relay still repairs them', {dropped: dropped.length})
    }
  }

  /** Writes everything buffered; concurrent calls share one flush. Never throws. */
  flush(): Promise<void> {
    if (!this.store) return Promise.resolve()
    this.flushing ??= this.doFlush(this.store).finally(() => {
      this.flushing = undefined
    })
    return this.flushing
  }

  private async doFlush(store: StateStore): Promise<void> {
    const shadow = this.shadow
    const window = this.window
    const latency = this.latency
    const deadLetters = this.deadLetters
    const from = this.windowStart
    this.shadow = new Map()
    this.window = emptyCounters()
    this.latency = new Map()
    this.deadLetters = []
    this.windowStart = nowIso()
    const at = this.windowStart
    const active = shadow.size > 0 || latency.size > 0 || deadLetters.length > 0 || window.shadow.skipped > 0
    if (!active) return
    try {
      await store.sql.transaction(async (tx) => {
        const db = tx.db
        if (deadLetters.length) await this.writeDeadLetters(db, store, deadLetters)
        if (shadow.size) {
          await db
            .insertInto(store.t('shadow_samples'))
            .values(
              [...shadow].map(([entity, s]) => ({
                service: this.service,
                entity,
                at,
                source: 'sdk',
                sampled: s.sampled,
                mismatches: s.mismatches,
                errors: s.errors,
                examples: s.examples.length ? redact(jsonSafe(s.examples)) : null,
              })),
            )
            .execute()
        }
        const latencyMs: Record<string, {n: number; errors: number; p50: number; p95: number; p99: number; max: number}> = {}
        for (const [what, w] of latency) {
          const sorted = [...w.samples].sort((a, b) => a - b)
          const r = (x: number) => Math.round(x * 10) / 10
          latencyMs[what] = {n: w.n, errors: w.errors, p50: r(percentile(sorted, 50)), p95: r(percentile(sorted, 95)), p99: r(percentile(sorted, 99)), max: r(w.max)}
        }
        await db
          .insertInto(store.t('metrics'))
          .values({service: this.service, at, kind: 'sdk', value: jsonSafe({from, to: at, ...window, latencyMs, breaker: this.opts.breakerState()})})
          .execute()
      })
      if (this.failing) this.opts.log.info('publishing to the state store again')
      this.failing = false
    } catch (err) {
      // keep what could not be written for the next flush
      this.deadLetters.unshift(...deadLetters)
      for (const [entity, s] of shadow) {
        const e = this.entity(entity)
        e.sampled += s.sampled
        e.mismatches += s.mismatches
        e.errors += s.errors
        e.examples = [...s.examples, ...e.examples].slice(0, this.opts.maxExamples)
      }
      this.windowStart = from
      if (!this.failing) this.opts.log.warn('cannot publish to the state store; keeping samples and dead letters for the next flush', {error: errorMessage(err)})
      this.failing = true
    }
  }

  /**
   * One unresolved row per key, as the relay keeps them: failures of a key
   * already dead-lettered (by the SDK) add attempts to its row.
   */
  private async writeDeadLetters(db: Kysely<any>, store: StateStore, deadLetters: DeadLetter[]): Promise<void> {
    const t = store.t('dead_letters')
    const byKey = new Map<string, {entity: string; pk: string; error: string; first: string; last: string; n: number}>()
    for (const d of deadLetters) {
      const pk = outboxKey(d.key)
      const id = `${d.entity}\u0000${pk}`
      const cur = byKey.get(id)
      if (cur) {
        cur.n++
        cur.error = d.error
        cur.last = d.at
      } else byKey.set(id, {entity: d.entity, pk, error: d.error, first: d.at, last: d.at, n: 1})
    }
    const entities = new Set([...byKey.values()].map((x) => x.entity))
    for (const entity of entities) {
      const batch = [...byKey.values()].filter((x) => x.entity === entity)
      for (let i = 0; i < batch.length; i += 500) {
        const part = batch.slice(i, i + 500)
        const existing = await db
          .selectFrom(t)
          .select(['id', 'pk', 'attempts'])
          .where('service', '=', this.service)
          .where('entity', '=', entity)
          .where('source', '=', 'sdk')
          .where('resolved_at', 'is', null)
          .where('pk', 'in', part.map((x) => x.pk))
          .execute()
        const found = new Map(existing.map((r) => [String(r.pk), r]))
        const fresh = []
        for (const x of part) {
          const row = found.get(x.pk)
          const error = redact(x.error).slice(0, MAX_ERROR)
          if (row) {
            await db
              .updateTable(t)
              .set({attempts: Number(row.attempts) + x.n, error, last_at: x.last, next_at: x.last})
              .where('id', '=', row.id)
              .execute()
          } else {
            fresh.push({service: this.service, entity, pk: x.pk, source: 'sdk', error, attempts: x.n, first_at: x.first, last_at: x.last, next_at: x.last, resolved_at: null})
          }
        }
        if (fresh.length) await db.insertInto(t).values(fresh).execute()
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.flushing
    await this.flush()
  }
}
