/**
 * The report's data model: everything `strangler report` knows about each
 * service, read from the state store by `collectReport` and rendered as JSON,
 * Markdown or HTML. The JSON rendering is this object as is; its schema is
 * documented field by field in docs/report-json.md and versioned by
 * `reportVersion` (a field is only ever added within a version).
 *
 * Conventions: times are ISO-8601 UTC strings; counts and measurements are
 * numbers (`null` when the writer did not record them); lists are oldest
 * first and, when capped by {@link ReportLimits}, keep the newest entries;
 * `other` holds fields a writer recorded that this version does not know
 * (present only when there are some).
 */

import type {AuditRecord} from '../state/audit.js'

export const REPORT_VERSION = 1

/** Caps on list sizes (the totals are always complete). */
export interface ReportLimits {
  /** Points per time series (relay samples, toggle changes, shadow samples); longer series are thinned. */
  seriesPoints: number
  diffRuns: number
  /** Differing keys of the last diff run. */
  diffKeys: number
  shadowExamples: number
  deadLetters: number
  gateEvals: number
  /** Audit records per service (and of the records tied to no service). */
  audit: number
}

export const DEFAULT_LIMITS: ReportLimits = {
  seriesPoints: 2000,
  diffRuns: 50,
  diffKeys: 1000,
  shadowExamples: 50,
  deadLetters: 1000,
  gateEvals: 500,
  audit: 500,
}

/** Fields a writer recorded that this report version does not know. */
export type Other = Record<string, unknown>

/** The whole report. */
export interface ReportData {
  reportVersion: typeof REPORT_VERSION
  generatedAt: string
  stateStore: {
    /** False when the control-plane tables do not exist yet (`strangler init` has not run): every section is empty. */
    initialised: boolean
    prefix: string
    dialect: 'postgres' | 'mysql'
  }
  limits: ReportLimits
  services: ServiceReport[]
  /** Audit records tied to no service (`init`, `plan`...). */
  audit: AuditEntry[]
  auditTotal: number
}

/** Everything about one service. */
export interface ServiceReport {
  name: string
  /** `planned` when the service was never touched. */
  phase: string
  readPct: number
  writeTarget: string
  step: string | null
  /** When the service row last changed; null when there is none. */
  updatedAt: string | null
  info: Record<string, unknown>
  status: ServiceHealth
  transitions: TransitionEntry[]
  toggles: ToggleSection
  relay: RelaySection
  backfill: BackfillSection
  diff: DiffSection
  shadow: ShadowSection
  deadLetters: DeadLetterSection
  gates: GateSection
  audit: AuditEntry[]
  auditTotal: number
}

/** A one-line verdict: `ok` when nothing needs attention; `problems` say what does. */
export interface ServiceHealth {
  ok: boolean
  problems: string[]
}

/** One phase change (`transitions`). */
export interface TransitionEntry {
  at: string
  from: string
  to: string
  operator: string
  runId: string
  reason: string | null
  forced: boolean
}

/** A rollout change of a toggle (`metrics` kind `toggle`). */
export interface TogglePoint {
  at: string
  toggle: string
  pct: number
  provider: string | null
  other?: Other
}

/** A local toggle as it is now (`toggles`). */
export interface ToggleNow {
  name: string
  pct: number
  enabled: boolean
  stickiness: string
  updatedAt: string
}

export interface ToggleSection {
  /** Rollout changes over time. */
  points: TogglePoint[]
  totalPoints: number
  /** Local toggles (empty with the Unleash provider). */
  current: ToggleNow[]
}

/** One relay sample (`metrics` kind `relay`). */
export interface RelayPoint {
  at: string
  lagSeconds: number | null
  pending: number | null
  applied: number | null
  batchMs: number | null
  retries: number | null
  deadLetters: number | null
  /** Outbox changes consumed per second. */
  throughput: number | null
  other?: Other
}

export interface RelaySection {
  points: RelayPoint[]
  totalPoints: number
  latest: RelayPoint | null
  /** Over every sample (not only the points kept). */
  maxLagSeconds: number | null
  maxThroughput: number | null
}

