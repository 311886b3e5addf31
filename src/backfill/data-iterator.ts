import type {Engine} from '../engines/engine.js'
import {keyOf, keyToString} from '../engines/keys.js'
import type {RowTextFormat} from '../engines/row-text.js'
import type {KeyTuple, Projection, Row} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {withContext} from '../util/errors.js'
import type {KeyRange} from './chunk-planner.js'

interface ChunkBase {
  /** Rows in the chunk. */
  readonly count: number
  /** Bytes the rows take (exact for text, estimated for rows): what the byte budget counts. */
  readonly bytes: number
  readonly first: KeyTuple
  readonly last: KeyTuple
}

/** Source rows in key order, to be mapped (or assembled) and written. */
export interface RowChunk extends ChunkBase {
  readonly kind: 'rows'
  readonly rows: Row[]
}

/** Rows the source server already encoded into the target's row text format (see `textCopyPlan`). */
export interface EncodedChunk extends ChunkBase {
  readonly kind: 'text'
  /** The lines in pieces (see `TextChunk` in src/engines/row-text.ts). */
  readonly text: readonly Buffer[]
  /** Gives the pieces back to the source for reuse, after a successful write. */
  readonly release?: () => void
}

/** One page of source rows in key order, with the keys of its first and last row. */
export type Chunk = RowChunk | EncodedChunk

/** The backfill's text fast path for one entity: the fields (source columns in target column order) and the target's format. */
export interface TextCopyPlan {
  readonly format: RowTextFormat
  readonly columns: readonly Projection[]
}

export interface DataIteratorOptions {
  /** Most rows per chunk. */
  readonly chunkRows: number
  /** Most bytes per chunk (about): pages of wide rows hold fewer rows. */
  readonly chunkBytes: number
  /** Start after this key (a resumed range) instead of the range's start. */
  readonly resumeAfter?: KeyTuple
  /** Ask for json columns as unparsed `JsonText` (see `jsonPassThrough`). */
  readonly jsonText?: boolean
  /** Read pages as text encoded by the source server (see `textCopyPlan`); a page it cannot encode is read as rows. */
  readonly text?: TextCopyPlan
}

/** Rows of the first page of a range: small, until the row size is known. */
const FIRST_PAGE_ROWS = 500

/**
 * The data iterator: keyset pagination over one key range of the source in
 * its native key order (`engine.readRange`, or `readRangeText` on the text
 * path), starting after `resumeAfter`. While the caller writes a chunk, the
 * next one is already being read (one chunk ahead, so memory stays at two
 * chunks per worker). Pages are sized by rows and by bytes: the first page is
 * small, later ones hold as many rows as fit `chunkBytes` at the row size seen
 * so far, at most `chunkRows`.
 */
export class DataIterator {
  private after?: KeyTuple
  private next?: Promise<Chunk | undefined>
  private finished = false
  private limit: number
  /**
   * The text path is tried once the first page (read as rows) showed narrow
   * rows, and left for good when the server could not build a page's lines:
   * multi-megabyte values escaped by the server, a page at a time, cost far
   * more than they save.
   */
  private textOk: boolean | undefined

  constructor(
    private readonly source: Engine,
    private readonly entity: ResolvedEntity,
    private readonly range: KeyRange,
    private readonly opts: DataIteratorOptions,
  ) {
    this.after = opts.resumeAfter ?? range.from
    this.limit = Math.max(1, Math.min(opts.chunkRows, FIRST_PAGE_ROWS))
  }

