import {Kysely, PGliteDialect, PostgresDialect} from 'kysely'
import pg from 'pg'
import Cursor from 'pg-cursor'
import {pgArchiveDdl} from './postgres-archive.js'
import type {ArchiveDdl, CaptureSpec, WriteBatch} from '../engine.js'
import type {RowTextFormat, TextBatch} from '../row-text.js'
import {translateDbError} from '../errors.js'
import {SqlEngine, chunks} from '../sql/sql-engine.js'
import type {ColumnInfo, ColumnType, ServerInfo, TableInfo, TableRef, TargetTableSpec} from '../types.js'
import {UserError} from '../../util/errors.js'
import {redactUrl} from '../../util/redact.js'
import {pgliteCopyRows, pgliteCopyStatement} from './pglite-copy.js'
import {acquirePGlite, type EmbeddedPostgres} from './pglite-registry.js'
import {pgCaptureDdl, pgOutboxDdl} from './postgres-capture.js'
import {COPY_TEXT_FORMAT, copyRows, loadText} from './postgres-copy.js'
import {PG_PARSERS, pgLogicalType, pgNativeType} from './postgres-types.js'

export interface PostgresEngineOptions {
  url: string
  /** Default schema for unqualified names (default `public`). */
  schema?: string
  poolSize?: number
}

interface Handle {
  db: Kysely<any>
  release: () => Promise<void>
  embedded: boolean
  /** The `pg` pool behind Kysely (server connections only), for COPY. */
  pool?: pg.Pool
  /** The embedded database behind Kysely (PGlite only), for COPY. */
  pglite?: EmbeddedPostgres
}

/** PostgreSQL through `pg`, and embedded PGlite through the same adapter (`pglite://`). */
export class PostgresEngine extends SqlEngine {
  readonly kind = 'postgres' as const
  readonly dialect = 'postgres' as const
  readonly displayUrl: string
  readonly database: string
  readonly defaultSchema: string
  readonly embedded: boolean
  private handle: Handle
  /** The pool-level Kysely; `handle.db` differs inside a transaction (where COPY on another connection would escape it). */
  private readonly rootDb: Kysely<any>
  private infoCache?: ServerInfo

