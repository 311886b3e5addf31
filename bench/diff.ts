/**
 * Diff benchmark: MariaDB monolith → PostgreSQL service (or PostgreSQL → PostgreSQL with
 * --pair pg-pg), the fixture `users` table (every column but the JSON `preferences`, so
 * both sides hash in SQL).
 *
 *   npm run bench:diff -- --rows 1000000
 *
 * In one run it measures:
 *   limit              the physical limit: one statement per side computing the diff's row
 *                      hash of every row exactly once (`SELECT count(*), sum(<one 32-bit md5
 *                      slice>)` over the whole table, no derived table), both sides at once;
 *                      no comparison with this row hash can do less work.
 *   strangler identical  `runDiff` (what `strangler diff users` runs) on identical tables.
 *   strangler 10 diff  the same after planting 10 scattered differences in the service
 *                      table (4 changed, 3 missing, 3 extra); checks they are found exactly.
 *   reladiff           reladiff (PyPI, in a venv under .tmp/) on the same pair with its
 *                      default chunking (bisection factor 32, threshold 16384) and as many
 *                      threads per database as strangler's parallelism; the 10 differences.
 *                      reladiff 0.6 crashes on binary columns (bytes vs str, exit 0), so it
 *                      compares every column but `avatar`; its MySQL connection is utf8mb3,
 *                      so on MariaDB it reports rows with emoji as differences (counted in
 *                      `reladiff_keys`).
 * and prints one JSON line on stdout:
 *   {rows, limit_s, strangler_identical_s, strangler_10diff_s, reladiff_s, ...}
 *
 * Servers: STRANGLER_BENCH_MYSQL_URL / STRANGLER_BENCH_PG_URL, else STRANGLER_TEST_MYSQL_URL /
 * STRANGLER_TEST_PG_URL (e.g. from `npx tsx scripts/servers.ts`), else the test harness
 * starts local MariaDB and PostgreSQL for the run. The fixture databases
 * (`strangler_diffbench_<rows>` on both) are kept and reused unless --reload.
 *
 * Options: --rows N (default 1000000), --pair mariadb-pg|pg-pg (default mariadb-pg),
 * --parallel N (default 2), --threads N (reladiff, default = --parallel), --skip reladiff,
 * --reload.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import mysql from 'mysql2/promise'
import pg from 'pg'
import {loadShop} from '../src/fixtures/shop/load.js'
import {validatePlan} from '../src/config/load.js'
import {prepareComparison} from '../src/diff/entity-diff.js'
import {runDiff} from '../src/diff/run-diff.js'
import {Workspace} from '../src/workspace.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const {values: args} = parseArgs({
  options: {
    rows: {type: 'string', default: '1000000'},
    pair: {type: 'string', default: 'mariadb-pg'},
    parallel: {type: 'string', default: '2'},
    threads: {type: 'string'},
    skip: {type: 'string', default: ''},
    reload: {type: 'boolean', default: false},
  },
})
const rows = Number(args.rows)
if (args.pair !== 'mariadb-pg' && args.pair !== 'pg-pg') throw new Error(`--pair must be mariadb-pg or pg-pg, not ${args.pair}`)
const pgSource = args.pair === 'pg-pg'
const parallel = Number(args.parallel)
const skip = new Set(args.skip.split(',').map((s) => s.trim()).filter(Boolean))
const log = (m: string): void => void process.stderr.write(`[bench:diff] ${m}\n`)
const seconds = (t0: number): number => (performance.now() - t0) / 1000

function withDb(url: string, db: string): string {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

async function servers(): Promise<{mysqlUrl: string; pgUrl: string; stop: () => Promise<void>}> {
  const mysqlUrl = process.env.STRANGLER_BENCH_MYSQL_URL ?? process.env.STRANGLER_TEST_MYSQL_URL
  const pgUrl = process.env.STRANGLER_BENCH_PG_URL ?? process.env.STRANGLER_TEST_PG_URL
  if (mysqlUrl && pgUrl) return {mysqlUrl, pgUrl, stop: async () => undefined}
  log('no server URLs in the environment: starting local MariaDB and PostgreSQL (test harness)')
  process.env.STRANGLER_TEST_SKIP_UNLEASH = '1'
  const {TestServers} = await import('../test/helpers/servers.js')
  const s = await TestServers.start({unleash: false, log})
  return {mysqlUrl: s.info.mysql, pgUrl: s.info.pg, stop: () => s.stop()}
}

const DB = `strangler_diffbench_${rows}`

/** The same deterministic `users` rows in MariaDB and in PostgreSQL, loaded once and reused. */
async function fixtures(mysqlUrl: string, pgUrl: string): Promise<{source: string; pg: string}> {
  const pgDb = withDb(pgUrl, DB)
  const source = pgSource ? await pgSourceFixture(pgUrl) : await mysqlFixture(mysqlUrl)
  await createPgDb(pgUrl, DB)
  // always reload the service copy: the previous run planted differences in it
  log(`loading ${rows} users into PostgreSQL ${DB} …`)
  const t0 = performance.now()
  await loadShop('postgres', pgDb, {users: rows, tables: ['users']})
  log(`loaded in ${seconds(t0).toFixed(1)} s`)
  return {source, pg: pgDb}
}

