import {CompiledQuery, type Kysely} from 'kysely'
import type {CaptureSpec, Engine, KeysRead, SqlCapabilities, SqlDialect, WriteBatch} from '../engine.js'
import type {
  ChunkChecksum,
  ColumnType,
  KeyTuple,
  Projection,
  RangeRead,
  Row,
  ServerInfo,
  TableInfo,
  TableRef,
  TargetTableSpec,
} from '../types.js'
import {translateDbError} from '../errors.js'

const TEXTUAL = new Set(['text', 'varchar', 'char', 'uuid'])

/**
 * What PostgreSQL and MySQL share: keyset reads with row-value comparisons,
 * reads and deletes by key lists, counts and checksums. Engines supply quoting,
 * parameters, introspection, DDL, upserts and capture.
 */
export abstract class SqlEngine implements Engine, SqlCapabilities {
  abstract readonly kind: 'postgres' | 'mysql'
  abstract readonly dialect: SqlDialect
  abstract readonly db: Kysely<any>
  abstract readonly displayUrl: string
  abstract readonly database: string
  abstract readonly defaultSchema: string | undefined

  get sql(): SqlCapabilities {
    return this
  }

  abstract info(): Promise<ServerInfo>
  abstract close(): Promise<void>
  abstract introspect(ref: TableRef): Promise<TableInfo>
  abstract tableExists(ref: TableRef): Promise<boolean>
  abstract upsert(batch: WriteBatch): Promise<number>
  abstract targetDdl(spec: TargetTableSpec): string[]
  abstract quoteId(name: string): string
  abstract param(index: number): string
  abstract keyExpr(column: string, type?: ColumnType, bytewise?: boolean): string
  abstract captureDdl(spec: CaptureSpec): {install: string[]; remove: string[]}
  abstract outboxDdl(outbox: TableRef): string[]
  abstract readonly archive: import('../engine.js').ArchiveDdl
  protected abstract withExecutor(db: Kysely<any>): SqlEngine
  protected abstract ensureNamespace(schema: string): string[]

  quoteTable(ref: TableRef): string {
    return ref.schema ? `${this.quoteId(ref.schema)}.${this.quoteId(ref.name)}` : this.quoteId(ref.name)
  }

