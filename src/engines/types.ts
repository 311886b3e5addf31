/**
 * Engine-neutral types shared by every adapter.
 *
 * The value model: adapters return rows whose values are exact, whatever the
 * engine. null → null; boolean → boolean; smallint/integer → number;
 * bigint and decimal → string; real/double → number; text → string;
 * date → 'YYYY-MM-DD'; time → 'HH:MM:SS[.ffffff]'; timestamp and
 * timestamptz → 'YYYY-MM-DD HH:MM:SS[.ffffff]' (timestamptz in UTC);
 * json → parsed value; uuid → lower-case string; binary → Buffer.
 */
export type EngineKind = 'postgres' | 'mysql' | 'mongodb'

/** Every logical column type, the vocabulary shared by plans, adapters and the canonical encoding. */
export const LOGICAL_TYPES = [
  'boolean',
  'smallint',
  'integer',
  'bigint',
  'decimal',
  'real',
  'double',
  'text',
  'varchar',
  'char',
  'date',
  'time',
  'timestamp',
  'timestamptz',
  'json',
  'uuid',
  'binary',
] as const

export type LogicalType = (typeof LOGICAL_TYPES)[number]

/** A logical column type with its modifiers (`decimal(12,2)`, `varchar(255)`, `timestamp(6)`). */
export interface ColumnType {
  readonly type: LogicalType
  /** decimal precision, varchar/char length, or fractional-second digits for time types */
  readonly precision?: number
  readonly scale?: number
}

export interface ColumnInfo extends ColumnType {
  readonly name: string
  readonly nativeType: string
  readonly nullable: boolean
  /** True when the native type has no logical equivalent (arrays, geometry, ...); such columns must be excluded or mapped with `sql`. */
  readonly unsupported?: boolean
}

export interface TableRef {
  readonly schema?: string
  readonly name: string
}

export interface TableInfo {
  readonly ref: TableRef
  readonly columns: readonly ColumnInfo[]
  readonly primaryKey: readonly string[]
  /** Approximate row count from the engine's statistics (may be -1 when unknown). */
  readonly estimatedRows: number
}

export type Row = Record<string, unknown>
export type KeyTuple = readonly unknown[]

/** One column to read: a source column, or an SQL expression evaluated by the source engine. */
export interface Projection {
  readonly name: string
  readonly column?: string
  readonly sql?: string
  /** Logical type; needed by engines without a schema (MongoDB) to return the value model. */
  readonly type?: ColumnType
}

/** A keyset range read: rows with after < key <= upTo, in key order (text keys bytewise). */
export interface RangeRead {
  readonly table: TableRef
  readonly key: readonly string[]
  readonly columns: readonly Projection[]
  readonly after?: KeyTuple
  readonly upTo?: KeyTuple
  readonly filter?: string
  readonly limit?: number
  /** Key column types; used to order text keys bytewise. */
  readonly keyTypes?: readonly ColumnType[]
  /**
   * `native` (default) uses the source's own collation, which its indexes serve:
   * right for the backfill, which only needs one consistent order. `bytewise`
   * orders text keys by their UTF-8 bytes on every engine: the diff needs it so
   * that the same range selects the same rows on both sides.
   */
  readonly order?: 'native' | 'bytewise'
  /**
   * json columns may come back as `JsonText` (unparsed) instead of parsed
   * values: the backfill asks for it when the mapping passes JSON through
   * untouched and the target writes `JsonText` as is (saves a parse and a
   * stringify per value). Engines that cannot simply return parsed values.
   */
  readonly jsonText?: boolean
}

/** A column of a table the tool creates on a target. */
export interface TargetColumn extends ColumnType {
  readonly name: string
  readonly nullable: boolean
}

export interface TargetTableSpec {
  readonly ref: TableRef
  readonly columns: readonly TargetColumn[]
  readonly key: readonly string[]
}

export interface ServerInfo {
  readonly engine: EngineKind
  /** `PostgreSQL 15.18`, `MariaDB 10.11.6`, `FerretDB 1.24.2 (MongoDB 7.0.77)`, `PGlite 0.5` */
  readonly version: string
  readonly database: string
  readonly embedded: boolean
}

/** Checksum of one key range: row count and the four summed md5 slices. */
export interface ChunkChecksum {
  readonly count: number
  readonly sums: readonly [string, string, string, string]
}
