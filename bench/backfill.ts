/**
 * Backfill benchmark: MariaDB monolith → PostgreSQL service, the fixture `users` table.
 *
 *   npm run bench:backfill -- --rows 1000000
 *
 * In one run it measures, into fresh PostgreSQL databases:
 *   pipe_limit  `mariadb --quick --batch --raw -e "SELECT …" | psql -c "COPY users FROM STDIN"`,
 *               the physical limit: two C clients and a pipe, no mapping, no checkpoints;
 *               the SELECT escapes text for COPY inside MariaDB.
 *   pgloader    Debian's pgloader, MySQL → PostgreSQL, that one table.
 *   strangler   `strangler shadow users` as a child process (init first), backfill + relay
 *               catch-up; its peak RSS from /usr/bin/time -v.
 * and prints one JSON line on stdout:
 *   {rows, strangler_s, pipe_limit_s, pgloader_s, strangler_peak_rss_mb, …, load_avg_1m}
 * (`load_avg_1m`: the machine's 1-minute load average before and after each part; other
 * work on the machine moves the timings, the CPU seconds much less).
 *
 * Servers: STRANGLER_BENCH_MYSQL_URL / STRANGLER_BENCH_PG_URL, else STRANGLER_TEST_MYSQL_URL /
 * STRANGLER_TEST_PG_URL (e.g. from `npx tsx scripts/servers.ts`), else the test harness
 * starts local MariaDB and PostgreSQL for the run. The fixture database
 * (`strangler_bench_<rows>` on MariaDB) is kept and reused by later runs unless --reload.
 *
 * Options: --rows N (default 1000000), --parallel N (default 4), --chunk-rows N, --batch-size N,
 * --skip pipe,pgloader,strangler, --reload, --keep (keep the PostgreSQL databases),
 * --cli dev|built (default dev: bin/dev.js on the sources through tsx, which alone adds ≈85 MB of RSS;
 * built: bin/run.js on dist/, after `npm run build`), --cli-root DIR (another checkout or build to run).
 */
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import mysql from 'mysql2/promise'
import pg from 'pg'
import {loadShop} from '../src/fixtures/shop/load.js'
import {validatePlan} from '../src/config/load.js'
import {PostgresEngine} from '../src/engines/postgres/postgres-engine.js'
import {MysqlEngine} from '../src/engines/mysql/mysql-engine.js'
import {resolveEntity} from '../src/mapping/entity-mapping.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const {values: args} = parseArgs({
  options: {
    rows: {type: 'string', default: '1000000'},
    parallel: {type: 'string', default: '4'},
    'chunk-rows': {type: 'string'},
    'batch-size': {type: 'string'},
    skip: {type: 'string', default: ''},
    reload: {type: 'boolean', default: false},
    keep: {type: 'boolean', default: false},
    cli: {type: 'string', default: 'dev'},
    'cli-root': {type: 'string'},
  },
})
const rows = Number(args.rows)
const skip = new Set(args.skip.split(',').map((s) => s.trim()).filter(Boolean))
const log = (m: string): void => void process.stderr.write(`[bench:backfill] ${m}\n`)

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

async function pgAdmin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({connectionString: url})
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

async function ensureFixture(mysqlUrl: string): Promise<string> {
  const db = `strangler_bench_${rows}`
  const admin = await mysql.createConnection({uri: mysqlUrl})
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4`)
    let have = -1
    try {
      const [r] = await admin.query(`SELECT COUNT(*) AS n FROM \`${db}\`.\`users\``)
      have = Number((r as {n: number}[])[0].n)
    } catch {
      // no table yet
    }
    const url = withDb(mysqlUrl, db)
    if (have === rows && !args.reload) {
      log(`fixture ${db}.users has ${rows} rows: reused`)
      return url
    }
    log(`loading ${rows} users into MariaDB ${db} …`)
    const t0 = performance.now()
    await loadShop('mysql', url, {users: rows, tables: ['users']})
    await admin.query(`ANALYZE TABLE \`${db}\`.\`users\``)
    log(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    return url
  } finally {
    await admin.end()
  }
}

/** The DDL strangler creates for the users entity, so the pipe limit fills the very same table shape. */
async function targetDdl(monolithUrl: string, pgUrl: string): Promise<string[]> {
  const plan = validatePlan(benchPlan(monolithUrl, pgUrl, pgUrl))
  const mono = await MysqlEngine.open({url: monolithUrl})
  const target = await PostgresEngine.open({url: pgUrl})
  try {
    const svc = plan.services.users
    const e = await resolveEntity('users', svc, svc.entities[0], 0, mono)
    return target.targetDdl(e.targetSpec)
  } finally {
    await mono.close()
    await target.close()
  }
}

