import type {Engine} from '../engines/engine.js'
import {keyOf, keyToString} from '../engines/keys.js'
import type {KeyTuple, Row} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {withContext} from '../util/errors.js'
import type {KeyRange} from './chunk-planner.js'

/** One page of source rows in key order, with the key of its last row. */
export interface Chunk {
  readonly rows: Row[]
  readonly last: KeyTuple
}

/**
 * The data iterator: keyset pagination over one key range of the source in
 * its native key order (`engine.readRange`), starting after `resumeAfter`.
 * While the caller writes a chunk, the next one is already being read (one
 * chunk ahead, so memory stays at two chunks per worker).
 */
export class DataIterator {
  private after?: KeyTuple
  private next?: Promise<Row[]>
  private finished = false

  constructor(
    private readonly source: Engine,
    private readonly entity: ResolvedEntity,
    private readonly range: KeyRange,
    private readonly chunkRows: number,
    resumeAfter?: KeyTuple,
    /** Ask for json columns as unparsed `JsonText` (see `jsonPassThrough`). */
    private readonly jsonText = false,
  ) {
    this.after = resumeAfter ?? range.from
  }

  private read(after: KeyTuple | undefined): Promise<Row[]> {
    const e = this.entity
    const p = this.source
      .readRange({table: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, columns: e.projections, after, upTo: this.range.to, limit: this.chunkRows, filter: e.filter, jsonText: this.jsonText})
      .catch((err: unknown) => {
        throw withContext(err, `backfill of ${e.name}: reading ${e.source.name} after key ${after ? keyToString(after) : '(start)'}`)
      })
    // a prefetch that is never awaited (abort, a failed write) must not crash the process
    p.catch(() => undefined)
    return p
  }

  /** The next chunk, or undefined at the end of the range. */
  async nextChunk(): Promise<Chunk | undefined> {
    if (this.finished) return undefined
    const rows = await (this.next ?? this.read(this.after))
    this.next = undefined
    if (!rows.length) {
      this.finished = true
      return undefined
    }
    const last = keyOf(rows[rows.length - 1], this.entity.sourceKey)
    this.after = last
    if (rows.length < this.chunkRows) this.finished = true
    else this.next = this.read(last)
    return {rows, last}
  }
}

/**
 * True when the mapping never looks inside a json value (no JS transform, no
 * cast from json), so JSON can travel from source to target as text.
 */
export function jsonPassThrough(e: ResolvedEntity): boolean {
  return e.columns.every((c) => c.source.kind !== 'js' && !(c.source.kind === 'column' && c.source.cast && c.source.from.type === 'json'))
}
