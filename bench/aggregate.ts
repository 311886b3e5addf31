/**
 * Aggregate benchmark: PostgreSQL monolith → MongoDB (FerretDB) service, the shop
 * catalog assembled into one document per product.
 *
 *   npm run bench:aggregate -- --products 100000
 *
 * The fixture (database `strangler_aggbench_<N>`, kept and reused unless --reload):
 * the shop's `categories` (20, two levels) and `products` (N) as fixtures/shop
 * generates them, and exactly 10 `product_attributes` and 3 `product_variants` per
 * product. Each run copies it into a fresh database (CREATE DATABASE … TEMPLATE),
 * reads every table once to warm the cache, then measures, each in its own process
 * (so each peak RSS is its own):
 *   strangler  `runShadow` (what `strangler shadow catalog` runs: targets, capture
 *              triggers on the four tables, backfill, relay catch-up) of the example
 *              plan's products aggregate (fixtures/shop/strangler.config.ts): the
 *              category looked up (with its parent's name), the variants embedded as
 *              an array, the attributes as a keyed sub-document. Monolith reads are
 *              counted by wrapping the monolith engine's `readRange` (root pages) and
 *              `readByKeys` (related tables): each call is one SQL statement here, as
 *              no call passes more keys than one statement takes (`max_keys_per_read`).
 *   reference  what a hand-written one-off copy costs: one PostgreSQL statement per
 *              stream builds the same documents (correlated `json_agg` /
 *              `json_object_agg` / `json_build_object` per product, streamed with
 *              pg-cursor) and `insertMany`s them into another database of the same
 *              FerretDB, as many streams (id slices) as strangler has workers. No
 *              capture, no checkpoints, plain inserts where strangler upserts.
 * then checks that both wrote N documents and that 200 sampled documents are equal
 * (exit 1 otherwise), and prints one JSON line on stdout:
 *   {products, source_rows, strangler: {seconds, products_per_s, source_rows_per_s,
 *    peak_rss_mb, queries: {per_root, per_chunk, …}}, reference: {…}, strangler_over_reference, …}
 *
 * --target pg writes both into fresh PostgreSQL databases instead (the document fields
 * become jsonb columns; strangler loads with COPY, the reference COPYs the same rows
 * into the table strangler's DDL creates): the same assembly without FerretDB, whose
 * writes by `_id` take time proportional to the collection (see BENCHMARKS.md).
 *
 * Servers: STRANGLER_BENCH_PG_URL / STRANGLER_BENCH_MONGO_URL, else STRANGLER_TEST_PG_URL /
 * STRANGLER_TEST_MONGO_URL (e.g. from `npx tsx scripts/servers.ts`), else the test
 * harness starts local servers for the run (bench/servers.ts). The harness's FerretDB
 * stores its data in the same PostgreSQL server (its PostgreSQL handler).
 *
 * Options: --products N (default 100000, at least 50), --target mongo|pg (default mongo),
 * --parallel N (default: strangler's, 4), --chunk-rows N, --batch-size N (default:
 * strangler's), --ref-parallel N (default = --parallel), --skip strangler,reference,
 * --reload, --keep (keep the run's databases).
 */
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {cpus, loadavg} from 'node:os'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import {Decimal128, Double, Int32, Long, MongoClient, type Document} from 'mongodb'
import pg from 'pg'
import {from as copyFrom} from 'pg-copy-streams'
import Cursor from 'pg-cursor'
import {BACKFILL_DEFAULTS} from '../src/backfill/backfill.js'
import type {Plan, PlanInput} from '../src/config/schema.js'
import {validatePlan} from '../src/config/load.js'
import type {Engine, KeysRead} from '../src/engines/engine.js'
import {PostgresEngine} from '../src/engines/postgres/postgres-engine.js'
import type {RangeRead} from '../src/engines/types.js'
import {copyValue, loadShop, schemaStatements} from '../src/fixtures/shop/load.js'
import {resolveEntity} from '../src/mapping/entity-mapping.js'
import {runShadow} from '../src/phases/shadow.js'
import {Workspace} from '../src/workspace.js'
import examplePlan from '../fixtures/shop/strangler.config.js'
import {benchServers, type BenchServers, withDb} from './servers.js'

