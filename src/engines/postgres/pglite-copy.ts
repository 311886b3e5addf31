import type {ColumnType, Row} from '../types.js'
import type {EmbeddedPostgres} from './pglite-registry.js'
import {copyText} from './postgres-copy.js'

/** `COPY <table> (<columns>) FROM '/dev/blob'`, names already quoted: PGlite's COPY reads the blob passed with the query (it has no FROM STDIN). */
export function pgliteCopyStatement(table: string, columns: readonly string[]): string {
  return `COPY ${table} (${columns.join(', ')}) FROM '/dev/blob'`
}

/**
 * Writes rows into an embedded PostgreSQL with one COPY: the rows in COPY
 * text format (the encoding `COPY … FROM STDIN` uses on a server) as the
 * query's blob. Atomic; fails on a key that is already there (23505), like
 * the server's COPY, so the caller can fall back to the upsert.
 */
export async function pgliteCopyRows(
  db: EmbeddedPostgres,
  statement: string,
  rows: readonly Row[],
  columns: readonly (ColumnType & {name: string})[],
): Promise<void> {
  if (!rows.length) return
  await db.query(statement, [], {blob: new Blob([...copyText(rows, columns, 5000)])})
}
