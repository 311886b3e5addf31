/**
 * Golden diff: the same tricky rows, loaded independently into PostgreSQL,
 * MariaDB, PGlite and FerretDB, give a clean diff between every pair (MariaDB →
 * PostgreSQL, PostgreSQL → PostgreSQL, PGlite → PostgreSQL, MariaDB → MongoDB,
 * PostgreSQL → MongoDB), and the chunk checksums are identical whether computed
 * in SQL or streamed and hashed in JS, on either side.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {prepareComparison} from '../../src/diff/entity-diff.js'
import {runDiff} from '../../src/diff/run-diff.js'
import type {Engine} from '../../src/engines/engine.js'
import type {Row} from '../../src/engines/types.js'
import type {ResolvedEntity} from '../../src/mapping/entity-mapping.js'
import type {Workspace} from '../../src/workspace.js'
import {type FreshDatabase, freshMongo, freshMysql, freshPg} from '../helpers/db.js'
import {connectEngine} from '../../src/engines/connect.js'
import {openWorkspace, sqlOn} from './diff-support.js'

interface Col {
  name: string
  pg: string
  my: string
}

const COLS: Col[] = [
  {name: 'b', pg: 'boolean', my: 'tinyint(1)'},
  {name: 'i64', pg: 'bigint', my: 'bigint'},
  {name: 'dec', pg: 'numeric(20,2)', my: 'decimal(20,2)'},
  {name: 'txt', pg: 'text', my: 'text'},
  {name: 'vc', pg: 'varchar(50)', my: 'varchar(50)'},
  {name: 'd', pg: 'date', my: 'date'},
  {name: 'ts', pg: 'timestamp(6)', my: 'datetime(6)'},
  {name: 'tstz', pg: 'timestamptz(6)', my: 'timestamp(6) NULL DEFAULT NULL'},
  {name: 'u', pg: 'uuid', my: 'char(36)'},
  {name: 'bin', pg: 'bytea', my: 'varbinary(64)'},
  {name: 'j', pg: 'jsonb', my: 'json'},
  {name: 'f8', pg: 'double precision', my: 'double'},
]

type V = string | number | boolean | Buffer | null
const UUID = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'

/** The tricky rows; `j` is JSON text whose key order differs per copy. */
const ROWS: Record<string, V>[] = [
  {id: 1, ...Object.fromEntries(COLS.map((c) => [c.name, null]))},
  {id: 2, b: false, i64: '0', dec: '-0.00', txt: '', vc: 'NULL', d: '1970-01-01', ts: '1970-01-01 00:00:00', tstz: '1970-01-01 00:00:01', u: UUID, bin: Buffer.alloc(0), j: '{}', f8: 0},
  {id: 3, b: true, i64: '9223372036854775807', dec: '10000000000000000.00', txt: 'NULL', vc: '~', d: '9999-12-31', ts: '2024-02-29 23:59:59.999999', tstz: '2024-02-29 23:59:59.999999', u: UUID, bin: Buffer.from([0, 255, 16]), j: '{"b": 1, "a": [1.0, 2, "x"]}', f8: 1e16},
  {id: 4, b: true, i64: '9007199254740993', dec: '-12.50', txt: 'line1\nline2\t"q" \\ é', vc: 'trailing  ', d: '0001-01-01', ts: '1000-01-01 00:00:00.000001', tstz: '2038-01-19 03:14:07.123456', u: UUID, bin: Buffer.from('héllo'), j: '{"é": {"z": null, "a": "x"}, "A": 1e2, "aa": []}', f8: 0.30000000000000004},
  {id: 5, b: true, i64: '-9007199254740993', dec: '0.05', txt: 'héllo 😀 世界  ', vc: ' ', d: '2000-02-29', ts: '2000-01-01 00:00:00.5', tstz: '2000-01-01 00:00:00', u: UUID, bin: Buffer.from('😀'), j: '[1, {"y": 1, "x": [true, null]}, "😀"]', f8: -1.5e-7},
  {id: 6, b: false, i64: '42', dec: '1.00', txt: ' leading', vc: 'Émoji 😀', d: '2024-01-01', ts: '2024-01-01 12:34:56.000001', tstz: '2024-01-01 12:34:56.000999', u: '00000000-0000-0000-0000-000000000000', bin: Buffer.from([0]), j: '12.50', f8: 1.7976931348623157e308},
]

