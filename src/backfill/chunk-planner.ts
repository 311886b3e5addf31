import type {Engine} from '../engines/engine.js'
import type {KeyTuple} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'

/** A key range `from < key <= to`; an absent end is open. */
export interface KeyRange {
  readonly from?: KeyTuple
  readonly to?: KeyTuple
}

export interface RangePlanOptions {
  /** Estimated rows of the entity (after its filter). */
  rows: number
  /** Workers that will copy the ranges. */
  parallel: number
  /** Rows per chunk; a range is never planned smaller than a few chunks. */
  chunkRows: number
  /** Ranges per worker, so a slow range does not leave the others idle (default 4). */
  rangesPerWorker?: number
}

/** How many ranges to split an entity into. */
export function rangeCount(opts: RangePlanOptions): number {
  if (opts.parallel <= 1 || opts.rows <= 0) return 1
  const byWorkers = opts.parallel * (opts.rangesPerWorker ?? 4)
  const bySize = Math.floor(opts.rows / Math.max(1, opts.chunkRows * 2))
  return Math.max(1, Math.min(byWorkers, bySize))
}

/**
 * The chunk planner: splits an entity's key space, in the source's native key
 * order, into disjoint ranges of about equal row counts, by sampling every
 * n-th key (`engine.sampleKeys`). The last range is open-ended, so rows
 * inserted past the end while the backfill runs still belong to a range.
 */
export async function planRanges(source: Engine, entity: ResolvedEntity, opts: RangePlanOptions): Promise<KeyRange[]> {
  const n = rangeCount(opts)
  if (n <= 1) return [{}]
  const step = Math.max(1, Math.ceil(opts.rows / n))
  const bounds: KeyTuple[] = []
  let after: KeyTuple | undefined
  for (let i = 0; i < n - 1; i++) {
    const k = await source.sampleKeys({table: entity.source, key: entity.sourceKey, keyTypes: entity.sourceKeyTypes, after, step, filter: entity.filter})
    if (!k) break
    bounds.push(k)
    after = k
  }
  const ranges: KeyRange[] = []
  let from: KeyTuple | undefined
  for (const b of bounds) {
    ranges.push(from ? {from, to: b} : {to: b})
    from = b
  }
  ranges.push(from ? {from} : {})
  return ranges
}
