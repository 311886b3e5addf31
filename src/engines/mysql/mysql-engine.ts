import {readFileSync} from 'node:fs'
import {Kysely, MysqlDialect} from 'kysely'
import {createPool, type Pool, type PoolOptions, type TypeCastField} from 'mysql2'
import {mysqlArchiveDdl} from './mysql-archive.js'
import type {ArchiveDdl, CaptureSpec, WriteBatch} from '../engine.js'
import {translateDbError} from '../errors.js'
import {SqlEngine, chunks} from '../sql/sql-engine.js'
import {JsonText} from '../json-text.js'
import type {ColumnInfo, ColumnType, KeyTuple, Projection, RangeRead, Row, ServerInfo, TableInfo, TableRef, TargetTableSpec} from '../types.js'
import {UserError} from '../../util/errors.js'
import {redactUrl} from '../../util/redact.js'
import type {TextChunk, TextRangeRead} from '../row-text.js'
import {mysqlCaptureDdl, mysqlOutboxDdl} from './mysql-capture.js'
import {canEncodeRowText, rowTextLine, streamRowText, type RowTextRead} from './mysql-row-text.js'
import {mysqlLogicalType, mysqlNativeType} from './mysql-types.js'

export interface MysqlEngineOptions {
  url: string
  poolSize?: number
}

/**
 * TLS from the URL's query, named as for PostgreSQL where it can be:
 * `ssl` (or `sslmode`) `false|disable|0`: plain; `require|prefer`: encrypted,
 * the server certificate not verified (unless a CA is given); anything else
 * (`true`, `verify-full`, `verify-ca`): verified against Node's CA store or
 * `sslrootcert` (alias `sslca`). `sslcert` and `sslkey` give a client
 * certificate. A CA or client certificate alone turns TLS on, verified.
 */
export function mysqlTlsOptions(u: URL): PoolOptions['ssl'] {
  const mode = u.searchParams.get('ssl') ?? u.searchParams.get('sslmode')
  const file = (names: string[]): string | undefined => {
    for (const name of names) {
      const path = u.searchParams.get(name)
      if (!path) continue
      try {
        return readFileSync(path, 'utf8')
      } catch (err) {
        throw new UserError(`Cannot read ${name}=${path} of ${redactUrl(u.toString())}: ${(err as Error).message}.`, {code: 'E_CONFIG', hint: 'Give a readable PEM file (absolute path) in the connection URL.'})
      }
    }
    return undefined
  }
  const ca = file(['sslrootcert', 'sslca'])
  const cert = file(['sslcert'])
  const key = file(['sslkey'])
  if (mode !== null && /^(false|disable|0)$/i.test(mode)) return undefined
  if (mode === null && !ca && !cert && !key) return undefined
  const verify = Boolean(ca) || !/^(require|prefer|no-verify)$/i.test(mode ?? '')
  return {rejectUnauthorized: verify, ...(ca ? {ca} : {}), ...(cert ? {cert} : {}), ...(key ? {key} : {})}
}

/** Pool options from a `mysql://` / `mariadb://` URL, keeping exact values as strings. */
export function mysqlPoolOptions(url: string, poolSize = 10): PoolOptions {
  const u = new URL(url.replace(/^mariadb:/i, 'mysql:'))
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password || ''),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
    connectionLimit: poolSize,
    charset: 'utf8mb4',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    decimalNumbers: false,
    connectTimeout: 10_000,
    ssl: mysqlTlsOptions(u),
    typeCast: (field: TypeCastField, next: () => unknown) => {
      if (field.type === 'TINY' && field.length === 1) {
        const v = field.string()
        return v === null ? null : v !== '0'
      }
      return next()
    },
  }
}

/** MySQL and MariaDB through `mysql2`. */
export class MysqlEngine extends SqlEngine {
  readonly kind = 'mysql' as const
  readonly dialect = 'mysql' as const
  readonly displayUrl: string
  readonly database: string
  readonly defaultSchema: string
  private readonly _db: Kysely<any>
  private readonly opts: MysqlEngineOptions
  private infoCache?: ServerInfo

