import type {Engine} from '../engines/engine.js'
import {keyOf, keyToString} from '../engines/keys.js'
import type {Row} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {withContext} from '../util/errors.js'
import type {Chunk, EncodedChunk} from './data-iterator.js'

/**
 * The batch writer: maps source rows to target rows (`entity.materialise`:
 * `mapRow`, and for an aggregate its related rows assembled) and writes them
 * `batchSize` rows per statement with the target's fastest idempotent write
 * (`bulkLoad` where the engine has one, else `upsert`). A chunk the source
 * already encoded as text (the fast path of plain copies) is written as it
 * is with `bulkLoadText`. Re-writing a chunk after a crash changes nothing.
 */
export class BatchWriter {
  /** Every target column is a source column of the same name, unchanged: source rows are already target rows. */
  private readonly identity: boolean

  constructor(
    private readonly target: Engine,
    private readonly entity: ResolvedEntity,
    private readonly batchSize: number,
  ) {
    this.identity = entity.columns.every((c) => c.source.kind === 'column' && !c.source.cast && c.source.column === c.name)
  }

  /** Writes a chunk; returns the number of rows written. */
  async write(chunk: Chunk): Promise<number> {
    return chunk.kind === 'text' ? this.writeText(chunk) : this.writeRows(chunk.rows)
  }

  /** Maps and writes source rows; returns the number of rows written. */
  async writeRows(sourceRows: readonly Row[]): Promise<number> {
    const e = this.entity
    let written = 0
    for (let i = 0; i < sourceRows.length; i += this.batchSize) {
      const part = sourceRows.slice(i, i + this.batchSize)
      let rows: Row[]
      try {
        rows = this.identity ? part : await e.materialise(part)
      } catch (err) {
        throw withContext(err, `backfill of ${e.name}: mapping rows near key ${keyToString(keyOf(part[0], e.sourceKey))}`)
      }
      try {
        const batch = {table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows}
        await (this.target.bulkLoad ? this.target.bulkLoad(batch) : this.target.upsert(batch))
      } catch (err) {
        const first = keyToString(keyOf(part[0], e.sourceKey))
        const last = keyToString(keyOf(part[part.length - 1], e.sourceKey))
        throw withContext(err, `backfill of ${e.name}: writing ${rows.length} rows with keys ${first} .. ${last} to ${this.target.displayUrl}`)
      }
      written += rows.length
    }
    return written
  }

  private async writeText(chunk: EncodedChunk): Promise<number> {
    const e = this.entity
    if (!this.target.bulkLoadText) throw new Error(`backfill of ${e.name}: ${this.target.displayUrl} cannot load text rows`)
    try {
      const n = await this.target.bulkLoadText({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, text: chunk.text, rows: chunk.count})
      chunk.release?.()
      return n
    } catch (err) {
      throw withContext(err, `backfill of ${e.name}: writing ${chunk.count} rows with keys ${keyToString(chunk.first)} .. ${keyToString(chunk.last)} to ${this.target.displayUrl}`)
    }
  }
}
