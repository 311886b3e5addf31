/**
 * Soak: the relay under a steady write load for a long time. The reliability
 * suite's load generator (test/helpers/load-generator.ts) writes to the
 * monolith at a fixed rate (single-row inserts, updates of hot and cold keys,
 * deletes, re-inserts, composite-key attribute writes) while
 * `strangler relay SERVICE --follow` runs as its own process, as in
 * production. Every second the outbox lag (age of the oldest unconsumed
 * change, the gate's measure) is sampled four times; every 10 s the relay's
 * resident memory (VmRSS). At the end the load stops, the relay drains and is
 * stopped with SIGTERM, and the service store is checked against the load
 * generator's truth log: 0 lost, 0 duplicated rows.
 *
 *   npm run bench:soak -- [--engine postgres|mysql] [--rate 1000] [--minutes 10] [--out soak.json] [--capture logical]
 *
 * `--capture logical` (PostgreSQL with wal_level = logical) captures through a
 * replication slot the relay streams; after the load stops the bench also waits
 * until the slot has been acknowledged past the last write.
 *
 * Servers: STRANGLER_BENCH_PG_URL / STRANGLER_BENCH_MYSQL_URL (or the
 * STRANGLER_TEST_* URLs); without them the test harness starts local servers
 * for the run. Prints a JSON line per minute (writes, lag p50/p99/max, pending,
 * relay RSS) and a summary (also written to --out).
 */
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import {serviceOutbox} from '../src/capture/capture.js'
import {configSchema} from '../src/config/schema.js'
import {Workspace} from '../src/workspace.js'
import {appConnection, checkTruth, LoadGenerator, sourceView, targetView} from '../test/helpers/load-generator.js'
import {TestServers} from '../test/helpers/servers.js'
import {defaultUrl, emit, percentile, scratchDb, type BenchEngine} from './capture-bench-support.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const {values: args} = parseArgs({
  options: {
    engine: {type: 'string', default: 'postgres'},
    rate: {type: 'string', default: '1000'},
    minutes: {type: 'string', default: '10'},
    accounts: {type: 'string', default: '20000'},
    'batch-size': {type: 'string', default: '500'},
    out: {type: 'string'},
    /** Print each second's lag to stderr (to see when a spike happens). */
    trace: {type: 'boolean', default: false},
    capture: {type: 'string', default: 'triggers'},
  },
})
const engine = args.engine as BenchEngine
if (engine !== 'postgres' && engine !== 'mysql') throw new Error('--engine must be postgres or mysql')
const rate = Number(args.rate)
const seconds = Math.round(Number(args.minutes) * 60)
const log = (m: string): void => void process.stderr.write(`[bench:soak] ${m}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// servers: given, or the test harness's own for this run
let servers: TestServers | undefined
let monoServer = defaultUrl(engine)
let pgServer = defaultUrl('postgres')
if (!monoServer || !pgServer) {
  log('no STRANGLER_BENCH_*_URL / STRANGLER_TEST_*_URL: starting local servers')
  process.env.STRANGLER_TEST_SKIP_UNLEASH = '1'
  servers = await TestServers.start({unleash: false})
  monoServer = engine === 'postgres' ? servers.info.pg : servers.info.mysql
  pgServer = servers.info.pg
}

const source = await scratchDb(engine, monoServer, 'strangler_soak_src')
const target = await scratchDb('postgres', pgServer, 'strangler_soak_tgt')
const dir = mkdtempSync(join(tmpdir(), 'strangler-soak-'))
if (args.capture !== 'triggers' && args.capture !== 'logical') throw new Error('--capture must be triggers or logical')
if (args.capture === 'logical' && engine !== 'postgres') throw new Error('--capture logical needs --engine postgres')
const plan = {monolith: {url: source.url, capture: args.capture}, gates: {maxRelayLagSeconds: 3600}, services: {acct: {target: {url: target.url}, entities: [{source: 'accounts'}, {source: 'ItemAttrs'}]}}}
writeFileSync(join(dir, 'strangler.config.json'), JSON.stringify(plan))
const app = await appConnection(source.url, {max: 24})
// single-row writes only, so operations per second are row writes per second
const gen = new LoadGenerator(app, {
  seed: 42,
  writesPerSecond: rate,
  concurrency: 16,
  hotKeys: 20,
  mix: {insert: 15, update: 45, hot: 10, delete: 6, reinsert: 4, rekey: 0, tx: 0, large: 0, 'attr-insert': 8, 'attr-update': 9, 'attr-delete': 3},
})
let ws: Workspace | undefined
let relay: ReturnType<typeof spawn> | undefined

const cli = (cliArgs: string[]) =>
  new Promise<{code: number | null; out: string}>((res) => {
    const p = spawn(process.execPath, ['bin/dev.js', ...cliArgs, '--config', join(dir, 'strangler.config.json')], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (out += d))
    p.on('close', (code) => res({code, out}))
  })

try {
  log(`seeding ${args.accounts} accounts on ${engine}`)
  await gen.setup({accounts: Number(args.accounts), items: 2000})
  for (const step of [['init'], ['shadow', 'acct', '--detach']]) {
    const r = await cli(step)
    if (r.code !== 0) throw new Error(`strangler ${step.join(' ')} failed:\n${r.out}`)
  }
  ws = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
  const outbox = serviceOutbox(ws, 'acct')

  relay = spawn(process.execPath, ['bin/dev.js', 'relay', 'acct', '--follow', '--json', '--log-format', 'json', '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--config', join(dir, 'strangler.config.json'), '--batch-size', args['batch-size']!], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']})
  let relayOut = ''
  let relayErr = ''
  relay.stdout!.on('data', (d) => (relayOut += d))
  relay.stderr!.on('data', (d) => (relayErr = (relayErr + d).slice(-20_000)))
  const relayExit = new Promise<number | null>((res) => relay!.on('exit', (code) => res(code)))
  const memory = () => {
    try {
      const s = readFileSync(`/proc/${relay!.pid}/status`, 'utf8')
      return {rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024, hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024}
    } catch {
      return {rss: 0, hwm: 0}
    }
  }
  // the load starts once the relay is up (its health endpoint answers): its own start-up is not lag
  for (let i = 0; ; i++) {
    const port = /metrics on http:\/\/127\.0\.0\.1:(\d+)/.exec(relayErr)?.[1]
    const healthy = port ? await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false) : false
    if (healthy && (await outbox.lag()).pending === 0) break
    if (i > 1200) throw new Error(`the relay did not come up within 120 s:\n${relayErr.slice(-3000)}`)
    await sleep(100)
  }
  log(`relay up (pid ${relay.pid}); writing ${rate}/s for ${seconds} s`)

  gen.start()
  const started = performance.now()
  const all: number[] = []
  const rssSamples: {t: number; rss_mb: number}[] = []
  const minutes: Record<string, unknown>[] = []
  let window: number[] = []
  let peakPending = 0
  let writesAtMinute = 0
  for (let tick = 1; tick <= seconds * 4; tick++) {
    const l = await outbox.lag()
    all.push(l.lagSeconds)
    window.push(l.lagSeconds)
    peakPending = Math.max(peakPending, l.pending)
    if (args.trace && tick % 4 === 0) log(`t=${tick / 4}s lag ${window.slice(-4).map((x) => x.toFixed(2)).join(' ')} pending ${l.pending}`)
    if (tick % 40 === 0) rssSamples.push({t: tick / 4, rss_mb: Math.round(memory().rss)})
    if (tick % 240 === 0) {
      window.sort((a, b) => a - b)
      const writes = gen.stats().writes
      const row = {bench: 'soak', minute: tick / 240, writes_per_s: Math.round((writes - writesAtMinute) / 60), lag_p50_s: percentile(window, 50), lag_p99_s: percentile(window, 99), lag_max_s: window[window.length - 1] ?? 0, pending: l.pending, relay_rss_mb: Math.round(memory().rss)}
      emit(row)
      minutes.push(row)
      writesAtMinute = writes
      window = []
    }
    const due = started + tick * 250
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
  }
  const stats = await gen.stop()
  const drainStart = performance.now()
  if (args.capture === 'logical') {
    // the relay's stream must have been acknowledged past the last write (a heartbeat comes within 10 s when idle)
    const sql = ws.monolith.sql!
    const [{lsn}] = await sql.query<{lsn: string}>(`SELECT pg_current_wal_flush_lsn()::text AS lsn`)
    for (let i = 0; ; i++) {
      const [r] = await sql.query<{ok: boolean}>(`SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE database = current_database()`, [lsn])
      if (r?.ok === true) break
      if (i > 600) throw new Error('the relay did not acknowledge the slot past the last write within 60 s')
      await sleep(100)
    }
  }
  for (let i = 0; (await outbox.lag()).pending > 0; i++) {
    if (i > 1200) throw new Error('the relay did not catch up within 120 s after the load stopped')
    await sleep(100)
  }
  const drainSeconds = (performance.now() - drainStart) / 1000
  const peak = memory().hwm
  relay.kill('SIGTERM')
  const code = await relayExit
  const totals = relayOut ? (JSON.parse(relayOut) as {changes?: number; retries?: number; deadLettered?: number}) : {}
  const check = await checkTruth(gen.truth(), await targetView(ws, 'acct'), await sourceView(ws, 'acct'))
  all.sort((a, b) => a - b)
  const summary = {
    bench: 'soak',
    summary: true,
    engine,
    capture: args.capture,
    monolith: (await ws.monolith.info()).version,
    rate,
    seconds,
    achieved_writes_per_s: Math.round(stats.writes / stats.seconds),
    writes: stats.writes,
    write_errors: stats.errors,
    lag_p50_s: percentile(all, 50),
    lag_p99_s: percentile(all, 99),
    lag_max_s: all[all.length - 1] ?? 0,
    peak_pending: peakPending,
    drain_after_stop_s: Math.round(drainSeconds * 10) / 10,
    relay_rss_mb: {first: rssSamples[0]?.rss_mb, last: rssSamples.at(-1)?.rss_mb, min: Math.min(...rssSamples.map((s) => s.rss_mb)), max: Math.max(...rssSamples.map((s) => s.rss_mb)), peak_hwm: Math.round(peak)},
    rss_every_10s: rssSamples,
    minutes,
    relay_exit: code,
    relay_changes: totals.changes,
    relay_retries: totals.retries,
    relay_dead_lettered: totals.deadLettered,
    truth: {keys_checked: check.keysChecked, rows: check.rows, lost: check.lost, duplicated_or_extra: check.extra, resurrected: check.resurrected, changed: check.changed, problems: check.problems.slice(0, 5)},
  }
  emit(summary)
  if (args.out) writeFileSync(args.out, `${JSON.stringify(summary, null, 2)}\n`)
  if (check.problems.length) {
    log(`the service store differs from the truth log:\n${check.problems.join('\n')}\n${relayErr.slice(-3000)}`)
    process.exitCode = 1
  }
} finally {
  if (relay && relay.exitCode === null) relay.kill('SIGKILL')
  if (gen.isRunning) await gen.stop()
  // a slot left behind would hold WAL forever (and keep the database from being dropped)
  if (args.capture === 'logical') {
    for (let i = 0; i < 50; i++) {
      const ok = await ws?.monolith.sql?.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()`).then(() => true, () => false)
      if (ok !== false) break
      await sleep(100)
    }
  }
  await ws?.close()
  await app.close()
  rmSync(dir, {recursive: true, force: true})
  await source.drop().catch(() => undefined)
  await target.drop().catch(() => undefined)
  await servers?.stop()
}
