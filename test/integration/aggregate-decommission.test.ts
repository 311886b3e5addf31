/**
 * Decommission with aggregates. A catalog service owns `categories` as an
 * entity of its own and reads it again as a lookup of its `products`
 * aggregate: decommission archives both tables, the aggregate then resolves
 * its lookup against the archive (diff clean), and rollback brings everything
 * back step by step to shadow. When another service's aggregate reads a table
 * a service would archive, decommission refuses (E_SHARED_TABLE, exit 2) and
 * changes nothing: the check runs before the write cut-over.
 */
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Relay} from '../../src/capture/relay.js'
import {validatePlan} from '../../src/config/load.js'
import {runDiff} from '../../src/diff/run-diff.js'
import {runDecommission} from '../../src/phases/decommission/decommission.js'
import {runRollback} from '../../src/phases/decommission/rollback.js'
import {advance} from '../../src/phases/machine.js'
import {verifyShadow} from '../../src/phases/shadow-verify.js'
import {runShadow} from '../../src/phases/shadow.js'
import {runShift} from '../../src/phases/shift.js'
import {relationPaths} from '../../src/mapping/aggregate.js'
import {getService, listTransitions} from '../../src/state/services.js'
import {openToggleProvider} from '../../src/toggles/index.js'
import {Workspace} from '../../src/workspace.js'
import {planDir, runCli} from '../helpers/cli.js'
import {freshMongo, freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'

const DDL = [
  `CREATE TABLE categories (id integer PRIMARY KEY, name varchar(100) NOT NULL, parent_id integer)`,
  `CREATE TABLE products (id bigint PRIMARY KEY, sku varchar(64) NOT NULL, name varchar(200) NOT NULL, price numeric(10,2) NOT NULL, category_id integer)`,
  `CREATE TABLE product_variants (id bigint PRIMARY KEY, product_id bigint NOT NULL, sku varchar(64) NOT NULL, color varchar(20) NOT NULL)`,
  `CREATE TABLE product_attributes (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name))`,
  `INSERT INTO categories SELECT c, 'category ' || c, CASE WHEN c > 4 THEN (c - 1) % 4 + 1 END FROM generate_series(1, 12) c`,
  `INSERT INTO products SELECT p, 'SKU-' || p, 'product ' || p, ((p % 90) || '.50')::numeric, CASE WHEN p % 13 <> 0 THEN p % 12 + 1 END FROM generate_series(1, 150) p`,
  `INSERT INTO product_variants SELECT p * 10 + v, p, 'SKU-' || p || '-' || v, (ARRAY['red', 'blue', 'green'])[v + 1] FROM generate_series(1, 150) p, generate_series(0, 2) v WHERE v < p % 4`,
  `INSERT INTO product_attributes SELECT p, a, a || ' of ' || p FROM generate_series(1, 150) p, unnest(ARRAY['weight', 'origin']) a WHERE p % 3 > 0`,
]

/** products as documents: their category looked up (with its parent's name merged in), variants and attributes embedded. */
const PRODUCTS = {
  source: 'products',
  columns: {id: 'id', sku: 'sku', name: 'name', price: 'price'},
  lookup: [
    {
      table: 'categories',
      on: {category_id: 'id'},
      as: 'category',
      columns: {id: 'id', name: 'name'},
      lookup: [{table: 'categories', on: {parent_id: 'id'}, columns: {parent_name: 'name'}}],
    },
  ],
  embed: [
    {table: 'product_variants', on: {id: 'product_id'}, as: 'variants', orderBy: ['id']},
    {table: 'product_attributes', on: {id: 'product_id'}, as: 'attributes', keyBy: 'name', value: 'value'},
  ],
}

const GATES = {maxRelayLagSeconds: 60, minShadowSamples: 10, soak: '1s', retention: '7d'}

async function monolith(prefix: string): Promise<FreshDatabase> {
  const db = await freshPg(prefix)
  const c = new pg.Client({connectionString: db.url})
  await c.connect()
  try {
    for (const s of DDL) await c.query(s)
  } finally {
    await c.end()
  }
  return db
}

async function sql(db: FreshDatabase, text: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({connectionString: db.url})
  await c.connect()
  try {
    return (await c.query(text)).rows
  } finally {
    await c.end()
  }
}

/** Where each shop table lives now: `public`, `strangler_archive`, or both listed. */
async function schemasOf(db: FreshDatabase): Promise<Record<string, string[]>> {
  const rows = await sql(db, `SELECT table_name AS t, table_schema AS s FROM information_schema.tables WHERE table_name IN ('categories', 'products', 'product_variants', 'product_attributes') ORDER BY 1, 2`)
  const out: Record<string, string[]> = {}
  for (const r of rows) (out[String(r.t)] ??= []).push(String(r.s))
  return out
}

/** shadow → verify → clean diff → write-through → shift 100, with the soak held. */
async function walkToShift(ws: Workspace, service: string): Promise<void> {
  const shadow = await runShadow(ws, service)
  expect(shadow.phase).toBe('shadow')
  expect(shadow.entities.every((e) => e.done)).toBe(true)
  await verifyShadow(ws, service, {sample: 50})
  expect((await runDiff(ws, {service})).status).toBe('clean')
  const wt = await advance(ws, service, 'write-through')
  expect(wt.gates.filter((g) => !g.ok)).toEqual([])
  const t = await openToggleProvider(ws)
  try {
    const shift = await runShift(ws, service, t, {steps: [100], soakMs: 0, checkEveryMs: 500})
    expect(shift.status).toBe('completed')
  } finally {
    await t.close()
  }
  expect((await runDiff(ws, {service})).status).toBe('clean')
  await new Promise((r) => setTimeout(r, 1100)) // reads held at 100 % for the soak
}

describe('decommission of a service whose aggregate looks up one of its own entities', () => {
  let mono: FreshDatabase
  let svc: FreshDatabase
  let ws: Workspace

  beforeAll(async () => {
    ;[mono, svc] = await Promise.all([monolith('aggdec_mono'), freshMongo('aggdec_svc')])
    const plan = validatePlan(
      {
        monolith: {url: mono.url},
        toggles: {provider: 'local', pollMs: 200},
        gates: GATES,
        services: {catalog: {target: {url: svc.url}, entities: [{source: 'categories'}, PRODUCTS]}},
      },
      'p',
      {},
    )
    ws = await Workspace.open(plan, {runId: 'aggdec'})
    await ws.state.migrate()
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([mono?.drop(), svc?.drop()])
  })

  it('walks shadow → write-through → shift 100 with a clean diff', async () => {
    await walkToShift(ws, 'catalog')
    const s = await getService(ws.state, 'catalog')
    expect([s.phase, s.readPct, s.writeTarget]).toEqual(['shift', 100, 'monolith'])
  })

  it('decommission archives the entity and the aggregate root, then the aggregate reads its lookup from the archive: diff clean', async () => {
    // changes to the looked-up table and to embedded rows reach the service in the drain before the cut-over
    await sql(mono, `UPDATE categories SET name = 'Outdoor' WHERE id = 1`)
    await sql(mono, `UPDATE product_variants SET color = 'violet' WHERE product_id = 7`)
    const t = await openToggleProvider(ws)
    const r = await runDecommission(ws, 'catalog', t, {confirmed: true, settleMs: 100}).finally(() => t.close())
    expect(r.status).toBe('decommissioned')
    expect(r.archive).toEqual([
      {table: 'public.categories', archive: 'strangler_archive.categories'},
      {table: 'public.products', archive: 'strangler_archive.products'},
    ])
    // related tables that no entity owns stay where they were (README: Limits)
    expect(await schemasOf(mono)).toEqual({
      categories: ['strangler_archive'],
      products: ['strangler_archive'],
      product_attributes: ['public'],
      product_variants: ['public'],
    })

    // a fresh workspace (another operator's command) resolves both entities, and the lookups, against the archive
    const fresh = await Workspace.open(ws.plan, {runId: 'aggdec-fresh'})
    try {
      const entities = await fresh.entities('catalog')
      expect(entities.map((e) => `${e.source.schema}.${e.source.name}`)).toEqual(['strangler_archive.categories', 'strangler_archive.products'])
      const products = entities[1]
      const related = relationPaths(products.relations ?? []).map((p) => `${p.relation.table.schema}.${p.relation.table.name}`)
      expect(related.sort()).toEqual(['public.product_attributes', 'public.product_variants', 'strangler_archive.categories', 'strangler_archive.categories'])
      const d = await runDiff(fresh, {service: 'catalog'})
      expect(d.services[0].entities.map((e) => [e.entity, e.source, e.status, e.error ?? null])).toEqual([
        ['categories', 'strangler_archive.categories', 'clean', null],
        ['products', 'strangler_archive.products', 'clean', null],
      ])
    } finally {
      await fresh.close()
    }
    const doc = await readProduct(ws, 8) // category 9, whose parent is category 1
    expect(doc?.category).toEqual({id: 9, name: 'category 9', parent_name: 'Outdoor'})
  })

  it('rolls back step by step to shadow: decommissioned → shift 100 → write-through → shadow, each checked by a clean diff', async () => {
    const t = await openToggleProvider(ws)
    try {
      const back = await runRollback(ws, 'catalog', t, {settleMs: 100})
      expect([back.from, back.to, back.readPct, back.writeTarget]).toEqual(['decommissioned', 'shift', 100, 'monolith'])
      expect(await schemasOf(mono)).toEqual({
        categories: ['public'],
        products: ['public'],
        product_attributes: ['public'],
        product_variants: ['public'],
      })
      expect((await runDiff(ws, {service: 'catalog'})).status).toBe('clean')

      const wt = await runRollback(ws, 'catalog', t, {toPct: 0})
      expect([wt.from, wt.to]).toEqual(['shift', 'write-through'])
      const sh = await runRollback(ws, 'catalog', t, {})
      expect([sh.from, sh.to]).toEqual(['write-through', 'shadow'])
    } finally {
      await t.close()
    }
    // capture is back: a change to the looked-up table reaches the documents again
    await sql(mono, `UPDATE categories SET name = 'Garden' WHERE id = 1`)
    await new Relay(ws, 'catalog').drain()
    expect((await readProduct(ws, 8))?.category).toEqual({id: 9, name: 'category 9', parent_name: 'Garden'})
    expect((await runDiff(ws, {service: 'catalog'})).status).toBe('clean')
    const s = await getService(ws.state, 'catalog')
    expect([s.phase, s.readPct, s.writeTarget]).toEqual(['shadow', 0, 'monolith'])
    const transitions = (await listTransitions(ws.state, 'catalog')).map((x) => `${x.fromPhase}→${x.toPhase}`)
    expect(transitions).toEqual(['planned→shadow', 'shadow→write-through', 'write-through→shift', 'shift→decommissioned', 'decommissioned→shift', 'shift→write-through', 'write-through→shadow'])
  })
})

describe("decommission refuses a table another service's aggregate reads", () => {
  let mono: FreshDatabase
  let svcA: FreshDatabase
  let svcB: FreshDatabase
  let ws: Workspace
  let rawPlan: Record<string, unknown>

  beforeAll(async () => {
    ;[mono, svcA, svcB] = await Promise.all([monolith('aggshr_mono'), freshPg('aggshr_tax'), freshMongo('aggshr_cat')])
    // taxonomy owns categories; catalog's products look them up
    rawPlan = {
      monolith: {url: '${MONO}'},
      toggles: {provider: 'local', pollMs: 200},
      gates: GATES,
      services: {
        taxonomy: {target: {url: '${TAX}'}, entities: [{source: 'categories'}]},
        catalog: {target: {url: '${CAT}'}, entities: [PRODUCTS]},
      },
    }
    ws = await Workspace.open(validatePlan(rawPlan, 'p', {MONO: mono.url, TAX: svcA.url, CAT: svcB.url}), {runId: 'aggshr'})
    await ws.state.migrate()
    await walkToShift(ws, 'taxonomy')
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([mono?.drop(), svcA?.drop(), svcB?.drop()])
  })

  it('exits 2 with E_SHARED_TABLE naming the other service and its aggregate, and archives nothing', async () => {
    const dir = planDir(rawPlan)
    const r = await runCli(['decommission', 'taxonomy', '--yes', '--json'], {cwd: dir, env: {MONO: mono.url, TAX: svcA.url, CAT: svcB.url}})
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stdout + r.stderr).not.toContain(testPassword())
    const err = JSON.parse(r.stdout).error as {code: string; message: string; hint: string}
    expect(err.code).toBe('E_SHARED_TABLE')
    expect(err.message).toMatch(/Cannot archive categories: service catalog also reads it \(assembled into its products\)/)
    expect(err.hint).toMatch(/Decommission catalog first/)
    expect(await schemasOf(mono)).toEqual({
      categories: ['public'],
      products: ['public'],
      product_attributes: ['public'],
      product_variants: ['public'],
    })
    const archive = (await getService(ws.state, 'taxonomy')).info.archive as {tables?: {archived: boolean}[]} | undefined
    expect((archive?.tables ?? []).filter((x) => x.archived)).toEqual([])
  })

  it('refuses before anything moves: still in shift 100 with writes on the monolith and capture installed', async () => {
    const now = await getService(ws.state, 'taxonomy')
    expect([now.phase, now.step, now.readPct, now.writeTarget]).toEqual(['shift', null, 100, 'monolith'])
    const triggers = await sql(mono, `SELECT count(*)::int AS n FROM information_schema.triggers WHERE event_object_table = 'categories'`)
    expect(triggers[0].n).toBeGreaterThan(0)
    expect((await runDiff(ws, {service: 'taxonomy'})).status).toBe('clean')
  })
})

async function readProduct(ws: Workspace, id: number): Promise<Record<string, unknown> | undefined> {
  const e = await ws.entity('catalog', 'products')
  const [row] = await (await ws.target('catalog')).readByKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, columns: e.targetProjections, keys: [[id]]})
  return row
}
