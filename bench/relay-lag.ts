/**
 * Relay lag at a steady write rate: an application writes into the fixture's
 * `users` table of the monolith at a fixed rate (inserts, updates, deletes)
 * while `strangler relay users --follow` runs as its own process; the outbox
 * lag (age of the oldest unconsumed change, the gate's measure) is sampled
 * every 100 ms.
 *
 *   node --import tsx bench/relay-lag.ts --engine mysql|postgres --url URL [--target-url URL] [--rate 1000] [--seconds 30] [--capture logical]
 *
 * --url / --target-url are server URLs: scratch databases are created on them
 * (the target defaults to a PostgreSQL server: STRANGLER_BENCH_PG_URL or
 * STRANGLER_TEST_PG_URL) and dropped at the end. Prints a JSON line per second
 * (writes, lag p50/p99/max of that second, pending) and a summary with lag
 * p50/p99/max over the run, the achieved write rate, and the relay process's
 * peak RSS (VmHWM), next to the RSS of the same CLI doing nothing (`relay --help`: the
 * development entry point loads every command through tsx, most of the figure).
 * `--capture logical` (PostgreSQL with wal_level = logical) captures through a
 * replication slot instead of triggers; the lag then counts what waits in the
 * slot as well as in the outbox.
 */
import {spawn, spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import {installCapture, serviceOutbox} from '../src/capture/capture.js'
import {configSchema} from '../src/config/schema.js'
import {writeCheckpoint} from '../src/state/checkpoints.js'
import {Workspace} from '../src/workspace.js'
import {appPool, createUsers, defaultUrl, emit, insertSql, percentile, scratchDb, userParams, type BenchEngine} from './capture-bench-support.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const {values: args} = parseArgs({
  options: {
    engine: {type: 'string', default: 'mysql'},
    url: {type: 'string'},
    'target-url': {type: 'string'},
    rate: {type: 'string', default: '1000'},
    seconds: {type: 'string', default: '30'},
    'batch-size': {type: 'string', default: '500'},
    keep: {type: 'boolean', default: false},
    capture: {type: 'string', default: 'triggers'},
  },
})
const engine = args.engine as BenchEngine
if (engine !== 'postgres' && engine !== 'mysql') throw new Error('--engine must be postgres or mysql')
const serverUrl = args.url ?? defaultUrl(engine)
const targetServer = args['target-url'] ?? defaultUrl('postgres')
if (!serverUrl || !targetServer) throw new Error('--url and --target-url are required (or STRANGLER_BENCH_*_URL / STRANGLER_TEST_*_URL)')
const rate = Number(args.rate)
const seconds = Number(args.seconds)
const log = (m: string): void => void process.stderr.write(`[bench:relay-lag] ${m}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const source = await scratchDb(engine, serverUrl, 'strangler_bench_lag_src')
const target = await scratchDb('postgres', targetServer, 'strangler_bench_lag_tgt')
const dir = mkdtempSync(join(tmpdir(), 'strangler-bench-lag-'))
const app = appPool(engine, source.url, 16)
if (args.capture !== 'triggers' && args.capture !== 'logical') throw new Error('--capture must be triggers or logical')
if (args.capture === 'logical' && engine !== 'postgres') throw new Error('--capture logical needs --engine postgres')
const planInput = {monolith: {url: source.url, capture: args.capture}, services: {users: {target: {url: target.url}, entities: [{source: 'users'}]}}}
const planFile = join(dir, 'strangler.config.json')
writeFileSync(planFile, JSON.stringify(planInput))
let ws: Workspace | undefined
let relay: ReturnType<typeof spawn> | undefined

try {
  await createUsers(engine, app)
  ws = await Workspace.open(configSchema.parse(planInput), {runId: randomUUID()})
  await ws.state.migrate()
  const tgt = await ws.target('users')
  for (const e of await ws.entities('users')) {
    await tgt.createTarget(e.targetSpec)
    await writeCheckpoint(ws.state, 'users', e.name, 'backfill', {done: true})
  }
  await installCapture(ws, 'users')
  // some rows to update and delete
  const seed = 5000
  for (let i = 0; i < seed; i += 500) await app.exec(insertSql(500), Array.from({length: 500}, (_, j) => userParams(i + j + 1)).flat())
  const outbox = serviceOutbox(ws, 'users')

  relay = spawn(process.execPath, ['--import', 'tsx', '--disable-warning=ExperimentalWarning', 'bin/dev.js', 'relay', 'users', '--follow', '--json', '--config', planFile, '--batch-size', args['batch-size']], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let relayOut = ''
  relay.stdout!.on('data', (d) => (relayOut += d))
  const relayExit = new Promise<number | null>((res) => relay!.on('exit', (code) => res(code)))
  const rss = () => {
    try {
      const s = readFileSync(`/proc/${relay!.pid}/status`, 'utf8')
      return {hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024, rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024}
    } catch {
      return {hwm: 0, rss: 0}
    }
  }
  // wait until the relay has applied the seed rows (under logical capture another process cannot see inside the relay's stream: count the target)
  const usersTarget = (await ws.entities('users'))[0].target
  for (let i = 0; ; i++) {
    if ((await outbox.lag()).pending === 0 && (await tgt.count(usersTarget)) >= seed) break
    if (i > 1200) throw new Error('the relay did not drain the seed rows within 120 s')
    await sleep(100)
  }
  log(`relay up (pid ${relay.pid}); writing ${rate}/s for ${seconds} s`)

  // the writer: fixed rate, 60 % inserts, 30 % updates, 10 % deletes
  let nextId = seed + 1
  let written = 0
  let writeErrors = 0
  let running = true
  const inflight = new Set<Promise<unknown>>()
  const one = insertSql(1)
  const started = performance.now()
  const writer = (async () => {
    const tickMs = 10
    let due = 0
    while (running) {
      const elapsed = (performance.now() - started) / 1000
      const target = Math.floor(elapsed * rate)
      while (due < target) {
        due++
        const r = due % 10
        const p =
          r < 6
            ? app.exec(one, userParams(nextId++))
            : r < 9
              ? app.exec(`UPDATE users SET loyalty_points = loyalty_points + 1, updated_at = ? WHERE id = ?`, ['2024-05-06 07:08:09.5', 1 + ((due * 7919) % (nextId - 1))])
              : app.exec(`DELETE FROM users WHERE id = ?`, [1 + ((due * 104729) % (nextId - 1))])
        const tracked = p.then(
          () => void written++,
          () => void writeErrors++,
        )
        inflight.add(tracked)
        void tracked.finally(() => inflight.delete(tracked))
      }
      await sleep(tickMs)
    }
  })()

  // the sampler
  const all: number[] = []
  let peakPending = 0
  for (let s = 1; s <= seconds; s++) {
    const lags: number[] = []
    let pending = 0
    const until = started + s * 1000
    while (performance.now() < until) {
      const l = await outbox.lag()
      lags.push(l.lagSeconds)
      pending = l.pending
      peakPending = Math.max(peakPending, l.pending)
      await sleep(100)
    }
    lags.sort((a, b) => a - b)
    all.push(...lags)
    const m = rss()
    emit({bench: 'relay-lag', t: s, writes: written, lag_p50_s: percentile(lags, 50), lag_p99_s: percentile(lags, 99), lag_max_s: lags[lags.length - 1] ?? 0, pending, relay_rss_mb: Math.round(m.rss)})
  }
  running = false
  await writer
  await Promise.all(inflight)
  const achieved = written / ((performance.now() - started) / 1000)
  for (let i = 0; (await outbox.lag()).pending > 0; i++) {
    if (i > 600) throw new Error('the relay did not catch up within 60 s')
    await sleep(100)
  }
  const peak = rss().hwm
  relay.kill('SIGTERM')
  const code = await relayExit
  const totals = relayOut ? (JSON.parse(relayOut) as {changes?: number; retries?: number; deadLettered?: number}) : {}
  all.sort((a, b) => a - b)
  const info = await ws.monolith.info()
  // what the same CLI costs doing nothing (`relay --help`), to tell the relay's own memory from the loader's
  const idle = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, '--import', 'tsx', '--disable-warning=ExperimentalWarning', 'bin/dev.js', 'relay', '--help'], {cwd: ROOT, encoding: 'utf8'})
  const baseline = idle.status === 0 ? Math.round(Number(idle.stderr.trim().split('\n').pop()) / 1024) : null
  emit({
    bench: 'relay-lag',
    summary: true,
    engine,
    capture: args.capture,
    monolith: info.version,
    rate,
    seconds,
    achieved_writes_per_s: Math.round(achieved),
    write_errors: writeErrors,
    lag_p50_s: percentile(all, 50),
    lag_p99_s: percentile(all, 99),
    lag_max_s: all[all.length - 1] ?? 0,
    peak_pending: peakPending,
    relay_peak_rss_mb: Math.round(peak),
    cli_idle_rss_mb: baseline,
    relay_exit: code,
    relay_changes: totals.changes,
    relay_retries: totals.retries,
  })
} finally {
  if (relay && relay.exitCode === null) relay.kill('SIGKILL')
  // a slot left behind would hold WAL forever (and keep the database from being dropped)
  if (args.capture === 'logical' && !args.keep) await ws?.monolith.sql?.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()`).catch((err: unknown) => log(`could not drop the slot: ${String(err)}`))
  await ws?.close()
  await app.close()
  rmSync(dir, {recursive: true, force: true})
  if (!args.keep) {
    await source.drop().catch(() => undefined)
    await target.drop().catch(() => undefined)
  }
}