async function createPgDb(pgUrl: string, db: string): Promise<boolean> {
  const c = new pg.Client({connectionString: pgUrl})
  await c.connect()
  try {
    const exists = (await c.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [db])).rowCount
    if (!exists) await c.query(`CREATE DATABASE "${db}"`)
    return !exists
  } finally {
    await c.end()
  }
}

async function pgSourceFixture(pgUrl: string): Promise<string> {
  const db = `${DB}_src`
  const url = withDb(pgUrl, db)
  await createPgDb(pgUrl, db)
  const c = new pg.Client({connectionString: url})
  await c.connect()
  let have = -1
  try {
    have = Number((await c.query(`SELECT count(*) AS n FROM users`)).rows[0].n)
  } catch {
    // no table yet
  } finally {
    await c.end()
  }
  if (have !== rows || args.reload) {
    log(`loading ${rows} users into PostgreSQL ${db} (the monolith) …`)
    await loadShop('postgres', url, {users: rows, tables: ['users']})
  } else log(`PostgreSQL ${db}.users has ${rows} rows: reused`)
  return url
}

async function mysqlFixture(mysqlUrl: string): Promise<string> {
  const my = withDb(mysqlUrl, DB)
  const admin = await mysql.createConnection({uri: mysqlUrl})
  let have = -1
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${DB}\` CHARACTER SET utf8mb4`)
    try {
      const [r] = await admin.query(`SELECT COUNT(*) AS n FROM \`${DB}\`.\`users\``)
      have = Number((r as {n: number}[])[0].n)
    } catch {
      // no table yet
    }
    if (have !== rows || args.reload) {
      log(`loading ${rows} users into MariaDB ${DB} …`)
      const t0 = performance.now()
      await loadShop('mysql', my, {users: rows, tables: ['users']})
      await admin.query(`ANALYZE TABLE \`${DB}\`.\`users\``)
      log(`loaded in ${seconds(t0).toFixed(1)} s`)
    } else log(`MariaDB ${DB}.users has ${rows} rows: reused`)
  } finally {
    await admin.end()
  }
  return my
}

function plan(monolith: string, target: string) {
  return validatePlan({
    monolith: {url: monolith},
    // the control plane next to the service, so the monolith stays as loaded
    state: {url: target},
    services: {users: {target: {url: target}, entities: [{source: 'users', exclude: ['preferences'], sensitive: ['password_hash']}]}},
  })
}

