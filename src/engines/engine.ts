import type {Kysely} from 'kysely'
import type {RowTextFormat, TextBatch, TextChunk, TextRangeRead} from './row-text.js'
import type {
  ChunkChecksum,
  ColumnType,
  EngineKind,
  KeyTuple,
  Projection,
  RangeRead,
  Row,
  ServerInfo,
  TableInfo,
  TableRef,
  TargetTableSpec,
} from './types.js'

/** Rows fetched by key (the relay's re-read, the diff's row comparison). */
export interface KeysRead {
  readonly table: TableRef
  readonly key: readonly string[]
  readonly columns: readonly Projection[]
  readonly keys: readonly KeyTuple[]
  readonly filter?: string
  readonly keyTypes?: readonly ColumnType[]
}

/** A batch write to a target table or collection. Idempotent: re-applying it changes nothing. */
export interface WriteBatch {
  readonly table: TableRef
  readonly key: readonly string[]
  /** Target columns with their logical types, in row order. */
  readonly columns: readonly (ColumnType & {name: string})[]
  readonly rows: readonly Row[]
}

/**
 * One adapter per engine. Phases, the relay, the backfill and the diff speak to
 * databases only through this interface; nothing outside `src/engines/` asks
 * which engine it runs on. Relational engines add `sql` (capture, checksums,
 * the state store); MongoDB is a target only.
 */
export interface Engine {
  readonly kind: EngineKind
  /** The connection URL with its password masked. */
  readonly displayUrl: string
  /** Database (PostgreSQL/MySQL database, MongoDB database) this adapter is bound to. */
  readonly database: string
  /** The default schema for unqualified table names (PostgreSQL `public`, MySQL: the database). */
  readonly defaultSchema: string | undefined

  /** Connects (if not yet) and describes the server. Errors are `UserError`s with the password masked. */
  info(): Promise<ServerInfo>
  close(): Promise<void>

  tableExists(ref: TableRef): Promise<boolean>
  /** Columns, logical types and primary key; `UserError` when missing. */
  introspect(ref: TableRef): Promise<TableInfo>
  count(ref: TableRef, filter?: string): Promise<number>

  /** One page of a keyset range read, in key order (text keys bytewise). */
  readRange(req: RangeRead): Promise<Row[]>
  /** The rows with these keys (in any order); missing keys are simply absent. */
  readByKeys(req: KeysRead): Promise<Row[]>
  /** Key tuples only, in key order: used to plan chunk boundaries. Returns every `step`-th key after `after`. */
  sampleKeys(req: {table: TableRef; key: readonly string[]; keyTypes?: readonly ColumnType[]; after?: KeyTuple; step: number; filter?: string; order?: 'native' | 'bytewise'}): Promise<KeyTuple | undefined>

  /** Inserts or replaces rows by key. */
  upsert(batch: WriteBatch): Promise<number>
  /**
   * The backfill's write: the same result as `upsert` (idempotent), fastest
   * when most keys are not in the table yet (PostgreSQL: COPY, falling back
   * to the upsert when a key exists). Optional; callers use `upsert` without it.
   */
  bulkLoad?(batch: WriteBatch): Promise<number>
  /**
   * The backfill's text fast path (see row-text.ts), target side: the row text
   * format `bulkLoadText` takes, or undefined where this target has none.
   */
  rowTextFormat?(): RowTextFormat | undefined
  /** Writes rows encoded in `rowTextFormat()`: the same result as `upsert` of those rows (idempotent). */
  bulkLoadText?(batch: TextBatch): Promise<number>
  /** Source side: whether `readRangeText` can encode these columns (plain columns of these logical types). */
  canReadText?(columns: readonly Projection[]): boolean
  /**
   * Source side: one keyset page (as `readRange`) with every row encoded by
   * the server; undefined when it could not encode every row of this page
   * (too long for one packet): read that page with `readRange` instead.
   */
  readRangeText?(req: TextRangeRead): Promise<TextChunk | undefined>
  /** Deletes rows by key; missing keys are ignored. */
  deleteKeys(req: {table: TableRef; key: readonly string[]; keys: readonly KeyTuple[]; keyTypes?: readonly ColumnType[]}): Promise<number>

  /** The DDL that `createTarget` would run (for `--dry-run`). */
  targetDdl(spec: TargetTableSpec): string[]
  /** Creates the namespace and table/collection (idempotent). */
  createTarget(spec: TargetTableSpec): Promise<string[]>
  dropTarget(ref: TableRef): Promise<void>

  /** Fraction digits of the timestamps the engine stores (MongoDB: 3); 6 when absent. The diff compares at the lower precision of the two sides. */
  readonly maxTimestampPrecision?: number

  /**
   * Queries running on the server right now (PostgreSQL: active client
   * backends; MySQL/MariaDB: Threads_running), including this tool's own.
   * The backfill pauses while it is over `--max-monolith-load`. Absent or
   * undefined where the engine cannot tell.
   */
  serverLoad?(): Promise<number | undefined>

  /** Relational capabilities, present on PostgreSQL, PGlite and MySQL/MariaDB. */
  readonly sql?: SqlCapabilities
}

/** Named SQL dialects (data, not branches: the diff picks hash expressions by it). */
export type SqlDialect = 'postgres' | 'mysql'

