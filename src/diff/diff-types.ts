import type {KeyTuple} from '../engines/types.js'

/** How an entity's checksums are computed: in both databases, in one, or in neither (both streamed and hashed in JS). */
export type DiffMode = 'push-down' | 'mixed' | 'streaming'

/** A key range `after < key <= upTo`; an absent bound is open. */
export interface KeyRange {
  readonly after?: KeyTuple
  readonly upTo?: KeyTuple
}

/** One column of a changed row: both values as canonical text (or masked). */
export interface ChangedColumn {
  /** The column, or for a JSON column (an aggregate's embedded part) the path inside it: `variants[2].price`. */
  name: string
  /** Set when `name` is a path inside a JSON column: the column. */
  column?: string
  /** Canonical text of the monolith's (mapped) value; `null` for NULL; `********` for sensitive columns. */
  source: string | null
  target: string | null
}

/** A row present on both sides whose values differ. */
export interface ChangedRow {
  key: KeyTuple
  columns: ChangedColumn[]
}

/** The outcome of comparing one entity. Key lists are complete up to `maxKeys`; `counts` are always complete. */
export interface EntityDiffResult {
  entity: string
  /** `schema.table` of the monolith table and of the service's table or collection. */
  source: string
  target: string
  /** Column names of the key tuples below (target names). */
  keyColumns: string[]
  mode: DiffMode
  /** Why a side is not pushed down. */
  notes: string[]
  status: 'clean' | 'differences' | 'error'
  /** Set when the entity could not be compared. */
  error?: string
  rowsSource: number
  rowsTarget: number
  chunks: number
  chunksMismatched: number
  /** Chunks finished by an earlier, interrupted attempt of the same run. */
  chunksResumed: number
  /** Chunks left out by `--sample`. */
  chunksSkipped: number
  /** In the monolith, not in the service store. */
  missing: KeyTuple[]
  /** In the service store, not in the monolith. */
  extra: KeyTuple[]
  changed: ChangedRow[]
  counts: {missing: number; extra: number; changed: number}
  /** True when a key list was cut at `maxKeys`. */
  truncated: boolean
  /** Differing keys that the live re-check found equal after the relay caught up (not reported). */
  resolvedLive: number
  durationMs: number
}

/** Kinds of differing keys as stored in `diff_keys`. */
export type DiffKind = 'missing' | 'extra' | 'changed'