/** Both sides hash every row once, in one statement each, at the same time. */
async function limit(ws: Workspace): Promise<number> {
  const e = (await ws.entities('users'))[0]
  const target = await ws.target('users')
  const cmp = await prepareComparison(e, ws.monolith, target)
  if (cmp.strategy.mode !== 'push-down') throw new Error(`expected push-down, got ${cmp.strategy.mode}: ${cmp.strategy.reasons.join('; ')}`)
  const a = ws.monolith.sql!
  const b = target.sql!
  // the row hash once per row, one slice summed: no derived table, no second evaluation
  const once = (dialect: string, hash: string, table: string): string =>
    dialect === 'postgres'
      ? `SELECT count(*)::text AS n, coalesce(sum(('x' || substr(${hash}, 1, 8))::bit(32)::bigint), 0)::text AS s FROM ${table}`
      : `SELECT CAST(COUNT(*) AS CHAR) AS n, CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(${hash}, 1, 8), 16, 10) AS UNSIGNED)), 0) AS CHAR) AS s FROM ${table}`
  const qa = once(a.dialect, cmp.strategy.sourceHashSql!, a.quoteTable(e.source))
  const qb = once(b.dialect, cmp.strategy.targetHashSql!, b.quoteTable(e.target))
  const t0 = performance.now()
  const [ra, rb] = await Promise.all([a.query<Record<string, unknown>>(qa), b.query<Record<string, unknown>>(qb)])
  const s = seconds(t0)
  if (String(ra[0].n) !== String(rb[0].n) || String(ra[0].s) !== String(rb[0].s)) log(`note: whole-table hash sums differ: ${JSON.stringify(ra[0])} vs ${JSON.stringify(rb[0])}`)
  return s
}

/** 4 changed, 3 missing, 3 extra rows, spread over the key space of the service table. */
async function plant(pgUrl: string): Promise<{changed: number[]; missing: number[]; extra: number[]}> {
  const at = (i: number): number => Math.max(1, Math.floor((rows * (i + 0.5)) / 10))
  const changed = [0, 3, 6, 9].map(at)
  const missing = [1, 4, 7].map(at)
  const extra = [0, -1, rows + 1]
  const c = new pg.Client({connectionString: pgUrl})
  await c.connect()
  try {
    await c.query(`UPDATE users SET loyalty_points = loyalty_points + 1 WHERE id = ANY($1)`, [changed])
    await c.query(`DELETE FROM users WHERE id = ANY($1)`, [missing])
    for (const id of extra) {
      await c.query(`INSERT INTO users (id, email, password_hash, created_at, is_active, loyalty_points, balance, external_id)
        VALUES ($1, $2, 'x', '2020-01-01', true, 0, 0, gen_random_uuid())`, [id, `extra${id}@example.org`])
    }
  } finally {
    await c.end()
  }
  return {changed, missing, extra}
}

function reladiffBin(): string {
  const venv = join(ROOT, '.tmp', 'reladiff-venv')
  const bin = join(venv, 'bin', 'reladiff')
  if (!existsSync(bin)) {
    log('installing reladiff into .tmp/reladiff-venv (pip) …')
    mkdirSync(dirname(venv), {recursive: true})
    const py = spawnSync('python3', ['-m', 'venv', venv], {stdio: 'inherit'})
    if (py.status !== 0) throw new Error('python3 -m venv failed')
    const pip = spawnSync(join(venv, 'bin', 'pip'), ['install', '-q', 'reladiff[mysql,postgresql]'], {stdio: 'inherit'})
    if (pip.status !== 0) throw new Error('pip install reladiff failed')
  }
  return bin
}

/** reladiff on the same pair and columns; returns its time and the differing keys it printed. */
function reladiff(source: string, pgUrl: string, columns: string[]): {s: number; keys: Set<string>} {
  const bin = reladiffBin()
  const threads = args.threads ?? String(parallel)
  const uri = (u: string): string => u.replace(/^mariadb:/, 'mysql:').replace(/^postgres:/, 'postgresql:')
  const cli = [uri(source), 'users', uri(pgUrl), 'users', '-k', 'id', ...columns.filter((c) => c !== 'id').flatMap((c) => ['-c', c]), '-j', threads, '--json']
  log(`reladiff -j ${threads} …`)
  const t0 = performance.now()
  // a wide "terminal", or reladiff's console wraps its JSON lines
  const r = spawnSync(bin, cli, {encoding: 'utf8', maxBuffer: 256 << 20, env: {...process.env, COLUMNS: '1000000'}})
  const s = seconds(t0)
  // reladiff logs errors and still exits 0: an ERROR line means it did not finish
  if (r.status !== 0 || /\bERROR\b/.test(r.stderr)) throw new Error(`reladiff failed (${r.status}): ${r.stderr.slice(-2000)}`)
  const keys = new Set<string>()
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue
    try {
      // ["-", [key, ...columns]] (only in the first table) / ["+", [...]] (only in the second)
      const j = JSON.parse(line) as [string, unknown[]]
      if (Array.isArray(j) && Array.isArray(j[1])) keys.add(String(j[1][0]))
    } catch {
      // not a JSON line
    }
  }
  return {s, keys}
}

