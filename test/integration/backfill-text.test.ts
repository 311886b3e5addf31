/**
 * The backfill's text fast path (MariaDB encodes each row as a COPY line,
 * PostgreSQL loads the lines as they are) against the row path on the same
 * source: a table with every logical type and the values that trip text
 * formats up (tabs, newlines, backslashes, the text `\N`, emoji, a latin1
 * column, JSON with escapes, binary with every byte, lines longer than a
 * read block, extreme numbers) ends
 * identical both ways; a re-copy over rows already in the target (after a
 * crash) merges like the upsert; a rename is still a plain copy, a cast is not.
 */
import {randomUUID} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runBackfill} from '../../src/backfill/backfill.js'
import {textCopyPlan} from '../../src/backfill/data-iterator.js'
import {configSchema, type PlanInput} from '../../src/config/schema.js'
import {openEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import type {TextBatch} from '../../src/engines/row-text.js'
import type {Row} from '../../src/engines/types.js'
import type {ResolvedEntity} from '../../src/mapping/entity-mapping.js'
import {deleteCheckpoints} from '../../src/state/checkpoints.js'
import {Workspace} from '../../src/workspace.js'
import {freshMysql, freshPg, type FreshDatabase} from '../helpers/db.js'
import {appDb, type AppDb} from './relay-setup.js'

const SERVICE = 'kinds'
const ROWS = 3000

const DDL = `CREATE TABLE kinds (
  id bigint NOT NULL, tag varchar(20) NOT NULL,
  flag tinyint(1) NULL, small smallint NULL, num int NULL, unum int unsigned NULL, big bigint NULL, ubig bigint unsigned NULL,
  amount decimal(14,4) NULL, f float NULL, d double NULL,
  name varchar(100) NULL, code char(3) NULL, body text NULL, latin varchar(50) CHARACTER SET latin1 NULL,
  day date NULL, tod time(3) NULL, at datetime(6) NULL, at0 datetime NULL, ts timestamp(3) NULL DEFAULT NULL,
  doc JSON NULL, uid uuid NULL, pic mediumblob NULL, bin binary(4) NULL,
  PRIMARY KEY (id, tag)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

const TEXTS = ['plain', '', 'tab\there', 'line\nbreak', 'cr\rreturn', 'back\\slash', '\\N', 'N', 'trailing\\', 'emoji 🚀 ✓', 'mixed\t\\n\r\n\\\\', ' spaces ']
const FLOATS = [0, 0.1, -1.5, 1e-7, 3.4e38, 123456.7]
const DOUBLES = [0, 0.1 + 0.2, -1e300, 5e-324, 1234567890.123456, 2 ** 53]

function row(i: number): unknown[] {
  const nul = (v: unknown): unknown => (i % 17 === 0 ? null : v)
  const bytes = Buffer.from(Array.from({length: i % 300}, (_, j) => (i + j) % 256))
  return [
    Math.floor(i / 3),
    ['a', 'B', 'ñ'][i % 3],
    nul(i % 2 === 0),
    nul((i % 65535) - 32768),
    nul(i * 7919 - 2_000_000_000 > 2_147_483_647 ? 2_147_483_647 : i * 7919 - 2_000_000_000),
    nul(4_294_967_295 - i),
    nul(i % 2 ? '9223372036854775807' : `-${i}000000000000`),
    nul(i % 2 ? '18446744073709551615' : String(i)),
    nul(`${i % 2 ? '-' : ''}${i}.${String(i % 10000).padStart(4, '0')}`),
    nul(FLOATS[i % FLOATS.length]),
    nul(DOUBLES[i % DOUBLES.length]),
    nul(`${TEXTS[i % TEXTS.length]} #${i}`),
    nul(['', 'x', 'a\tb', 'é'][i % 4]),
    nul(TEXTS[(i * 7) % TEXTS.length].repeat(1 + (i % 5))),
    nul(['Größe café', 'naïve', 'tab\tlatin', ''][i % 4]),
    nul(`20${String(10 + (i % 20))}-0${1 + (i % 9)}-1${i % 10}`),
    nul(`${String(i % 24).padStart(2, '0')}:34:56.${String(i % 1000).padStart(3, '0')}`),
    nul(`2024-05-0${1 + (i % 9)} 12:34:56.${String(i * 37 % 1000000).padStart(6, '0')}`),
    nul(`1999-12-31 23:59:${String(i % 60).padStart(2, '0')}`),
    nul(`2021-01-01 00:00:0${i % 10}.${String(i % 1000).padStart(3, '0')}`),
    nul(JSON.stringify({i, s: TEXTS[i % TEXTS.length], q: 'say "hi"\\', n: [1.5, null, true], u: 'größe 🚀', nested: {deep: {a: [i]}}})),
    nul(`${i.toString(16).padStart(8, '0')}-ABCD-4EF0-8123-${(i * 7919).toString(16).padStart(12, '0')}`.toUpperCase()),
    nul(i % 11 === 0 ? Buffer.alloc(0) : i % 1000 === 999 ? Buffer.alloc(400_000, i % 256) : bytes),
    nul(Buffer.from([i % 256, 0, 9, 255])),
  ]
}