  static async open(opts: MysqlEngineOptions): Promise<MysqlEngine> {
    const poolOpts = mysqlPoolOptions(opts.url, opts.poolSize)
    if (!poolOpts.database) {
      throw new UserError(`The MySQL URL ${redactUrl(opts.url)} names no database.`, {hint: 'Add the database to the URL: mysql://user:pass@host:3306/DATABASE', code: 'E_CONFIG'})
    }
    let pool: Pool | undefined
    const db = new Kysely<any>({
      dialect: new MysqlDialect({
        pool: async () => {
          pool = createPool(poolOpts)
          pool.on('connection', (conn) => {
            conn.query(`SET time_zone = '+00:00'`)
          })
          return pool
        },
      }),
    })
    return new MysqlEngine(opts, db, String(poolOpts.database))
  }

  /** True for the engine `transaction()` hands out: its reads must stay on the transaction's connection. */
  private readonly inTransaction: boolean

  private constructor(opts: MysqlEngineOptions, db: Kysely<any>, database: string, inTransaction = false) {
    super()
    this.opts = opts
    this._db = db
    this.displayUrl = redactUrl(opts.url)
    this.database = database
    this.inTransaction = inTransaction
    this.defaultSchema = database
  }

  get db(): Kysely<any> {
    return this._db
  }

  protected withExecutor(db: Kysely<any>): SqlEngine {
    return new MysqlEngine(this.opts, db, this.database, true)
  }