const SERVICE = 'catalog'
const ATTRIBUTES = 10
const VARIANTS = 3
const CATEGORIES = 20

const {values: args} = parseArgs({
  options: {
    products: {type: 'string', default: '100000'},
    target: {type: 'string', default: 'mongo'},
    parallel: {type: 'string', default: String(BACKFILL_DEFAULTS.parallel)},
    'chunk-rows': {type: 'string'},
    'batch-size': {type: 'string'},
    'ref-parallel': {type: 'string'},
    skip: {type: 'string', default: ''},
    reload: {type: 'boolean', default: false},
    keep: {type: 'boolean', default: false},
    // internal: the measured runs, as child processes (URLs in the environment)
    role: {type: 'string'},
  },
})
const products = Number(args.products)
if (!Number.isInteger(products) || products < 50) throw new Error(`--products must be an integer of at least 50, not ${args.products}`)
if (args.target !== 'mongo' && args.target !== 'pg') throw new Error(`--target must be mongo or pg, not ${args.target}`)
const target = args.target
const parallel = Number(args.parallel)
const refParallel = Number(args['ref-parallel'] ?? parallel)
const chunkRows = args['chunk-rows'] ? Number(args['chunk-rows']) : undefined
const batchSize = args['batch-size'] ? Number(args['batch-size']) : undefined
const skip = new Set(args.skip.split(',').map((s) => s.trim()).filter(Boolean))
const log = (m: string): void => void process.stderr.write(`[bench:aggregate${args.role ? ` ${args.role}` : ''}] ${m}\n`)
const seconds = (t0: number): number => (performance.now() - t0) / 1000
const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d
const rssMb = (): number => round(process.resourceUsage().maxRSS / 1024, 0)

type EntityInput = PlanInput['services'][string]['entities'][number]

/** The example plan's products aggregate: the entity the bench backfills. */
function productsEntity(): EntityInput {
  const e = examplePlan.services[SERVICE].entities.find((x) => x.source === 'products')
  if (!e?.embed?.length) throw new Error('fixtures/shop/strangler.config.ts: the catalog service has no products aggregate')
  return e
}

// ---------------------------------------------------------------------------------
// fixture

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({connectionString: url})
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** The catalog with exactly 10 attributes and 3 variants per product, loaded once and reused. */
async function ensureFixture(pgUrl: string): Promise<string> {
  const db = `strangler_aggbench_${products}`
  const url = withDb(pgUrl, db)
  const fresh = await withClient(pgUrl, async (c) => {
    if ((await c.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [db])).rowCount) return false
    await c.query(`CREATE DATABASE "${db}"`)
    return true
  })
  if (!fresh && !args.reload) {
    const have = await withClient(url, async (c) => {
      try {
        const {rows} = await c.query(
          `SELECT (SELECT count(*) FROM products)::int AS p, (SELECT count(*) FROM product_attributes)::int AS a, (SELECT count(*) FROM product_variants)::int AS v`,
        )
        return rows[0] as {p: number; a: number; v: number}
      } catch {
        return undefined
      }
    })
    if (have && have.p === products && have.a === products * ATTRIBUTES && have.v === products * VARIANTS) {
      log(`fixture ${db} has ${products} products: reused`)
      return url
    }
  }
  log(`loading ${products} products, ${products * ATTRIBUTES} attributes and ${products * VARIANTS} variants into PostgreSQL ${db} …`)
  const t0 = performance.now()
  // products = users / 10 in the shop generator
  await loadShop('postgres', url, {users: products * 10, tables: ['categories', 'products']})
  const children = schemaStatements('postgres', {tables: ['product_attributes', 'product_variants']})
  await withClient(url, async (c) => {
    for (const s of [...children.drop, ...children.create]) await c.query(s)
    // ten names (unicode, one ending in a space), values of every shape: text, numbers as text, NULL
    await c.query(`
      INSERT INTO product_attributes (product_id, name, value)
      SELECT p.id, a.name,
             CASE (p.id + a.i) % 5
               WHEN 0 THEN NULL
               WHEN 1 THEN ((p.id * a.i) % 5000)::text
               WHEN 2 THEN (ARRAY['red', 'Navy Blue', 'crème', 'マゼンタ', 'Ocean 🌊'])[1 + (p.id % 5)]
               ELSE left(md5(p.id::text || a.name), 8 + (p.id % 24)::int)
             END
      FROM products p
      CROSS JOIN (VALUES (1, 'color'), (2, 'Size'), (3, 'material'), (4, 'weight_g'), (5, 'brand'),
                         (6, 'origin'), (7, 'care'), (8, 'Größe'), (9, '材质'), (10, 'finish ')) AS a (i, name)`)
    await c.query(`
      INSERT INTO product_variants (id, product_id, sku, color, size, price_delta)
      SELECT (p.id - 1) * ${VARIANTS} + k, p.id, p.sku || '-V' || k,
             CASE WHEN (p.id + k) % 10 = 0 THEN NULL ELSE (ARRAY['red', 'blue', 'black', 'white', 'beige', 'Ocean 🌊'])[1 + ((p.id + k) % 6)] END,
             (ARRAY['XS', 'S', 'M', 'L', 'XL', 'one size'])[1 + ((p.id * k) % 6)],
             (((p.id * 7 + k * 13) % 5000) - 1000) / 100.0
      FROM products p CROSS JOIN generate_series(1, ${VARIANTS}) AS k`)
    for (const s of children.indexes) await c.query(s)
    await c.query(`SELECT setval(pg_get_serial_sequence('product_variants', 'id'), (SELECT max(id) FROM product_variants))`)
    await c.query(`ANALYZE categories, products, product_attributes, product_variants`)
  })
  log(`loaded in ${seconds(t0).toFixed(1)} s`)
  return url
}