function benchPlan(monolithUrl: string, targetUrl: string, stateUrl: string): Record<string, unknown> {
  return {
    monolith: {url: monolithUrl},
    state: {url: stateUrl},
    services: {users: {target: {url: targetUrl}, isolation: 'own-server', entities: [{source: 'users', sensitive: ['password_hash']}]}},
  }
}

function mysqlCliArgs(url: string): {args: string[]; env: NodeJS.ProcessEnv} {
  const u = new URL(url)
  return {
    args: ['--protocol=tcp', '-h', u.hostname, '-P', u.port || '3306', '-u', decodeURIComponent(u.username), decodeURIComponent(u.pathname.slice(1))],
    env: {MYSQL_PWD: decodeURIComponent(u.password)},
  }
}

/** COPY text format built inside MariaDB: backslash, tab, newline and CR escaped, NULL as \N, binary as \x hex. */
function pipeSelect(columns: {name: string; type: string}[]): string {
  const q = (c: string): string => `\`${c}\``
  const text = (c: string): string => `REPLACE(REPLACE(REPLACE(REPLACE(${q(c)}, '\\\\', '\\\\\\\\'), '\\t', '\\\\t'), '\\n', '\\\\n'), '\\r', '\\\\r')`
  const expr = columns.map((c) => {
    let e: string
    if (c.type === 'binary') e = `CONCAT('\\\\\\\\x', HEX(${q(c.name)}))`
    else if (['text', 'varchar', 'char', 'json'].includes(c.type)) e = text(c.name)
    else e = q(c.name)
    return `IFNULL(${e}, '\\\\N')`
  })
  return `SELECT ${expr.join(', ')} FROM \`users\``
}

/** The server process listening on a port (local servers only), found by its command line. */
function serverPid(url: string, flag: (port: string) => RegExp): number | undefined {
  const port = new URL(url).port
  if (!port) return undefined
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      if (flag(port).test(readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '))) return Number(d)
    } catch {
      // gone
    }
  }
  return undefined
}

/** CPU seconds of a process and its reaped children (PostgreSQL backends are reaped by the postmaster). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100
  } catch {
    return NaN
  }
}

interface CpuMeter {
  /** CPU seconds the servers used since the meter was started. */
  stop(): {pg: number; mariadb: number}
}

let pids: {pg?: number; mariadb?: number} = {}
function meter(): CpuMeter {
  const pg0 = cpuSeconds(pids.pg)
  const my0 = cpuSeconds(pids.mariadb)
  return {stop: () => ({pg: round(cpuSeconds(pids.pg) - pg0) ?? NaN, mariadb: round(cpuSeconds(pids.mariadb) - my0) ?? NaN})}
}

/** Runs a shell pipeline; returns its wall seconds and the CPU seconds of every process in it. */
function timeShell(script: string, env: NodeJS.ProcessEnv): {seconds: number; cpu: number} {
  const t0 = performance.now()
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCH_CPU %U %S', 'bash', '-o', 'pipefail', '-c', script], {env: {...process.env, ...env}, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20})
  const seconds = (performance.now() - t0) / 1000
  const err = r.stderr.toString()
  if (r.status !== 0) throw new Error(`failed (${r.status}): ${err.slice(-2000)}`)
  const m = /BENCH_CPU ([\d.]+) ([\d.]+)/.exec(err)
  return {seconds, cpu: m ? Number(m[1]) + Number(m[2]) : NaN}
}

