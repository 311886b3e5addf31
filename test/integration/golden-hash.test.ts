/**
 * Golden test of the canonical row hash: the same tricky rows stored in PostgreSQL and in
 * MariaDB hash identically four ways — PG SQL push-down, PG rows hashed in JS, MariaDB SQL
 * push-down, MariaDB rows hashed in JS — and the canonical texts are the ones written here.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import pg from 'pg'
import mysql from 'mysql2/promise'
import {canonicalRow, type ColumnType, decodeRow} from '../../src/diff/canonical.js'
import {checksumOf, hashRow} from '../../src/diff/row-hash.js'
import {
  parseChunkChecksumRow,
  type SqlColumn,
  sqlChunkChecksumQuery,
  sqlRowEncoding,
  sqlRowHash,
  sqlRowHashHex,
} from '../../src/diff/sql-hash.js'
import {type FreshDatabase, freshMysql, freshPg} from '../helpers/db.js'

interface Col {
  name: string
  pg: string
  my: string
  type: ColumnType
}

// push-down-able columns; `r`, `f8` and `j` (floats, json) are compared in JS only
const COLS: Col[] = [
  {name: 'b', pg: 'boolean', my: 'tinyint(1)', type: {type: 'boolean'}},
  {name: 'i16', pg: 'smallint', my: 'smallint', type: {type: 'smallint'}},
  {name: 'i32', pg: 'integer', my: 'int', type: {type: 'integer'}},
  {name: 'i64', pg: 'bigint', my: 'bigint', type: {type: 'bigint'}},
  {name: 'u64', pg: 'numeric(20,0)', my: 'bigint unsigned', type: {type: 'bigint'}},
  {name: 'dec', pg: 'numeric(20,2)', my: 'decimal(20,2)', type: {type: 'decimal', precision: 20, scale: 2}},
  {name: 'dn', pg: 'numeric', my: 'decimal(30,10)', type: {type: 'decimal'}},
  {name: 'txt', pg: 'text', my: 'text', type: {type: 'text'}},
  {name: 'vc', pg: 'varchar(50)', my: 'varchar(50)', type: {type: 'varchar', precision: 50}},
  {name: 'ch', pg: 'char(6)', my: 'char(6)', type: {type: 'char', precision: 6}},
  {name: 'd', pg: 'date', my: 'date', type: {type: 'date'}},
  {name: 't', pg: 'time(6)', my: 'time(6)', type: {type: 'time', precision: 6}},
  {name: 'ts', pg: 'timestamp(6)', my: 'datetime(6)', type: {type: 'timestamp', precision: 6}},
  {name: 'tstz', pg: 'timestamptz(6)', my: 'timestamp(6) null default null', type: {type: 'timestamptz', precision: 6}},
  {name: 'u', pg: 'uuid', my: 'char(36)', type: {type: 'uuid'}},
  {name: 'bin', pg: 'bytea', my: 'varbinary(64)', type: {type: 'binary'}},
]
const JS_ONLY: Col[] = [
  {name: 'r', pg: 'real', my: 'float', type: {type: 'real'}},
  {name: 'f8', pg: 'double precision', my: 'double', type: {type: 'double'}},
  {name: 'j', pg: 'jsonb', my: 'json', type: {type: 'json'}},
]
const ALL = [...COLS, ...JS_ONLY]

type Row = Record<string, string | number | boolean | Buffer | null>
const UUID = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
const hex32 = Buffer.from(Array.from({length: 32}, (_, i) => (i * 37 + 11) & 255))

// Values as SQL-literal-friendly parameters. `pgOnly`/`myOnly` hold engine-specific spellings
// of the same logical value.
const ROWS: {id: number; v: Row; pgOnly?: Row; myOnly?: Row}[] = [
  {id: 1, v: Object.fromEntries(ALL.map((c) => [c.name, null]))},
  {
    id: 2,
    v: {b: false, i16: 0, i32: 0, i64: '0', u64: '0', dec: '-0.00', dn: '-0.0', txt: '', vc: '', ch: '', d: '1970-01-01',
      t: '00:00:00', ts: '1970-01-01 00:00:00', tstz: '1970-01-01 00:00:01', u: '00000000-0000-0000-0000-000000000000',
      bin: Buffer.alloc(0), r: 0, f8: -0, j: '{}'},
  },
  {
    id: 3,
    v: {b: true, i16: 32767, i32: 2147483647, i64: '9223372036854775807', u64: '18446744073709551615',
      dec: '10000000000000000.00', dn: '10000000000000000', txt: 'NULL', vc: '~', ch: '0:', d: '9999-12-31',
      t: '23:59:59.999999', ts: '2024-02-29 23:59:59.999999', tstz: '2024-02-29 23:59:59.999999',
      u: UUID.toUpperCase(), bin: Buffer.from([0, 255, 16]), r: 0.1, f8: 1e16, j: '{"b": 1, "a": [1.0, 2, "x"]}'},
  },
  {
    id: 4,
    v: {b: true, i16: -32768, i32: -2147483648, i64: '-9223372036854775808', u64: '9007199254740993', dec: '-12.5',
      dn: '0.0001234000', txt: 'line1\nline2\t"q" \\ é', vc: 'trailing  ', ch: 'ab', d: '0001-01-01',
      t: '12:00:00.5', ts: '1000-01-01 00:00:00.000001', tstz: '2038-01-19 03:14:07.123456',
      u: UUID, bin: hex32, r: -3.4e38, f8: 0.30000000000000004, j: '{"é": {"z": null, "a": "x"}, "A": 1e2, "aa": [], "b": true}'},
    // the same uuid without hyphens in MariaDB's CHAR(36)
    myOnly: {u: UUID.replace(/-/g, '')},
  },
  {
    id: 5,
    v: {b: true, i16: 1, i32: 42, i64: '9007199254740993', u64: '1', dec: '0.05', dn: '-123456789012345678.9',
      txt: 'héllo 😀 世界  ', vc: ' ', ch: ' a', d: '2000-02-29', t: '00:00:00.000001', ts: '2000-01-01 00:00:00.5',
      tstz: '2000-01-01 00:00:00', u: UUID, bin: Buffer.from('😀'), r: 16777217, f8: 1.7976931348623157e308,
      j: '[1, {"y": 1, "x": [true, null]}, "😀"]'},
  },
]

// expected canonical texts of the push-down columns, at timestamp precision 6
const GOLDEN: Record<number, (string | null)[]> = {
  1: COLS.map(() => null),
  2: ['0', '0', '0', '0', '0', '0.00', '0', '', '', '', '1970-01-01', '00:00:00.000000', '1970-01-01 00:00:00.000000',
    '1970-01-01 00:00:01.000000', '00000000-0000-0000-0000-000000000000', ''],
  3: ['1', '32767', '2147483647', '9223372036854775807', '18446744073709551615', '10000000000000000.00',
    '10000000000000000', 'NULL', '~', '0:', '9999-12-31', '23:59:59.999999', '2024-02-29 23:59:59.999999',
    '2024-02-29 23:59:59.999999', UUID, '00ff10'],
  4: ['1', '-32768', '-2147483648', '-9223372036854775808', '9007199254740993', '-12.50', '0.0001234',
    'line1\nline2\t"q" \\ é', 'trailing  ', 'ab', '0001-01-01', '12:00:00.500000', '1000-01-01 00:00:00.000001',
    '2038-01-19 03:14:07.123456', UUID, hex32.toString('hex')],
  5: ['1', '1', '42', '9007199254740993', '1', '0.05', '-123456789012345678.9', 'héllo 😀 世界  ', ' ', ' a',
    '2000-02-29', '00:00:00.000001', '2000-01-01 00:00:00.500000', '2000-01-01 00:00:00.000000', UUID,
    Buffer.from('😀').toString('hex')],
}

// ---------------------------------------------------------------------------
// drivers, set up as the engine adapters do (exact values as strings, UTC sessions)

const asString = (v: string) => v
const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // int8, numeric, timestamp, timestamptz, date
    if ([20, 1700, 1114, 1184, 1082].includes(oid)) return asString
    return pg.types.getTypeParser(oid, format as 'text')
  },
}

/** Driver output → the adapters' value model. */
function normalisePg(row: Record<string, unknown>): Record<string, unknown> {
  const out = {...row}
  if (typeof out.tstz === 'string') out.tstz = out.tstz.replace(/\+00$/, '') // UTC session
  return out
}