  static async open(opts: PostgresEngineOptions): Promise<PostgresEngine> {
    const embedded = /^pglite:/i.test(opts.url)
    let handle: Handle
    if (embedded) {
      const {db: pglite, release} = await acquirePGlite(opts.url)
      handle = {db: new Kysely({dialect: new PGliteDialect({pglite})}), release, embedded, pglite}
    } else {
      const pool = new pg.Pool({
        connectionString: opts.url,
        max: opts.poolSize ?? 10,
        application_name: 'strangler',
        options: '-c TimeZone=UTC',
        connectionTimeoutMillis: 10_000,
        types: {
          getTypeParser: ((oid: number, format?: string) =>
            PG_PARSERS[oid] ?? pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
        },
      })
      pool.on('error', () => {
        // idle client errors (server restart) surface on the next query
      })
      pool.on('connect', (client) => {
        // A checked-out client whose server goes away emits 'error'; without a listener that
        // kills the process. The failure reaches the caller as the query's rejection instead,
        // and the pool discards the broken client when it is released.
        client.on('error', () => undefined)
      })
      const db = new Kysely<any>({dialect: new PostgresDialect({pool, cursor: Cursor})})
      handle = {db, release: () => db.destroy(), embedded, pool}
    }
    return new PostgresEngine(opts, handle)
  }

  private constructor(opts: PostgresEngineOptions, handle: Handle, db?: Kysely<any>) {
    super()
    this.rootDb = handle.db
    this.handle = db ? {...handle, db} : handle
    this.embedded = handle.embedded
    this.displayUrl = redactUrl(opts.url)
    this.defaultSchema = opts.schema ?? 'public'
    this.database = handle.embedded ? 'postgres' : decodeURIComponent(new URL(opts.url).pathname.replace(/^\//, '') || 'postgres')
    this.opts = opts
  }
  private readonly opts: PostgresEngineOptions

  get db(): Kysely<any> {
    return this.handle.db
  }

  protected withExecutor(db: Kysely<any>): SqlEngine {
    const e = new PostgresEngine(this.opts, this.handle, db)
    e.infoCache = this.infoCache
    return e
  }

  quoteId(name: string): string {
    return `"${name.replace(/"/g, '""')}"`
  }

  param(index: number): string {
    return `$${index}`
  }

  keyExpr(column: string, type?: ColumnType, bytewise?: boolean): string {
    return bytewise && this.isTextual(type) && type?.type !== 'uuid' ? `${this.quoteId(column)} COLLATE "C"` : this.quoteId(column)
  }

  async info(): Promise<ServerInfo> {
    if (this.infoCache) return this.infoCache
    try {
      const [row] = await this.query<{v: string; db: string}>(`SELECT current_setting('server_version') AS v, current_database() AS db`)
      this.infoCache = {
        engine: 'postgres',
        version: `${this.embedded ? 'PGlite (PostgreSQL ' : 'PostgreSQL '}${row.v}${this.embedded ? ')' : ''}`,
        database: row.db,
        embedded: this.embedded,
      }
      return this.infoCache
    } catch (err) {
      throw translateDbError(err, this.displayUrl)
    }
  }

  async close(): Promise<void> {
    await this.handle.release()
  }

  private schemaOf(ref: TableRef): string {
    return ref.schema ?? this.defaultSchema
  }

  async tableExists(ref: TableRef): Promise<boolean> {
    const rows = await this.query<{ok: boolean}>(
      `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')) AS ok`,
      [this.schemaOf(ref), ref.name],
    )
    return Boolean(rows[0]?.ok)
  }

  async introspect(ref: TableRef): Promise<TableInfo> {
    const schema = this.schemaOf(ref)
    const cols = await this.query<{name: string; native: string; nullable: boolean}>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS native, NOT a.attnotnull AS nullable
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [schema, ref.name],
    )
    if (!cols.length) {
      throw new UserError(`Table ${schema}.${ref.name} not found on ${this.displayUrl}.`, {
        code: 'E_NO_TABLE',
        hint: 'Check the table name in the plan (use schema.table for tables outside the default schema).',
      })
    }
    const pk = await this.query<{name: string}>(
      `SELECT a.attname AS name
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary
        ORDER BY array_position(i.indkey::int2[], a.attnum)`,
      [schema, ref.name],
    )
    const est = await this.query<{n: string | number}>(
      `SELECT c.reltuples::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, ref.name],
    )
    const columns: ColumnInfo[] = cols.map((c) => ({name: c.name, nativeType: c.native, nullable: c.nullable, ...pgLogicalType(c.native)}))
    return {ref: {schema, name: ref.name}, columns, primaryKey: pk.map((p) => p.name), estimatedRows: Number(est[0]?.n ?? -1)}
  }

  protected ensureNamespace(schema: string): string[] {
    return [`CREATE SCHEMA IF NOT EXISTS ${this.quoteId(schema)}`]
  }

  targetDdl(spec: TargetTableSpec): string[] {
    const cols = spec.columns.map((c) => `  ${this.quoteId(c.name)} ${pgNativeType(c)}${c.nullable && !spec.key.includes(c.name) ? '' : ' NOT NULL'}`)
    cols.push(`  PRIMARY KEY (${spec.key.map((k) => this.quoteId(k)).join(', ')})`)
    const out: string[] = []
    if (spec.ref.schema && spec.ref.schema !== 'public') out.push(...this.ensureNamespace(spec.ref.schema))
    out.push(`CREATE TABLE IF NOT EXISTS ${this.quoteTable(spec.ref)} (\n${cols.join(',\n')}\n)`)
    return out
  }

  async upsert(batch: WriteBatch): Promise<number> {
    if (!batch.rows.length) return 0
    const names = batch.columns.map((c) => this.quoteId(c.name))
    const nonKey = batch.columns.filter((c) => !batch.key.includes(c.name))
    const conflict = `ON CONFLICT (${batch.key.map((k) => this.quoteId(k)).join(', ')}) ${
      nonKey.length ? `DO UPDATE SET ${nonKey.map((c) => `${this.quoteId(c.name)} = EXCLUDED.${this.quoteId(c.name)}`).join(', ')}` : 'DO NOTHING'
    }`
    const prep = batch.columns.map((c) => (c.type === 'json' ? (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v)) : (v: unknown) => (v === undefined ? null : v)))
    let n = 0
    if (!this.embedded) {
      // One statement per batch: columns as typed arrays through unnest (no parameter limit, one parse).
      const arrays = batch.columns.map((c, i) => batch.rows.map((r) => prep[i](r[c.name])))
      const casts = batch.columns.map((c, i) => `$${i + 1}::${pgNativeType(c.type === 'char' ? {...c, type: 'text'} : c)}[]`)
      n += await this.execute(`INSERT INTO ${this.quoteTable(batch.table)} (${names.join(', ')}) SELECT * FROM unnest(${casts.join(', ')}) ${conflict}`, arrays)
      return n
    }
    const perStmt = Math.max(1, Math.floor(30000 / batch.columns.length))
    for (const part of chunks(batch.rows, perStmt)) {
      const params: unknown[] = []
      const values = part.map(
        (r) => `(${batch.columns.map((c, i) => (params.push(prep[i](r[c.name])), `$${params.length}::${pgNativeType(c)}`)).join(', ')})`,
      )
      n += await this.execute(`INSERT INTO ${this.quoteTable(batch.table)} (${names.join(', ')}) VALUES ${values.join(', ')} ${conflict}`, params)
    }
    return n
  }

  /**
   * The backfill's write: one `COPY … FROM STDIN` per batch (several times
   * faster than the upsert), which is atomic and fails on a key that is
   * already there; then the batch goes through `upsert` instead, so the
   * result is always the upsert's. Embedded PGlite does the same with its
   * `COPY … FROM '/dev/blob'` (pglite-copy.ts).
   */
  async bulkLoad(batch: WriteBatch): Promise<number> {
    if (!batch.rows.length) return 0
    const pglite = this.handle.pglite
    if (pglite && this.handle.db === this.rootDb) {
      const statement = pgliteCopyStatement(this.quoteTable(batch.table), batch.columns.map((c) => this.quoteId(c.name)))
      try {
        await pgliteCopyRows(pglite, statement, batch.rows, batch.columns)
        return batch.rows.length
      } catch (err) {
        if ((err as {code?: string}).code !== '23505') throw translateDbError(err, this.displayUrl, statement)
      }
      return this.upsert(batch)
    }
    const pool = this.handle.pool
    if (!pool || this.handle.db !== this.rootDb) return this.upsert(batch)
    const statement = `COPY ${this.quoteTable(batch.table)} (${batch.columns.map((c) => this.quoteId(c.name)).join(', ')}) FROM STDIN`
    let client: pg.PoolClient
    try {
      client = await pool.connect()
    } catch (err) {
      throw translateDbError(err, this.displayUrl)
    }
    try {
      await copyRows(client, statement, batch.rows, batch.columns)
      return batch.rows.length
    } catch (err) {
      if ((err as {code?: string}).code !== '23505') throw translateDbError(err, this.displayUrl, statement)
    } finally {
      client.release()
    }
    return this.upsert(batch)
  }

  /** COPY text, on a server connection outside a transaction (PGlite and transactions have no text path). */
  rowTextFormat(): RowTextFormat | undefined {
    return this.handle.pool && this.handle.db === this.rootDb ? COPY_TEXT_FORMAT : undefined
  }

  /** The backfill's text fast path: COPY of the lines as they are, merged like `upsert` when a key is already there (postgres-copy.ts). */
  async bulkLoadText(batch: TextBatch): Promise<number> {
    const pool = this.handle.pool
    if (!pool || this.handle.db !== this.rootDb) throw new Error(`bulkLoadText needs a server connection outside a transaction (${this.displayUrl})`)
    if (!batch.rows) return 0
    try {
      await loadText(pool, {table: this.quoteTable(batch.table), columns: batch.columns.map((c) => this.quoteId(c.name)), key: batch.key.map((k) => this.quoteId(k))}, batch.text)
      return batch.rows
    } catch (err) {
      throw translateDbError(err, this.displayUrl)
    }
  }

  async serverLoad(): Promise<number | undefined> {
    if (this.embedded) return undefined
    const rows = await this.query<{n: string | number}>(`SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend'`)
    return Number(rows[0]?.n ?? 0)
  }

  get archive(): ArchiveDdl {
    return pgArchiveDdl(this)
  }

  captureDdl(spec: CaptureSpec): {install: string[]; remove: string[]} {
    return pgCaptureDdl(this, spec)
  }

  outboxDdl(outbox: TableRef): string[] {
    return pgOutboxDdl(this, outbox)
  }
}