async function main(): Promise<void> {
  const srv = await servers()
  try {
    const {source, pg: pgDb} = await fixtures(srv.mysqlUrl, srv.pgUrl)
    const ws = await Workspace.open(plan(source, pgDb), {runId: `bench-diff-${process.pid}`})
    try {
      await ws.state.migrate()
      const e = (await ws.entities('users'))[0]
      // warm both buffer caches once, so every measurement below reads from memory alike
      await limit(ws)
      const limitS = Math.min(await limit(ws), await limit(ws))
      log(`limit: ${limitS.toFixed(2)} s`)

      let t0 = performance.now()
      const same = await runDiff(ws, {service: 'users', parallel})
      const identicalS = seconds(t0)
      const ent = same.services[0].entities[0]
      log(`strangler identical: ${identicalS.toFixed(2)} s, ${same.status}, ${ent.chunks} chunks, mode ${ent.mode}`)
      if (same.status !== 'clean') throw new Error(`identical tables did not diff clean: ${JSON.stringify(same.totals)}`)

      const planted = await plant(pgDb)
      t0 = performance.now()
      const diff = await runDiff(ws, {service: 'users', parallel})
      const tenS = seconds(t0)
      const d = diff.services[0].entities[0]
      const found = {
        changed: d.changed.map((c) => Number(c.key[0])).sort((a, b) => a - b),
        missing: d.missing.map((k) => Number(k[0])).sort((a, b) => a - b),
        extra: d.extra.map((k) => Number(k[0])).sort((a, b) => a - b),
      }
      const exact =
        JSON.stringify(found.changed) === JSON.stringify(planted.changed) &&
        JSON.stringify(found.missing) === JSON.stringify(planted.missing) &&
        JSON.stringify(found.extra) === JSON.stringify([...planted.extra].sort((a, b) => a - b))
      log(`strangler 10 differences: ${tenS.toFixed(2)} s, found ${JSON.stringify(found)}${exact ? ' (exactly the planted keys)' : ' — NOT the planted keys!'}`)

      let reladiffS: number | null = null
      let reladiffFound: number | null = null
      if (!skip.has('reladiff')) {
        const r = reladiff(source, pgDb, e.columns.filter((c) => c.type !== 'binary').map((c) => c.name))
        reladiffS = r.s
        reladiffFound = r.keys.size
        log(`reladiff: ${r.s.toFixed(2)} s, ${r.keys.size} differing keys`)
      }
      const out = {
        rows,
        pair: pgSource ? 'postgres→postgres' : 'mariadb→postgres',
        limit_s: round(limitS),
        strangler_identical_s: round(identicalS),
        strangler_10diff_s: round(tenS),
        reladiff_s: reladiffS === null ? null : round(reladiffS),
        identical_vs_limit: round(identicalS / limitS),
        diff10_vs_limit: round(tenS / limitS),
        reladiff_vs_strangler_10diff: reladiffS === null ? null : round(reladiffS / tenS),
        found_exactly: exact,
        reladiff_keys: reladiffFound,
        parallel,
        chunks: ent.chunks,
      }
      process.stdout.write(`${JSON.stringify(out)}\n`)
    } finally {
      await ws.close()
    }
  } finally {
    await srv.stop()
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100
}

await main()
