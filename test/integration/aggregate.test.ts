/**
 * Aggregates: catalog documents assembled from five monolith tables
 * (products, their category and its parent category looked up, variants with
 * their own attributes embedded two levels deep, product attributes as a
 * keyed sub-document), backfilled and kept up to date by the relay while an
 * application writes to every participating table; then the changes that
 * move data between roots, and differences planted deep inside documents.
 */
import {randomUUID} from 'node:crypto'
import {afterAll, describe, expect, it} from 'vitest'
import {Relay} from '../../src/capture/relay.js'
import {configSchema, type PlanInput} from '../../src/config/schema.js'
import {runRepair} from '../../src/diff/repair.js'
import {runDiff} from '../../src/diff/run-diff.js'
import type {Row} from '../../src/engines/types.js'
import {runShadow} from '../../src/phases/shadow.js'
import {Workspace} from '../../src/workspace.js'
import {freshMongo, freshMysql, freshPg, type FreshDatabase} from '../helpers/db.js'
import {appDb, type AppDb} from './relay-setup.js'

/** `pgl-my`: PostgreSQL with logical capture (the root table published, related tables with triggers) → MariaDB. */
type Pair = 'pg-mongo' | 'my-mongo' | 'my-pg' | 'pg-my' | 'pgl-my'
const SERVICE = 'catalog'

const DDL = {
  postgres: [
    `CREATE TABLE categories (id integer PRIMARY KEY, name varchar(100) NOT NULL, parent_id integer)`,
    `CREATE TABLE products (id bigint PRIMARY KEY, sku varchar(64) NOT NULL, name varchar(200) NOT NULL, price numeric(10,2) NOT NULL, category_id integer)`,
    `CREATE INDEX ON products (category_id)`,
    `CREATE TABLE product_variants (id bigint PRIMARY KEY, product_id bigint NOT NULL, sku varchar(64) NOT NULL, price numeric(10,2) NOT NULL, position integer NOT NULL)`,
    `CREATE INDEX ON product_variants (product_id)`,
    `CREATE TABLE variant_attributes (variant_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (variant_id, name))`,
    `CREATE TABLE product_attributes (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name))`,
  ],
  mysql: [
    `CREATE TABLE categories (id int PRIMARY KEY, name varchar(100) NOT NULL, parent_id int NULL) ENGINE=InnoDB`,
    `CREATE TABLE products (id bigint PRIMARY KEY, sku varchar(64) NOT NULL, name varchar(200) NOT NULL, price decimal(10,2) NOT NULL, category_id int NULL, KEY (category_id)) ENGINE=InnoDB`,
    `CREATE TABLE product_variants (id bigint PRIMARY KEY, product_id bigint NOT NULL, sku varchar(64) NOT NULL, price decimal(10,2) NOT NULL, position int NOT NULL, KEY (product_id)) ENGINE=InnoDB`,
    `CREATE TABLE variant_attributes (variant_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (variant_id, name)) ENGINE=InnoDB`,
    `CREATE TABLE product_attributes (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name)) ENGINE=InnoDB`,
  ],
}

const ENTITY = {
  source: 'products',
  target: 'products',
  columns: {id: 'id', sku: 'sku', name: 'name', price: 'price'},
  lookup: [
    {
      table: 'categories',
      on: {category_id: 'id'},
      as: 'category',
      columns: {id: 'id', name: 'name'},
      // two levels of lookup: the category's parent, merged into the category sub-document
      lookup: [{table: 'categories', on: {parent_id: 'id'}, columns: {parent_name: 'name'}}],
    },
  ],
  embed: [
    {
      table: 'product_variants',
      on: {id: 'product_id'},
      as: 'variants',
      orderBy: ['position'],
      columns: {sku: 'sku', price: 'price'},
      // two levels of embedding: each variant's attributes as a keyed sub-document
      embed: [{table: 'variant_attributes', on: {id: 'variant_id'}, as: 'attributes', keyBy: 'name', value: 'value'}],
    },
    {table: 'product_attributes', on: {id: 'product_id'}, as: 'attributes', keyBy: 'name', value: 'value'},
  ],
}

interface Fixture {
  ws: Workspace
  app: AppDb
  counts: {products: number; variants: number}
  close(): Promise<void>
}

const open: Fixture[] = []
afterAll(async () => {
  for (const f of open) await f.close()
})

