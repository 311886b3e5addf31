import type pg from 'pg'
import {from as copyFrom} from 'pg-copy-streams'
import {JsonText} from '../json-text.js'
import type {ColumnType, Row} from '../types.js'

const ESC: Record<string, string> = {'\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r'}
const NEEDS = /[\\\t\n\r]/
const ALL = /[\\\t\n\r]/g
const text = (s: string): string => (NEEDS.test(s) ? s.replace(ALL, (c) => ESC[c]) : s)

type Encoder = (v: unknown) => string

/** One value model value in PostgreSQL's COPY text format, by logical type. */
export function copyEncoder(t: ColumnType): Encoder {
  switch (t.type) {
    case 'boolean':
      return (v) => (v === null || v === undefined ? '\\N' : v === true || v === 1 || v === '1' || v === 't' || v === 'true' ? 't' : 'f')
    case 'json':
      return (v) => (v === null || v === undefined ? '\\N' : text(v instanceof JsonText ? v.text : JSON.stringify(v)))
    case 'binary':
      return (v) => (v === null || v === undefined ? '\\N' : Buffer.isBuffer(v) ? `\\\\x${v.toString('hex')}` : v instanceof Uint8Array ? `\\\\x${Buffer.from(v).toString('hex')}` : text(String(v)))
    default:
      return (v) => (v === null || v === undefined ? '\\N' : typeof v === 'string' ? text(v) : typeof v === 'object' ? text(JSON.stringify(v)) : String(v))
  }
}

/** The rows as COPY text, in pieces of about `pieceRows` rows (bounded memory, few writes). */
export function* copyText(rows: readonly Row[], columns: readonly (ColumnType & {name: string})[], pieceRows = 1000): Generator<string> {
  const enc = columns.map(copyEncoder)
  const names = columns.map((c) => c.name)
  const n = names.length
  for (let i = 0; i < rows.length; i += pieceRows) {
    let s = ''
    const end = Math.min(rows.length, i + pieceRows)
    for (let j = i; j < end; j++) {
      const r = rows[j]
      let line = enc[0](r[names[0]])
      for (let k = 1; k < n; k++) line += '\t' + enc[k](r[names[k]])
      s += line + '\n'
    }
    yield s
  }
}

/** Runs `COPY <table> (<cols>) FROM STDIN` on one client with the rows as text. */
export async function copyRows(client: pg.PoolClient, statement: string, rows: readonly Row[], columns: readonly (ColumnType & {name: string})[]): Promise<void> {
  const stream = client.query(copyFrom(statement))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    const pieces = copyText(rows, columns)
    const pump = (): void => {
      for (;;) {
        const next = pieces.next()
        if (next.done) {
          stream.end()
          return
        }
        if (!stream.write(next.value)) {
          stream.once('drain', pump)
          return
        }
      }
    }
    pump()
  })
}