let source: FreshDatabase
let viaText: FreshDatabase
let viaRows: FreshDatabase
let app: AppDb
let ws: Workspace
let textTarget: Engine
let rowTarget: Engine
let entity: ResolvedEntity
const textBatches: TextBatch[] = []

/** The target adapter with its text path counted. */
function countingText(e: Engine): Engine {
  return Object.create(e, {
    bulkLoadText: {
      value: async (b: TextBatch): Promise<number> => {
        textBatches.push(b)
        return e.bulkLoadText!(b)
      },
    },
  }) as Engine
}

/** The target adapter without a text path: the backfill reads rows and maps them in JavaScript. */
function rowsOnly(e: Engine): Engine {
  return Object.create(e, {rowTextFormat: {value: () => undefined}}) as Engine
}

async function targetRows(e: Engine): Promise<Row[]> {
  return e.readRange({table: entity.target, key: entity.targetKey, columns: entity.targetProjections})
}

beforeAll(async () => {
  source = await freshMysql('txtsrc')
  viaText = await freshPg('txttgt')
  viaRows = await freshPg('rowtgt')
  app = await appDb(source.url)
  await app.exec(DDL)
  for (let start = 1; start <= ROWS; start += 300) {
    const part = Array.from({length: 300}, (_, j) => row(start + j))
    await app.exec(`INSERT INTO kinds VALUES ${part.map((r) => `(${r.map(() => '?').join(', ')})`).join(', ')}`, part.flat())
  }
  const plan: PlanInput = {monolith: {url: source.url}, services: {[SERVICE]: {target: {url: viaText.url}, isolation: 'own-server', entities: [{source: 'kinds'}]}}}
  ws = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
  await ws.state.migrate()
  ;[entity] = await ws.entities(SERVICE)
  textTarget = countingText(await ws.target(SERVICE))
  rowTarget = rowsOnly(await openEngine(viaRows.url))
  for (const t of [textTarget, rowTarget]) await t.createTarget(entity.targetSpec)
})

afterAll(async () => {
  await app?.close().catch(() => undefined)
  await rowTarget?.close().catch(() => undefined)
  await ws?.close().catch(() => undefined)
  for (const d of [source, viaText, viaRows]) await d?.drop().catch(() => undefined)
})

