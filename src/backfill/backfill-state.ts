import type {KeyTuple} from '../engines/types.js'

/** Checkpoint kind of the backfill in the state store's `checkpoints` table. */
export const BACKFILL_KIND = 'backfill'

/**
 * One key range of an entity, copied in key order by one worker:
 * rows with `from < key <= to` (open ends when absent). `last` is the key of
 * the last row of the last committed chunk; a resumed run continues after it.
 */
export interface RangeState {
  readonly from?: KeyTuple
  readonly to?: KeyTuple
  last?: KeyTuple
  rows: number
  chunks: number
  done: boolean
}

/**
 * Everything that makes an entity's backfill resumable: one serialisable
 * object, written to the state store after every committed chunk. `done`,
 * `rowsCopied` and `rowsEstimated` are read by `strangler status` and by the
 * relay (which waits for `done`).
 */
export interface BackfillState {
  readonly version: 1
  done: boolean
  /** Rows committed to the target and checkpointed (re-copies after a crash are not counted twice). */
  rowsCopied: number
  rowsEstimated: number
  /** Rows per chunk the ranges were planned with (informational; a resumed run may use another size). */
  chunkRows: number
  ranges: RangeState[]
  startedAt: string
  finishedAt?: string
  /** Runs that worked on this backfill (1 + resumes). */
  runs: number
}

/** A fresh state for planned ranges. */
export function newBackfillState(ranges: {from?: KeyTuple; to?: KeyTuple}[], rowsEstimated: number, chunkRows: number): BackfillState {
  return {
    version: 1,
    done: false,
    rowsCopied: 0,
    rowsEstimated,
    chunkRows,
    ranges: ranges.map((r) => ({...(r.from ? {from: r.from} : {}), ...(r.to ? {to: r.to} : {}), rows: 0, chunks: 0, done: false})),
    startedAt: new Date().toISOString(),
    runs: 1,
  }
}

/** True when `s` looks like a state this version can resume. */
export function isResumable(s: unknown): s is BackfillState {
  const x = s as Partial<BackfillState> | undefined
  return Boolean(x && x.version === 1 && Array.isArray(x.ranges) && typeof x.rowsCopied === 'number')
}
