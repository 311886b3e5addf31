import type {Kysely} from 'kysely'
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
  sampleKeys(req: {table: TableRef; key: readonly string[]; keyTypes?: readonly ColumnType[]; after?: KeyTuple; step: number; filter?: string}): Promise<KeyTuple | undefined>

  /** Inserts or replaces rows by key. */
  upsert(batch: WriteBatch): Promise<number>
  /** Deletes rows by key; missing keys are ignored. */
  deleteKeys(req: {table: TableRef; key: readonly string[]; keys: readonly KeyTuple[]; keyTypes?: readonly ColumnType[]}): Promise<number>

  /** The DDL that `createTarget` would run (for `--dry-run`). */
  targetDdl(spec: TargetTableSpec): string[]
  /** Creates the namespace and table/collection (idempotent). */
  createTarget(spec: TargetTableSpec): Promise<string[]>
  dropTarget(ref: TableRef): Promise<void>

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
  /** Count and checksum of a key range, with `rowHash` an SQL expression over the row. */
  checksumRange(req: RangeRead, rowHash: string, chunkSelect: string): Promise<ChunkChecksum>
  /** Key + row hash hex for every row in the range, in key order. */
  hashRange(req: RangeRead, rowHashHex: string): Promise<{key: KeyTuple; hash: string}[]>
}
