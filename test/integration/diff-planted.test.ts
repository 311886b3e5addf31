/**
 * Planted differences are found exactly — none missed, none invented — across
 * engines and modes, with chunks small enough that bisection does the work:
 * missing, extra and changed rows in the first and the last chunk, adjacent
 * keys, composite keys, and mixed-case text keys from a MariaDB source with a
 * case-insensitive, PAD SPACE collation.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {lastDiff, runDiff} from '../../src/diff/run-diff.js'
import {loadKeys} from '../../src/diff/diff-store.js'
import type {Workspace} from '../../src/workspace.js'
import {type FreshDatabase, freshMongo, freshMysql, freshPg} from '../helpers/db.js'
import {copyService, keys, openWorkspace, sqlOn, withEngine} from './diff-support.js'

const N = 3000

describe('planted differences, PostgreSQL → PostgreSQL', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let ws: Workspace

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshPg('dp_src'), freshPg('dp_dst')])
    await sqlOn(
      src.url,
      `CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(10,2), at timestamp(6), flag boolean, secret text)`,
      `INSERT INTO items SELECT g, 'item ' || g, g * 1.25, timestamp '2024-01-01 00:00:00' + g * interval '1.000001 second', g % 3 = 0, 'pw' || g FROM generate_series(1, ${N}) g`,
      `CREATE TABLE lines (order_id bigint, line_no integer, qty integer, PRIMARY KEY (order_id, line_no))`,
      `INSERT INTO lines SELECT o, l, o * l FROM generate_series(1, 300) o, generate_series(1, 5) l`,
    )
    ws = await openWorkspace({
      monolith: {url: src.url},
      services: {
        shop: {
          target: {url: dst.url},
          entities: [
            {source: 'items', columns: {id: 'id', title: 'name', price: 'price', at: 'at', flag: 'flag', secret: 'secret'}, sensitive: ['secret']},
            {source: 'lines'},
          ],
        },
      },
    })
    await copyService(ws, 'shop')
    await sqlOn(
      dst.url,
      // missing in the target: first and last rows, two adjacent keys
      `DELETE FROM items WHERE id IN (1, ${N}, 1500, 1501)`,
      // extra in the target: below the first key, beyond the last, and in the middle
      `INSERT INTO items (id, title, price) VALUES (-5, 'ghost', 1), (${N + 100}, 'ghost', 2)`,
      // changed: in the first and last chunk, adjacent, a NULL that was a value, a masked column
      `UPDATE items SET title = 'renamed' WHERE id = 2`,
      `UPDATE items SET price = price + 0.01 WHERE id = ${N - 1}`,
      `UPDATE items SET at = at + interval '1 microsecond' WHERE id IN (1502, 1503)`,
      `UPDATE items SET flag = NULL WHERE id = 2100`,
      `UPDATE items SET secret = 'leaked' WHERE id = 2200`,
      // composite keys: one missing, one extra, one changed, adjacent
      `DELETE FROM lines WHERE order_id = 150 AND line_no = 3`,
      `INSERT INTO lines VALUES (150, 6, 0)`,
      `UPDATE lines SET qty = -1 WHERE order_id = 151 AND line_no = 1`,
    )
    await sqlOn(src.url, `DELETE FROM items WHERE id = 1700`)
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  for (const streaming of [false, true]) {
    it(`finds exactly the planted keys (${streaming ? 'streaming' : 'push-down'})`, async () => {
      const r = await runDiff(ws, {service: 'shop', chunkRows: 250, leafRows: 20, streaming})
      expect(r.status).toBe('differences')
      const items = r.services[0].entities.find((e) => e.entity === 'items')!
      expect(items.mode).toBe(streaming ? 'streaming' : 'push-down')
      expect(keys(items.missing)).toEqual(keys([[1], [N], [1500], [1501]]))
      expect(keys(items.extra)).toEqual(keys([[-5], [N + 100], [1700]]))
      expect(keys(items.changed.map((c) => c.key))).toEqual(keys([[2], [N - 1], [1502], [1503], [2100], [2200]]))
      expect(items.chunks).toBeGreaterThan(10)
      expect(items.rowsSource).toBe(N - 1)
      expect(items.rowsTarget).toBe(N - 4 + 3 - 1)
      const byKey = new Map(items.changed.map((c) => [String(c.key[0]), c.columns]))
      expect(byKey.get('2')).toEqual([{name: 'title', source: 'item 2', target: 'renamed'}])
      expect(byKey.get(String(N - 1))).toEqual([{name: 'price', source: `${((N - 1) * 1.25).toFixed(2)}`, target: `${((N - 1) * 1.25 + 0.01).toFixed(2)}`}])
      expect(byKey.get('1502')).toEqual([{name: 'at', source: '2024-01-01 00:25:02.001502', target: '2024-01-01 00:25:02.001503'}])
      expect(byKey.get('2100')).toEqual([{name: 'flag', source: '1', target: null}])
      expect(byKey.get('2200')).toEqual([{name: 'secret', source: '********', target: '********'}])
      expect(JSON.stringify(r)).not.toContain('leaked')

      const lines = r.services[0].entities.find((e) => e.entity === 'lines')!
      expect(keys(lines.missing)).toEqual(['(150,3)'])
      expect(keys(lines.extra)).toEqual(['(150,6)'])
      expect(lines.changed).toEqual([{key: ['151', 1], columns: [{name: 'qty', source: '151', target: '-1'}]}])
      expect(r.totals).toMatchObject({missing: 5, extra: 4, changed: 7})

      // every differing key is recorded for repair
      const stored = await loadKeys(ws.state, r.runId, 'shop', 'items')
      expect(stored.filter((k) => k.kind === 'missing').map((k) => k.key)).toHaveLength(4)
      expect(stored.filter((k) => k.kind === 'changed').find((k) => String(k.key[0]) === '2')?.columns).toEqual([{name: 'title', source: 'item 2', target: 'renamed'}])
    })
  }

  it('a clean entity is clean, and --max-keys caps the lists but not the counts', async () => {
    const r = await runDiff(ws, {service: 'shop', entities: ['items'], chunkRows: 400, maxKeys: 2})
    const items = r.services[0].entities[0]
    expect(items.counts).toEqual({missing: 4, extra: 3, changed: 6})
    expect(items.missing).toHaveLength(2)
    expect(items.truncated).toBe(true)
  })
})

describe('planted differences, MariaDB (case-insensitive, PAD SPACE text keys) → PostgreSQL', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let ws: Workspace
  const special = ['Apple', 'apricot', 'BANANA', 'banjo', 'Zed', 'zebra', 'éclair', 'trail ', 'Trail2', 'mIxEd']

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshMysql('dpm_src'), freshPg('dpm_dst')])
    const names = [...special, ...Array.from({length: 600}, (_, i) => `${i % 2 ? 'k' : 'K'}${String(i).padStart(4, '0')}`)]
    await sqlOn(
      src.url,
      `CREATE TABLE tags (name varchar(50) COLLATE utf8mb4_general_ci PRIMARY KEY, n int, note text) CHARACTER SET utf8mb4`,
      [`INSERT INTO tags VALUES ${names.map(() => '(?, ?, ?)').join(', ')}`, names.flatMap((n, i) => [n, i, `note ${n}`])],
    )
    // the control plane in PostgreSQL: the MariaDB monolith stays untouched
    ws = await openWorkspace({monolith: {url: src.url}, state: {url: dst.url}, services: {tags: {target: {url: dst.url}, entities: [{source: 'tags'}]}}})
    await copyService(ws, 'tags')
    await sqlOn(
      dst.url,
      `DELETE FROM tags WHERE name IN ('Apple', 'éclair')`,
      `INSERT INTO tags VALUES ('apple', 1, 'x'), ('trail', 2, 'y')`,
      `UPDATE tags SET n = -1 WHERE name = 'Zed'`,
      `UPDATE tags SET note = 'NOTE zebra' WHERE name = 'zebra'`,
      `UPDATE tags SET note = NULL WHERE name = 'K0002'`,
    )
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  for (const streaming of [false, true]) {
    it(`finds exactly the planted keys, compared bytewise (${streaming ? 'streaming' : 'push-down'})`, async () => {
      const r = await runDiff(ws, {service: 'tags', chunkRows: 50, leafRows: 8, streaming})
      const e = r.services[0].entities[0]
      expect(e.mode).toBe(streaming ? 'streaming' : 'push-down')
      expect(keys(e.missing)).toEqual(['Apple', 'éclair'])
      expect(keys(e.extra)).toEqual(['apple', 'trail'])
      expect(keys(e.changed.map((c) => c.key))).toEqual(['K0002', 'Zed', 'zebra'])
      expect(e.changed.find((c) => c.key[0] === 'K0002')!.columns).toEqual([{name: 'note', source: 'note K0002', target: null}])
      expect(e.rowsSource).toBe(610)
      expect(e.rowsTarget).toBe(610)
    })
  }
})

describe('planted differences, PostgreSQL → MongoDB (FerretDB), mixed mode', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let ws: Workspace

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshPg('dpg_src'), freshMongo('dpg_dst')])
    await sqlOn(
      src.url,
      `CREATE TABLE events (id integer PRIMARY KEY, kind varchar(20), at timestamp(6), amount numeric(12,2))`,
      `INSERT INTO events SELECT g, 'kind' || (g % 7), timestamp '2024-03-01 12:00:00.123456' + g * interval '1.5 second', g * 0.5 FROM generate_series(1, 1200) g`,
    )
    ws = await openWorkspace({monolith: {url: src.url}, services: {ev: {target: {url: dst.url}, entities: [{source: 'events'}]}}})
    await copyService(ws, 'ev')
    const e = (await ws.entities('ev'))[0]
    const target = await ws.target('ev')
    await target.deleteKeys({table: e.target, key: e.targetKey, keys: [[1], [1200], [600]], keyTypes: e.sourceKeyTypes})
    await target.upsert({
      table: e.target,
      key: e.targetKey,
      columns: e.targetSpec.columns,
      rows: [
        {id: 5000, kind: 'extra', at: null, amount: '1.00'},
        {id: 2, kind: 'kind2', at: '2024-03-01 12:00:03.124', amount: '1.00'},
        {id: 1199, kind: 'changed', at: '2024-03-01 12:29:58.623', amount: '599.50'},
      ],
    })
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  it('compares timestamps at millisecond precision and finds exactly the planted keys', async () => {
    const r = await runDiff(ws, {service: 'ev', chunkRows: 100, leafRows: 10})
    const e = r.services[0].entities[0]
    expect(e.mode).toBe('mixed')
    expect(keys(e.missing)).toEqual(['1', '1200', '600'])
    expect(keys(e.extra)).toEqual(['5000'])
    expect(e.changed).toEqual([
      {key: [2], columns: [{name: 'at', source: '2024-03-01 12:00:03.123000', target: '2024-03-01 12:00:03.124000'}]},
      {key: [1199], columns: [{name: 'kind', source: 'kind2', target: 'changed'}]},
    ])
  })
})

describe('mapping transforms and sampling, PostgreSQL → PostgreSQL', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let ws: Workspace

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshPg('dpt_src'), freshPg('dpt_dst')])
    await sqlOn(
      src.url,
      `CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL, cents integer NOT NULL, price numeric(10,3) NOT NULL, at timestamp(6))`,
      `INSERT INTO products SELECT g, 'Product ' || g, g * 10, g * 1.005, timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 1000) g`,
    )
    ws = await openWorkspace({
      monolith: {url: src.url},
      services: {
        cat: {
          target: {url: dst.url},
          entities: [
            // SQL expression, widening cast, constant: pushed down on both sides
            {source: 'products', target: 'p_sql', columns: {id: 'id', title: {sql: 'upper(name)', type: 'text'}, cents: {from: 'cents', cast: 'bigint'}, origin: {const: 'monolith', type: 'varchar(16)'}, at: 'at'}},
            // a JS transform and a rounding cast: the monolith side is hashed in JS (mixed mode)
            {source: 'products', target: 'p_js', columns: {id: 'id', slug: {js: (r: Record<string, unknown>) => `p-${String(r.id)}`, type: 'text', uses: ['id']}, price: {from: 'price', cast: 'decimal(10,1)'}}},
          ],
        },
      },
    })
    await copyService(ws, 'cat')
    await sqlOn(dst.url, `UPDATE p_sql SET title = 'Product 500' WHERE id = 500`, `UPDATE p_js SET slug = 'p-x' WHERE id = 7`, `UPDATE p_js SET price = price + 0.1 WHERE id = 999`)
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  it('compares SQL expressions, casts, constants and JS transforms exactly', async () => {
    const r = await runDiff(ws, {service: 'cat', chunkRows: 100, leafRows: 10})
    const [pSql, pJs] = r.services[0].entities
    expect(pSql.mode).toBe('push-down')
    expect(pSql.changed).toEqual([{key: [500], columns: [{name: 'title', source: 'PRODUCT 500', target: 'Product 500'}]}])
    expect(pJs.mode).toBe('mixed')
    expect(pJs.notes.join(' ')).toMatch(/JS column transforms/)
    expect(pJs.changed.map((c) => c.key)).toEqual([[7], [999]])
    expect(pJs.changed[1].columns).toEqual([{name: 'price', source: '1004.0', target: '1004.1'}])
  })

  it('--sample compares a part of the chunks and never records a clean gate', async () => {
    const r = await runDiff(ws, {service: 'cat', entities: ['p_sql'], chunkRows: 50, samplePct: 40})
    const e = r.services[0].entities[0]
    expect(r.samplePct).toBe(40)
    expect(e.chunks).toBe(21)
    // each chunk is left out with probability 0.6 (deterministic per run id)
    expect(e.chunksSkipped).toBeGreaterThan(0)
    expect(e.chunksSkipped).toBeLessThan(21)
    expect(e.rowsSource).toBeLessThan(1000)
    // whatever it found is real
    for (const c of e.changed) expect(c.key).toEqual([500])
    await sqlOn(dst.url, `UPDATE p_sql SET title = 'PRODUCT 500' WHERE id = 500`)
    const clean = await runDiff(ws, {service: 'cat', entities: ['p_sql'], chunkRows: 50, samplePct: 40})
    expect(clean.status).toBe('clean')
    expect((await lastDiff(ws, 'cat'))?.status).toBe('sample-clean')
  })
})
