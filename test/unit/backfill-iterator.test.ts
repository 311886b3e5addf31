/**
 * The backfill's read side without servers: page sizes follow the byte budget
 * (a small first page, then as many rows as fit), the first page is read as
 * rows and decides whether the text path is worth it, a page the source cannot
 * encode as text is read as rows and so is the rest, the writer
 * hands text pieces to `bulkLoadText` and gives them back only after a
 * successful write; MySQL's line SQL escapes text byte-wise and converts only
 * non-UTF-8 columns.
 */
import {describe, expect, it} from 'vitest'
import {BatchWriter} from '../../src/backfill/batch-writer.js'
import {DataIterator, estimateBytes, type Chunk} from '../../src/backfill/data-iterator.js'
import type {Engine} from '../../src/engines/engine.js'
import {canEncodeRowText, rowTextLine} from '../../src/engines/mysql/mysql-row-text.js'
import {COPY_TEXT_FORMAT} from '../../src/engines/postgres/postgres-copy.js'
import type {TextBatch, TextChunk, TextRangeRead} from '../../src/engines/row-text.js'
import type {RangeRead, Row} from '../../src/engines/types.js'
import type {ResolvedEntity} from '../../src/mapping/entity-mapping.js'

const entity = {
  name: 'users',
  source: {name: 'users'},
  target: {name: 'users'},
  sourceKey: ['id'],
  targetKey: ['id'],
  sourceKeyTypes: [{type: 'bigint'}],
  projections: [{name: 'id', column: 'id'}, {name: 'body', column: 'body'}],
  columns: [
    {name: 'id', type: 'bigint', source: {kind: 'column', column: 'id', from: {type: 'bigint'}, cast: false}},
    {name: 'body', type: 'text', source: {kind: 'column', column: 'body', from: {type: 'text'}, cast: false}},
  ],
  targetSpec: {ref: {name: 'users'}, key: ['id'], columns: [{name: 'id', type: 'bigint', nullable: false}, {name: 'body', type: 'text', nullable: true}]},
} as unknown as ResolvedEntity

/** A source of `n` rows with ids 1..n and bodies of `width` characters; `textless` pages (by their first id) cannot be read as text. */
function source(n: number, width: number, textless = new Set<number>()) {
  const calls: {kind: 'rows' | 'text'; after: number; limit: number}[] = []
  const page = (req: RangeRead): Row[] => {
    const after = Number(req.after?.[0] ?? 0)
    const out: Row[] = []
    for (let id = after + 1; id <= n && out.length < (req.limit ?? Infinity); id++) out.push({id, body: 'x'.repeat(width)})
    return out
  }
  const engine = {
    async readRange(req: RangeRead) {
      calls.push({kind: 'rows', after: Number(req.after?.[0] ?? 0), limit: req.limit ?? 0})
      return page(req)
    },
    async readRangeText(req: TextRangeRead): Promise<TextChunk | undefined> {
      const after = Number(req.after?.[0] ?? 0)
      calls.push({kind: 'text', after, limit: req.limit ?? 0})
      if (textless.has(after + 1)) return undefined
      const rows = page(req)
      const text = rows.map((r) => Buffer.from(`${r.id}\t${r.body}\n`))
      return {text, bytes: text.reduce((a, b) => a + b.length, 0), rows: rows.length, first: rows.length ? [rows[0].id] : [], last: rows.length ? [rows[rows.length - 1].id] : []}
    },
  } as unknown as Engine
  return {engine, calls}
}

async function drain(it: DataIterator): Promise<Chunk[]> {
  const out: Chunk[] = []
  for (let c = await it.nextChunk(); c; c = await it.nextChunk()) out.push(c)
  return out
}

const text = {format: COPY_TEXT_FORMAT, columns: [{name: 'id', column: 'id', type: {type: 'bigint'}}, {name: 'body', column: 'body', type: {type: 'text'}}] as const}

describe('data iterator', () => {
  it('starts with a small page, then sizes pages by the byte budget, at most chunkRows', async () => {
    const {engine, calls} = source(3000, 990)
    const chunks = await drain(new DataIterator(engine, entity, {}, {chunkRows: 5000, chunkBytes: 100_000}))
    expect(chunks.reduce((a, c) => a + c.count, 0)).toBe(3000)
    expect(calls[0].limit).toBe(500)
    // about 1000 bytes per row: 100 rows per page after the first
    expect(calls[1].limit).toBeGreaterThanOrEqual(95)
    expect(calls[1].limit).toBeLessThanOrEqual(101)
    expect(Math.max(...chunks.map((c) => c.bytes).slice(1))).toBeLessThanOrEqual(110_000)

    const narrow = source(3000, 5)
    await drain(new DataIterator(narrow.engine, entity, {}, {chunkRows: 1000, chunkBytes: 100_000}))
    expect(narrow.calls.map((c) => c.limit)).toEqual([500, 1000, 1000, 1000])
  })

  it('continues after the resume key and stops at the end of its range', async () => {
    const {engine} = source(1000, 3)
    const chunks = await drain(new DataIterator(engine, entity, {from: [10], to: [700]}, {chunkRows: 100, chunkBytes: 1 << 20, resumeAfter: [250]}))
    expect(chunks[0].first).toEqual([251])
    expect(chunks[chunks.length - 1].last).toEqual([1000]) // the fake ignores `to`; the iterator passes it on
    expect(chunks.every((c) => c.kind === 'rows')).toBe(true)
  })

  it('reads the first page as rows, then text while rows are narrow; after a page the source cannot encode, rows for good', async () => {
    const {engine, calls} = source(1700, 10, new Set([1001]))
    const chunks = await drain(new DataIterator(engine, entity, {}, {chunkRows: 500, chunkBytes: 1 << 20, text}))
    expect(chunks.map((c) => [c.kind, c.first[0], c.last[0]])).toEqual([
      ['rows', 1, 500],
      ['text', 501, 1000],
      ['rows', 1001, 1500],
      ['rows', 1501, 1700],
    ])
    expect(calls.filter((c) => c.kind === 'text').map((c) => c.after)).toEqual([500, 1000])
  })

  it('never takes the text path for wide rows (the server would escape megabytes a page at a time)', async () => {
    const {engine, calls} = source(40, 100_000)
    const chunks = await drain(new DataIterator(engine, entity, {}, {chunkRows: 500, chunkBytes: 1 << 20, text}))
    expect(chunks.reduce((a, c) => a + c.count, 0)).toBe(40)
    expect(calls.every((c) => c.kind === 'rows')).toBe(true)
  })
})

