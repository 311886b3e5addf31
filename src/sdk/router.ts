import type {Plan} from '../config/schema.js'
import {keyToString} from '../engines/keys.js'
import {toggleName} from '../toggles/provider.js'
import {errorMessage} from '../util/errors.js'
import {logger, type Logger} from '../util/log.js'
import {MASK, redact} from '../util/redact.js'
import {CircuitBreaker} from './circuit-breaker.js'
import {comparatorFor, fieldValue} from './compare.js'
import {givenPhase, polledPhase, type PhaseReader} from './phase-source.js'
import {emptyCounters, Publisher, type SdkCounters, type ShadowExample} from './publisher.js'
import {invoke, withTimeout} from './timeout.js'
import type {Comparator, EntityKey, PhaseView, ReadSources, RequestContext, Router, RouterOptions, RouterStats, Side, WriteTargets} from './types.js'

const SHADOW_PHASES = new Set(['shadow', 'write-through', 'shift'])
const DUAL_WRITE_PHASES = new Set(['write-through', 'shift'])
const MAX_EXAMPLE_TEXT = 200

/** Target columns the plan marks `sensitive`, for an entity named by its target or source table. */
function sensitiveFields(plan: Plan | undefined, service: string, entity: string): Set<string> {
  const svc = plan?.services[service]
  if (!svc) return new Set()
  const last = (s: string) => s.split('.').pop()!
  const e = svc.entities.find((x) => [x.target, x.target && last(x.target), x.source, last(x.source)].includes(entity))
  return new Set(e?.sensitive ?? [])
}

function keyTuple(key: EntityKey): unknown[] {
  return Array.isArray(key) ? [...(key as readonly unknown[])] : [key]
}