/** The same JSON with its object keys in another order (what a copy may store). */
function reorderJson(text: V): V {
  if (typeof text !== 'string') return text
  const flip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(flip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, flip(x)])) : v
  return JSON.stringify(flip(JSON.parse(text)))
}

const pgDdl = `CREATE TABLE golden (id integer PRIMARY KEY, ${COLS.map((c) => `"${c.name}" ${c.pg}`).join(', ')})`
const pgInsert: [string, unknown[]] = [
  `INSERT INTO golden VALUES ${ROWS.map((_, r) => `(${[0, ...COLS.map((__, i) => i + 1)].map((i) => `$${r * (COLS.length + 1) + i + 1}`).join(', ')})`).join(', ')}`,
  ROWS.flatMap((row) => [row.id, ...COLS.map((c) => row[c.name])]),
]
const myDdl = `CREATE TABLE golden (id int PRIMARY KEY, ${COLS.map((c) => `\`${c.name}\` ${c.my}`).join(', ')}) CHARACTER SET utf8mb4`
const myInsert: [string, unknown[]] = [
  `INSERT INTO golden VALUES ${ROWS.map(() => `(${['?', ...COLS.map(() => '?')].join(', ')})`).join(', ')}`,
  ROWS.flatMap((row) => [row.id, ...COLS.map((c) => row[c.name])]),
]

const PUSHABLE = COLS.filter((c) => c.name !== 'j' && c.name !== 'f8').map((c) => c.name)

function plan(monolith: string, target: string, state?: string) {
  return {
    monolith: {url: monolith},
    ...(state ? {state: {url: state}} : {}),
    services: {
      g: {
        target: {url: target},
        entities: [
          {source: 'golden', target: 'golden_sql', columns: Object.fromEntries([['id', 'id'], ...PUSHABLE.map((c) => [c, c])])},
          {source: 'golden', target: 'golden_js', columns: {id: 'id', j: 'j', f8: 'f8'}},
        ],
      },
    },
  }
}

/** Loads the rows into the service store independently of the source: SQL inserts, or the MongoDB adapter with value-model rows. */
async function loadTarget(ws: Workspace): Promise<void> {
  const target = await ws.target('g')
  for (const e of await ws.entities('g')) {
    await target.createTarget(e.targetSpec)
    const names = e.columns.map((c) => c.name)
    if (target.sql) {
      const sql = target.sql
      const params: unknown[] = []
      const values = ROWS.map((row) => `(${names.map((n) => (params.push(n === 'j' ? reorderJson(row[n]) : row[n]), sql.param(params.length))).join(', ')})`)
      await sql.execute(`INSERT INTO ${sql.quoteTable(e.target)} (${names.map((n) => sql.quoteId(n)).join(', ')}) VALUES ${values.join(', ')}`, params)
    } else {
      const rows: Row[] = ROWS.map((row) => Object.fromEntries(names.map((n) => [n, n === 'j' && typeof row.j === 'string' ? JSON.parse(reorderJson(row.j) as string) : row[n]])))
      await target.upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows})
    }
  }
}

async function checksums(e: ResolvedEntity, monolith: Engine, target: Engine) {
  const pushed = await prepareComparison(e, monolith, target)
  const streamed = await prepareComparison(e, monolith, target, {streaming: true})
  const range = {after: [1], upTo: [6]}
  return {
    mode: pushed.strategy.mode,
    sourcePushed: await pushed.source.checksum(range),
    sourceStreamed: await streamed.source.checksum(range),
    targetPushed: await pushed.target.checksum(range),
    targetStreamed: await streamed.target.checksum(range),
  }
}

describe('golden rows: a clean diff between every pair of engines', () => {
  const dbs: FreshDatabase[] = []
  const pglite = `pglite://memory/golden_${process.pid}`
  let pgSrc: FreshDatabase
  let mySrc: FreshDatabase
  const sourceChecksums = new Map<string, unknown>()
  // an in-memory PGlite lives as long as someone holds it open
  let pgliteHold: Engine | undefined

  beforeAll(async () => {
    ;[pgSrc, mySrc] = await Promise.all([freshPg('dg_src'), freshMysql('dg_src')])
    dbs.push(pgSrc, mySrc)
    await sqlOn(pgSrc.url, pgDdl, pgInsert)
    await sqlOn(mySrc.url, myDdl, myInsert)
  })
  afterAll(async () => {
    await pgliteHold?.close()
    await Promise.all(dbs.map((d) => d.drop()))
  })

  const pairs: {name: string; source: () => string; target: () => Promise<FreshDatabase>; pushed: boolean; setup?: () => Promise<void>}[] = [
    {name: 'MariaDB → PostgreSQL', source: () => mySrc.url, target: () => freshPg('dg_t1'), pushed: true},
    {name: 'PostgreSQL → PostgreSQL', source: () => pgSrc.url, target: () => freshPg('dg_t2'), pushed: true},
    {name: 'PGlite → PostgreSQL', source: () => pglite, target: () => freshPg('dg_t3'), pushed: true, setup: async () => {
      pgliteHold = await connectEngine(pglite)
      await sqlOn(pglite, pgDdl, pgInsert)
    }},
    {name: 'MariaDB → MongoDB', source: () => mySrc.url, target: () => freshMongo('dg_t4'), pushed: false},
    {name: 'PostgreSQL → MongoDB', source: () => pgSrc.url, target: () => freshMongo('dg_t5'), pushed: false},
  ]

  for (const pair of pairs) {
    it(`${pair.name}: clean in push-down and streaming mode, with identical checksums`, async () => {
      const target = await pair.target()
      dbs.push(target)
      let ws: Workspace | undefined
      try {
        await pair.setup?.()
        // the control plane in a PostgreSQL database of its own (MongoDB cannot hold it)
        const state = await freshPg('dg_state')
        dbs.push(state)
        ws = await openWorkspace(plan(pair.source(), target.url, state.url))
        await loadTarget(ws)

        const r = await runDiff(ws, {service: 'g', chunkRows: 2})
        const [sqlE, jsE] = r.services[0].entities
        expect(sqlE, JSON.stringify(sqlE, null, 1)).toMatchObject({status: 'clean', mode: pair.pushed ? 'push-down' : 'mixed', rowsSource: ROWS.length, rowsTarget: ROWS.length})
        expect(jsE, JSON.stringify(jsE, null, 1)).toMatchObject({status: 'clean', mode: 'streaming', rowsSource: ROWS.length, rowsTarget: ROWS.length})
        expect(sqlE.chunks).toBeGreaterThanOrEqual(3)
        const s = await runDiff(ws, {service: 'g', chunkRows: 4, streaming: true})
        expect(s.status).toBe('clean')
        expect(s.services[0].entities.map((e) => e.mode)).toEqual(['streaming', 'streaming'])

        const e = (await ws.entities('g'))[0]
        const c = await checksums(e, ws.monolith, await ws.target('g'))
        expect(c.sourcePushed.count).toBe(5)
        expect(c.sourceStreamed).toEqual(c.sourcePushed)
        expect(c.targetStreamed).toEqual(c.sourcePushed)
        if (pair.pushed) {
          expect(c.targetPushed).toEqual(c.sourcePushed)
          // at microsecond precision every engine's source gives the same checksum
          sourceChecksums.set(pair.name, c.sourcePushed)
          expect([...new Set([...sourceChecksums.values()].map((x) => JSON.stringify(x)))]).toHaveLength(1)
        }
      } finally {
        await ws?.close()
      }
    })
  }
})