// ---------------------------------------------------------------------------------
// strangler: runShadow with the monolith's reads counted

interface ReadCount {
  calls: number
  rows: number
  /** Seconds from call to result, summed over the workers (includes waiting for a busy event loop). */
  seconds: number
  maxKeys: number
}

/** Counts the monolith engine's range reads (root pages) and key reads (related tables), by table. */
function countReads(mono: Engine): Map<string, ReadCount> {
  const counts = new Map<string, ReadCount>()
  const slot = (kind: string, table: string): ReadCount => {
    const k = `${kind} ${table}`
    let c = counts.get(k)
    if (!c) counts.set(k, (c = {calls: 0, rows: 0, seconds: 0, maxKeys: 0}))
    return c
  }
  const readRange = mono.readRange.bind(mono)
  const readByKeys = mono.readByKeys.bind(mono)
  mono.readRange = async (req: RangeRead) => {
    const c = slot('readRange', req.table.name)
    const t0 = performance.now()
    const rows = await readRange(req)
    c.calls++
    c.rows += rows.length
    c.seconds += seconds(t0)
    return rows
  }
  mono.readByKeys = async (req: KeysRead) => {
    const c = slot('readByKeys', req.table.name)
    const t0 = performance.now()
    const rows = await readByKeys(req)
    c.calls++
    c.rows += rows.length
    c.seconds += seconds(t0)
    c.maxKeys = Math.max(c.maxKeys, req.keys.length)
    return rows
  }
  return counts
}

function benchPlan(monolith: string, targetUrl: string): Plan {
  const input: PlanInput = {monolith: {url: monolith}, services: {[SERVICE]: {target: {url: targetUrl}, isolation: 'own-server', entities: [productsEntity()]}}}
  return validatePlan(input, 'bench')
}

async function stranglerRole(): Promise<unknown> {
  const ws = await Workspace.open(benchPlan(process.env.BENCH_AGG_MONOLITH!, process.env.BENCH_AGG_TARGET!), {runId: randomUUID()})
  try {
    await ws.state.migrate()
    const counts = countReads(ws.monolith)
    const baseline = rssMb()
    const t0 = performance.now()
    const res = await runShadow(ws, SERVICE, {parallel, chunkRows, batchSize})
    const wall = seconds(t0)
    const e = res.entities[0]
    if (!e.done || e.rowsCopied !== products) throw new Error(`shadow copied ${e.rowsCopied} of ${products} products (done: ${e.done})`)
    return {
      seconds: round(wall),
      backfill_seconds: round(res.backfill?.seconds ?? NaN),
      chunks: e.chunks,
      relay_changes: res.relay?.changes ?? 0,
      reads: Object.fromEntries([...counts].map(([k, c]) => [k, {...c, seconds: round(c.seconds)}])),
      baseline_rss_mb: baseline,
      peak_rss_mb: rssMb(),
    }
  } finally {
    await ws.close()
  }
}

