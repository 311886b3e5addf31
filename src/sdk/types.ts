import type {Plan} from '../config/schema.js'
import type {StateStore} from '../state/state-store.js'
import type {Phase} from '../state/services.js'
import type {ToggleClient, ToggleContext} from '../toggles/provider.js'
import type {Logger} from '../util/log.js'

export type {Phase}

/** One key column value. */
export type KeyValue = string | number | bigint
/** An entity's key: one value, or the tuple of key columns in key order. */
export type EntityKey = KeyValue | readonly KeyValue[]

/** Who is asking: the toggle's stickiness reads `userId` (or `sessionId`, or a custom property). */
export type RequestContext = ToggleContext

/** Which store served (or takes) a call. */
export type Side = 'monolith' | 'service'

/** The two ways to read one entity; both must return the same shape. */
export interface ReadSources<T> {
  monolith: () => Promise<T>
  service: () => Promise<T>
}

/**
 * The two ways to write one entity. `service` gets the monolith's result
 * (e.g. to reuse a generated id) while the monolith is authoritative, and
 * `undefined` once writes have moved to the service.
 */
export interface WriteTargets<T> {
  monolith: () => Promise<T>
  service: (monolithResult: T | undefined) => Promise<T>
}

/** The outcome of comparing a monolith result with a service result. */
export interface Comparison {
  equal: boolean
  /** Fields (or `(row)` / `(value)` / `[i]` / `[i].field`) that differ. */
  fields: string[]
}

/** Compares what the two stores returned for one read. */
export type Comparator = (entity: string, monolith: unknown, service: unknown) => Comparison

/** The phase as the router applies it. */
export interface PhaseView {
  phase: Phase
  /** `service` once writes are cut over (at decommission). */
  writeTarget: Side
}

export type PhaseSource = Phase | PhaseView | (() => Phase | PhaseView | Promise<Phase | PhaseView>)

export interface BreakerOptions {
  /** Consecutive service failures that open the breaker; default 5. */
  failures: number
  /** How long it stays open before one trial call (half-open); default 30 s. */
  resetMs: number
}

/** Options of {@link createRouter}. Only `service` and `toggles` are required. */
export interface RouterOptions {
  /** The service (as named in the plan) whose entities this router serves. */
  service: string
  /** Evaluates `strangler.<service>.reads` per request. */
  toggles: ToggleClient
  /** Where shadow samples, metrics and dead letters are published, and (unless `phase` is given) the phase is read. */
  state?: StateStore
  /** The plan: fields listed as `sensitive` are masked in published examples. */
  plan?: Plan
  /** The phase: fixed, or a function called per call. Default: read from `state` every `phasePollMs`. */
  phase?: PhaseSource
  /** Default 1000 ms. */
  phasePollMs?: number
  /** Share of shadow-eligible reads that are also read from the service and compared (0–1); default 1. */
  shadowSampleRate?: number
  /** A shadow read slower than this counts as an error; default 1000 ms. */
  shadowTimeoutMs?: number
  /** At most this many shadow reads run at once; more are skipped; default 64. */
  maxShadowInFlight?: number
  /** In shift, a service read slower than this falls back to the monolith; default 2000 ms. */
  serviceTimeoutMs?: number
  /** A background service write slower than this is dead-lettered; default 5000 ms. */
  serviceWriteTimeoutMs?: number
  /** Circuit breaker on service calls (shift reads, background writes). */
  breaker?: Partial<BreakerOptions>
  /** How results are compared; default {@link compareResults} with `fieldTypes`. */
  compare?: Comparator
  /** Per entity, per field, a logical type (`decimal(12,2)`, `timestamp`...) so both sides' values are compared canonically. */
  fieldTypes?: Record<string, Record<string, string>>
  /** How often samples, metrics and dead letters are written; default 1000 ms. */
  flushMs?: number
  /** Examples of mismatches kept per entity per flush; default 5. */
  maxExamples?: number
  log?: Logger
  /** For tests: the sampling coin. */
  random?: () => number
}

/** Counters since the router was created (also published as `metrics` kind `sdk`). */
export interface RouterStats {
  reads: {monolith: number; service: number; fallbacks: number; errors: number}
  writes: {monolith: number; service: number; serviceFailures: number; errors: number}
  shadow: {sampled: number; mismatches: number; errors: number; skipped: number}
  deadLetters: number
  breaker: 'closed' | 'open' | 'half-open'
}

/** The application-side router: shadow reads, write-through and toggle routing for one service. */
export interface Router {
  readonly service: string
  /** Reads one entity from the side the phase and the toggle choose (see the README). */
  read<T>(entity: string, key: EntityKey, sources: ReadSources<T>, ctx?: RequestContext): Promise<T>
  /** Writes one entity: the monolith first (authoritative), then the service in the background. */
  write<T>(entity: string, key: EntityKey, targets: WriteTargets<T>, ctx?: RequestContext): Promise<T>
  /** The side a read with this context goes to now. */
  readSide(ctx?: RequestContext): Promise<Side>
  /** The phase the router applies now. */
  phase(): Promise<PhaseView>
  stats(): RouterStats
  /** Publishes what is buffered now. */
  flush(): Promise<void>
  /** Waits for background shadow reads and service writes (each bounded by its timeout), flushes, and stops. */
  close(): Promise<void>
}