function exampleValue(v: unknown): unknown {
  if (v === undefined) return null
  const s = typeof v === 'string' ? v : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
  if (s === undefined) return null
  const text = redact(s)
  if (typeof v === 'string') return text.length > MAX_EXAMPLE_TEXT ? `${text.slice(0, MAX_EXAMPLE_TEXT)}…` : text
  if (text.length > MAX_EXAMPLE_TEXT) return `${text.slice(0, MAX_EXAMPLE_TEXT)}…`
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/**
 * The application-side router of one service; see {@link createRouter}.
 */
class ServiceRouter implements Router {
  readonly service: string
  private readonly toggle: string
  private readonly phaseReader: PhaseReader
  private readonly breaker: CircuitBreaker
  private readonly publisher: Publisher
  private readonly compare: Comparator
  private readonly log: Logger
  private readonly random: () => number
  private readonly sensitive = new Map<string, Set<string>>()
  private readonly inflight = new Set<Promise<unknown>>()
  /** Per entity+key: the tail of its background service writes (kept in order). */
  private readonly writeTails = new Map<string, Promise<void>>()
  private shadowInFlight = 0
  private closed = false
  private readonly totals: SdkCounters = emptyCounters()

  constructor(
    private readonly o: RouterOptions,
    private readonly owned: {close(): Promise<void> | void}[] = [],
  ) {
    this.service = o.service
    this.toggle = toggleName(o.service, 'reads')
    this.log = (o.log ?? logger()).child({service: o.service, component: 'sdk'})
    this.random = o.random ?? Math.random
    if (o.phase !== undefined) this.phaseReader = givenPhase(o.phase)
    else if (o.state) this.phaseReader = polledPhase(o.state, o.service, o.phasePollMs ?? 1000, this.log)
    else throw new TypeError('createRouter: give `phase`, or `state` to read the phase from the state store')
    if (o.plan && !o.plan.services[o.service]) this.log.warn('the plan defines no such service', {services: Object.keys(o.plan.services).join(', ')})
    this.breaker = new CircuitBreaker({failures: o.breaker?.failures ?? 5, resetMs: o.breaker?.resetMs ?? 30_000}, (from, to) =>
      (to === 'open' ? this.log.warn.bind(this.log) : this.log.info.bind(this.log))(`circuit breaker ${to}`, {from}),
    )
    this.publisher = new Publisher(o.state, o.service, {flushMs: o.flushMs ?? 1000, maxExamples: o.maxExamples ?? 5, log: this.log, breakerState: () => this.breaker.state})
    this.compare = o.compare ?? comparatorFor(o.fieldTypes)
  }

  /** Counts in the totals and in the current flush window. */
  private count(f: (c: SdkCounters) => void): void {
    f(this.totals)
    f(this.publisher.counters)
  }

  phase(): Promise<PhaseView> {
    return this.phaseReader.current()
  }

  async readSide(ctx: RequestContext = {}): Promise<Side> {
    return this.sideFor((await this.phase()).phase, ctx)
  }

  private sideFor(phase: string, ctx: RequestContext): Side {
    if (phase === 'decommissioned') return 'service'
    if (phase !== 'shift') return 'monolith'
    try {
      return this.o.toggles.isEnabled(this.toggle, ctx) ? 'service' : 'monolith'
    } catch (err) {
      this.log.warn('toggle evaluation failed; reading the monolith', {error: errorMessage(err)})
      return 'monolith'
    }
  }

  /** Runs `fn`, timing it as `what`. */
  private async timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      const v = await fn()
      this.publisher.timing(what, performance.now() - t0, true)
      return v
    } catch (err) {
      this.publisher.timing(what, performance.now() - t0, false)
      throw err
    }
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p))
  }

  private keyId(entity: string, key: EntityKey): string {
    return `${entity}\u0000${keyToString(keyTuple(key))}`
  }

  async read<T>(entity: string, key: EntityKey, sources: ReadSources<T>, ctx: RequestContext = {}): Promise<T> {
    const {phase} = await this.phase()
    const side = this.sideFor(phase, ctx)
    if (phase === 'decommissioned') {
      this.count((c) => c.reads.service++)
      try {
        return await this.timed('read.service', () => invoke(sources.service))
      } catch (err) {
        this.count((c) => c.reads.errors++)
        throw err
      }
    }
    if (side === 'service') {
      if (this.breaker.allow()) {
        try {
          const v = await this.timed('read.service', () => withTimeout(invoke(sources.service), this.o.serviceTimeoutMs ?? 2000, `service read of ${entity}`))
          this.breaker.success()
          this.count((c) => c.reads.service++)
          return v
        } catch (err) {
          this.breaker.failure()
          this.log.debug('service read failed; falling back to the monolith', {entity, error: errorMessage(err)})
        }
      }
      this.count((c) => c.reads.fallbacks++)
      return this.readMonolith(entity, key, sources, false)
    }
    return this.readMonolith(entity, key, sources, SHADOW_PHASES.has(phase))
  }

  /** The monolith read, with a shadow read of the service started alongside when sampled. */
  private async readMonolith<T>(entity: string, key: EntityKey, sources: ReadSources<T>, shadowEligible: boolean): Promise<T> {
    let shadow: Promise<T> | undefined
    let shadowStart = 0
    if (shadowEligible && !this.closed && this.shouldSample()) {
      if (this.writeTails.has(this.keyId(entity, key))) {
        // a service write of this key is still on its way: a comparison now would report its lag
        this.skipShadow()
      } else if (this.shadowInFlight >= (this.o.maxShadowInFlight ?? 64)) {
        this.skipShadow()
      } else {
        this.shadowInFlight++
        shadowStart = performance.now()
        shadow = withTimeout(invoke(sources.service), this.o.shadowTimeoutMs ?? 1000, `shadow read of ${entity}`)
        shadow.catch(() => {}) // handled below; never an unhandled rejection
      }
    }
    this.count((c) => c.reads.monolith++)
    let result: T
    try {
      result = await this.timed('read.monolith', () => invoke(sources.monolith))
    } catch (err) {
      this.count((c) => c.reads.errors++)
      if (shadow) this.track(shadow.catch(() => {}).finally(() => this.shadowInFlight--))
      throw err
    }
    if (shadow) this.track(this.compareLater(entity, key, result, shadow, shadowStart))
    return result
  }

  private shouldSample(): boolean {
    const rate = this.o.shadowSampleRate ?? 1
    return rate >= 1 || (rate > 0 && this.random() < rate)
  }

  private skipShadow(): void {
    this.count((c) => c.shadow.skipped++)
  }

  private async compareLater<T>(entity: string, key: EntityKey, monolith: T, shadow: Promise<T>, t0: number): Promise<void> {
    try {
      let service: T
      try {
        service = await shadow
        this.publisher.timing('shadow.service', performance.now() - t0, true)
      } catch (err) {
        this.publisher.timing('shadow.service', performance.now() - t0, false)
        this.count((c) => {
          c.shadow.sampled++
          c.shadow.errors++
        })
        this.publisher.shadowResult(entity, 'error', {key: keyTuple(key), at: new Date().toISOString(), fields: [], error: redact(errorMessage(err)).slice(0, 500)})
        return
      }
      const cmp = this.compare(entity, monolith, service)
      if (cmp.equal) {
        this.count((c) => c.shadow.sampled++)
        this.publisher.shadowResult(entity, 'match')
        return
      }
      this.count((c) => {
        c.shadow.sampled++
        c.shadow.mismatches++
      })
      this.publisher.shadowResult(entity, 'mismatch', this.example(entity, key, cmp.fields, monolith, service))
    } catch (err) {
      // a throwing comparator is an error of this sample, never of the caller
      this.count((c) => {
        c.shadow.sampled++
        c.shadow.errors++
      })
      this.publisher.shadowResult(entity, 'error', {key: keyTuple(key), at: new Date().toISOString(), fields: [], error: `comparison failed: ${redact(errorMessage(err))}`})
    } finally {
      this.shadowInFlight--
    }
  }

  private example(entity: string, key: EntityKey, fields: string[], monolith: unknown, service: unknown): ShadowExample {
    let sensitive = this.sensitive.get(entity)
    if (!sensitive) this.sensitive.set(entity, (sensitive = sensitiveFields(this.o.plan, this.service, entity)))
    const pick = (root: unknown): Record<string, unknown> => {
      const out: Record<string, unknown> = {}
      for (const f of fields.slice(0, 20)) {
        const leaf = f.split('.').pop()!.replace(/\[\d+\]$/, '')
        out[f] = sensitive.has(leaf) ? MASK : exampleValue(fieldValue(root, f))
      }
      return out
    }
    // a whole-row difference would expose every field: mask the row when the entity has sensitive fields
    const whole = fields.some((f) => f === '(row)' || f === '(value)')
    return {
      key: keyTuple(key),
      at: new Date().toISOString(),
      fields,
      monolith: whole && sensitive.size ? {[fields[0]]: MASK} : pick(monolith),
      service: whole && sensitive.size ? {[fields[0]]: MASK} : pick(service),
    }
  }

  async write<T>(entity: string, key: EntityKey, targets: WriteTargets<T>, _ctx: RequestContext = {}): Promise<T> {
    const view = await this.phase()
    if (view.writeTarget === 'service' || view.phase === 'decommissioned') {
      this.count((c) => c.writes.service++)
      let result: T
      try {
        result = await this.timed('write.service', () => invoke(() => targets.service(undefined)))
      } catch (err) {
        this.count((c) => c.writes.errors++)
        throw err
      }
      // Writes cut over but the monolith tables not archived yet: the monolith
      // follows the service (reverse write-through) so the final diff can be clean.
      if (view.phase !== 'decommissioned') this.writeLater('monolith', entity, key, () => targets.monolith())
      return result
    }
    this.count((c) => c.writes.monolith++)
    let result: T
    try {
      result = await this.timed('write.monolith', () => invoke(targets.monolith))
    } catch (err) {
      this.count((c) => c.writes.errors++)
      throw err
    }
    if (DUAL_WRITE_PHASES.has(view.phase)) this.writeLater('service', entity, key, () => targets.service(result))
    return result
  }

  /** The follower side's write, after earlier ones of the same key; a failure becomes a dead letter. */
  private writeLater(side: 'service' | 'monolith', entity: string, key: EntityKey, fn: () => Promise<unknown>): void {
    const id = this.keyId(entity, key)
    const prev = this.writeTails.get(id) ?? Promise.resolve()
    const next: Promise<void> = prev.then(async () => {
      if (side === 'service') this.count((c) => c.writes.service++)
      else this.count((c) => c.writes.monolith++)
      try {
        if (side === 'service' && !this.breaker.allow()) throw new Error('circuit breaker open: service write not attempted')
        await this.timed(`write.${side}`, () => withTimeout(invoke(fn), this.o.serviceWriteTimeoutMs ?? 5000, `${side} write of ${entity}`))
        if (side === 'service') this.breaker.success()
      } catch (err) {
        if (side === 'service' && !/circuit breaker open/.test(errorMessage(err))) this.breaker.failure()
        this.count((c) => {
          if (side === 'service') c.writes.serviceFailures++
          c.deadLetters++
        })
        this.publisher.deadLetter({entity, key: keyTuple(key), error: `${side} write failed: ${errorMessage(err)}`, at: new Date().toISOString()})
        this.log.debug(`${side} write failed; dead-lettered`, {entity, key: keyToString(keyTuple(key)), error: errorMessage(err)})
      }
    })
    this.writeTails.set(id, next)
    void next.finally(() => {
      if (this.writeTails.get(id) === next) this.writeTails.delete(id)
    })
    this.track(next)
  }

  stats(): RouterStats {
    return structuredClone({...this.totals, breaker: this.breaker.state})
  }

  flush(): Promise<void> {
    return this.publisher.flush()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    while (this.inflight.size) await Promise.allSettled([...this.inflight])
    this.phaseReader.close()
    await this.publisher.close()
    for (const o of this.owned) await o.close()
  }
}

/**
 * The application-side router of one service, in the manner of GitHub's
 * Scientist and LaunchDarkly's migration flags:
 *
 * - `read`: in `shadow` and `write-through` returns the monolith's result and,
 *   sampled and in the background, reads the service too and compares (never
 *   throwing into the caller, never delaying it); in `shift` sends the share
 *   of users the toggle `strangler.<service>.reads` selects (sticky on
 *   `ctx.userId`) to the service, falling back to the monolith when the
 *   service fails or the circuit breaker is open; after decommission reads
 *   the service.
 * - `write`: the monolith first (authoritative; its error is the caller's),
 *   then in `write-through` and `shift` the service in the background, in
 *   order per key; a failed service write goes to the dead-letter table and
 *   never fails the caller. After the write cut-over, the service only.
 *
 * Shadow results, latencies and dead letters are published to the state
 * store in batches (every `flushMs` and on `close()`).
 */
export function createRouter(opts: RouterOptions): Router {
  return new ServiceRouter(opts)
}

/** A router that also closes the toggle client and state store it was given (used by `openRouter`). */
export function createOwningRouter(opts: RouterOptions, owned: {close(): Promise<void> | void}[]): Router {
  return new ServiceRouter(opts, owned)
}