export interface CaptureSpec {
  /** Source table the triggers watch. */
  readonly table: TableRef
  /** Key columns written to the outbox. */
  readonly key: readonly string[]
  /** Outbox table (qualified). */
  readonly outbox: TableRef
  /** Service name, stored with each change. */
  readonly service: string
  /** Entity name (the source table's plan name), stored with each change. */
  readonly entity: string
  /** Trigger / function name prefix, unique per service and table. */
  readonly triggerPrefix: string
  /** Logical types of the key columns (MySQL renders TIMESTAMP keys in UTC with them, whatever the writer's time zone). */
  readonly keyTypes?: readonly ColumnType[]
  /**
   * Set for a related table of an aggregate: its triggers write the keys of the
   * roots a changed row belongs to (old and new row both), as changes of
   * `entity`, so the relay re-assembles them. `key` is unused then; `keyTypes`
   * are the root key's.
   */
  readonly roots?: RootKeyPath
}

/**
 * How a changed row of a related table finds the keys of its aggregate roots:
 * the row holds them itself (`direct`: a child joined on the root's key), or a
 * join from `tables[0]` (whose `key` columns hold the root key) down to the
 * row's parent, matched to the row by `match`.
 */
export interface RootKeyPath {
  /** Columns of the changed row holding the root key, in root key order. */
  readonly direct?: readonly string[]
  /** The join: each table with its pairs (column of the previous table, column of this one); `tables[0].on` is empty. */
  readonly tables?: readonly {readonly table: TableRef; readonly on: readonly (readonly [string, string])[]}[]
  /** Columns of `tables[0]` holding the root key, in root key order. */
  readonly key?: readonly string[]
  /** Pairs (column of the last table, column of the changed row). */
  readonly match?: readonly (readonly [string, string])[]
  /**
   * Index of the relation in the entity (plan order). A row that does not hold
   * the root key itself is written as op `R` with `[relation, ...match values]`
   * as its pk: the relay finds the roots when it consumes the change, after
   * the writer committed (a join in the trigger would read the writer's
   * snapshot, and miss a root another uncommitted transaction is moving in).
   */
  readonly relation?: number
}


/**
 * DDL for archiving monolith tables at decommission: moved into an archive
 * schema (PostgreSQL) or database (MySQL) the application has no grants on,
 * and the application's table grants revoked.
 */
export interface ArchiveDdl {
  /** The archive schema (PostgreSQL: inside the database) or database (MySQL: one per monolith database, as databases are server-wide). */
  schemaName(prefix: string): string
  /** Creates the archive schema/database if missing. */
  ensureSchema(name: string): string
  /** Moves (and renames) a table, possibly into another schema/database. */
  move(from: TableRef, to: TableRef): string[]
  grant(ref: TableRef, grantee: string, privileges: readonly string[]): string
  revoke(ref: TableRef, grantee: string): string
  /** The table privileges these grantees hold (to restore them on rollback). */
  privilegesQuery(ref: TableRef, grantees: readonly string[]): {text: string; params: unknown[]}
}

export interface SqlCapabilities {
  readonly dialect: SqlDialect
  /** Kysely instance for the control plane and the outbox. */
  readonly db: Kysely<any>
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
  /** `$1` or `?` */
  param(index: number): string
  query<T = Row>(text: string, params?: readonly unknown[]): Promise<T[]>
  execute(text: string, params?: readonly unknown[]): Promise<number>
  /** Runs `fn` in one transaction on one connection. */
  transaction<T>(fn: (tx: SqlCapabilities) => Promise<T>): Promise<T>
  /** A key column expression; with `bytewise`, text keys order and compare by their UTF-8 bytes. */
  keyExpr(column: string, type?: ColumnType, bytewise?: boolean): string
  /** Change capture DDL: outbox table and triggers. */
  captureDdl(spec: CaptureSpec): {install: string[]; remove: string[]}
  /** DDL of the outbox table (one per service). */
  outboxDdl(outbox: TableRef): string[]
  /** Rename and grant statements for archiving tables. */
  readonly archive: ArchiveDdl
  /**
   * Count and checksum of a key range. `query(from, where)` builds the whole checksum
   * statement (the diff's `sqlChunkChecksumQuery`) from the quoted table and the range
   * predicate (without `WHERE`; undefined for the whole table); its select list is
   * the row count and the four slice sums, in that order.
   */
  checksumRange(req: RangeRead, query: (from: string, where: string | undefined) => string): Promise<ChunkChecksum>
  /**
   * Count and checksum of each part of a key range split at `bounds` (ascending keys
   * inside the range) in one scan: part 0 is `(after, bounds[0]]`, part i
   * `(bounds[i-1], bounds[i]]`, the last `(bounds[last], upTo]`. `query(from, where, part)`
   * builds the statement from the quoted table, the range predicate and `part`, an SQL
   * expression numbering a row's part; it returns one row per non-empty part: the part
   * number, the row count and the four slice sums, in that order. `part` must come before
   * `where` in the statement text (positional parameters).
   */
  checksumParts(req: RangeRead, bounds: readonly KeyTuple[], query: (from: string, where: string | undefined, part: string) => string): Promise<ChunkChecksum[]>
  /** Key + row hash hex for every row in the range, in key order. */
  hashRange(req: RangeRead, rowHashHex: string): Promise<{key: KeyTuple; hash: string}[]>
}