  quoteId(name: string): string {
    return `\`${name.replace(/`/g, '``')}\``
  }

  param(): string {
    return '?'
  }

  keyExpr(column: string, type?: ColumnType, bytewise?: boolean): string {
    return bytewise && this.isTextual(type) ? `BINARY ${this.quoteId(column)}` : this.quoteId(column)
  }

  async info(): Promise<ServerInfo> {
    if (this.infoCache) return this.infoCache
    try {
      const [row] = await this.query<{v: string; db: string}>(`SELECT VERSION() AS v, DATABASE() AS db`)
      const mariadb = /mariadb/i.test(row.v)
      this.infoCache = {engine: 'mysql', version: `${mariadb ? 'MariaDB' : 'MySQL'} ${row.v.replace(/-MariaDB.*$/i, '')}`, database: row.db, embedded: false}
      return this.infoCache
    } catch (err) {
      throw translateDbError(err, this.displayUrl)
    }
  }

  async close(): Promise<void> {
    await this._db.destroy()
    const raw = this.rawPool
    this.rawPool = undefined
    if (raw) await new Promise<void>((resolve) => raw.end(() => resolve()))
  }

  /** A second pool whose JSON columns arrive as text (mysql2 `jsonStrings`), for the backfill's reads (`jsonText` range reads and text reads). */
  private rawPool?: Pool

  private jsonTextPool(): Pool {
    if (!this.rawPool) {
      // no typeCast function: mysql2's generated row parser runs much faster; normalizeRows turns TINYINT(1) booleans into booleans
      const pool = createPool({...mysqlPoolOptions(this.opts.url, this.opts.poolSize), jsonStrings: true, typeCast: true})
      pool.on('connection', (conn) => {
        conn.query(`SET time_zone = '+00:00'`)
      })
      this.rawPool = pool
    }
    return this.rawPool
  }

  /** With `jsonText`, json columns come back as `JsonText` without being parsed (the backfill's pass-through). */
  override async readRange(req: RangeRead): Promise<Row[]> {
    const json = req.jsonText ? req.columns.filter((c) => c.type?.type === 'json') : []
    if (!json.length || this.inTransaction) return super.readRange(req)
    const params: unknown[] = []
    const where = this.rangeWhere(req, params)
    const limit = req.limit ? ` LIMIT ${Math.floor(req.limit)}` : ''
    const text = `SELECT ${req.columns.map((c) => this.projection(c)).join(', ')} FROM ${this.quoteTable(req.table)}${where}${this.orderBy(req)}${limit}`
    let rows: Row[]
    try {
      const [res] = await this.jsonTextPool().promise().query({sql: text, values: params})
      rows = res as Row[]
    } catch (err) {
      throw translateDbError(err, this.displayUrl, text)
    }
    const names = json.map((c) => c.name)
    // binary values are views into mysql2's network buffers: copied, so a chunk of rows does not pin them all
    const binary = req.columns.filter((c) => c.type?.type === 'binary').map((c) => c.name)
    for (const r of rows) {
      for (const n of names) {
        const v = r[n]
        if (typeof v === 'string') r[n] = new JsonText(v)
        else if (Buffer.isBuffer(v)) r[n] = new JsonText(v.toString('utf8'))
      }
      for (const n of binary) {
        const v = r[n]
        if (Buffer.isBuffer(v)) r[n] = Buffer.from(v)
      }
    }
    return this.normalizeRows(
      rows,
      req.columns.filter((c) => c.type?.type !== 'json'),
    )
  }

  canReadText(columns: readonly Projection[]): boolean {
    return !this.inTransaction && canEncodeRowText(columns)
  }

  /**
   * The backfill's text fast path: the server spells each row as one line of
   * `req.format` (mysql-row-text.ts), so no value is parsed in JavaScript;
   * only the key columns of the first and last row are. A line the server
   * cannot build (longer than `max_allowed_packet`: it returns NULL) makes the
   * whole page undefined, to be read as rows.
   */
  async readRangeText(req: TextRangeRead): Promise<TextChunk | undefined> {
    const params: unknown[] = []
    const where = this.rangeWhere(req, params)
    const limit = req.limit ? ` LIMIT ${Math.floor(req.limit)}` : ''
    const keys = req.key.map((k) => this.quoteId(k))
    const charsets = await this.columnCharsets(req.table)
    const text = `SELECT ${keys.join(', ')}, ${rowTextLine((n) => this.quoteId(n), req.columns, req.format, charsets)} FROM ${this.quoteTable(req.table)}${where}${this.orderBy(req)}${limit}`
    let res: RowTextRead
    try {
      res = await streamRowText(this.jsonTextPool(), text, params, req.key.length)
    } catch (err) {
      throw translateDbError(err, this.displayUrl, text)
    }
    if (res.overflow) return undefined
    const keyTypes = req.key.map((k, i) => ({name: k, column: k, type: req.keyTypes?.[i]}))
    const keyOf = (r: unknown[] | undefined): KeyTuple => {
      if (!r) return []
      // a binary key is a view into mysql2's network buffer: copied, so the key does not pin it
      const [row] = this.normalizeRows([Object.fromEntries(req.key.map((k, i) => [k, Buffer.isBuffer(r[i]) ? Buffer.from(r[i]) : r[i]]))], keyTypes)
      return req.key.map((k) => row[k])
    }
    return {text: res.blocks, bytes: res.bytes, rows: res.rows, first: keyOf(res.first), last: keyOf(res.last), release: res.release}
  }

  private readonly charsets = new Map<string, Promise<Map<string, string>>>()

  /** The character set of each text column of a table (cached for the adapter's life). */
  private columnCharsets(ref: TableRef): Promise<Map<string, string>> {
    const schema = ref.schema ?? this.database
    const id = `${schema}.${ref.name}`
    let p = this.charsets.get(id)
    if (!p) {
      p = this.query<{name: string; cs: string | null}>(
        `SELECT COLUMN_NAME AS name, CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
        [schema, ref.name],
      ).then((rows) => new Map(rows.filter((r) => r.cs).map((r) => [r.name, String(r.cs)])))
      p.catch(() => this.charsets.delete(id))
      this.charsets.set(id, p)
    }
    return p
  }

  async tableExists(ref: TableRef): Promise<boolean> {
    const rows = await this.query<{n: number | string}>(
      `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
      [ref.schema ?? this.database, ref.name],
    )
    return Number(rows[0]?.n) > 0
  }

  async introspect(ref: TableRef): Promise<TableInfo> {
    const schema = ref.schema ?? this.database
    const cols = await this.query<{name: string; ctype: string; nullable: string; dtype: string}>(
      `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS ctype, IS_NULLABLE AS nullable, DATA_TYPE AS dtype
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [schema, ref.name],
    )
    if (!cols.length) {
      throw new UserError(`Table ${schema}.${ref.name} not found on ${this.displayUrl}.`, {
        code: 'E_NO_TABLE',
        hint: 'Check the table name in the plan (MySQL table names may be case-sensitive on Linux).',
      })
    }
    let jsonCols = new Set<string>()
    try {
      const checks = await this.query<{clause: string}>(
        `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`,
        [schema, ref.name],
      )
      jsonCols = new Set(checks.map((c) => /json_valid\(`?([^`)]+)`?\)/i.exec(c.clause)?.[1]).filter((x): x is string => Boolean(x)))
    } catch {
      // MySQL < 8.0.16 has no CHECK_CONSTRAINTS; JSON is a real type there
    }
    const pk = await this.query<{name: string}>(
      `SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
      [schema, ref.name],
    )
    const est = await this.query<{n: number | string | null}>(`SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, [schema, ref.name])
    const columns: ColumnInfo[] = cols.map((c) => ({
      name: c.name,
      nativeType: c.ctype,
      nullable: c.nullable === 'YES',
      ...mysqlLogicalType(c.ctype, jsonCols.has(c.name) || c.dtype === 'json'),
    }))
    return {ref: {schema, name: ref.name}, columns, primaryKey: pk.map((p) => p.name), estimatedRows: Number(est[0]?.n ?? -1)}
  }

  protected override normalizeRows(rows: Row[], columns?: readonly Projection[]): Row[] {
    if (!columns) return rows
    const fix = columns.filter((c) => c.type && (c.type.type === 'json' || c.type.type === 'boolean' || c.type.type === 'uuid'))
    if (!fix.length) return rows
    for (const r of rows) {
      for (const c of fix) {
        const v = r[c.name]
        if (v === null || v === undefined) continue
        if (c.type!.type === 'json' && typeof v === 'string') r[c.name] = JSON.parse(v)
        else if (c.type!.type === 'boolean' && typeof v !== 'boolean') r[c.name] = Number(v) !== 0
        else if (c.type!.type === 'uuid' && typeof v === 'string') r[c.name] = v.toLowerCase()
      }
    }
    return rows
  }

  protected ensureNamespace(schema: string): string[] {
    return [`CREATE DATABASE IF NOT EXISTS ${this.quoteId(schema)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`]
  }

  targetDdl(spec: TargetTableSpec): string[] {
    const cols = spec.columns.map(
      (c) => `  ${this.quoteId(c.name)} ${mysqlNativeType(c, spec.key.includes(c.name))}${c.nullable && !spec.key.includes(c.name) ? ' NULL' : ' NOT NULL'}`,
    )
    cols.push(`  PRIMARY KEY (${spec.key.map((k) => this.quoteId(k)).join(', ')})`)
    const out: string[] = []
    if (spec.ref.schema && spec.ref.schema !== this.database) out.push(...this.ensureNamespace(spec.ref.schema))
    out.push(`CREATE TABLE IF NOT EXISTS ${this.quoteTable(spec.ref)} (\n${cols.join(',\n')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
    return out
  }

  async upsert(batch: WriteBatch): Promise<number> {
    if (!batch.rows.length) return 0
    const names = batch.columns.map((c) => this.quoteId(c.name))
    const nonKey = batch.columns.filter((c) => !batch.key.includes(c.name))
    const update = nonKey.length
      ? `ON DUPLICATE KEY UPDATE ${nonKey.map((c) => `${this.quoteId(c.name)} = VALUES(${this.quoteId(c.name)})`).join(', ')}`
      : `ON DUPLICATE KEY UPDATE ${this.quoteId(batch.key[0])} = ${this.quoteId(batch.key[0])}`
    const prep = batch.columns.map((c) => {
      if (c.type === 'json') return (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v))
      if (c.type === 'boolean') return (v: unknown) => (v === null || v === undefined ? null : v === true || v === 1 || v === '1' || v === 't' || v === 'true' ? 1 : 0)
      return (v: unknown) => (v === undefined ? null : v)
    })
    const perStmt = Math.max(1, Math.min(5000, Math.floor(60000 / batch.columns.length)))
    let n = 0
    const row = `(${batch.columns.map(() => '?').join(', ')})`
    for (const part of chunks(batch.rows, perStmt)) {
      const params: unknown[] = []
      for (const r of part) batch.columns.forEach((c, i) => params.push(prep[i](r[c.name])))
      n += await this.execute(`INSERT INTO ${this.quoteTable(batch.table)} (${names.join(', ')}) VALUES ${part.map(() => row).join(', ')} ${update}`, params)
    }
    return n
  }

  async serverLoad(): Promise<number | undefined> {
    const rows = await this.query<{Value?: string | number; VALUE?: string | number}>(`SHOW GLOBAL STATUS LIKE 'Threads_running'`)
    const v = rows[0]?.Value ?? rows[0]?.VALUE
    return v === undefined ? undefined : Number(v)
  }

  get archive(): ArchiveDdl {
    return mysqlArchiveDdl(this, this.database)
  }

  captureDdl(spec: CaptureSpec): {install: string[]; remove: string[]} {
    return mysqlCaptureDdl(this, spec)
  }

  outboxDdl(outbox: TableRef): string[] {
    return mysqlOutboxDdl(this, outbox)
  }
}


