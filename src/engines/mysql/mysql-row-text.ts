import type {Pool} from 'mysql2'
import type {RowTextFormat} from '../row-text.js'
import {LOGICAL_TYPES, type LogicalType, type Projection} from '../types.js'

/** Logical types MySQL/MariaDB can spell in a `RowTextFormat` line themselves: all of them. */
const ENCODABLE: ReadonlySet<LogicalType> = new Set(LOGICAL_TYPES)

/** True when every column is a plain source column of a type `rowTextLine` encodes. */
export function canEncodeRowText(columns: readonly Projection[]): boolean {
  return columns.length > 0 && columns.every((c) => !c.sql && c.type !== undefined && ENCODABLE.has(c.type.type))
}

/** Character sets whose bytes are UTF-8 already (absent: MySQL's JSON type, which converts to utf8mb4 in a string context). */
const UTF8 = new Set(['utf8mb4', 'utf8mb3', 'utf8', 'ascii'])

function isUtf8(charset: string | undefined): boolean {
  return charset === undefined || UTF8.has(charset.toLowerCase())
}

/** A binary string literal (`X'…'`): independent of sql_mode (NO_BACKSLASH_ESCAPES) and of collations. */
function bytes(s: string): string {
  return `X'${Buffer.from(s, 'utf8').toString('hex')}'`
}

/**
 * The SQL expression of one row as a line of `format` (see row-text.ts), as a
 * binary string: every field spelt as the value model reads it through mysql2,
 * (`charsets`: the character set of each text column, by column name),
 * text escaped byte by byte (backslash, tab, newline and carriage return never
 * occur inside a multi-byte UTF-8 sequence), NULL as `\N`, a newline at the end.
 */
export function rowTextLine(quoteId: (name: string) => string, columns: readonly Projection[], format: RowTextFormat, charsets: ReadonlyMap<string, string> = new Map()): string {
  const nul = bytes('\\N')
  // on the bytes (BINARY): REPLACE on a multi-byte character set steps through every character
  // (a third of MariaDB's time in a backfill, measured with perf); on binary it searches with memchr
  const esc = (e: string): string =>
    `REPLACE(REPLACE(REPLACE(REPLACE(CAST(${e} AS BINARY), ${bytes('\\')}, ${bytes('\\\\')}), ${bytes('\t')}, ${bytes('\\t')}), ${bytes('\n')}, ${bytes('\\n')}), ${bytes('\r')}, ${bytes('\\r')})`
  const fields = columns.map((c) => {
    const col = quoteId(c.column ?? c.name)
    switch (c.type?.type) {
      case 'boolean':
        return `IF(${col} IS NULL, ${nul}, IF(${col} <> 0, ${bytes(format.booleans[1])}, ${bytes(format.booleans[0])}))`
      case 'binary':
        return `IFNULL(CONCAT(${bytes(format.hexPrefix)}, HEX(${col})), ${nul})`
      case 'uuid':
        return `IFNULL(LOWER(CAST(${col} AS CHAR)), ${nul})`
      case 'text':
      case 'varchar':
      case 'char':
      case 'json':
        // a column stored in another character set is converted to UTF-8 first; UTF-8 columns are taken byte for byte
        // (MySQL's JSON type, which has no character set, through CONVERT: its text, not its storage format)
        return `IFNULL(${esc(c.type?.type !== 'json' && isUtf8(charsets.get(c.column ?? c.name)) ? col : `CONVERT(${col} USING utf8mb4)`)}, ${nul})`
      default:
        // numbers, decimals, dates and times: the server's own text, which is what mysql2 returns with dateStrings and bigNumberStrings
        return `IFNULL(${col}, ${nul})`
    }
  })
  return `CAST(CONCAT(CONCAT_WS(${bytes('\t')}, ${fields.join(', ')}), ${bytes('\n')}) AS BINARY)`
}

/** Size of the blocks the lines are copied into. */
const BLOCK = 256 << 10

/**
 * Blocks written and given back (`RowTextRead.release`), reused by later reads:
 * fresh buffers count as V8 external memory, and every 64 MiB of it costs a
 * full garbage collection. At most 16 MiB are kept.
 */
const spare: Buffer[] = []
const SPARE_MAX = 64

function takeBlock(size: number): Buffer {
  return (size <= BLOCK && spare.pop()) || Buffer.allocUnsafeSlow(Math.max(BLOCK, size))
}

/** What `streamRowText` read: the lines in blocks, the row count, the raw key columns of the first and last row. */
export interface RowTextRead {
  readonly blocks: Buffer[]
  readonly bytes: number
  readonly rows: number
  readonly first?: unknown[]
  readonly last?: unknown[]
  /** A line came back NULL (longer than `max_allowed_packet`): the page cannot be read as text. */
  readonly overflow: boolean
  /** Gives the blocks back for reuse; call only once they are written and nothing refers to them. */
  release(): void
}

/**
 * Runs a text read (`SELECT <key columns>, <rowTextLine> …`) and takes its rows
 * as they arrive (no array of rows): each line is copied into 256 KiB blocks
 * at once, so neither rows nor mysql2's network buffers outlive the packet
 * they came in, and the young generation stays small.
 */
export function streamRowText(pool: Pool, sql: string, values: unknown[], keyColumns: number): Promise<RowTextRead> {
  return new Promise((resolve, reject) => {
    const blocks: Buffer[] = []
    const owned: Buffer[] = []
    let block: Buffer = Buffer.alloc(0)
    let at = 0
    let bytes = 0
    let rows = 0
    let first: unknown[] | undefined
    let last: unknown[] | undefined
    let overflow = false
    let failed = false
    const q = pool.query({sql, values, rowsAsArray: true})
    q.on('result', (r) => {
      const row = r as unknown as unknown[]
      const line = row[keyColumns]
      if (!Buffer.isBuffer(line)) {
        overflow = true
        return
      }
      if (rows === 0) first = row.slice(0, keyColumns)
      rows++
      bytes += line.length
      let from = 0
      while (from < line.length) {
        if (at === block.length) {
          if (at) blocks.push(block)
          block = takeBlock(line.length - from)
          owned.push(block)
          at = 0
        }
        const n = line.copy(block, at, from)
        at += n
        from += n
      }
      last = row
    })
    q.on('error', (err) => {
      failed = true
      reject(err)
    })
    q.on('end', () => {
      if (failed) return
      if (at) blocks.push(block.subarray(0, at))
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        for (const b of owned) if (b.length === BLOCK && spare.length < SPARE_MAX) spare.push(b)
      }
      if (overflow) release()
      resolve({blocks, bytes, rows, first, last: last?.slice(0, keyColumns), overflow, release})
    })
  })
}