// ---------------------------------------------------------------------------------
// reference: one statement per stream builds the documents, insertMany or COPY writes them

/**
 * The example plan's products document, built by PostgreSQL: decimals and bigints
 * inside JSON as text (as strangler's value model has them); for a PostgreSQL
 * target the JSON and the timestamp stay text, for COPY.
 */
function referenceSql(to: 'mongo' | 'pg'): string {
  const json = to === 'pg' ? '::text' : ''
  const created = to === 'pg' ? `p.created_at::text` : `to_char(p.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
  return `
SELECT p.id::text AS id, p.sku, p.name, p.description, p.price::text AS price, (p.price * 100)::bigint::text AS price_cents,
       p.stock, ${created} AS created_at,
       COALESCE((SELECT json_agg(json_build_object('id', v.id::text, 'sku', v.sku, 'color', v.color, 'size', v.size, 'price_delta', v.price_delta::text) ORDER BY v.id)
                 FROM product_variants v WHERE v.product_id = p.id), '[]'::json)${json} AS variants,
       COALESCE((SELECT json_object_agg(a.name, a.value) FROM product_attributes a WHERE a.product_id = p.id), '{}'::json)${json} AS attributes,
       (SELECT json_build_object('id', c.id, 'name', c.name, 'parent_name', pc.name)
          FROM categories c LEFT JOIN categories pc ON pc.id = c.parent_id WHERE c.id = p.category_id)${json} AS category
FROM products p WHERE p.id BETWEEN $1 AND $2 ORDER BY p.id`
}

interface ReferenceRow {
  id: string
  sku: string
  name: string
  description: string | null
  price: string
  price_cents: string
  stock: number
  created_at: string
  variants: unknown
  attributes: unknown
  category: unknown
}

/** Field order and BSON types as strangler writes them to FerretDB (decimals as strings: FerretDB v1 has no Decimal128). */
function referenceDoc(r: ReferenceRow): Document {
  const id = Long.fromString(r.id)
  return {
    _id: id,
    id,
    sku: r.sku,
    name: r.name,
    description: r.description,
    price: r.price,
    price_cents: Long.fromString(r.price_cents),
    stock: new Int32(r.stock),
    created_at: new Date(r.created_at),
    variants: r.variants,
    attributes: r.attributes,
    category: r.category,
  }
}

/** Pages of documents (rows) from one id slice of the monolith, one statement, read a page ahead. */
async function* referencePages(monolithUrl: string, from: number, to: number, batch: number, stats: {fetches: number}): AsyncGenerator<ReferenceRow[]> {
  const c = new pg.Client({connectionString: monolithUrl})
  await c.connect()
  try {
    const cursor = c.query(new Cursor<ReferenceRow>(referenceSql(target), [from, to]))
    let next = cursor.read(batch)
    for (;;) {
      const rows = await next
      stats.fetches++
      if (!rows.length) break
      next = cursor.read(batch)
      yield rows
    }
    await cursor.close()
  } finally {
    await c.end()
  }
}

/** One stream into FerretDB: `insertMany` per page. */
async function referenceToMongo(pages: AsyncGenerator<ReferenceRow[]>, targetUrl: string, mongo: MongoClient): Promise<number> {
  const coll = mongo.db(new URL(targetUrl).pathname.slice(1)).collection('products')
  let docs = 0
  for await (const rows of pages) {
    await coll.insertMany(rows.map(referenceDoc), {ordered: false})
    docs += rows.length
  }
  return docs
}

/** One stream into PostgreSQL: one COPY of every page, into the table strangler's DDL creates. */
async function referenceToPg(pages: AsyncGenerator<ReferenceRow[]>, targetUrl: string, columns: readonly string[]): Promise<number> {
  const c = new pg.Client({connectionString: targetUrl})
  await c.connect()
  let docs = 0
  try {
    const lines = Readable.from(
      (async function* () {
        for await (const rows of pages) {
          docs += rows.length
          yield rows.map((r) => columns.map((k) => copyValue((r as unknown as Record<string, string | number | null>)[k])).join('\t') + '\n').join('')
        }
      })(),
    )
    await pipeline(lines, c.query(copyFrom(`COPY "products" (${columns.map((k) => `"${k}"`).join(', ')}) FROM STDIN`)))
  } finally {
    await c.end()
  }
  return docs
}

/** Creates the target table as strangler would (its DDL); returns its columns. */
async function createPgTarget(monolithUrl: string, targetUrl: string): Promise<string[]> {
  const plan = benchPlan(monolithUrl, targetUrl)
  const mono = await PostgresEngine.open({url: monolithUrl})
  const tgt = await PostgresEngine.open({url: targetUrl})
  try {
    const svc = plan.services[SERVICE]
    const e = await resolveEntity(SERVICE, svc, svc.entities[0], 0, mono)
    await tgt.createTarget(e.targetSpec)
    return e.targetSpec.columns.map((c) => c.name)
  } finally {
    await mono.close()
    await tgt.close()
  }
}

async function referenceRole(): Promise<unknown> {
  const monolith = process.env.BENCH_AGG_MONOLITH!
  const targetUrl = process.env.BENCH_AGG_TARGET!
  const mongo = target === 'mongo' ? new MongoClient(targetUrl) : undefined
  try {
    let columns: string[] = []
    if (mongo) {
      await mongo.connect()
      await mongo.db(new URL(targetUrl).pathname.slice(1)).createCollection('products')
    } else {
      columns = await createPgTarget(monolith, targetUrl)
    }
    const baseline = rssMb()
    const stats = {fetches: 0}
    const t0 = performance.now()
    const slice = Math.ceil(products / refParallel)
    const parts = await Promise.all(
      Array.from({length: refParallel}, (_, i) => {
        const pages = referencePages(monolith, i * slice + 1, Math.min(products, (i + 1) * slice), 1000, stats)
        return mongo ? referenceToMongo(pages, targetUrl, mongo) : referenceToPg(pages, targetUrl, columns)
      }),
    )
    const wall = seconds(t0)
    const docs = parts.reduce((n, p) => n + p, 0)
    if (docs !== products) throw new Error(`the reference wrote ${docs} of ${products} documents`)
    return {seconds: round(wall), streams: refParallel, statements: refParallel, cursor_fetches: stats.fetches, baseline_rss_mb: baseline, peak_rss_mb: rssMb()}
  } finally {
    await mongo?.close()
  }
}

// ---------------------------------------------------------------------------------
// the run

/** Runs a role in a child process (same Node, same loader); its result is the last stdout line. */
function child(role: string, env: Record<string, string>): Promise<Record<string, unknown>> {
  const forward = process.argv.slice(2).filter((a, i, all) => a !== '--role' && all[i - 1] !== '--role')
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...forward, '--role', role], {
      env: {...process.env, ...env},
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.on('error', reject)
    p.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? ''
      if (code !== 0) return reject(new Error(`${role} run exited with ${code}`))
      try {
        resolve(JSON.parse(last) as Record<string, unknown>)
      } catch {
        reject(new Error(`${role} run printed no result: ${last.slice(0, 200)}`))
      }
    })
  })
}

/** A document with BSON numbers, decimals and dates as text and keys sorted, for comparison. */
function canonical(v: unknown): unknown {
  if (v instanceof Long || v instanceof Decimal128 || v instanceof Int32 || v instanceof Double) return v.toString()
  if (typeof v === 'number') return String(v)
  if (v instanceof Date) return v.toISOString()
  if (Array.isArray(v)) return v.map(canonical)
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    )
  }
  return v
}

/** What `compareTargets` found: both counts, and the sampled ids whose documents differ (-1: a sampled id is missing). */
interface TargetCheck {
  counts: [number, number]
  compared: number
  different: number[]
}

/** `sample` ids spread over the key range. */
const sampleIds = (sample: number): number[] => Array.from({length: sample}, (_, i) => 1 + Math.floor((i * (products - 1)) / Math.max(1, sample - 1)))

/** Counts both targets and compares `sample` documents spread over the key range (FerretDB: canonical BSON; PostgreSQL: the rows as jsonb). */
async function compareTargets(urls: {strangler: string; reference: string}, sample: number): Promise<TargetCheck> {
  const ids = sampleIds(sample)
  const read = async (url: string): Promise<{count: number; docs: Map<number, string>}> => {
    if (target === 'mongo') {
      const m = new MongoClient(url)
      await m.connect()
      try {
        const coll = m.db(new URL(url).pathname.slice(1)).collection<{_id: Long}>('products')
        const found = await coll.find({_id: {$in: ids.map((i) => Long.fromNumber(i))}}).toArray()
        return {count: await coll.countDocuments(), docs: new Map(found.map((d) => [Number(String(d._id)), JSON.stringify(canonical(d))]))}
      } finally {
        await m.close()
      }
    }
    return withClient(url, async (c) => {
      const {rows} = await c.query(`SELECT t.id::text AS id, to_jsonb(t)::text AS doc FROM "products" AS t WHERE t.id = ANY($1::bigint[])`, [ids])
      const n = Number((await c.query(`SELECT count(*) AS n FROM "products"`)).rows[0].n)
      return {count: n, docs: new Map((rows as {id: string; doc: string}[]).map((r) => [Number(r.id), r.doc]))}
    })
  }
  const [a, b] = [await read(urls.strangler), await read(urls.reference)]
  const different = ids.filter((i) => !a.docs.has(i) || a.docs.get(i) !== b.docs.get(i))
  if (a.docs.size !== ids.length || b.docs.size !== ids.length) different.push(-1)
  return {counts: [a.count, b.count], compared: a.docs.size, different}
}

/** The target databases of this run, named by the bench process. */
function targetUrls(srv: BenchServers): {strangler: string; reference: string} {
  return target === 'mongo'
    ? {strangler: withDb(srv.mongo, `aggbench_${process.pid}_strangler`), reference: withDb(srv.mongo, `aggbench_${process.pid}_reference`)}
    : {strangler: withDb(srv.pg, `strangler_aggbench_${process.pid}_strangler`), reference: withDb(srv.pg, `strangler_aggbench_${process.pid}_reference`)}
}

const dbName = (url: string): string => decodeURIComponent(new URL(url).pathname.slice(1))

async function createTargets(srv: BenchServers, urls: {strangler: string; reference: string}): Promise<void> {
  if (target === 'pg') await withClient(srv.pg, async (c) => {
    for (const u of Object.values(urls)) await c.query(`CREATE DATABASE "${dbName(u)}"`)
  })
}

async function dropTargets(srv: BenchServers, urls: {strangler: string; reference: string}): Promise<void> {
  if (target === 'pg') {
    await withClient(srv.pg, async (c) => {
      for (const u of Object.values(urls)) await c.query(`DROP DATABASE IF EXISTS "${dbName(u)}" WITH (FORCE)`)
    })
    return
  }
  const m = new MongoClient(srv.mongo)
  await m.connect()
  try {
    for (const u of Object.values(urls)) await m.db(dbName(u)).dropDatabase()
  } finally {
    await m.close()
  }
}

/** Read-only figures of the strangler run: queries per root and per chunk, rows per second. */
function summarise(s: Record<string, unknown>, sourceRows: number): Record<string, unknown> {
  const reads = s.reads as Record<string, ReadCount>
  const rootPages = reads['readRange products']?.calls ?? 0
  const related = Object.entries(reads).filter(([k]) => k.startsWith('readByKeys'))
  const relatedCalls = related.reduce((n, [, c]) => n + c.calls, 0)
  const total = rootPages + relatedCalls
  const wall = s.seconds as number
  return {
    ...s,
    products_per_s: Math.round(products / wall),
    source_rows_per_s: Math.round(sourceRows / wall),
    queries: {
      root_pages: rootPages,
      related_reads: Object.fromEntries(related.map(([k, c]) => [k.replace('readByKeys ', ''), c.calls])),
      total,
      per_root: round(total / products, 5),
      per_chunk: round(total / Math.max(1, rootPages), 2),
      max_keys_per_read: Math.max(0, ...related.map(([, c]) => c.maxKeys)),
      seconds_awaiting_related_reads: round(related.reduce((n, [, c]) => n + c.seconds, 0)),
      seconds_awaiting_root_pages: round(reads['readRange products']?.seconds ?? 0),
    },
  }
}

async function main(): Promise<void> {
  const srv = await benchServers(target === 'mongo' ? ['pg', 'mongo'] : ['pg'], log)
  const runDb = `strangler_aggbench_${products}_run${process.pid}`
  const urls = targetUrls(srv)
  const load0 = loadavg()
  try {
    const fixture = await ensureFixture(srv.pg)
    await withClient(srv.pg, (c) => c.query(`CREATE DATABASE "${runDb}" TEMPLATE "${dbName(fixture)}"`))
    await createTargets(srv, urls)
    const monolith = withDb(srv.pg, runDb)
    const pgVersion = await withClient(monolith, async (c) => {
      // one pass over every table: both runs start from the same warm cache
      for (const t of ['categories', 'products', 'product_attributes', 'product_variants']) await c.query(`SELECT count(*), sum(length(t::text)) FROM "${t}" AS t`)
      return String((await c.query(`SELECT current_setting('server_version') AS v`)).rows[0].v)
    })
    const mongoVersion = target === 'mongo' ? await serverVersionMongo(srv.mongo) : undefined
    const sourceRows = products * (1 + ATTRIBUTES + VARIANTS)
    let strangler: Record<string, unknown> | undefined
    let reference: Record<string, unknown> | undefined
    if (!skip.has('strangler')) {
      log(`strangler shadow of ${products} products into ${target} (parallel ${parallel}) …`)
      strangler = summarise(await child('strangler', {BENCH_AGG_MONOLITH: monolith, BENCH_AGG_TARGET: urls.strangler}), sourceRows)
      log(`strangler: ${String(strangler.seconds)} s`)
    }
    if (!skip.has('reference')) {
      log(`reference: json_agg per product, ${target === 'mongo' ? 'insertMany' : 'COPY'}, ${refParallel} stream(s) …`)
      const r = await child('reference', {BENCH_AGG_MONOLITH: monolith, BENCH_AGG_TARGET: urls.reference})
      reference = {...r, products_per_s: Math.round(products / (r.seconds as number)), source_rows_per_s: Math.round(sourceRows / (r.seconds as number))}
      log(`reference: ${String(reference.seconds)} s`)
    }
    const check = strangler && reference ? await compareTargets(urls, 200) : undefined
    const result = {
      products,
      target: target === 'mongo' ? 'ferretdb' : 'postgres',
      attributes_per_product: ATTRIBUTES,
      variants_per_product: VARIANTS,
      categories: CATEGORIES,
      source_rows: sourceRows,
      parallel,
      chunk_rows: chunkRows ?? BACKFILL_DEFAULTS.chunkRows,
      batch_size: batchSize ?? Math.min(BACKFILL_DEFAULTS.batchSize, chunkRows ?? BACKFILL_DEFAULTS.chunkRows),
      strangler,
      reference,
      strangler_over_reference: strangler && reference ? round((strangler.seconds as number) / (reference.seconds as number)) : undefined,
      documents: check ? {strangler: check.counts[0], reference: check.counts[1], compared: check.compared, different: check.different} : undefined,
      machine: {cpus: cpus().length, node: process.version, postgres: pgVersion, mongo: mongoVersion, load_before: load0.map((l) => round(l)), load_after: loadavg().map((l) => round(l))},
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
    if (check && (check.counts[0] !== products || check.counts[1] !== products || check.different.length)) process.exitCode = 1
  } finally {
    if (!args.keep) {
      await dropTargets(srv, urls).catch((err: unknown) => log(`could not drop the target databases: ${String(err)}`))
      await withClient(srv.pg, (c) => c.query(`DROP DATABASE IF EXISTS "${runDb}" WITH (FORCE)`)).catch((err: unknown) => log(`could not drop ${runDb}: ${String(err)}`))
    } else {
      log(`kept: ${runDb}, ${dbName(urls.strangler)}, ${dbName(urls.reference)}`)
    }
    await srv.stop()
  }
}

async function serverVersionMongo(url: string): Promise<string> {
  const m = new MongoClient(url)
  await m.connect()
  try {
    const info = await m.db('admin').command({buildInfo: 1})
    return `${String(info.version)}${info.ferretdbVersion ? ` (FerretDB ${String(info.ferretdbVersion)})` : ''}`
  } finally {
    await m.close()
  }
}

if (args.role === 'strangler' || args.role === 'reference') {
  const out = await (args.role === 'strangler' ? stranglerRole() : referenceRole())
  process.stdout.write(`${JSON.stringify(out)}\n`)
  process.exit(0)
} else {
  await main()
}