describe('batch writer, text chunks', () => {
  it('passes the pieces to bulkLoadText and gives them back only after a successful write', async () => {
    const loads: TextBatch[] = []
    let fail = false
    const target = {
      displayUrl: 'postgres://t',
      async bulkLoadText(b: TextBatch) {
        if (fail) throw new Error('boom')
        loads.push(b)
        return b.rows
      },
    } as unknown as Engine
    const w = new BatchWriter(target, entity, 100)
    let released = 0
    const chunk: Chunk = {kind: 'text', text: [Buffer.from('1\ta\n2\t')], count: 2, bytes: 6, first: [1], last: [2], release: () => released++}
    expect(await w.write(chunk)).toBe(2)
    expect(loads[0].text).toBe(chunk.text)
    expect(loads[0].columns.map((c) => c.name)).toEqual(['id', 'body'])
    expect(released).toBe(1)
    fail = true
    await expect(w.write(chunk)).rejects.toThrow(/backfill of users: writing 2 rows with keys 1 \.\. 2 to postgres:\/\/t: boom/)
    expect(released).toBe(1)
  })
})

describe('row size estimate', () => {
  it('counts strings, buffers and JSON from a sample', () => {
    const rows = Array.from({length: 1000}, (_, i) => ({id: i, s: 'abcd', b: Buffer.alloc(10), j: {a: 1}, n: null}))
    const per = (4 + 1) + (10 + 1) + JSON.stringify({a: 1}).length + 1 + 8
    expect(estimateBytes(rows)).toBe(per * 1000)
    expect(estimateBytes([])).toBe(0)
  })
})

describe('MySQL row text line', () => {
  const q = (n: string): string => `\`${n}\``
  it('spells every field for COPY: NULL marker, booleans, hex, escapes; converts only non-UTF-8 text', () => {
    const cols = [
      {name: 'id', column: 'id', type: {type: 'bigint'}},
      {name: 'flag', column: 'flag', type: {type: 'boolean'}},
      {name: 'pic', column: 'pic', type: {type: 'binary'}},
      {name: 'name', column: 'name', type: {type: 'varchar'}},
      {name: 'old', column: 'latin', type: {type: 'text'}},
      {name: 'uid', column: 'uid', type: {type: 'uuid'}},
    ] as const
    const sql = rowTextLine(q, cols, COPY_TEXT_FORMAT, new Map([['name', 'utf8mb4'], ['latin', 'latin1']]))
    const hex = (s: string): string => `X'${Buffer.from(s).toString('hex')}'`
    expect(sql.startsWith(`CAST(CONCAT(CONCAT_WS(${hex('\t')}, IFNULL(\`id\`, ${hex('\\N')})`)).toBe(true)
    expect(sql).toContain(`IF(\`flag\` <> 0, ${hex('t')}, ${hex('f')})`)
    expect(sql).toContain(`CONCAT(${hex('\\\\x')}, HEX(\`pic\`))`)
    // escaped on the bytes (a REPLACE on utf8mb4 would step through every character)
    expect(sql).toContain(`REPLACE(CAST(\`name\` AS BINARY), ${hex('\\')}, ${hex('\\\\')})`)
    expect(sql).toContain(`REPLACE(CAST(CONVERT(\`latin\` USING utf8mb4) AS BINARY), ${hex('\\')}`)
    expect(sql).toContain(`${hex('\r')}, ${hex('\\r')})`)
    expect(sql).toContain('LOWER(CAST(`uid` AS CHAR))')
    expect(sql.endsWith(`, ${hex('\n')}) AS BINARY)`)).toBe(true)
    expect(sql).not.toMatch(/'\\/) // no backslash in a quoted literal: independent of NO_BACKSLASH_ESCAPES
  })

  it('declines SQL expressions and columns without a type', () => {
    expect(canEncodeRowText([{name: 'a', column: 'a', type: {type: 'text'}}])).toBe(true)
    expect(canEncodeRowText([{name: 'a', sql: 'UPPER(a)', type: {type: 'text'}}])).toBe(false)
    expect(canEncodeRowText([{name: 'a', column: 'a'}])).toBe(false)
    expect(canEncodeRowText([])).toBe(false)
  })
})