/** The backfill checkpoint of one entity (`checkpoints` kind `backfill`). */
export interface BackfillEntity {
  entity: string
  done: boolean
  rowsCopied: number | null
  rowsEstimated: number | null
  /** rowsCopied / rowsEstimated in percent, at most 100; 100 when done; null when unknown. */
  pct: number | null
  startedAt: string | null
  finishedAt: string | null
  /** Runs that worked on it (1 + resumes). */
  runs: number | null
  /** Rows per chunk the copy was planned with. */
  chunkRows: number | null
  /** Key ranges copied in parallel, and how many are done. */
  ranges: number | null
  rangesDone: number | null
  updatedAt: string
  other?: Other
}

export interface BackfillSection {
  entities: BackfillEntity[]
  done: number
  total: number
  rowsCopied: number
  rowsEstimated: number
}

/** Per-entity result of a diff run (from `diff_runs.summary`). */
export interface DiffRunEntity {
  entity: string
  status: string
  mode: string | null
  missing: number | null
  extra: number | null
  changed: number | null
  rowsSource: number | null
  rowsTarget: number | null
  error: string | null
  other?: Other
}

/** One diff run of the service (`diff_runs`). */
export interface DiffRun {
  /** `diff_runs.id`: the run id, or `runId:service` for a run over several services. */
  id: string
  runId: string
  /** clean, differences, error, running, interrupted, sample-clean... */
  status: string
  startedAt: string
  finishedAt: string | null
  durationMs: number | null
  totals: {rowsCompared: number | null; missing: number | null; extra: number | null; changed: number | null}
  samplePct: number | null
  entities: DiffRunEntity[]
  options: Record<string, unknown>
  other?: Other
}

/** A differing key of the last run (`diff_keys`). */
export interface DiffKeyEntry {
  entity: string
  kind: string
  /** The key tuple as stored (a JSON array of key values). */
  key: unknown
  /** Columns of a changed row with both values (sensitive ones masked by the diff). */
  columns: {name: string; source: unknown; target: unknown}[]
  chunk: number | null
  other?: Other
}

export interface DiffSection {
  runs: DiffRun[]
  totalRuns: number
  /** The newest finished run (or the newest run when none finished). */
  lastRun: DiffRun | null
  /** Differing keys of `lastRun` as stored (the diff caps how many it stores). */
  lastRunKeys: DiffKeyEntry[]
  lastRunKeysTotal: number
  lastRunKeysByKind: Record<string, number>
}

/** One shadow comparison batch (`shadow_samples`). */
export interface ShadowPoint {
  at: string
  entity: string
  /** `sdk` (the application's shadow reads) or `verify` (`strangler shadow verify`). */
  source: string
  sampled: number
  mismatches: number
  errors: number
  /** mismatches / sampled (0 when nothing was sampled). */
  rate: number
}

/** A mismatching (or failing) shadow read. */
export interface ShadowExampleEntry {
  at: string
  entity: string
  source: string
  /** The key as text. */
  key: string
  /** missing, extra, changed, error; null when the writer did not say. */
  kind: string | null
  /** Fields that differ. */
  fields: string[]
  monolith: unknown
  service: unknown
  error: string | null
  other?: Other
}

export interface ShadowSection {
  points: ShadowPoint[]
  totalPoints: number
  totals: {sampled: number; mismatches: number; errors: number; rate: number}
  examples: ShadowExampleEntry[]
  totalExamples: number
}

/** A key that could not be applied (`dead_letters`). */
export interface DeadLetterEntry {
  id: string
  entity: string
  pk: string
  /** `relay` or `sdk`. */
  source: string
  error: string
  attempts: number
  firstAt: string
  lastAt: string
  nextAt: string
  resolvedAt: string | null
}

export interface DeadLetterSection {
  unresolved: number
  resolved: number
  /** Unresolved ones first in priority when capped; sorted oldest first. */
  items: DeadLetterEntry[]
}

/** One gate measured against its threshold (`gate_evals`). */
export interface GateEval {
  at: string
  context: string
  gate: string
  value: string | null
  threshold: string | null
  ok: boolean
}

export interface GateSection {
  evaluations: GateEval[]
  total: number
  /** The newest evaluation batch (same time and context). */
  latest: GateEval[]
}

/** One audited command (`audit`): the audit log's record without its row id. */
export type AuditEntry = Omit<AuditRecord, 'id'>