  async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    try {
      const res = await this.db.executeQuery<T>(CompiledQuery.raw(text, params as unknown[]))
      return res.rows as T[]
    } catch (err) {
      throw translateDbError(err, this.displayUrl, text)
    }
  }

  async execute(text: string, params: readonly unknown[] = []): Promise<number> {
    try {
      const res = await this.db.executeQuery(CompiledQuery.raw(text, params as unknown[]))
      return Number(res.numAffectedRows ?? 0n)
    } catch (err) {
      throw translateDbError(err, this.displayUrl, text)
    }
  }

  async transaction<T>(fn: (tx: SqlCapabilities) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => fn(this.withExecutor(trx)))
  }

  protected isTextual(t?: ColumnType): boolean {
    return !t || TEXTUAL.has(t.type)
  }

  protected projection(p: Projection): string {
    if (p.sql) return `(${p.sql}) AS ${this.quoteId(p.name)}`
    const col = p.column ?? p.name
    return col === p.name ? this.quoteId(col) : `${this.quoteId(col)} AS ${this.quoteId(p.name)}`
  }

  /** `(k1, k2) > (p1, p2)` with bytewise text keys when asked. */
  protected keyCompare(
    key: readonly string[],
    types: readonly ColumnType[] | undefined,
    op: '>' | '<=' | '>=' | '<',
    tuple: KeyTuple,
    params: unknown[],
    bytewise: boolean,
  ): string {
    const cols = key.map((k, i) => this.keyExpr(k, types?.[i], bytewise))
    const ps = tuple.map((v) => {
      params.push(v)
      return this.param(params.length)
    })
    if (key.length === 1) return `${cols[0]} ${op} ${ps[0]}`
    return `(${cols.join(', ')}) ${op} (${ps.join(', ')})`
  }

  protected rangeWhere(req: RangeRead, params: unknown[]): string {
    const bytewise = req.order === 'bytewise'
    const conds: string[] = []
    if (req.after) conds.push(this.keyCompare(req.key, req.keyTypes, '>', req.after, params, bytewise))
    if (req.upTo) conds.push(this.keyCompare(req.key, req.keyTypes, '<=', req.upTo, params, bytewise))
    if (req.filter) conds.push(`(${req.filter})`)
    return conds.length ? ` WHERE ${conds.join(' AND ')}` : ''
  }

  protected orderBy(req: {key: readonly string[]; keyTypes?: readonly ColumnType[]; order?: 'native' | 'bytewise'}): string {
    const bytewise = req.order === 'bytewise'
    return ` ORDER BY ${req.key.map((k, i) => this.keyExpr(k, req.keyTypes?.[i], bytewise)).join(', ')}`
  }

  async readRange(req: RangeRead): Promise<Row[]> {
    const params: unknown[] = []
    const where = this.rangeWhere(req, params)
    const limit = req.limit ? ` LIMIT ${Math.floor(req.limit)}` : ''
    const text = `SELECT ${req.columns.map((c) => this.projection(c)).join(', ')} FROM ${this.quoteTable(req.table)}${where}${this.orderBy(req)}${limit}`
    return this.normalizeRows(await this.query<Row>(text, params), req.columns)
  }

  /** Engine hook to bring driver values into the value model. */
  protected normalizeRows(rows: Row[], _columns?: readonly Projection[]): Row[] {
    return rows
  }

  protected keysIn(key: readonly string[], keys: readonly KeyTuple[], params: unknown[]): string {
    if (key.length === 1) {
      const ps = keys.map((k) => {
        params.push(k[0])
        return this.param(params.length)
      })
      return `${this.quoteId(key[0])} IN (${ps.join(', ')})`
    }
    const tuples = keys.map((k) => `(${k.map((v) => (params.push(v), this.param(params.length))).join(', ')})`)
    return `(${key.map((k) => this.quoteId(k)).join(', ')}) IN (${tuples.join(', ')})`
  }

  async readByKeys(req: KeysRead): Promise<Row[]> {
    if (!req.keys.length) return []
    const out: Row[] = []
    for (const part of chunks(req.keys, Math.max(1, Math.floor(30000 / req.key.length)))) {
      const params: unknown[] = []
      const where = this.keysIn(req.key, part, params) + (req.filter ? ` AND (${req.filter})` : '')
      const text = `SELECT ${req.columns.map((c) => this.projection(c)).join(', ')} FROM ${this.quoteTable(req.table)} WHERE ${where}`
      out.push(...this.normalizeRows(await this.query<Row>(text, params), req.columns))
    }
    return out
  }

  async deleteKeys(req: {table: TableRef; key: readonly string[]; keys: readonly KeyTuple[]}): Promise<number> {
    let n = 0
    for (const part of chunks(req.keys, Math.max(1, Math.floor(30000 / req.key.length)))) {
      const params: unknown[] = []
      n += await this.execute(`DELETE FROM ${this.quoteTable(req.table)} WHERE ${this.keysIn(req.key, part, params)}`, params)
    }
    return n
  }

  async count(ref: TableRef, filter?: string): Promise<number> {
    const rows = await this.query<{n: string | number}>(`SELECT COUNT(*) AS n FROM ${this.quoteTable(ref)}${filter ? ` WHERE (${filter})` : ''}`)
    return Number(rows[0]?.n ?? 0)
  }

  async sampleKeys(req: {
    table: TableRef
    key: readonly string[]
    keyTypes?: readonly ColumnType[]
    after?: KeyTuple
    step: number
    filter?: string
    order?: 'native' | 'bytewise'
  }): Promise<KeyTuple | undefined> {
    const params: unknown[] = []
    const where = this.rangeWhere({...req, columns: []}, params)
    const text = `SELECT ${req.key.map((k) => this.quoteId(k)).join(', ')} FROM ${this.quoteTable(req.table)}${where}${this.orderBy(req)} LIMIT 1 OFFSET ${Math.max(0, Math.floor(req.step) - 1)}`
    const rows = this.normalizeRows(await this.query<Row>(text, params))
    if (!rows.length) return undefined
    return req.key.map((k) => rows[0][k])
  }

  async createTarget(spec: TargetTableSpec): Promise<string[]> {
    const ddl = this.targetDdl(spec)
    for (const stmt of ddl) await this.execute(stmt)
    return ddl
  }

  async dropTarget(ref: TableRef): Promise<void> {
    await this.execute(`DROP TABLE IF EXISTS ${this.quoteTable(ref)}`)
  }

  async checksumRange(req: RangeRead, query: (from: string, where: string | undefined) => string): Promise<ChunkChecksum> {
    const params: unknown[] = []
    const where = this.rangeWhere(req, params).replace(/^ WHERE /, '')
    const text = query(this.quoteTable(req.table), where || undefined)
    const [row] = await this.query<Record<string, unknown>>(text, params)
    const vals = Object.values(row ?? {})
    const num = (v: unknown): string => (v === null || v === undefined ? '0' : Buffer.isBuffer(v) ? v.toString('latin1') : String(v))
    return {count: Number(num(vals[0])), sums: [num(vals[1]), num(vals[2]), num(vals[3]), num(vals[4])]}
  }

  async checksumParts(req: RangeRead, bounds: readonly KeyTuple[], query: (from: string, where: string | undefined, part: string) => string): Promise<ChunkChecksum[]> {
    const params: unknown[] = []
    const bytewise = req.order === 'bytewise'
    const part = bounds.length
      ? `CASE ${bounds.map((b, i) => `WHEN ${this.keyCompare(req.key, req.keyTypes, '<=', b, params, bytewise)} THEN ${i}`).join(' ')} ELSE ${bounds.length} END`
      : '0'
    const where = this.rangeWhere(req, params).replace(/^ WHERE /, '')
    const rows = await this.query<Record<string, unknown>>(query(this.quoteTable(req.table), where || undefined, part), params)
    const num = (v: unknown): string => (v === null || v === undefined ? '0' : Buffer.isBuffer(v) ? v.toString('latin1') : String(v))
    const out: ChunkChecksum[] = Array.from({length: bounds.length + 1}, () => ({count: 0, sums: ['0', '0', '0', '0'] as const}))
    for (const row of rows) {
      const vals = Object.values(row)
      out[Number(num(vals[0]))] = {count: Number(num(vals[1])), sums: [num(vals[2]), num(vals[3]), num(vals[4]), num(vals[5])]}
    }
    return out
  }

  async hashRange(req: RangeRead, rowHashHex: string): Promise<{key: KeyTuple; hash: string}[]> {
    const params: unknown[] = []
    const where = this.rangeWhere(req, params)
    const limit = req.limit ? ` LIMIT ${Math.floor(req.limit)}` : ''
    const keyCols = req.key.map((k) => this.quoteId(k)).join(', ')
    const text = `SELECT ${keyCols}, ${rowHashHex} AS ${this.quoteId('__strangler_hash')} FROM ${this.quoteTable(req.table)}${where}${this.orderBy(req)}${limit}`
    const rows = this.normalizeRows(await this.query<Row>(text, params))
    return rows.map((r) => ({key: req.key.map((k) => r[k]), hash: String(r.__strangler_hash)}))
  }
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
