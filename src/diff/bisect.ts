import type {KeyTuple} from '../engines/types.js'
import type {DiffSide, KeyHash} from './diff-side.js'
import type {KeyRange} from './diff-types.js'
import type {KeyOrder} from './key-order.js'
import {type ChunkChecksum, checksumsEqual} from './row-hash.js'

/** Differing keys of a range, as found by hashes (before rows are read and re-checked). */
export interface RangeDiff {
  missing: KeyTuple[]
  extra: KeyTuple[]
  changed: KeyTuple[]
}

export interface RangeOutcome extends RangeDiff {
  /** Rows of the range on each side. */
  sourceRows: number
  targetRows: number
  /** Whether the range's top-level checksums differed. */
  mismatched: boolean
}

export interface BisectOptions {
  /** At or below this many rows (on the larger side) a range is settled by comparing key+hash lists (default 4096). */
  leafRows?: number
  /** A mismatched range splits into at most this many parts (default 8). */
  fanout?: number
}

/** Merge-joins two key+hash lists in key order into missing (left only), extra (right only) and changed keys. */
export function mergeHashes(source: readonly KeyHash[], target: readonly KeyHash[], order: KeyOrder): RangeDiff {
  const out: RangeDiff = {missing: [], extra: [], changed: []}
  let i = 0
  let j = 0
  while (i < source.length && j < target.length) {
    const c = order.compare(source[i].key, target[j].key)
    if (c < 0) out.missing.push(source[i++].key)
    else if (c > 0) out.extra.push(target[j++].key)
    else {
      if (source[i].hash !== target[j].hash) out.changed.push(source[i].key)
      i++
      j++
    }
  }
  while (i < source.length) out.missing.push(source[i++].key)
  while (j < target.length) out.extra.push(target[j++].key)
  return out
}

function sum(parts: readonly ChunkChecksum[]): ChunkChecksum {
  const sums = [0, 1, 2, 3].map((i) => parts.reduce((acc, p) => acc + BigInt(p.sums[i]), 0n).toString()) as [string, string, string, string]
  return {count: parts.reduce((n, p) => n + p.count, 0), sums}
}

/**
 * Compares one key range: its parts' checksums (one scan per side) settle the
 * equal parts; a mismatched part is split again at keys sampled from the side
 * with more rows, down to ranges of `leafRows` rows, whose key+hash lists are
 * merge-joined.
 */
export class Bisector {
  private readonly leafRows: number
  private readonly fanout: number

  constructor(
    private readonly source: DiffSide,
    private readonly target: DiffSide,
    private readonly order: KeyOrder,
    opts: BisectOptions = {},
  ) {
    this.leafRows = Math.max(1, opts.leafRows ?? 4096)
    this.fanout = Math.max(2, opts.fanout ?? 8)
  }

  /** Compares a range, checksummed in the parts `bounds` splits it into (ascending keys inside it). */
  async compare(range: KeyRange, bounds: readonly KeyTuple[] = []): Promise<RangeOutcome> {
    const [s, t] = await Promise.all([this.source.checksumParts(range, bounds), this.target.checksumParts(range, bounds)])
    const out: RangeOutcome = {missing: [], extra: [], changed: [], sourceRows: sum(s).count, targetRows: sum(t).count, mismatched: false}
    const ranges = split(range, bounds)
    for (let i = 0; i < ranges.length; i++) {
      if (checksumsEqual(s[i], t[i])) continue
      out.mismatched = true
      await this.settle(ranges[i], s[i], t[i], out, 0)
    }
    return out
  }

  private async settle(range: KeyRange, s: ChunkChecksum, t: ChunkChecksum, out: RangeDiff, depth: number): Promise<void> {
    if (checksumsEqual(s, t)) return
    const n = Math.max(s.count, t.count)
    const bounds = n <= this.leafRows || depth > 64 ? [] : await this.splitKeys(range, s.count >= t.count ? this.source : this.target, n)
    if (!bounds.length) return this.leaf(range, out)
    const [sp, tp] = await Promise.all([this.source.checksumParts(range, bounds), this.target.checksumParts(range, bounds)])
    const ranges = split(range, bounds)
    for (let i = 0; i < ranges.length; i++) await this.settle(ranges[i], sp[i], tp[i], out, depth + 1)
  }

  /** Up to `fanout - 1` keys strictly inside the range, evenly spaced on `side`. */
  private async splitKeys(range: KeyRange, side: DiffSide, n: number): Promise<KeyTuple[]> {
    const parts = Math.min(this.fanout, Math.ceil(n / this.leafRows))
    const step = Math.max(1, Math.floor(n / parts))
    const keys: KeyTuple[] = []
    let after = range.after
    for (let i = 1; i < parts; i++) {
      const k = await side.keyAfter(after, step)
      if (!k) break
      if (range.upTo && this.order.compare(k, range.upTo) >= 0) break
      keys.push(k)
      after = k
    }
    return keys
  }

  private async leaf(range: KeyRange, out: RangeDiff): Promise<void> {
    const [a, b] = await Promise.all([this.source.hashes(range), this.target.hashes(range)])
    const d = mergeHashes(a, b, this.order)
    out.missing.push(...d.missing)
    out.extra.push(...d.extra)
    out.changed.push(...d.changed)
  }
}

/** The ranges `bounds` splits a range into. */
function split(range: KeyRange, bounds: readonly KeyTuple[]): KeyRange[] {
  const out: KeyRange[] = []
  let after = range.after
  for (const b of bounds) {
    out.push({after, upTo: b})
    after = b
  }
  out.push({after, upTo: range.upTo})
  return out
}