async function countPg(url: string, table: string): Promise<number> {
  const c = new pg.Client({connectionString: url})
  await c.connect()
  try {
    return Number((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n)
  } finally {
    await c.end()
  }
}

async function pipeLimit(monolithUrl: string, pgUrl: string, ddl: string[]): Promise<number> {
  const url = withDb(pgUrl, `bench_pipe_${process.pid}`)
  await pgAdmin(pgUrl, `CREATE DATABASE "bench_pipe_${process.pid}"`)
  for (const s of ddl) await pgAdmin(url, s)
  const target = await PostgresEngine.open({url})
  const mono = await MysqlEngine.open({url: monolithUrl})
  const info = await mono.introspect({name: 'users'})
  await mono.close()
  await target.close()
  const my = mysqlCliArgs(monolithUrl)
  const cols = info.columns.map((c) => ({name: c.name, type: c.type}))
  const pgu = new URL(url)
  const env = {...my.env, BENCH_SELECT: pipeSelect(cols), PGPASSWORD: decodeURIComponent(pgu.password)}
  const psqlConn = `-h ${pgu.hostname} -p ${pgu.port} -U ${decodeURIComponent(pgu.username)} -d ${pgu.pathname.slice(1)}`
  const script = `mariadb ${my.args.map((a) => `'${a}'`).join(' ')} --quick --batch --raw --skip-column-names -e "$BENCH_SELECT" | psql ${psqlConn} -v ON_ERROR_STOP=1 -c 'COPY "users" FROM STDIN'`
  log('pipe limit: mariadb | psql COPY …')
  const m = meter()
  const {seconds: s, cpu: clients} = timeShell(script, env)
  await new Promise((r) => setTimeout(r, 300)) // the backend exits (and is reaped) just after psql
  cpu.pipe = {...m.stop(), clients: round(clients) ?? NaN}
  const n = await countPg(url, '"users"')
  if (n !== rows) throw new Error(`pipe limit copied ${n} rows, expected ${rows}`)
  log(`pipe limit: ${s.toFixed(2)} s`)
  if (!args.keep) await pgAdmin(pgUrl, `DROP DATABASE "bench_pipe_${process.pid}" WITH (FORCE)`)
  return s
}

async function pgloader(monolithUrl: string, pgUrl: string): Promise<number> {
  const db = `bench_pgloader_${process.pid}`
  await pgAdmin(pgUrl, `CREATE DATABASE "${db}"`)
  const dir = mkdtempSync(join(tmpdir(), 'strangler-bench-'))
  const file = join(dir, 'users.load')
  const src = new URL(monolithUrl)
  src.protocol = 'mysql:'
  const dst = new URL(withDb(pgUrl, db))
  dst.protocol = 'postgresql:'
  writeFileSync(
    file,
    `LOAD DATABASE
  FROM ${src.toString()}
  INTO ${dst.toString()}
  WITH include drop, create tables, create indexes, reset sequences, workers = 4, concurrency = 1, prefetch rows = 10000, batch rows = 10000
  INCLUDING ONLY TABLE NAMES MATCHING 'users'
  ALTER SCHEMA '${decodeURIComponent(src.pathname.slice(1))}' RENAME TO 'public';
`,
    {mode: 0o600},
  )
  log('pgloader …')
  try {
    const m = meter()
    const {seconds: s, cpu: own} = timeShell(`pgloader --no-ssl-cert-verification --quiet ${file}`, {})
    await new Promise((r) => setTimeout(r, 300))
    cpu.pgloader = {...m.stop(), pgloader: round(own) ?? NaN}
    const n = await countPg(withDb(pgUrl, db), 'public.users')
    if (n !== rows) throw new Error(`pgloader copied ${n} rows, expected ${rows}`)
    log(`pgloader: ${s.toFixed(2)} s`)
    return s
  } finally {
    rmSync(dir, {recursive: true, force: true})
    if (!args.keep) await pgAdmin(pgUrl, `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)
  }
}

interface StranglerRun {
  seconds: number
  peakRssMb: number
  backfillSeconds: number | undefined
}

async function strangler(monolithUrl: string, pgUrl: string): Promise<StranglerRun> {
  const target = `bench_strangler_${process.pid}`
  const state = `bench_state_${process.pid}`
  await pgAdmin(pgUrl, `CREATE DATABASE "${target}"`)
  await pgAdmin(pgUrl, `CREATE DATABASE "${state}"`)
  const dir = mkdtempSync(join(tmpdir(), 'strangler-bench-'))
  const planFile = join(dir, 'strangler.config.json')
  writeFileSync(planFile, JSON.stringify(benchPlan(monolithUrl, withDb(pgUrl, target), withDb(pgUrl, state)), null, 2), {mode: 0o600})
  const built = args.cli === 'built'
  const root = args['cli-root'] ? resolve(args['cli-root']) : ROOT
  const cli = built ? [join(root, 'bin/run.js')] : ['--import', import.meta.resolve('tsx'), '--disable-warning=ExperimentalWarning', join(root, 'bin/dev.js')]
  const run = (argv: string[], timed: boolean): Promise<{stdout: string; stderr: string; code: number | null}> =>
    new Promise((res, rej) => {
      const cmd = timed ? '/usr/bin/time' : process.execPath
      const full = timed ? ['-v', process.execPath, ...cli, ...argv] : [...cli, ...argv]
      const child = spawn(cmd, full, {cwd: dir, env: {...process.env, STRANGLER_OPERATOR: 'bench', ...(process.env.BENCH_NODE_OPTIONS ? {NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS} : {})}, stdio: ['ignore', 'pipe', 'pipe']})
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.on('error', rej)
      child.on('exit', (code) => res({stdout, stderr, code}))
    })
  try {
    log(`strangler (${built ? 'built' : 'dev'} CLI): init …`)
    const init = await run(['init', '--json'], false)
    if (init.code !== 0) throw new Error(`strangler init failed: ${init.stdout}${init.stderr}`)
    const flags = ['--parallel', args.parallel]
    if (args['chunk-rows']) flags.push('--chunk-rows', args['chunk-rows'])
    if (args['batch-size']) flags.push('--batch-size', args['batch-size'])
    log(`strangler shadow users ${flags.join(' ')} …`)
    const t0 = performance.now()
    const m = meter()
    const r = await run(['shadow', 'users', '--json', ...flags], true)
    const seconds = (performance.now() - t0) / 1000
    const cpuNode = /User time \(seconds\): ([\d.]+)[\s\S]*System time \(seconds\): ([\d.]+)/.exec(r.stderr)
    cpu.strangler = {...m.stop(), node: cpuNode ? round(Number(cpuNode[1]) + Number(cpuNode[2])) ?? NaN : NaN}
    if (r.code !== 0) throw new Error(`strangler shadow failed (${r.code}): ${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`)
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)
    const out = JSON.parse(r.stdout) as {backfill?: {seconds: number}}
    const n = await countPg(withDb(pgUrl, target), '"users"')
    if (n !== rows) throw new Error(`strangler copied ${n} rows, expected ${rows}`)
    log(`strangler: ${seconds.toFixed(2)} s (backfill ${out.backfill?.seconds} s), peak RSS ${rss ? (Number(rss[1]) / 1024).toFixed(0) : '?'} MB`)
    // leave the monolith as it was: triggers and outbox go away
    const abort = await run(['shadow', 'users', '--abort', '--json'], false)
    if (abort.code !== 0) log(`warning: shadow --abort failed: ${abort.stdout}${abort.stderr}`)
    return {seconds, peakRssMb: rss ? Number(rss[1]) / 1024 : NaN, backfillSeconds: out.backfill?.seconds}
  } finally {
    rmSync(dir, {recursive: true, force: true})
    if (!args.keep) {
      await pgAdmin(pgUrl, `DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`)
      await pgAdmin(pgUrl, `DROP DATABASE IF EXISTS "${state}" WITH (FORCE)`)
    }
  }
}

const cpu: Record<string, Record<string, number>> = {}

/** The 1-minute load average before and after each part. */
const load: Record<string, [number, number]> = {}

async function loaded<T>(part: string, fn: () => Promise<T>): Promise<T> {
  const before = loadavg()[0]
  const out = await fn()
  load[part] = [Math.round(before * 100) / 100, Math.round(loadavg()[0] * 100) / 100]
  return out
}

const round = (n: number | undefined): number | null => (n === undefined || Number.isNaN(n) ? null : Math.round(n * 100) / 100)

async function main(): Promise<void> {
  if (!Number.isInteger(rows) || rows <= 0) throw new Error('--rows must be a positive integer')
  const s = await servers()
  pids = {pg: serverPid(s.pgUrl, (p) => new RegExp(`postgres .*-p ${p}( |$)`)), mariadb: serverPid(s.mysqlUrl, (p) => new RegExp(`mariadbd .*--port=${p}( |$)`))}
  try {
    const monolithUrl = await ensureFixture(s.mysqlUrl)
    const ddl = await targetDdl(monolithUrl, s.pgUrl)
    const pipe = skip.has('pipe') ? undefined : await loaded('pipe', () => pipeLimit(monolithUrl, s.pgUrl, ddl))
    const loader = skip.has('pgloader') ? undefined : await loaded('pgloader', () => pgloader(monolithUrl, s.pgUrl))
    const st = skip.has('strangler') ? undefined : await loaded('strangler', () => strangler(monolithUrl, s.pgUrl))
    const result = {
      rows,
      strangler_s: round(st?.seconds),
      pipe_limit_s: round(pipe),
      pgloader_s: round(loader),
      strangler_peak_rss_mb: round(st?.peakRssMb),
      strangler_backfill_s: round(st?.backfillSeconds),
      parallel: Number(args.parallel),
      cli: args.cli,
      strangler_vs_pipe: st && pipe ? round(st.seconds / pipe) : null,
      pgloader_vs_strangler: st && loader ? round(loader / st.seconds) : null,
      /** CPU seconds per run: the servers', the clients' (pipe), pgloader's, strangler's node process; and their sums (load-independent). */
      cpu_s: cpu,
      cpu_total_s: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round(Object.values(v).reduce((a, x) => a + x, 0))])),
      load_avg_1m: load,
      machine: machine(),
    }
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    await s.stop()
  }
}

function machine(): string {
  try {
    const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?'
    const cores = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length
    const mem = Number(/MemTotal:\s*(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024 / 1024
    return `${cpu}, ${cores} cores, ${mem.toFixed(0)} GB, Node ${process.version}`
  } catch {
    return process.version
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench:backfill] ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(2)
})