describe('backfill text fast path (MariaDB → PostgreSQL)', () => {
  it('writes the same rows as the row path, for every logical type and the awkward values', async () => {
    expect(textCopyPlan(ws.monolith, textTarget, entity)).toBeDefined()
    expect(textCopyPlan(ws.monolith, rowTarget, entity)).toBeUndefined()

    const t = await runBackfill(ws, textTarget, [entity], {parallel: 3, chunkRows: 100})
    expect(t.rowsCopied).toBe(ROWS)
    // each range's first page is read as rows (it decides whether rows are narrow enough for text), the rest as text
    const viaTextRows = textBatches.reduce((a, b) => a + b.rows, 0)
    expect(viaTextRows).toBeGreaterThan(ROWS / 2)
    expect(viaTextRows).toBeLessThan(ROWS)
    await deleteCheckpoints(ws.state, SERVICE)
    const r = await runBackfill(ws, rowTarget, [entity], {parallel: 3, chunkRows: 400})
    expect(r.rowsCopied).toBe(ROWS)
    await deleteCheckpoints(ws.state, SERVICE)

    const a = await targetRows(textTarget)
    const b = await targetRows(rowTarget)
    expect(a.length).toBe(ROWS)
    expect(a).toEqual(b)

    // spot checks against the source, value by value
    const byKey = new Map(a.map((x) => [`${x.id}/${x.tag}`, x]))
    for (const i of [1, 3, 5, 6, 7, 10, 11, 17, 22, 34, 299, 999, 1999]) {
      const src = row(i)
      const got = byKey.get(`${src[0]}/${src[1]}`)!
      expect(got, `row ${i}`).toBeDefined()
      if (i % 17 === 0) {
        expect(got.name).toBeNull()
        expect(got.doc).toBeNull()
        expect(got.pic).toBeNull()
        continue
      }
      expect(got.name).toBe(src[11])
      expect(got.body).toBe(src[13])
      expect(got.latin).toBe(src[14])
      expect(got.flag).toBe(src[2])
      expect(got.ubig).toBe(src[7])
      expect(got.doc).toEqual(JSON.parse(String(src[20])))
      expect(got.uid).toBe(String(src[21]).toLowerCase())
      expect(Buffer.compare(got.pic as Buffer, src[22] as Buffer)).toBe(0)
      expect(Buffer.compare(got.bin as Buffer, src[23] as Buffer)).toBe(0)
    }
    // the text `\N` is text, not NULL
    expect(a.filter((x) => typeof x.name === 'string' && x.name.startsWith('\\N #')).length).toBeGreaterThan(0)
  })

  it('re-copies over rows already in the target (a crash before the checkpoint) with the upsert result', async () => {
    const tgt = await appDb(viaText.url)
    try {
      await tgt.exec(`UPDATE kinds SET name = 'stale', doc = '{"stale": true}' WHERE id < 100`)
      await tgt.exec(`DELETE FROM kinds WHERE id >= 500 AND id < 520`)
    } finally {
      await tgt.close()
    }
    textBatches.length = 0
    const res = await runBackfill(ws, textTarget, [entity], {parallel: 2, chunkRows: 1000})
    expect(res.rowsCopied).toBe(ROWS)
    expect(textBatches.length).toBeGreaterThan(0)
    await deleteCheckpoints(ws.state, SERVICE)
    expect(await targetRows(textTarget)).toEqual(await targetRows(rowTarget))
  })

  it('takes the text path for a rename, not for a cast', async () => {
    const renamed = configSchema.parse({
      monolith: {url: source.url},
      services: {
        a: {target: {url: viaText.url}, entities: [{source: 'kinds', target: 'renamed', columns: {id: 'id', label: 'tag', title: 'name'}}]},
        b: {target: {url: viaText.url}, entities: [{source: 'kinds', target: 'cast', columns: {id: 'id', tag: 'tag', num: {from: 'num', cast: 'text'}}}]},
      },
    })
    const w = await Workspace.open(renamed, {runId: randomUUID()})
    try {
      const [ren] = await w.entities('a')
      const [cast] = await w.entities('b')
      const plan = textCopyPlan(w.monolith, textTarget, ren)
      expect(plan?.columns.map((c) => [c.name, c.column])).toEqual([
        ['id', 'id'],
        ['label', 'tag'],
        ['title', 'name'],
      ])
      expect(textCopyPlan(w.monolith, textTarget, cast)).toBeUndefined()
    } finally {
      await w.close()
    }
  })
})