async function fixture(pair: Pair, products: number): Promise<Fixture> {
  const source = pair.startsWith('pg') ? await freshPg('aggsrc') : await freshMysql('aggsrc')
  const target: FreshDatabase = pair === 'my-pg' ? await freshPg('aggtgt') : pair === 'pg-my' || pair === 'pgl-my' ? await freshMysql('aggtgt') : await freshMongo('aggtgt')
  const app = await appDb(source.url)
  for (const ddl of DDL[app.dialect]) await app.exec(ddl)
  const cats: unknown[][] = []
  for (let c = 1; c <= 12; c++) cats.push([c, `category ${c}`, c > 4 ? ((c - 1) % 4) + 1 : null])
  await app.exec(`INSERT INTO categories (id, name, parent_id) VALUES ${cats.map(() => '(?, ?, ?)').join(', ')}`, cats.flat())
  let variant = 0
  for (let from = 1; from <= products; from += 200) {
    const ps: unknown[][] = []
    const vs: unknown[][] = []
    const vas: unknown[][] = []
    const pas: unknown[][] = []
    for (let p = from; p < Math.min(products + 1, from + 200); p++) {
      ps.push([p, `SKU-${p}`, `product ${p}`, `${p % 90}.${String(p % 100).padStart(2, '0')}`, p % 13 === 0 ? null : (p % 12) + 1])
      for (let v = 0; v < p % 4; v++) {
        variant++
        // positions descend while ids ascend: the array follows orderBy, not the key
        vs.push([variant, p, `SKU-${p}-${v}`, `${v + 1}.50`, 10 - v])
        vas.push([variant, 'size', ['S', 'M', 'L'][v % 3]], [variant, 'colour', v % 2 ? 'red' : 'blue'])
      }
      for (let a = 0; a < p % 3; a++) pas.push([p, ['weight', 'origin'][a], a ? 'Portugal' : `${p}g`])
    }
    await app.exec(`INSERT INTO products (id, sku, name, price, category_id) VALUES ${ps.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, ps.flat())
    if (vs.length) await app.exec(`INSERT INTO product_variants (id, product_id, sku, price, position) VALUES ${vs.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, vs.flat())
    if (vas.length) await app.exec(`INSERT INTO variant_attributes (variant_id, name, value) VALUES ${vas.map(() => '(?, ?, ?)').join(', ')}`, vas.flat())
    if (pas.length) await app.exec(`INSERT INTO product_attributes (product_id, name, value) VALUES ${pas.map(() => '(?, ?, ?)').join(', ')}`, pas.flat())
  }
  const plan: PlanInput = {
    monolith: pair === 'pgl-my' ? {url: source.url, capture: 'logical'} : {url: source.url},
    services: {[SERVICE]: {target: {url: target.url}, isolation: 'own-server', entities: [ENTITY]}},
  }
  const ws = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
  await ws.state.migrate()
  const f: Fixture = {
    ws,
    app,
    counts: {products, variants: variant},
    async close() {
      await app.close().catch(() => undefined)
      await ws.close().catch(() => undefined)
      await source.drop().catch(() => undefined)
      await target.drop().catch(() => undefined)
    },
  }
  open.push(f)
  return f
}

/** The aggregate as stored in the service, by product id. */
async function targetDoc(f: Fixture, id: number): Promise<Row | undefined> {
  const e = await f.ws.entity(SERVICE, 'products')
  const [row] = await (await f.ws.target(SERVICE)).readByKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, columns: e.targetProjections, keys: [[id]]})
  return row
}

async function drain(f: Fixture): Promise<void> {
  const relay = new Relay(f.ws, SERVICE)
  await relay.drain()
  expect((await relay.lag()).pending).toBe(0)
}

async function diffClean(f: Fixture): Promise<{clean: boolean; changed: unknown}> {
  const res = await runDiff(f.ws, {service: SERVICE, chunkRows: 100})
  const e = res.services[0].entities[0]
  return {clean: e.status === 'clean', changed: {missing: e.missing, extra: e.extra, changed: e.changed}}
}

