import type {KeyTuple} from '../engines/types.js'
import type {KeyRange} from './diff-types.js'

/** The source of chunk boundaries: the `step`-th key after a key, in bytewise order. */
export interface KeySampler {
  keyAfter(after: KeyTuple | undefined, step: number): Promise<KeyTuple | undefined>
}

export interface ChunkSizing {
  /** Fixed rows per chunk (tests, or an operator who knows better); disables adaptation. */
  fixedRows?: number
  /** First chunk's rows (default 20,000). */
  initialRows?: number
  minRows?: number
  /** Largest chunk (default 100,000): a mismatched chunk costs about 1/parts of it again. */
  maxRows?: number
  /** Wall time one chunk's checksums should take (default 0.5 s). */
  targetSeconds?: number
  /** Parts a chunk is checksummed in, all in one scan (default 16): a mismatch then costs only its part. */
  parts?: number
}

/** A planned chunk: number, range, and the keys splitting it into parts. The last chunk's range is open-ended. */
export interface PlannedChunk {
  no: number
  range: KeyRange
  /** Ascending keys strictly inside the range (each part's upper bound but the last's). */
  bounds: KeyTuple[]
}

/**
 * Plans chunk boundaries by a keyset walk on the source: each boundary is the
 * n-th key after the previous one, n adapting to measured chunk times so a
 * chunk's checksums take about `targetSeconds`; the walk also yields the keys
 * splitting each chunk into parts. Ranges are contiguous, `(previous upTo, upTo]`,
 * from the very first key (open start) to beyond the last (open end), so target
 * rows outside the source's key span are compared too.
 */
export class ChunkPlanner {
  private rows: number
  private readonly min: number
  private readonly max: number
  private readonly target: number
  private readonly fixed: boolean
  private readonly maxParts: number
  private parts: number
  /** Time spent sampling the last chunk's keys, and the last chunk's checksum time. */
  private sampleMs = 0
  private next: number
  private after: KeyTuple | undefined
  private finished = false

  constructor(
    private readonly sampler: KeySampler,
    sizing: ChunkSizing = {},
    start: {after?: KeyTuple; no?: number; done?: boolean} = {},
  ) {
    this.fixed = sizing.fixedRows !== undefined
    this.min = Math.max(1, sizing.fixedRows ?? sizing.minRows ?? 2000)
    this.max = Math.max(this.min, sizing.fixedRows ?? sizing.maxRows ?? 100_000)
    this.rows = Math.round(clamp(sizing.fixedRows ?? sizing.initialRows ?? 20_000, this.min, this.max))
    this.target = sizing.targetSeconds ?? 0.5
    this.maxParts = Math.max(1, Math.floor(sizing.parts ?? 16))
    this.parts = this.maxParts
    this.after = start.after
    this.next = start.no ?? 0
    this.finished = Boolean(start.done)
  }

  /** Rows the next chunk will span. */
  get chunkRows(): number {
    return this.rows
  }

  get done(): boolean {
    return this.finished
  }

  /** The next chunk, or undefined once the open-ended last chunk has been handed out. */
  async plan(): Promise<PlannedChunk | undefined> {
    if (this.finished) return undefined
    const rows = this.rows
    const parts = Math.min(this.parts, rows)
    const step = Math.floor(rows / parts)
    const keys: KeyTuple[] = []
    let at = this.after
    const t0 = performance.now()
    for (let i = 0; i < parts; i++) {
      // the last step takes the remainder, so a chunk spans exactly `rows` keys
      const k = await this.sampler.keyAfter(at, i === parts - 1 ? rows - step * (parts - 1) : step)
      if (!k) break
      keys.push(k)
      at = k
    }
    this.sampleMs = performance.now() - t0
    const full = keys.length === parts
    const upTo = full ? keys.pop() : undefined
    const chunk: PlannedChunk = {no: this.next++, range: upTo ? {after: this.after, upTo} : {after: this.after}, bounds: keys}
    if (!upTo) this.finished = true
    this.after = upTo
    return chunk
  }

  /** Parts the next chunk will be split into. */
  get chunkParts(): number {
    return this.parts
  }

  /**
   * Feeds back one chunk's size and time; the next chunks move toward the target
   * time. Where sampling keys is expensive (text keys whose bytewise order no index
   * serves), chunks get fewer parts.
   */
  observe(rows: number, ms: number): void {
    if (ms > 0 && this.sampleMs > 0) {
      if (this.sampleMs > 0.1 * ms) this.parts = Math.max(1, Math.floor(this.parts / 2))
      else if (this.sampleMs < 0.02 * ms) this.parts = Math.min(this.maxParts, this.parts * 2)
    }
    if (this.fixed || rows <= 0 || ms <= 0) return
    const desired = (rows / ms) * 1000 * this.target
    // smooth, and never more than double or halve in one step
    const next = clamp(0.5 * this.rows + 0.5 * desired, this.rows / 2, this.rows * 2)
    this.rows = Math.round(clamp(next, this.min, this.max))
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v))
}
