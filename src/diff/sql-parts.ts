import {type SqlDialect, sqlChecksumInput, sqlChunkChecksum} from './sql-hash.js'

/**
 * A checksum statement for the parts of a key range (`SqlCapabilities.checksumParts`):
 * every row is hashed once in a derived table the planner cannot merge (the md5 is
 * not repeated in the four sums), tagged with its part, then aggregated per part.
 */
export function sqlPartsChecksumQuery(dialect: SqlDialect, rowHashExpr: string, from: string, where: string | undefined, part: string): string {
  const fence = dialect === 'postgres' ? ' OFFSET 0' : ' LIMIT 18446744073709551615'
  const inner = `SELECT ${part} AS strangler_part, ${sqlChecksumInput(dialect, rowHashExpr)} AS strangler_h FROM ${from}${where ? ` WHERE ${where}` : ''}${fence}`
  return `SELECT strangler_part, ${sqlChunkChecksum(dialect, 'strangler_h')} FROM (${inner}) AS strangler_rows GROUP BY strangler_part`
}
