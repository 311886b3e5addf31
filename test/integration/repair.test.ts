/**
 * `repair` re-copies exactly the keys a diff found: planted differences →
 * diff → repair → a clean diff; `dryRun` changes nothing. Covered on a MariaDB
 * monolith with case-insensitive text keys (a near match is not the same key)
 * into PostgreSQL, and on PostgreSQL into MongoDB (FerretDB).
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runRepair} from '../../src/diff/repair.js'
import {runDiff} from '../../src/diff/run-diff.js'
import type {Workspace} from '../../src/workspace.js'
import {type FreshDatabase, freshMongo, freshMysql, freshPg} from '../helpers/db.js'
import {copyService, keys, openWorkspace, sqlOn, withEngine} from './diff-support.js'

describe('repair, MariaDB (case-insensitive keys) → PostgreSQL', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let ws: Workspace

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshMysql('rp_src'), freshPg('rp_dst')])
    const names = ['Apple', 'banana', 'Cherry', 'date ', ...Array.from({length: 300}, (_, i) => `fruit${i}`)]
    await sqlOn(
      src.url,
      `CREATE TABLE fruit (name varchar(40) PRIMARY KEY, price decimal(8,2), note text) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`,
      [`INSERT INTO fruit VALUES ${names.map(() => '(?, ?, ?)').join(', ')}`, names.flatMap((n, i) => [n, `${i}.50`, i % 5 ? `note ${i}` : null])],
    )
    ws = await openWorkspace({monolith: {url: src.url}, state: {url: dst.url}, services: {market: {target: {url: dst.url}, entities: [{source: 'fruit'}]}}})
    await copyService(ws, 'market')
    await sqlOn(
      dst.url,
      `DELETE FROM fruit WHERE name IN ('Apple', 'fruit150')`,
      `INSERT INTO fruit VALUES ('apple', 1, 'near match of Apple'), ('date', 2, 'PAD SPACE twin'), ('zzz', 3, NULL)`,
      `UPDATE fruit SET price = 99.99 WHERE name = 'Cherry'`,
      `UPDATE fruit SET note = 'changed' WHERE name = 'fruit299'`,
    )
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  it('dry run plans the work and changes nothing; repair makes the diff clean', async () => {
    const before = await runDiff(ws, {service: 'market', chunkRows: 40})
    const e = before.services[0].entities[0]
    expect(keys(e.missing)).toEqual(['Apple', 'fruit150'])
    expect(keys(e.extra)).toEqual(['apple', 'date', 'zzz'])
    expect(keys(e.changed.map((c) => c.key))).toEqual(['Cherry', 'fruit299'])

    const dry = await runRepair(ws, {service: 'market', dryRun: true})
    expect(dry.status).toBe('dry-run')
    expect(dry.fromDiff).toBe(before.runId)
    expect(dry.entities[0]).toMatchObject({keys: 7, upserts: 4, deletes: 3})
    const unchanged = await runDiff(ws, {service: 'market'})
    expect(unchanged.totals).toEqual(before.totals)

    const fixed = await runRepair(ws, {service: 'market', fromDiff: before.runId})
    expect(fixed.status).toBe('repaired')
    expect(fixed.entities[0]).toMatchObject({keys: 7, upserts: 4, deletes: 3, remaining: {missing: [], extra: [], changed: []}})
    const after = await runDiff(ws, {service: 'market', chunkRows: 40})
    expect(after.status).toBe('clean')
    expect(after.totals.rowsCompared).toBe(304)
    // the near matches are gone, the real keys are back
    const names = await withEngine(dst.url, (e) => e.sql!.query<{name: string}>(`SELECT name FROM fruit WHERE lower(name) IN ('apple', 'date', 'date ') ORDER BY name`))
    expect(names.map((n) => n.name)).toEqual(['Apple', 'date '])

    // a repair of a clean run has nothing to do
    expect((await runRepair(ws, {service: 'market'})).status).toBe('nothing-to-repair')
  })
})

describe('repair, PostgreSQL → MongoDB (FerretDB)', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let ws: Workspace

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshPg('rpm_src'), freshMongo('rpm_dst')])
    await sqlOn(src.url, `CREATE TABLE lines (order_id bigint, line_no int, qty int, PRIMARY KEY (order_id, line_no))`, `INSERT INTO lines SELECT o, l, o + l FROM generate_series(1, 100) o, generate_series(1, 3) l`)
    ws = await openWorkspace({monolith: {url: src.url}, services: {orders: {target: {url: dst.url}, entities: [{source: 'lines'}]}}})
    await copyService(ws, 'orders')
    const e = (await ws.entities('orders'))[0]
    const target = await ws.target('orders')
    await target.deleteKeys({table: e.target, key: e.targetKey, keys: [['1', 1], ['100', 3]], keyTypes: e.sourceKeyTypes})
    await target.upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows: [{order_id: '50', line_no: 9, qty: 0}, {order_id: '60', line_no: 2, qty: -1}]})
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  it('repairs composite keys in a document store', async () => {
    const before = await runDiff(ws, {service: 'orders', chunkRows: 50, leafRows: 5})
    expect(before.totals).toMatchObject({missing: 2, extra: 1, changed: 1})
    const fixed = await runRepair(ws, {service: 'orders'})
    expect(fixed).toMatchObject({status: 'repaired', totals: {keys: 4, upserts: 3, deletes: 1, remaining: 0}})
    expect((await runDiff(ws, {service: 'orders'})).status).toBe('clean')
  })
})