function normaliseMy(row: Record<string, unknown>): Record<string, unknown> {
  const out = {...row}
  if (typeof out.b === 'number') out.b = out.b !== 0 // tinyint(1)
  if (typeof out.j === 'string') out.j = JSON.parse(out.j) // MariaDB JSON is LONGTEXT
  return out
}

let pgDb: FreshDatabase
let myDb: FreshDatabase
let pgc: pg.Client
let myc: mysql.Connection

const pgCols = (cols: Col[]): SqlColumn[] => cols.map((c) => ({expr: `"${c.name}"`, type: c.type}))
const myCols = (cols: Col[]): SqlColumn[] => cols.map((c) => ({expr: `\`${c.name}\``, type: c.type}))

beforeAll(async () => {
  ;[pgDb, myDb] = await Promise.all([freshPg('golden'), freshMysql('golden')])
  pgc = new pg.Client({connectionString: pgDb.url, types: PG_TYPES})
  await pgc.connect()
  await pgc.query(`SET TIME ZONE 'UTC'`)
  myc = await mysql.createConnection({
    uri: myDb.url,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    decimalNumbers: false,
    charset: 'utf8mb4',
  })
  await myc.query(`SET time_zone = '+00:00'`)

  await pgc.query(`CREATE TABLE golden (id integer PRIMARY KEY, ${ALL.map((c) => `"${c.name}" ${c.pg}`).join(', ')})`)
  await myc.query(
    `CREATE TABLE golden (id int PRIMARY KEY, ${ALL.map((c) => `\`${c.name}\` ${c.my}`).join(', ')}) CHARACTER SET utf8mb4`,
  )
  for (const row of ROWS) {
    const pgVals = ALL.map((c) => ({...row.v, ...row.pgOnly})[c.name] ?? null)
    const myVals = ALL.map((c) => ({...row.v, ...row.myOnly})[c.name] ?? null)
    // timestamptz literals are UTC (both sessions are UTC)
    await pgc.query(
      `INSERT INTO golden VALUES ($1, ${ALL.map((_, i) => `$${i + 2}`).join(', ')})`,
      [row.id, ...pgVals],
    )
    await myc.query(`INSERT INTO golden VALUES (?, ${ALL.map(() => '?').join(', ')})`, [row.id, ...myVals])
  }
})

afterAll(async () => {
  await pgc?.end().catch(() => {})
  await myc?.end().catch(() => {})
  await Promise.all([pgDb?.drop(), myDb?.drop()])
})

async function pgRows(sql: string): Promise<Record<string, unknown>[]> {
  return (await pgc.query(sql)).rows
}

async function myRows(sql: string): Promise<Record<string, unknown>[]> {
  const [rows] = await myc.query(sql)
  return rows as Record<string, unknown>[]
}

const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))

describe('golden row hash: PostgreSQL and MariaDB, SQL and JS', () => {
  for (const precision of [6, 3, 0]) {
    it(`push-down columns at timestamp precision ${precision}: PG SQL = PG JS = MariaDB SQL = MariaDB JS`, async () => {
      const opts = {timestampPrecision: COLS.map(() => precision)}
      const types = COLS.map((c) => c.type)
      const pgHash = sqlRowHash('postgres', pgCols(COLS), opts)!
      const myHash = sqlRowHash('mysql', myCols(COLS), opts)!
      expect(pgHash).not.toBeNull()
      expect(myHash).not.toBeNull()
      const pgEnc = sqlRowEncoding('postgres', pgCols(COLS), opts)!
      const myEnc = sqlRowEncoding('mysql', myCols(COLS), opts)!

      const pgSql = await pgRows(`SELECT id, ${pgHash} AS h, ${pgEnc} AS e FROM golden ORDER BY id`)
      const mySql = await myRows(`SELECT id, ${myHash} AS h, ${myEnc} AS e FROM golden ORDER BY id`)
      const pgData = await pgRows(`SELECT id, ${COLS.map((c) => `"${c.name}"`).join(', ')} FROM golden ORDER BY id`)
      const myData = await myRows(`SELECT id, ${COLS.map((c) => `\`${c.name}\``).join(', ')} FROM golden ORDER BY id`)

      const jsTexts = (rows: Record<string, unknown>[], norm: (r: Record<string, unknown>) => Record<string, unknown>) =>
        rows.map((r) => canonicalRow(COLS.map((c) => norm(r)[c.name]), types, opts))
      const jsHashes = (rows: Record<string, unknown>[], norm: (r: Record<string, unknown>) => Record<string, unknown>) =>
        rows.map((r) => hashRow(COLS.map((c) => norm(r)[c.name]), types, opts))

      // canonical texts, column by column (the readable failure)
      const pgJsTexts = jsTexts(pgData, normalisePg)
      const myJsTexts = jsTexts(myData, normaliseMy)
      expect(pgSql.map((r) => decodeRow(text(r.e)))).toEqual(pgJsTexts)
      expect(mySql.map((r) => decodeRow(text(r.e)))).toEqual(myJsTexts)
      expect(myJsTexts).toEqual(pgJsTexts)
      if (precision === 6) expect(pgJsTexts).toEqual(ROWS.map((r) => GOLDEN[r.id]))
      if (precision === 3) expect(pgJsTexts[3][12]).toBe('1000-01-01 00:00:00.000000')
      if (precision === 0) expect(pgJsTexts[2][11]).toBe('23:59:59.000000')

      // the four hex lists
      const lists = {
        pgSql: pgSql.map((r) => text(r.h)),
        pgJs: jsHashes(pgData, normalisePg),
        mySql: mySql.map((r) => text(r.h)),
        myJs: jsHashes(myData, normaliseMy),
      }
      expect(lists.pgJs).toEqual(lists.pgSql)
      expect(lists.mySql).toEqual(lists.pgSql)
      expect(lists.myJs).toEqual(lists.pgSql)
      expect(new Set(lists.pgSql).size).toBe(ROWS.length)
    })
  }

  it('per-row hex lists for bisection match', async () => {
    const pgHex = sqlRowHashHex('postgres', pgCols(COLS))!
    const myHex = sqlRowHashHex('mysql', myCols(COLS))!
    const a = await pgRows(`SELECT id, ${pgHex} AS h FROM golden WHERE id BETWEEN 2 AND 4 ORDER BY id`)
    const b = await myRows(`SELECT id, ${myHex} AS h FROM golden WHERE id BETWEEN 2 AND 4 ORDER BY id`)
    expect(b.map((r) => [Number(r.id), text(r.h)])).toEqual(a.map((r) => [Number(r.id), text(r.h)]))
  })

  it('chunk checksums: PG SQL = MariaDB SQL = JS, including an empty chunk', async () => {
    const pgHash = sqlRowHash('postgres', pgCols(COLS))!
    const myHash = sqlRowHash('mysql', myCols(COLS))!
    const types = COLS.map((c) => c.type)
    const pgData = await pgRows(`SELECT ${COLS.map((c) => `"${c.name}"`).join(', ')} FROM golden ORDER BY id`)
    const js = checksumOf(pgData.map((r) => hashRow(COLS.map((c) => normalisePg(r)[c.name]), types)))

    const [pgSum] = await pgRows(sqlChunkChecksumQuery('postgres', pgHash, 'golden'))
    const [mySum] = await myRows(sqlChunkChecksumQuery('mysql', myHash, 'golden'))
    expect(parseChunkChecksumRow(pgSum)).toEqual(js)
    expect(parseChunkChecksumRow(mySum)).toEqual(js)
    expect(js.count).toBe(ROWS.length)

    const [pgEmpty] = await pgRows(sqlChunkChecksumQuery('postgres', pgHash, 'golden', 'id > 1000'))
    const [myEmpty] = await myRows(sqlChunkChecksumQuery('mysql', myHash, 'golden', 'id > 1000'))
    expect(parseChunkChecksumRow(pgEmpty)).toEqual(checksumOf([]))
    expect(parseChunkChecksumRow(myEmpty)).toEqual(checksumOf([]))
  })

  it('floats and json do not push down, and hash identically in JS from both engines', async () => {
    expect(sqlRowHash('postgres', pgCols(JS_ONLY))).toBeNull()
    expect(sqlRowHash('mysql', myCols(JS_ONLY))).toBeNull()
    const types = JS_ONLY.map((c) => c.type)
    const pgData = await pgRows(`SELECT ${JS_ONLY.map((c) => `"${c.name}"`).join(', ')} FROM golden ORDER BY id`)
    // MariaDB's text protocol prints FLOAT with 6 significant digits (16777216 → 16777200):
    // read it widened to DOUBLE (or use the binary protocol) to get the exact float32
    const myData = await myRows(`SELECT CAST(r AS DOUBLE) AS r, f8, j FROM golden ORDER BY id`)
    const [lossy] = await myRows(`SELECT r FROM golden WHERE id = 5`)
    expect([16777200, 16777216]).toContain(lossy.r) // MariaDB 10.11: 16777200
    const pgTexts = pgData.map((r) => canonicalRow(JS_ONLY.map((c) => normalisePg(r)[c.name]), types))
    const myTexts = myData.map((r) => canonicalRow(JS_ONLY.map((c) => normaliseMy(r)[c.name]), types))
    expect(myTexts).toEqual(pgTexts)
    expect(pgTexts[2]).toEqual(['0.1', '10000000000000000', '{"a":[1,2,"x"],"b":1}'])
    expect(pgTexts[3][2]).toBe('{"A":100,"aa":[],"b":true,"é":{"a":"x","z":null}}')
    expect(pgTexts[4][0]).toBe('16777216')
  })
})

// ---------------------------------------------------------------------------
// values only one engine can hold: SQL push-down must still equal JS on that engine

interface EdgeCol {
  name: string
  ddl: string
  type: ColumnType
}

async function sqlVsJs(
  dialect: 'postgres' | 'mysql',
  cols: EdgeCol[],
  rows: unknown[][],
  expected: (string | null)[][],
): Promise<void> {
  const q = dialect === 'postgres' ? (n: string) => `"${n}"` : (n: string) => `\`${n}\``
  const table = q('edge')
  const sqlCols = cols.map((c) => ({expr: q(c.name), type: c.type}))
  const types = cols.map((c) => c.type)
  const ddl = `CREATE TABLE ${table} (id integer PRIMARY KEY, ${cols.map((c) => `${q(c.name)} ${c.ddl}`).join(', ')})`
  const ph = (i: number) => (dialect === 'postgres' ? `$${i + 1}` : '?')
  const insert = `INSERT INTO ${table} VALUES (${[0, ...cols.map((_, i) => i + 1)].map(ph).join(', ')})`
  const run = async (sql: string, params?: unknown[]) =>
    dialect === 'postgres' ? (await pgc.query(sql, params)).rows : ((await myc.query(sql, params))[0] as Record<string, unknown>[])
  await run(ddl)
  for (const [i, r] of rows.entries()) await run(insert, [i + 1, ...r])
  const enc = sqlRowEncoding(dialect, sqlCols)!
  const hash = sqlRowHash(dialect, sqlCols)!
  const out = await run(`SELECT ${enc} AS e, ${hash} AS h, ${cols.map((c) => q(c.name)).join(', ')} FROM ${table} ORDER BY id`)
  const norm = (r: Record<string, unknown>) => {
    const v = cols.map((c) => r[c.name])
    return dialect === 'postgres' ? v.map((x, i) => (types[i].type === 'timestamptz' && typeof x === 'string' ? x.replace(/\+00$/, '') : x)) : v
  }
  const sqlTexts = out.map((r) => decodeRow(text(r.e)))
  const jsTexts = out.map((r) => canonicalRow(norm(r), types))
  expect(sqlTexts).toEqual(jsTexts)
  expect(jsTexts).toEqual(expected)
  expect(out.map((r) => text(r.h))).toEqual(out.map((r) => hashRow(norm(r), types)))
}