  private read(after: KeyTuple | undefined, limit: number): Promise<Chunk | undefined> {
    const e = this.entity
    const req = {table: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, after, upTo: this.range.to, limit, filter: e.filter}
    const p = (async (): Promise<Chunk | undefined> => {
      const text = this.opts.text
      if (text && this.source.readRangeText && this.textOk) {
        const t = await this.source.readRangeText({...req, columns: text.columns, format: text.format})
        if (t) return t.rows ? {kind: 'text', text: t.text, count: t.rows, bytes: t.bytes, first: t.first, last: t.last, release: t.release} : undefined
        this.textOk = false
      }
      const rows = await this.source.readRange({...req, columns: e.projections, jsonText: this.opts.jsonText})
      if (!rows.length) return undefined
      const first = keyOf(rows[0], e.sourceKey)
      const last = keyOf(rows[rows.length - 1], e.sourceKey)
      return {kind: 'rows', rows, count: rows.length, bytes: estimateBytes(rows), first, last}
    })().catch((err: unknown) => {
      throw withContext(err, `backfill of ${e.name}: reading ${e.source.name} after key ${after ? keyToString(after) : '(start)'}`)
    })
    // a prefetch that is never awaited (abort, a failed write) must not crash the process
    p.catch(() => undefined)
    return p
  }

  /** The next chunk, or undefined at the end of the range. */
  async nextChunk(): Promise<Chunk | undefined> {
    if (this.finished) return undefined
    const asked = this.limit
    const chunk = await (this.next ?? this.read(this.after, asked))
    this.next = undefined
    if (!chunk) {
      this.finished = true
      return undefined
    }
    this.after = chunk.last
    if (this.textOk === undefined) this.textOk = chunk.bytes / Math.max(1, chunk.count) <= TEXT_MAX_ROW_BYTES
    if (chunk.count < asked) {
      this.finished = true
    } else {
      const perRow = Math.max(1, chunk.bytes / chunk.count)
      this.limit = Math.max(1, Math.min(this.opts.chunkRows, Math.floor(this.opts.chunkBytes / perRow)))
      this.next = this.read(chunk.last, this.limit)
    }
    return chunk
  }
}

/** Widest average row (bytes) the text path is used for. */
const TEXT_MAX_ROW_BYTES = 64 * 1024

/** Rows sampled to estimate a row chunk's size. */
const SAMPLE = 16

/** About how many bytes the rows' values take (strings, buffers, JSON text), from an even sample. */
export function estimateBytes(rows: readonly Row[]): number {
  if (!rows.length) return 0
  const step = Math.max(1, Math.floor(rows.length / SAMPLE))
  let sum = 0
  let n = 0
  for (let i = 0; i < rows.length; i += step) {
    n++
    for (const k in rows[i]) sum += valueBytes(rows[i][k])
  }
  return Math.round((sum / n) * rows.length)
}

function valueBytes(v: unknown): number {
  if (v === null || v === undefined) return 1
  if (typeof v === 'string') return v.length + 1
  if (Buffer.isBuffer(v)) return v.length + 1
  if (typeof v === 'object') {
    const text = (v as {text?: unknown}).text
    if (typeof text === 'string') return text.length + 1 // JsonText
    return JSON.stringify(v)?.length ?? 1
  }
  return 8
}

/**
 * True when the mapping never looks inside a json value (no JS transform, no
 * cast from json), so JSON can travel from source to target as text.
 */
export function jsonPassThrough(e: ResolvedEntity): boolean {
  return e.columns.every((c) => c.source.kind !== 'js' && !(c.source.kind === 'column' && c.source.cast && c.source.from.type === 'json'))
}

/**
 * The text fast path, where it applies: every target column is a source
 * column unchanged (a plain copy or a rename: no cast, constant, SQL or JS
 * mapping, no aggregate relations, which need rows to be assembled), the
 * target has a row text format (`rowTextFormat`) and the source can spell
 * those columns in it (`canReadText`). Then rows never become JavaScript
 * values: the source server writes each row as a line, the target loads
 * the lines as they are.
 */
export function textCopyPlan(source: Engine, target: Engine, e: ResolvedEntity): TextCopyPlan | undefined {
  const format = target.rowTextFormat?.()
  if (!format || !target.bulkLoadText || !source.readRangeText || !source.canReadText) return undefined
  const columns: Projection[] = []
  for (const c of e.columns) {
    if (c.source.kind !== 'column' || c.source.cast) return undefined
    columns.push({name: c.name, column: c.source.column, type: c.source.from})
  }
  return source.canReadText(columns) ? {format, columns} : undefined
}
