import type {Engine} from '../engines/engine.js'
import type {ColumnType, KeyTuple, Projection, RangeRead, Row, TableRef} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {canonicalRow, encodeCanonical} from './canonical.js'
import type {KeyRange} from './diff-types.js'
import type {KeyOrder} from './key-order.js'
import {type ChunkChecksum, chunkAccumulator, rowHash} from './row-hash.js'
import {sqlChunkChecksumQuery} from './sql-hash.js'
import {sqlPartsChecksumQuery} from './sql-parts.js'
import type {DiffStrategy} from './strategy.js'

/** A key with its row hash (md5 hex of the canonical encoding). */
export interface KeyHash {
  key: KeyTuple
  hash: string
}

/** A row as the diff compares it: its key and the canonical texts of the target columns. */
export interface CanonicalRow {
  key: KeyTuple
  texts: (string | null)[]
}

/**
 * One side of a comparison (the monolith through the mapping, or the service
 * store): checksums and key+hash lists of key ranges, computed in SQL when the
 * strategy allows and otherwise by streaming the range in key order and hashing
 * in JS, with byte-identical results either way.
 */
export interface DiffSide {
  readonly label: 'source' | 'target'
  readonly engine: Engine
  readonly table: TableRef
  readonly key: readonly string[]
  readonly keyTypes: readonly ColumnType[]
  /** Checksums and hash lists computed in the database. */
  readonly inSql: boolean
  checksum(range: KeyRange): Promise<ChunkChecksum>
  /** Checksums of the parts of a range split at `bounds` (ascending keys inside it), in one scan: `bounds.length + 1` of them. */
  checksumParts(range: KeyRange, bounds: readonly KeyTuple[]): Promise<ChunkChecksum[]>
  /** Keys and row hashes of the range, in key order. */
  hashes(range: KeyRange): Promise<KeyHash[]>
  /** The `step`-th key after `after` (bytewise order), to split a range or plan chunks. */
  keyAfter(after: KeyTuple | undefined, step: number): Promise<KeyTuple | undefined>
  /** Canonical rows for these keys; keys without a row (compared exactly, bytewise) are absent. */
  rows(keys: readonly KeyTuple[]): Promise<Map<string, CanonicalRow>>
}

export interface SideOptions {
  /** Rows per page when streaming a range (default 5000). */
  pageRows?: number
}

interface SideSpec {
  label: 'source' | 'target'
  engine: Engine
  table: TableRef
  key: readonly string[]
  keyTypes: readonly ColumnType[]
  projections: readonly Projection[]
  filter?: string
  /** Values of the compared columns, in column order, from a row read with `projections` (after `prepare`, when set). */
  values: (row: Row) => unknown[]
  /** Turns a page of rows as read into the rows `values` reads, in order (an aggregate assembles its related tables here). */
  prepare?: (rows: readonly Row[]) => Promise<Row[]>
  hashSql?: string
}

class Side implements DiffSide {
  readonly label: 'source' | 'target'
  readonly engine: Engine
  readonly table: TableRef
  readonly key: readonly string[]
  readonly keyTypes: readonly ColumnType[]
  readonly inSql: boolean
  private readonly types: ColumnType[]
  private readonly precisions: number[]
  private readonly pageRows: number

  constructor(
    private readonly spec: SideSpec,
    strategy: DiffStrategy,
    private readonly order: KeyOrder,
    opts: SideOptions,
  ) {
    this.label = spec.label
    this.engine = spec.engine
    this.table = spec.table
    this.key = spec.key
    this.keyTypes = spec.keyTypes
    this.inSql = spec.hashSql !== undefined && spec.engine.sql !== undefined
    this.types = strategy.columns.map((c) => c.type)
    this.precisions = strategy.columns.map((c) => c.precision)
    this.pageRows = opts.pageRows ?? 5000
  }

  private read(range: KeyRange, columns: readonly Projection[], limit?: number): RangeRead {
    return {
      table: this.table,
      key: this.key,
      keyTypes: this.keyTypes,
      columns,
      after: range.after,
      upTo: range.upTo,
      filter: this.spec.filter,
      limit,
      order: 'bytewise',
    }
  }

  private texts(row: Row, raw: Row = row): (string | null)[] {
    try {
      return canonicalRow(this.spec.values(row), this.types, {timestampPrecision: this.precisions})
    } catch (err) {
      const key = this.key.map((k) => raw[k])
      throw new Error(`${this.label} row with key ${JSON.stringify(key)} in ${this.table.name}: ${(err as Error).message}`, {cause: err})
    }
  }

  /** Canonical texts of a page of rows as read, in order. */
  private async pageTexts(page: readonly Row[]): Promise<(string | null)[][]> {
    if (!this.spec.prepare) return page.map((r) => this.texts(r))
    const prepared = await this.spec.prepare(page)
    return prepared.map((p, i) => this.texts(p, page[i]))
  }

  /** Streams the range in key order, page by page. */
  private async *stream(range: KeyRange): AsyncGenerator<Row[]> {
    let after = range.after
    for (;;) {
      const page = await this.engine.readRange(this.read({after, upTo: range.upTo}, this.spec.projections, this.pageRows))
      if (page.length) yield page
      if (page.length < this.pageRows) return
      after = this.key.map((k) => page[page.length - 1][k])
    }
  }