describe('engine-specific edge values: SQL push-down = JS', () => {
  it('PostgreSQL: infinities, BC, NaN numerics, 24:00, integers and booleans in other physical types, uuid as text', async () => {
    const cols: EdgeCol[] = [
      {name: 'd', ddl: 'date', type: {type: 'date'}},
      {name: 'ts', ddl: 'timestamp(6)', type: {type: 'timestamp'}},
      {name: 'tstz', ddl: 'timestamptz', type: {type: 'timestamptz'}},
      {name: 't', ddl: 'time', type: {type: 'time'}},
      {name: 'dn', ddl: 'numeric', type: {type: 'decimal'}},
      {name: 'dec', ddl: 'numeric(12,3)', type: {type: 'decimal', scale: 3}},
      {name: 'int_num', ddl: 'numeric(10,2)', type: {type: 'integer'}},
      {name: 'bool_int', ddl: 'smallint', type: {type: 'boolean'}},
      {name: 'u_text', ddl: 'text', type: {type: 'uuid'}},
      {name: 'ch', ddl: 'char(4)', type: {type: 'char'}},
      {name: 'vc', ddl: 'varchar', type: {type: 'varchar'}},
    ]
    const rows = [
      ['infinity', 'infinity', '-infinity', '24:00:00', 'NaN', 'NaN', '5.50', 2, '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}', '    ', 'a\u00a0b'],
      ['-infinity', '-infinity', 'infinity', '00:00:00.000001', 'Infinity', '-0.0004', '-7.00', 0, 'not a uuid é', 'é', '\r\n'],
      ['0044-03-15 BC', '0044-03-15 12:34:56.789 BC', '12345-06-07 08:09:10.5+00', '23:59:59.999999', '-Infinity', '1.0005', '0', 1, 'A0EEBC999C0B4EF8BB6D6BB9BD380A11', 'ab ', '𝄞'],
      ['2024-02-29', '2000-01-01 00:00:00', '2000-01-01 00:00:00+05:30', '12:00', '1e-20', '0.0005', '-0', -1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1', ' a', ''],
    ]
    await sqlVsJs('postgres', cols, rows, [
      ['infinity', 'infinity', '-infinity', '24:00:00.000000', 'NaN', 'NaN', '5.5', '1', UUID, '', 'a\u00a0b'],
      ['-infinity', '-infinity', 'infinity', '00:00:00.000001', 'Infinity', '0.000', '-7', '0', 'not a uuid é', 'é', '\r\n'],
      ['0044-03-15 BC', '0044-03-15 12:34:56.789000 BC', '12345-06-07 08:09:10.500000', '23:59:59.999999', '-Infinity', '1.001', '0', '1', UUID, 'ab', '𝄞'],
      ['2024-02-29', '2000-01-01 00:00:00.000000', '1999-12-31 18:30:00.000000', '12:00:00.000000', '0.00000000000000000001', '0.001', '0', '1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1', ' a', ''],
    ])
  })

  it('PostgreSQL database in LATIN1: text is hashed as UTF-8 all the same', async () => {
    const name = `${pgDb.name}_latin1`
    await pgc.query(`CREATE DATABASE "${name}" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`)
    const url = new URL(pgDb.url)
    url.pathname = `/${name}`
    const c = new pg.Client({connectionString: url.toString(), types: PG_TYPES})
    await c.connect()
    try {
      await c.query(`SET client_encoding = 'UTF8'`)
      await c.query(`CREATE TABLE l (id int, t text, ch char(3))`)
      await c.query(`INSERT INTO l VALUES (1, 'café ÿ', 'é')`)
      const cols = [{expr: 't', type: {type: 'text'} as ColumnType}, {expr: 'ch', type: {type: 'char'} as ColumnType}]
      const {rows} = await c.query(`SELECT ${sqlRowHash('postgres', cols)} AS h, t, ch FROM l`)
      expect(rows[0].h).toBe(hashRow([rows[0].t, rows[0].ch], cols.map((x) => x.type)))
      expect(rows[0].h).toBe(hashRow(['café ÿ', 'é'], cols.map((x) => x.type)))
    } finally {
      await c.end()
      await pgc.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    }
  })

  it('MariaDB: TIME beyond a day and negative, zero dates, BIT(1), latin1 text, native UUID, DECIMAL(65,30)', async () => {
    const cols: EdgeCol[] = [
      {name: 't', ddl: 'time(6)', type: {type: 'time'}},
      {name: 'd', ddl: 'date', type: {type: 'date'}},
      {name: 'ts', ddl: 'datetime(3)', type: {type: 'timestamp'}},
      {name: 'bit', ddl: 'bit(1)', type: {type: 'boolean'}},
      {name: 'lat', ddl: 'varchar(20) CHARACTER SET latin1', type: {type: 'text'}},
      {name: 'bin_ci', ddl: 'varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin', type: {type: 'varchar'}},
      {name: 'uu', ddl: 'uuid', type: {type: 'uuid'}},
      {name: 'ub', ddl: 'char(38)', type: {type: 'uuid'}},
      {name: 'big', ddl: 'decimal(65,30)', type: {type: 'decimal', scale: 30}},
      {name: 'dn', ddl: 'decimal(20,5)', type: {type: 'decimal'}},
      {name: 'int_dec', ddl: 'decimal(10,2)', type: {type: 'bigint'}},
      {name: 'ch', ddl: 'char(4)', type: {type: 'char'}},
    ]
    const rows = [
      ['838:59:59', '0000-00-00', '0000-00-00 00:00:00', 1, 'café', 'Ab ', UUID, `{${UUID.toUpperCase()}}`,
        '12345678901234567890123456789012345.123456789012345678901234567891', '-0.00000', '5.50', '  '],
      ['-00:00:01.5', '1000-01-01', '9999-12-31 23:59:59.999', 0, 'ÿ', '', '00000000-0000-0000-0000-000000000000', 'x',
        '-0.000000000000000000000000000001', '100.10000', '-3.00', 'é'],
      ['-838:59:59.999999', '2024-02-29', '2024-02-29 12:00:00.5', 1, '', '😀', UUID, 'é-uuid', '0', '0.00001', '0', 'ab'],
    ]
    await sqlVsJs('mysql', cols, rows, [
      ['838:59:59.000000', '0000-00-00', '0000-00-00 00:00:00.000000', '1', 'café', 'Ab ', UUID, UUID,
        '12345678901234567890123456789012345.123456789012345678901234567891', '0', '5.5', ''],
      ['-00:00:01.500000', '1000-01-01', '9999-12-31 23:59:59.999000', '0', 'ÿ', '', '00000000-0000-0000-0000-000000000000', 'x',
        '-0.000000000000000000000000000001', '100.1', '-3', 'é'],
      ['-838:59:59.999999', '2024-02-29', '2024-02-29 12:00:00.500000', '1', '', '😀', UUID, 'é-uuid', '0.000000000000000000000000000000', '0.00001', '0', 'ab'],
    ])
  })
})
