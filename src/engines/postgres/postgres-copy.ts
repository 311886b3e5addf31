import type pg from 'pg'
import {from as copyFrom} from 'pg-copy-streams'
import {JsonText} from '../json-text.js'
import type {RowTextFormat} from '../row-text.js'
import type {ColumnType, Row} from '../types.js'

/** The row text format of COPY … FROM STDIN (text): booleans `f`/`t`, bytea as `\\x` + hex (COPY unescapes it to `\x`). */
export const COPY_TEXT_FORMAT: RowTextFormat = {booleans: ['f', 't'], hexPrefix: '\\\\x'}

/** Largest CopyData message sent at once (views into the text, not copies). */
const COPY_PIECE = 1 << 20

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

/** Runs `COPY … FROM STDIN` on one client with text already in COPY text format, in pieces (each sent as is, at most 1 MiB per message). */
export async function copyBuffers(client: pg.PoolClient, statement: string, text: readonly Buffer[]): Promise<void> {
  const stream = client.query(copyFrom(statement))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    let i = 0
    let at = 0
    const pump = (): void => {
      while (i < text.length) {
        const piece = text[i].subarray(at, at + COPY_PIECE)
        at += piece.length
        if (at >= text[i].length) {
          i++
          at = 0
        }
        if (piece.length && !stream.write(piece)) {
          stream.once('drain', pump)
          return
        }
      }
      stream.end()
    }
    pump()
  })
}

/** A target table for `loadText`, every name already quoted. */
export interface CopyTarget {
  readonly table: string
  readonly columns: readonly string[]
  readonly key: readonly string[]
}

/**
 * Writes COPY text into a table with the upsert's result: a plain COPY (fast,
 * atomic), and when a key is already there (a chunk copied again after a
 * crash), the same text COPYed into a temporary table and merged with
 * `INSERT … ON CONFLICT (key) DO UPDATE`, in one transaction.
 */
export async function loadText(pool: pg.Pool, target: CopyTarget, text: readonly Buffer[]): Promise<void> {
  const cols = target.columns.join(', ')
  let client = await pool.connect()
  try {
    await copyBuffers(client, `COPY ${target.table} (${cols}) FROM STDIN`, text)
    return
  } catch (err) {
    if ((err as {code?: string}).code !== '23505') throw err
  } finally {
    client.release()
  }
  const temp = '"strangler_copy_merge"'
  const nonKey = target.columns.filter((c) => !target.key.includes(c))
  const conflict = `ON CONFLICT (${target.key.join(', ')}) ${nonKey.length ? `DO UPDATE SET ${nonKey.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}` : 'DO NOTHING'}`
  client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query(`CREATE TEMP TABLE ${temp} (LIKE ${target.table} INCLUDING DEFAULTS) ON COMMIT DROP`)
    await copyBuffers(client, `COPY ${temp} (${cols}) FROM STDIN`, text)
    await client.query(`INSERT INTO ${target.table} (${cols}) SELECT ${cols} FROM ${temp} ${conflict}`)
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.release()
  }
}