/** An application writing to every table of the aggregate, with moves between roots. */
async function workload(f: Fixture, seed: number, n: number): Promise<number> {
  let s = seed
  const rnd = (m: number): number => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s % m
  }
  let done = 0
  const P = f.counts.products
  for (let i = 0; i < n; i++) {
    try {
      await one(i)
      done++
    } catch (err) {
      // an application retries what the database refused (deadlocks, duplicate keys): rolled back, nothing to copy
      if (!/duplicate|deadlock|lock wait|could not serialize/i.test(String((err as Error).message))) throw err
    }
  }
  return done

  async function one(i: number): Promise<void> {
    const p = rnd(P) + 1
    const op = rnd(9)
    if (op === 0) await f.app.exec(`UPDATE products SET price = ?, name = ? WHERE id = ?`, [`${rnd(500)}.${rnd(90) + 10}`, `renamed ${seed}-${i}`, p])
    else if (op === 1) await f.app.exec(`UPDATE products SET category_id = ? WHERE id = ?`, [rnd(12) + 1, p])
    // a category renamed re-assembles every product under it (a hundred documents): rarer than the rest
    else if (op === 2 && rnd(6) === 0) await f.app.exec(`UPDATE categories SET name = ? WHERE id = ?`, [`cat ${seed}-${i}`, rnd(12) + 1])
    else if (op === 2) await f.app.exec(`UPDATE products SET name = ? WHERE id = ?`, [`n${seed}-${i}`, p])
    else if (op === 3) await f.app.exec(`UPDATE product_variants SET price = ? WHERE product_id = ?`, [`${rnd(50)}.25`, p])
    else if (op === 4) await f.app.exec(`UPDATE product_variants SET product_id = ? WHERE id = ?`, [p, rnd(f.counts.variants) + 1]) // a child moves to another root
    else if (op === 5) await f.app.exec(`UPDATE variant_attributes SET value = ? WHERE variant_id = ? AND name = 'size'`, [`XL${i}`, rnd(f.counts.variants) + 1])
    else if (op === 6) {
      await f.app.exec(`DELETE FROM product_attributes WHERE product_id = ? AND name = 'note'`, [p])
      await f.app.exec(`INSERT INTO product_attributes (product_id, name, value) VALUES (?, 'note', ?)`, [p, `n${seed}-${i}`])
    } else if (op === 7) {
      const id = 1_000_000 + seed * 10_000 + i
      await f.app.exec(`INSERT INTO product_variants (id, product_id, sku, price, position) VALUES (?, ?, ?, '9.99', ?)`, [id, p, `NEW-${id}`, rnd(20)])
      await f.app.exec(`INSERT INTO variant_attributes (variant_id, name, value) VALUES (?, 'size', 'XS')`, [id])
    } else {
      // a root deleted with its children, then re-created
      await f.app.tx(async (exec) => {
        await exec(`DELETE FROM variant_attributes WHERE variant_id IN (SELECT id FROM product_variants WHERE product_id = ?)`, [p])
        await exec(`DELETE FROM product_variants WHERE product_id = ?`, [p])
        await exec(`DELETE FROM product_attributes WHERE product_id = ?`, [p])
        await exec(`DELETE FROM products WHERE id = ?`, [p])
        if (rnd(2)) await exec(`INSERT INTO products (id, sku, name, price, category_id) VALUES (?, ?, 'reborn', '1.00', 3)`, [p, `SKU-R-${p}-${seed}-${i}`])
      })
    }
  }
}

// MariaDB has no TRUNCATE trigger (README, Known limits)
describe.each(['pg-mongo', 'pg-my'] as const)('aggregate %s, TRUNCATE', (pair) => {
  it('re-assembles every root when a related table is truncated; changes after it arrive', async () => {
    const f = await fixture(pair, 40)
    await runShadow(f.ws, SERVICE, {parallel: 1, chunkRows: 50, detach: true})
    await drain(f)
    expect((await targetDoc(f, 7))!.attributes).toEqual({weight: '7g'})
    await f.app.exec(`UPDATE products SET name = 'before' WHERE id = 5`)
    await f.app.exec(`TRUNCATE product_attributes`)
    await f.app.exec(`INSERT INTO product_attributes (product_id, name, value) VALUES (8, 'material', 'oak')`)
    const ops = await f.ws.monolith.sql!.query<{op: string}>(`SELECT op FROM ${f.ws.monolith.sql!.quoteTable(f.ws.outbox(SERVICE))} ORDER BY id`)
    expect(ops.map((o) => String(o.op).trim())).toEqual(['U', 'T', 'U'])
    await drain(f)
    expect((await targetDoc(f, 7))!.attributes ?? {}).toEqual({})
    expect((await targetDoc(f, 8))!.attributes).toEqual({material: 'oak'})
    expect((await targetDoc(f, 5))!.name).toBe('before')
    expect((await diffClean(f)).clean).toBe(true)
  })
})