  async checksum(range: KeyRange): Promise<ChunkChecksum> {
    if (this.inSql) {
      const sql = this.engine.sql!
      const hash = this.spec.hashSql!
      const c = await sql.checksumRange(this.read(range, []), (from, where) => sqlChunkChecksumQuery(sql.dialect, hash, from, where))
      return {count: c.count, sums: [c.sums[0], c.sums[1], c.sums[2], c.sums[3]]}
    }
    const acc = chunkAccumulator()
    for await (const page of this.stream(range)) for (const texts of await this.pageTexts(page)) acc.add(rowHash(encodeCanonical(texts)))
    return acc.result()
  }

  async checksumParts(range: KeyRange, bounds: readonly KeyTuple[]): Promise<ChunkChecksum[]> {
    if (this.inSql) {
      const sql = this.engine.sql!
      const hash = this.spec.hashSql!
      const parts = await sql.checksumParts(this.read(range, []), bounds, (from, where, part) => sqlPartsChecksumQuery(sql.dialect, hash, from, where, part))
      return parts.map((c) => ({count: c.count, sums: [c.sums[0], c.sums[1], c.sums[2], c.sums[3]]}))
    }
    const accs = Array.from({length: bounds.length + 1}, () => chunkAccumulator())
    for await (const page of this.stream(range)) {
      const texts = await this.pageTexts(page)
      for (const [i, row] of page.entries()) {
        const key = this.key.map((k) => row[k])
        // the first part whose upper bound is at or above the key
        let lo = 0
        let hi = bounds.length
        while (lo < hi) {
          const mid = (lo + hi) >> 1
          if (this.order.compare(key, bounds[mid]) <= 0) hi = mid
          else lo = mid + 1
        }
        accs[lo].add(rowHash(encodeCanonical(texts[i])))
      }
    }
    return accs.map((a) => a.result())
  }

  async hashes(range: KeyRange): Promise<KeyHash[]> {
    let out: KeyHash[]
    if (this.inSql) {
      out = await this.engine.sql!.hashRange(this.read(range, []), this.spec.hashSql!)
      for (const h of out) if (typeof h.hash !== 'string') h.hash = String(h.hash)
    } else {
      out = []
      for await (const page of this.stream(range)) {
        const texts = await this.pageTexts(page)
        page.forEach((row, i) => out.push({key: this.key.map((k) => row[k]), hash: rowHash(encodeCanonical(texts[i]))}))
      }
    }
    // engines promise bytewise order; make sure, since the merge depends on it
    for (let i = 1; i < out.length; i++) {
      if (this.order.compare(out[i - 1].key, out[i].key) > 0) {
        out.sort((a, b) => this.order.compare(a.key, b.key))
        break
      }
    }
    return out
  }

  keyAfter(after: KeyTuple | undefined, step: number): Promise<KeyTuple | undefined> {
    return this.engine.sampleKeys({table: this.table, key: this.key, keyTypes: this.keyTypes, after, step: Math.max(1, Math.floor(step)), filter: this.spec.filter, order: 'bytewise'})
  }

  async rows(keys: readonly KeyTuple[]): Promise<Map<string, CanonicalRow>> {
    const out = new Map<string, CanonicalRow>()
    if (!keys.length) return out
    const wanted = new Set(keys.map((k) => this.order.id(k)))
    for (let i = 0; i < keys.length; i += 1000) {
      const rows = await this.engine.readByKeys({
        table: this.table,
        key: this.key,
        keyTypes: this.keyTypes,
        columns: this.spec.projections,
        keys: keys.slice(i, i + 1000),
        filter: this.spec.filter,
      })
      // a case-insensitive or PAD SPACE collation may return a row for a key that is not bytewise equal
      const exact = rows.filter((row) => wanted.has(this.order.id(this.key.map((k) => row[k]))))
      const texts = await this.pageTexts(exact)
      exact.forEach((row, i) => {
        const key = this.key.map((k) => row[k])
        out.set(this.order.id(key), {key, texts: texts[i]})
      })
    }
    return out
  }
}

/** The monolith side: source rows read through the mapping (SQL expressions in the read, JS transforms in `mapRow`). */
export function sourceSide(entity: ResolvedEntity, monolith: Engine, strategy: DiffStrategy, order: KeyOrder, opts: SideOptions = {}): DiffSide {
  const names = entity.columns.map((c) => c.name)
  return new Side(
    {
      label: 'source',
      engine: monolith,
      table: entity.source,
      key: entity.sourceKey,
      keyTypes: entity.sourceKeyTypes,
      projections: entity.projections,
      filter: entity.filter,
      values: entity.relations
        ? (mapped) => names.map((n) => mapped[n])
        : (row) => {
            const mapped = entity.mapRow(row)
            return names.map((n) => mapped[n])
          },
      prepare: entity.relations ? (rows) => entity.materialise(rows) : undefined,
      hashSql: strategy.sourceHashSql,
    },
    strategy,
    order,
    opts,
  )
}

/** The service side: the target table or collection, column for column. */
export function targetSide(entity: ResolvedEntity, target: Engine, strategy: DiffStrategy, order: KeyOrder, opts: SideOptions = {}): DiffSide {
  const names = entity.columns.map((c) => c.name)
  return new Side(
    {
      label: 'target',
      engine: target,
      table: entity.target,
      key: entity.targetKey,
      keyTypes: entity.sourceKeyTypes,
      projections: entity.targetProjections,
      values: (row) => names.map((n) => row[n]),
      hashSql: strategy.targetHashSql,
    },
    strategy,
    order,
    opts,
  )
}
