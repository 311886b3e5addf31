import type {ColumnType, KeyTuple, RangeRead, TableRef} from './types.js'

/**
 * Rows as lines of text, encoded by the source server and written by the
 * target as they are: the backfill's fast path for plain copies, where no
 * value needs to become a JavaScript value on the way.
 *
 * One row per line, ended by `\n`; fields separated by a tab; NULL as `\N`;
 * backslash, tab, newline and carriage return inside a value written as
 * `\\`, `\t`, `\n`, `\r` (PostgreSQL's COPY text format, also MySQL's
 * `LOAD DATA` default). Values are spelt as in the value model
 * (src/engines/types.ts): integers and decimals as the server prints them,
 * dates and times as text ('YYYY-MM-DD HH:MM:SS[.ffffff]', timestamptz in
 * UTC), JSON as its text, UUIDs in lower case. The target says how booleans
 * and binary values are spelt.
 */
export interface RowTextFormat {
  /** How false and true are spelt. */
  readonly booleans: readonly [string, string]
  /** What precedes the hex digits of a binary value, as it stands in the text (PostgreSQL: `\\x`, which COPY reads as `\x`). */
  readonly hexPrefix: string
}

/**
 * A text range read: the rows of a keyset page (as `readRange`), each encoded
 * into one line of `format`. `columns` are the fields in line order: source
 * columns (`column`) with their logical types.
 */
export interface TextRangeRead extends RangeRead {
  readonly format: RowTextFormat
}

/** One page of a text range read. */
export interface TextChunk {
  /** The lines, ready to write, in pieces (a line may continue in the next piece). */
  readonly text: readonly Buffer[]
  /** Bytes of all pieces. */
  readonly bytes: number
  readonly rows: number
  /** Keys of the first and the last row (the last one is where the next page starts). */
  readonly first: KeyTuple
  readonly last: KeyTuple
  /** Hands the pieces back to the reader for reuse: call at most once, after a successful write, when nothing refers to them any more. */
  readonly release?: () => void
}

/** Rows for `bulkLoadText`: lines in the target's `RowTextFormat`, one field per column, in column order. */
export interface TextBatch {
  readonly table: TableRef
  readonly key: readonly string[]
  readonly columns: readonly (ColumnType & {name: string})[]
  /** The lines in pieces, as `TextChunk.text`. */
  readonly text: readonly Buffer[]
  readonly rows: number
}