describe.each(['pg-mongo', 'my-mongo', 'my-pg', 'pg-my', 'pgl-my'] as const)('aggregate %s', (pair) => {
  it('backfills and relays documents while every participating table is written, ending with a clean diff', async () => {
    const f = await fixture(pair, 1200)
    let stop = false
    let writes = 0
    let round = 0
    const writer = (async () => {
      while (!stop) {
        // about a hundred writes a second: FerretDB takes each re-assembled document as its own transaction
        writes += await workload(f, ++round, 10)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    let res
    try {
      res = await runShadow(f.ws, SERVICE, {parallel: 2, chunkRows: 100, batchSize: 100, maxRowsPerSecond: 1500, detach: true})
      const follow = new AbortController()
      const following = new Relay(f.ws, SERVICE, {idleMs: 50}).follow(follow.signal)
      await new Promise((r) => setTimeout(r, 1000))
      follow.abort()
      await following
    } finally {
      stop = true
      await writer
    }
    expect(writes).toBeGreaterThan(30)
    expect(res.entities[0].done).toBe(true)
    await drain(f)
    const d = await diffClean(f)
    expect(d.changed).toEqual({missing: [], extra: [], changed: []})
    expect(d.clean).toBe(true)
    const tgt = await f.ws.target(SERVICE)
    expect(await tgt.count((await f.ws.entity(SERVICE, 'products')).target)).toBe(await f.ws.monolith.count({name: 'products'}))
  })

  it('re-assembles a root that joins a lookup row while another transaction renames it (the roots are found when the change is consumed)', async () => {
    const f = await fixture(pair, 30)
    await runShadow(f.ws, SERVICE, {parallel: 1, chunkRows: 50, detach: true})
    await drain(f)
    const a = await f.app.connection()
    const b = await f.app.connection()
    try {
      // A renames category 5 and stays open; B moves product 1 into category 5 and commits
      await a.exec('BEGIN')
      await a.exec(`UPDATE categories SET name = 'Renamed' WHERE id = 5`)
      await b.exec(`UPDATE products SET category_id = 5 WHERE id = 1`)
      // the relay re-reads product 1 while the rename is not committed yet
      await drain(f)
      expect(((await targetDoc(f, 1))!.category as Row).name).toBe('category 5')
      await a.exec('COMMIT')
    } finally {
      await a.close()
      await b.close()
    }
    await drain(f)
    // a join in A's trigger would have missed product 1 (not in category 5 in A's snapshot)
    expect(((await targetDoc(f, 1))!.category as Row).name).toBe('Renamed')
    expect((await diffClean(f)).clean).toBe(true)
  })

  it('writes one change per root a write touches: twice only when a child moves to another root', async () => {
    const f = await fixture(pair, 12)
    await runShadow(f.ws, SERVICE, {parallel: 1, chunkRows: 50, detach: true})
    await drain(f)
    const sql = f.ws.monolith.sql!
    const outbox = sql.quoteTable(f.ws.outbox(SERVICE))
    const changes = async (): Promise<string[]> => {
      const rows = await sql.query<{op: string; pk: string}>(`SELECT op, pk FROM ${outbox} ORDER BY id`)
      await sql.execute(`DELETE FROM ${outbox}`)
      return rows.map((r) => `${String(r.op).trim()}${JSON.stringify(JSON.parse(r.pk))}`)
    }
    const [v0] = await f.app.exec(`SELECT id FROM product_variants WHERE sku = 'SKU-7-0'`)
    const [v1] = await f.app.exec(`SELECT id FROM product_variants WHERE sku = 'SKU-7-1'`)
    // a child changed under the same root: its root once
    await f.app.exec(`UPDATE product_variants SET price = '7.77' WHERE id = ?`, [v0.id])
    expect(await changes()).toEqual(['U["7"]'])
    // a child moved: the old root, then the new one
    await f.app.exec(`UPDATE product_variants SET product_id = 8 WHERE id = ?`, [v1.id])
    expect(await changes()).toEqual(['U["7"]', 'U["8"]'])
    // a grandchild changed: its join values once, resolved by the relay
    await f.app.exec(`UPDATE variant_attributes SET value = 'XL' WHERE variant_id = ? AND name = 'size'`, [v0.id])
    const grand = await changes()
    expect(grand).toHaveLength(1)
    expect(grand[0]).toMatch(new RegExp(`^R\\[\\d+,"${v0.id}"\\]$`))
    // a lookup row renamed: its key once per relation it serves (the category, and the parent category)
    await f.app.exec(`UPDATE categories SET name = 'Garden' WHERE id = 8`)
    const renamed = await changes()
    expect(renamed).toHaveLength(2)
    expect(renamed.every((c) => /^R\[\d+,"8"\]$/.test(c))).toBe(true)
    // a child inserted and deleted: its root each time
    await f.app.exec(`INSERT INTO product_attributes (product_id, name, value) VALUES (9, 'material', 'oak')`)
    await f.app.exec(`DELETE FROM product_attributes WHERE product_id = 9 AND name = 'material'`)
    expect(await changes()).toEqual(['U["9"]', 'U["9"]'])
  })

  it('re-assembles roots on moves, renames, deletes and child-only changes, and finds planted differences by path', async () => {
    const f = await fixture(pair, 60)
    await runShadow(f.ws, SERVICE, {parallel: 1, chunkRows: 50, detach: true})
    await drain(f)
    const before = await targetDoc(f, 7)
    // product 7: category 8 (parent 4); variants SKU-7-0..2 at positions 10, 9, 8, so in reverse
    expect(before).toMatchObject({
      id: expect.anything(),
      sku: 'SKU-7',
      category: {id: 8, name: 'category 8', parent_name: 'category 4'},
      attributes: {weight: '7g'},
    })
    const variants = (before!.variants as Row[]).map((v) => v.sku)
    expect(variants).toEqual(['SKU-7-2', 'SKU-7-1', 'SKU-7-0'])
    expect((before!.variants as Row[])[0]).toEqual({sku: 'SKU-7-2', price: '3.50', attributes: {colour: 'blue', size: 'L'}})

    // a child moves from product 7 to product 8: both documents change
    const [moved] = await f.app.exec(`SELECT id FROM product_variants WHERE sku = 'SKU-7-1'`)
    await f.app.exec(`UPDATE product_variants SET product_id = 8, position = 0 WHERE id = ?`, [moved.id])
    // a lookup row renamed, two levels up: every product under a child of category 4 changes
    await f.app.exec(`UPDATE categories SET name = 'Outdoor' WHERE id = 4`)
    // a grandchild changed while its root and its parent are untouched
    const [v0] = await f.app.exec(`SELECT id FROM product_variants WHERE sku = 'SKU-7-0'`)
    await f.app.exec(`UPDATE variant_attributes SET value = 'XXL' WHERE variant_id = ? AND name = 'size'`, [v0.id])
    // a root deleted with its children
    await f.app.tx(async (exec) => {
      await exec(`DELETE FROM variant_attributes WHERE variant_id IN (SELECT id FROM product_variants WHERE product_id = 11)`)
      await exec(`DELETE FROM product_variants WHERE product_id = 11`)
      await exec(`DELETE FROM products WHERE id = 11`)
    })
    // a child table changed with its root untouched
    await f.app.exec(`INSERT INTO product_attributes (product_id, name, value) VALUES (9, 'material', 'oak')`)
    await drain(f)

    const seven = await targetDoc(f, 7)
    expect((seven!.variants as Row[]).map((v) => v.sku)).toEqual(['SKU-7-2', 'SKU-7-0'])
    expect((seven!.variants as Row[])[1]).toMatchObject({attributes: {size: 'XXL'}})
    expect(seven!.category).toEqual({id: 8, name: 'category 8', parent_name: 'Outdoor'})
    const eight = await targetDoc(f, 8)
    expect((eight!.variants as Row[]).map((v) => v.sku)).toEqual(['SKU-7-1'])
    expect(await targetDoc(f, 11)).toBeUndefined()
    expect((await targetDoc(f, 9))!.attributes).toEqual({material: 'oak'})
    expect((await diffClean(f)).clean).toBe(true)

    // differences planted deep inside documents are found with their path, and repaired
    const e = await f.ws.entity(SERVICE, 'products')
    const tgt = await f.ws.target(SERVICE)
    const doc = (await targetDoc(f, 10))!
    const planted = structuredClone(doc)
    ;(planted.variants as Row[])[1].price = '99.00'
    ;((planted.variants as Row[])[0].attributes as Row).size = 'tiny'
    await tgt.upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows: [planted]})
    const res = await runDiff(f.ws, {service: SERVICE, chunkRows: 100})
    const found = res.services[0].entities[0]
    expect(found.status).toBe('differences')
    expect(found.changed).toHaveLength(1)
    expect(found.changed[0].columns.map((c) => c.name)).toEqual(['variants[0].attributes.size', 'variants[1].price'])
    expect(found.changed[0].columns[1]).toMatchObject({column: 'variants', source: '"1.50"', target: '"99.00"'})
    const repaired = await runRepair(f.ws, {service: SERVICE})
    expect(repaired.totals).toMatchObject({keys: 1, upserts: 1, remaining: 0})
    expect((await diffClean(f)).clean).toBe(true)
  })
})
