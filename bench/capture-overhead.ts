/**
 * Capture overhead: what the change-capture triggers cost the monolith's own
 * writes. Same workload on the fixture's `users` table without and with the
 * triggers installed by `installCapture`. Each round recreates the table and
 * runs, once per mode (the modes back to back, their order rotating):
 *
 *   insert-single  N single-row INSERTs, autocommit, `--concurrency` connections (OLTP)
 *   update-single  N single-row UPDATEs by primary key, autocommit
 *   insert-batch   4·N rows in multi-row INSERTs of `--batch` rows (bulk loads, the worst case)
 *
 *   node --import tsx bench/capture-overhead.ts --engine mysql|postgres --url URL
 *     [--rows N] [--rounds R] [--server-pid PID] [--previous] [--breakdown [--variants a,b]]
 *     [--logical] [--consume-triggers]
 *
 * --url is a server URL (a database in it is ignored): a scratch database is
 * created next to it and dropped at the end. Defaults: STRANGLER_BENCH_{PG,MYSQL}_URL,
 * else STRANGLER_TEST_{PG,MYSQL}_URL. Prints JSON lines: one per round, phase
 * and mode, then a summary per phase: the median rate of each mode, and the
 * loss in % as the median of the losses measured within each round (modes
 * seconds apart, under about the same load; on a shared machine rates move
 * by 2-3x within minutes), with their range and the load average. With
 * --server-pid PID (a local server) also the server's CPU time per row, and
 * the loss it means for a CPU-bound server (`cpu_loss_pct`).
 *
 * --previous (MySQL/MariaDB) adds a third mode: the triggers of the previous
 * version (the key change checked on two JSON renderings, and written as two
 * INSERTs), to compare both in the same run.
 *
 * --logical (PostgreSQL with wal_level = logical) adds a mode `logical`: the
 * capture installed with `capture: 'logical'` (publication and slot, no
 * trigger) and, during its writes, a relay's work on the monolith running in a
 * process of its own (bench/capture-consumer.ts: reads the outbox through the
 * feed, which decodes the slot into it, and deletes what it read): the
 * decoding competes for the same cores as the writes, as it would beside a
 * monolith. After each phase the bench waits until the consumer has every
 * change of it (`catchUpSeconds`), so no phase's decoding spills into the next
 * mode; the server's CPU per row counts the wait too. Also per phase: the
 * consumer process's CPU time per row, the WAL written per row (PostgreSQL),
 * and `slotRereadBytes` (WAL every read of the slot decodes again); per mode a
 * `consumer` line: the consumer's reads and where its time went. The summary
 * adds `logical_captured_loss_pct` (the loss of rows written and in the
 * relay's hands per second: the writes' time plus the catch-up; short phases
 * leave the decoding to the catch-up, so use `--rows 20000` or more for a
 * steady state) and, with --server-pid, `logical_cpu_with_consumer_loss_pct`
 * (the consumer's CPU counted with the server's: one machine running both).
 * --consume-triggers runs the same consumer beside the `with` triggers too
 * (a relay reads and deletes the outbox there as well): like for like.
 *
 * --breakdown (MySQL/MariaDB) measures inside the database what one captured
 * row costs and what that consists of: one-statement workloads (INSERT … SELECT
 * of N rows, UPDATE of N rows, and N single-row INSERTs / UPDATEs in a stored
 * procedure, each in one transaction: no network, no commit per row) under
 * trigger variants, from no trigger up to the installed ones, in µs per row
 * (median of the rounds). With --server-pid (a local server) it is the CPU
 * time of the server thread that ran the statement, from /proc, which other
 * load on the machine hardly moves; else wall time. --variants picks some of
 * them (`none` always runs).
 */
import {fork, type ChildProcess} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import {dirname, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import {installCapture, removeCapture, serviceLogicalNames} from '../src/capture/capture.js'
import {configSchema} from '../src/config/schema.js'
import {mysqlCaptureDdl} from '../src/engines/mysql/mysql-capture.js'
import {Workspace} from '../src/workspace.js'
import {appPool, createUsers, defaultUrl, emit, insertSql, scratchDb, timed, userParams, type BenchEngine} from './capture-bench-support.js'

const {values: args} = parseArgs({
  options: {
    engine: {type: 'string', default: 'postgres'},
    url: {type: 'string'},
    rows: {type: 'string', default: '5000'},
    concurrency: {type: 'string', default: '8'},
    batch: {type: 'string', default: '500'},
    rounds: {type: 'string', default: '8'},
    previous: {type: 'boolean', default: false},
    breakdown: {type: 'boolean', default: false},
    'server-pid': {type: 'string'},
    variants: {type: 'string'},
    keep: {type: 'boolean', default: false},
    logical: {type: 'boolean', default: false},
    'consume-triggers': {type: 'boolean', default: false},
  },
})
const engine = args.engine as BenchEngine
if (engine !== 'postgres' && engine !== 'mysql') throw new Error('--engine must be postgres or mysql')
if ((args.previous || args.breakdown) && engine !== 'mysql') throw new Error('--previous and --breakdown are for --engine mysql')
if (args.logical && engine !== 'postgres') throw new Error('--logical is for --engine postgres (logical decoding)')
if ((args.logical || args['consume-triggers']) && args.breakdown) throw new Error('--logical and --consume-triggers measure write throughput, not --breakdown')
const serverUrl = args.url ?? defaultUrl(engine)
if (!serverUrl) throw new Error(`--url is required (or set STRANGLER_BENCH_${engine === 'postgres' ? 'PG' : 'MYSQL'}_URL)`)
const rows = Number(args.rows)
const concurrency = Number(args.concurrency)
const batch = Number(args.batch)
const rounds = Number(args.rounds)
const log = (m: string): void => void process.stderr.write(`[bench:capture-overhead] ${m}\n`)
const load = (): number[] => os.loadavg().map((l) => Number(l.toFixed(2)))

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const db = await scratchDb(engine, serverUrl, 'strangler_bench_capture')
const app = appPool(engine, db.url, concurrency)
const planOf = (capture: 'triggers' | 'logical') =>
  configSchema.parse({
    monolith: {url: db.url},
    services: {users: {target: {url: db.url}, isolation: 'private-tables', capture, entities: [{source: 'users'}]}},
  })
const plan = planOf('triggers')
let ws: Workspace | undefined
/** The same service under `capture: 'logical'` (--logical). */
let wsLogical: Workspace | undefined
type Phase = 'insert-single' | 'update-single' | 'insert-batch'
type Mode = 'without' | 'with' | 'previous' | 'logical'
interface Measured {
  phase: Phase
  mode: Mode
  round: number
  rowsPerSec: number
  cpuUsPerRow?: number
  consumerCpuUsPerRow?: number
  catchUpSeconds?: number
  walBytesPerRow?: number
}
const results: Measured[] = []
/** The relay's stand-ins, per capture method (forked on first use). */
const consumers = new Map<'triggers' | 'logical', Consumer>()
// a Ctrl-C or kill stops the run at the next mode, through the cleanup below (a slot left behind holds WAL forever)
const interrupted = new AbortController()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping after the current phase, then cleaning up`)
    interrupted.abort(new Error(`interrupted (${sig})`))
  })
}
/** insert-batch writes this many times `--rows` (a batch goes ten times faster than single rows). */
const BATCH_FACTOR = 4

/** The outbox table of the `users` service, quoted. */
function outboxName(w: Workspace): string {
  return w.monolith.sql!.quoteTable(w.outbox('users'))
}

/** The capture triggers of the previous version on `users` (bigint key), as it generated them. */
function previousTriggers(outbox: string): string[] {
  const key = (rec: string): string => `JSON_ARRAY(CAST(${rec}.\`id\` AS CHAR))`
  const insert = (op: string, rec: string): string =>
    `INSERT INTO ${outbox} (entity, op, pk, created_at) VALUES ('users', '${op}', ${key(rec)}, UTC_TIMESTAMP(6))`
  return [
    `CREATE TRIGGER bench_prev_ai AFTER INSERT ON users FOR EACH ROW ${insert('U', 'NEW')}`,
    `CREATE TRIGGER bench_prev_au AFTER UPDATE ON users FOR EACH ROW BEGIN
  IF NOT (CAST(${key('OLD')} AS BINARY) <=> CAST(${key('NEW')} AS BINARY)) THEN ${insert('D', 'OLD')}; END IF;
  ${insert('U', 'NEW')};
END`,
    `CREATE TRIGGER bench_prev_ad AFTER DELETE ON users FOR EACH ROW ${insert('D', 'OLD')}`,
  ]
}

/** Recreates `users` with the capture of `mode` (the outbox emptied). */
async function prepare(w: Workspace, mode: Mode | 'none'): Promise<void> {
  await removeCapture(w, 'users', {dropOutbox: true})
  await createUsers(engine, app)
  await switchTo(w, mode)
}

/** Switches the capture on `users` to that of `mode` (triggers, or slot and publication), and empties the outbox. */
async function switchTo(w: Workspace, mode: Mode | 'none'): Promise<void> {
  if (engine === 'mysql') for (const s of ['ai', 'au', 'ad']) await app.exec(`DROP TRIGGER IF EXISTS bench_prev_${s}`)
  // under wal_level = logical this drops the slot and publication too
  await removeCapture(w, 'users')
  if (mode === 'none' || mode === 'without') return
  await installCapture(mode === 'logical' ? wsLogical! : w, 'users')
  await app.exec(`${engine === 'mysql' ? 'TRUNCATE TABLE' : 'TRUNCATE'} ${outboxName(w)}`)
  if (mode === 'previous') {
    await removeCapture(w, 'users')
    for (const s of previousTriggers(outboxName(w))) await app.exec(s)
  }
}

/**
 * Each round recreates `users` and runs the three phases once per mode, the
 * modes back to back in an order that rotates: a mode is compared with the
 * round's other modes run seconds apart, under about the same load. The loss
 * of a phase is the median of its rounds' losses. With --server-pid also the
 * server's CPU time per row (all its threads and child processes): what a
 * server that is CPU-bound loses, which other load hardly moves.
 */
async function overhead(w: Workspace, version: string): Promise<void> {
  const modes: Mode[] = ['without', 'with', ...(args.previous ? ['previous' as const] : []), ...(args.logical ? ['logical' as const] : [])]
  const batchRows = Math.ceil((rows * BATCH_FACTOR) / batch) * batch
  log(
    `${version}, per round and mode ${rows} single-row inserts, ${rows} updates, ${batchRows} rows in batches of ${batch}; ` +
      `concurrency ${concurrency}, ${rounds} round(s), modes ${modes.join(', ')}, load average ${load().join(' ')}`,
  )
  for (let round = 1; round <= rounds; round++) {
    await prepare(w, 'none')
    let nextId = 0
    for (const mode of modes.map((_, i) => modes[(i + round - 1) % modes.length])) {
      interrupted.signal.throwIfAborted()
      await switchTo(w, mode)
      const consumer = await consumerFor(mode)
      await consumer?.start()
      const phase = async (name: Phase, n: number, tasks: number, task: (i: number) => Promise<unknown>): Promise<void> => {
        const cpu0 = serverCpuMs()
        const own0 = consumer?.cpuMs() ?? 0
        const wal0 = await walLsn()
        const seen0 = consumer?.consumed ?? 0
        const seconds = await timed(tasks, concurrency, task)
        // the capture's work is done when the relay has every change: its CPU until then counts
        const catchUpSeconds = consumer ? await consumer.caughtUp(seen0 + n) : undefined
        const cpu = serverCpuMs() - cpu0
        const rowsPerSec = Math.round(n / seconds)
        const perRow = (ms: number): number => Number(((ms * 1000) / n).toFixed(2))
        const cpuUsPerRow = args['server-pid'] ? perRow(cpu) : undefined
        const consumerCpuUsPerRow = consumer ? perRow(consumer.cpuMs() - own0) : undefined
        const walBytesPerRow = wal0 === undefined ? undefined : Math.round((await walSince(wal0)) / n)
        results.push({phase: name, mode, round, rowsPerSec, cpuUsPerRow, consumerCpuUsPerRow, catchUpSeconds, walBytesPerRow})
        const measured = {rows: n, seconds: Number(seconds.toFixed(3)), rowsPerSec, cpuUsPerRow, consumerCpuUsPerRow, catchUpSeconds, walBytesPerRow}
        const slot = mode === 'logical' ? {slotRereadBytes: await slotReread()} : {}
        const triggers = mode === 'with' || mode === 'previous'
        emit({bench: 'capture-overhead', engine, version, round, phase: name, mode, triggers, ...measured, ...slot, load: load()})
      }
      const first = nextId
      const one = insertSql(1)
      await phase('insert-single', rows, rows, (i) => app.exec(one, userParams(first + i + 1)))
      nextId += rows
      const update = `UPDATE users SET loyalty_points = loyalty_points + 1, updated_at = ? WHERE id = ?`
      await phase('update-single', rows, rows, (i) => app.exec(update, ['2024-05-06 07:08:09.5', first + ((i * 7919) % rows) + 1]))
      const many = insertSql(batch)
      const base = nextId
      const batchParams = (b: number): unknown[] => Array.from({length: batch}, (_, j) => userParams(base + b * batch + j + 1)).flat()
      await phase('insert-batch', batchRows, batchRows / batch, (b) => app.exec(many, batchParams(b)))
      nextId += batchRows
      // no read of the slot in flight when the next switch drops it
      const spent = await consumer?.stop()
      if (spent) emit({bench: 'capture-overhead', consumer: true, engine, round, mode, ...spent})
    }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const pct = (x: number): number => Number((x * 100).toFixed(1))
  for (const phase of ['insert-single', 'update-single', 'insert-batch'] as const) {
    const of = (m: Mode, round: number) => results.find((r) => r.phase === phase && r.mode === m && r.round === round)!
    const perRound = <T>(f: (round: number) => T): T[] => Array.from({length: rounds}, (_, i) => f(i + 1))
    const n = phase === 'insert-batch' ? batchRows : rows
    const summary: Record<string, unknown> = {bench: 'capture-overhead', summary: true, engine, phase, rows: n, rounds}
    for (const m of modes) {
      const key = m === 'with' ? '' : `${m}_`
      summary[`${m}_rows_per_s_median`] = Math.round(median(perRound((r) => of(m, r).rowsPerSec)))
      if (args['server-pid']) summary[`${m}_cpu_us_per_row_median`] = Number(median(perRound((r) => of(m, r).cpuUsPerRow ?? 0)).toFixed(2))
      if (engine === 'postgres') summary[`${m}_wal_bytes_per_row_median`] = Math.round(median(perRound((r) => of(m, r).walBytesPerRow ?? 0)))
      if (of(m, 1).catchUpSeconds !== undefined) {
        summary[`${m}_catch_up_s_median`] = Number(median(perRound((r) => of(m, r).catchUpSeconds ?? 0)).toFixed(3))
        summary[`${m}_consumer_cpu_us_per_row_median`] = Number(median(perRound((r) => of(m, r).consumerCpuUsPerRow ?? 0)).toFixed(2))
      }
      if (m === 'without') continue
      // the throughput lost, measured within each round (the modes seconds apart): its median and range
      const losses = perRound((r) => pct(1 - of(m, r).rowsPerSec / of('without', r).rowsPerSec))
      summary[`${key}loss_pct`] = pct(median(losses) / 100)
      summary[`${key}loss_pct_range`] = [Math.min(...losses), Math.max(...losses)]
      // with a relay beside the writes: the rate at which rows were written and captured (the relay had them)
      if (of(m, 1).catchUpSeconds !== undefined) {
        const captured = (r: number): number => n / (n / of(m, r).rowsPerSec + (of(m, r).catchUpSeconds ?? 0))
        summary[`${key}captured_loss_pct`] = pct(median(perRound((r) => 1 - captured(r) / of('without', r).rowsPerSec)))
      }
      // the throughput a CPU-bound server loses: 1 - (CPU per row without) / (CPU per row with)
      if (args['server-pid']) {
        summary[`${key}cpu_loss_pct`] = pct(median(perRound((r) => 1 - (of('without', r).cpuUsPerRow ?? 0) / (of(m, r).cpuUsPerRow ?? 1))))
        // the relay decodes on the same cores: what a CPU-bound machine running both loses
        if (of(m, 1).consumerCpuUsPerRow !== undefined) {
          const machine = (r: number): number => (of(m, r).cpuUsPerRow ?? 0) + (of(m, r).consumerCpuUsPerRow ?? 0)
          summary[`${key}cpu_with_consumer_loss_pct`] = pct(median(perRound((r) => 1 - (of('without', r).cpuUsPerRow ?? 0) / (machine(r) || 1))))
        }
      }
    }
    summary.load = load()
    emit(summary)
  }
}

/** Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`: 100 on Linux). */
const CLK_TCK = 100

/**
 * CPU time in ms of the server (--server-pid): all threads of it and of its
 * child processes (PostgreSQL's backends), and what its children that ended
 * used (a backend whose connection closed, such as a pool's idle one:
 * without it the sum drops); 0 without --server-pid.
 */
function serverCpuMs(): number {
  const pid = args['server-pid']
  if (!pid) return 0
  const pids = [pid]
  let ended = 0
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      // the fields after the command name in parentheses: state, parent pid, … (14th, 15th: cutime, cstime)
      const fields = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ').pop()!.split(' ')
      if (fields[1] === pid) pids.push(p)
      if (p === pid) ended = ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK
    } catch {
      // the process ended meanwhile
    }
  }
  return cpuMsOf(pids) + ended
}

/** CPU time in ms of these processes, all their threads. */
function cpuMsOf(pids: readonly string[]): number {
  let ns = 0
  for (const p of pids) {
    try {
      for (const t of fs.readdirSync(`/proc/${p}/task`)) ns += Number(fs.readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // the process ended meanwhile
    }
  }
  return ns / 1e6
}

// ---------------------------------------------------------------------------
// --logical, --consume-triggers: the relay's work beside the writes

/** A bench/capture-consumer.ts process: what a running relay does to the monolith, for one capture method. */
class Consumer {
  /** Outbox rows it consumed so far. */
  consumed = 0
  private failure?: Error
  private acks: ((m: Record<string, unknown>) => void)[] = []

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      if (typeof m.consumed === 'number') this.consumed = m.consumed
      if (typeof m.error === 'string') this.failure = new Error(`capture consumer: ${m.error}`)
      if (m.ack || m.ready || m.error) this.acks.shift()?.(m)
    })
    child.on('exit', (code) => {
      this.failure ??= new Error(`capture consumer exited (${code})`)
      for (const a of this.acks.splice(0)) a({error: this.failure.message})
    })
  }

  /** Forks it and waits until it has connected (tsx and the workspace load outside the measured writes). */
  static async fork(capture: 'triggers' | 'logical'): Promise<Consumer> {
    const child = fork(resolve(ROOT, 'bench/capture-consumer.ts'), ['--url', db.url, '--capture', capture, '--batch', '500'], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', '--disable-warning=ExperimentalWarning'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const c = new Consumer(child)
    await c.reply()
    return c
  }

  private reply(): Promise<Record<string, unknown>> {
    return new Promise((res, rej) =>
      this.acks.push((m) => (typeof m.error === 'string' ? rej(this.failure ?? new Error(m.error)) : res(m))),
    )
  }

  private async request(cmd: 'start' | 'stop'): Promise<Record<string, unknown>> {
    if (this.failure) throw this.failure
    const r = this.reply()
    this.child.send({cmd})
    return r
  }

  /** Starts consuming; resolves after its first read (under logical capture the feed is set up by then). */
  async start(): Promise<void> {
    await this.request('start')
  }

  /** Stops after the read in flight: nothing of it holds the slot afterwards. Returns where its time went since the start. */
  async stop(): Promise<Record<string, unknown>> {
    return (await this.request('stop')).spent as Record<string, unknown>
  }

  /** Waits until it has consumed `total` rows; returns the seconds waited. */
  async caughtUp(total: number, timeoutMs = 120_000): Promise<number> {
    const started = performance.now()
    while (this.consumed < total) {
      if (this.failure) throw this.failure
      if (performance.now() - started > timeoutMs) throw new Error(`capture consumer: ${this.consumed} of ${total} changes after ${timeoutMs / 1000} s`)
      await new Promise((r) => setTimeout(r, 5))
    }
    return Number(((performance.now() - started) / 1000).toFixed(3))
  }

  /** Its CPU time, ms (all threads). */
  cpuMs(): number {
    return this.child.pid ? cpuMsOf([String(this.child.pid)]) : 0
  }

  /** Ends it: disconnecting lets it close its connections; killed if it does not exit soon. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((r) => this.child.once('exit', r))
    if (this.child.connected) this.child.disconnect()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}

/** The consumer that runs beside `mode`'s writes: the feed and relay under logical capture; with --consume-triggers the relay beside the triggers. */
async function consumerFor(mode: Mode): Promise<Consumer | undefined> {
  const capture = mode === 'logical' ? 'logical' : mode === 'with' && args['consume-triggers'] ? 'triggers' : undefined
  if (!capture) return undefined
  let c = consumers.get(capture)
  if (!c) consumers.set(capture, (c = await Consumer.fork(capture)))
  return c
}

/** The WAL insert position (PostgreSQL), to count the WAL a phase wrote; undefined on MySQL. */
async function walLsn(): Promise<string | undefined> {
  if (engine !== 'postgres') return undefined
  const [r] = (await app.exec('SELECT pg_current_wal_insert_lsn()::text AS lsn')) as {lsn: string}[]
  return r.lsn
}

async function walSince(lsn: string): Promise<number> {
  const [r] = (await app.exec('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), ?::pg_lsn)::bigint AS b', [lsn])) as {b: string}[]
  return Number(r.b)
}

/**
 * WAL between the slot's restart point and what it confirmed: every peek of
 * the slot (each pump, each lag measurement) and each advance decode it again
 * before they reach new changes. The restart point moves only at a
 * running-transactions record (about every 15 s, or a checkpoint).
 */
async function slotReread(): Promise<number> {
  const {slot} = await serviceLogicalNames(wsLogical!, 'users')
  const sql = 'SELECT pg_wal_lsn_diff(confirmed_flush_lsn, restart_lsn)::bigint AS b FROM pg_replication_slots WHERE slot_name = ?'
  const [r] = (await app.exec(sql, [slot])) as {b: string}[]
  return Number(r?.b ?? 0)
}

/** Drops every replication slot of the scratch database, ending the backend of one still in use: a slot left behind holds WAL forever. */
async function dropSlots(): Promise<void> {
  if (engine !== 'postgres') return
  const slots = (await app.exec(
    'SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = current_database()',
  )) as {slot_name: string; active_pid: number | null}[]
  for (const s of slots) {
    if (s.active_pid) await app.exec('SELECT pg_terminate_backend(?, 5000)', [s.active_pid])
    await app.exec('SELECT pg_drop_replication_slot(?)', [s.slot_name])
    log(`dropped the replication slot ${s.slot_name} left behind`)
  }
}

// ---------------------------------------------------------------------------
// --breakdown: what one captured row costs inside MariaDB/MySQL, and of what

/** One trigger variant of the breakdown: the outbox it writes (if any) and its bodies. */
interface Variant {
  readonly name: string
  readonly what: string
  /** Installs the variant on a fresh `users` (and outbox). */
  install(w: Workspace): Promise<void>
}

function bodies(ai: string, au: string, ad = ai): string[] {
  return [
    `CREATE TRIGGER bench_ai AFTER INSERT ON users FOR EACH ROW ${ai}`,
    `CREATE TRIGGER bench_au AFTER UPDATE ON users FOR EACH ROW ${au}`,
    `CREATE TRIGGER bench_ad AFTER DELETE ON users FOR EACH ROW ${ad}`,
  ]
}

const constRow = (outbox: string): string => `INSERT INTO ${outbox} (entity, op, pk, created_at) VALUES ('users', 'U', '["1"]', UTC_TIMESTAMP(6))`
// narrow, and emptied after each workload: a MEMORY table holds max_heap_table_size (16 MB by default)
const sideTable = (storage: string, index: boolean) => `CREATE TABLE bench_side (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, entity VARCHAR(16) NOT NULL, op CHAR(1) NOT NULL, pk VARCHAR(32) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)${index ? ', KEY entity_idx (entity, id)' : ''}
) ENGINE=${storage} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`

/** The outbox as installCapture creates it, without triggers: its quoted name. */
async function bareOutbox(w: Workspace): Promise<string> {
  await prepare(w, 'none')
  await installCapture(w, 'users')
  await removeCapture(w, 'users')
  return outboxName(w)
}

/** Triggers that insert a constant row into a side table of `storage`, primary key only. */
async function constInto(w: Workspace, storage: 'MEMORY' | 'InnoDB'): Promise<void> {
  await prepare(w, 'none')
  await app.exec('DROP TABLE IF EXISTS bench_side')
  await app.exec(sideTable(storage, false))
  for (const s of bodies(constRow('bench_side'), constRow('bench_side'))) await app.exec(s)
}

const variants: Variant[] = [
  {name: 'none', what: 'no trigger', install: (w) => prepare(w, 'none')},
  {
    name: 'empty-trigger',
    what: 'triggers with an empty body: invoking a trigger, in its DEFINER security context',
    install: async (w) => {
      await prepare(w, 'none')
      for (const s of bodies('BEGIN END', 'BEGIN END')) await app.exec(s)
    },
  },
  {
    name: 'const-memory',
    what: 'one INSERT of a constant row into a MEMORY table: the statement a trigger runs, without storage',
    install: (w) => constInto(w, 'MEMORY'),
  },
  {
    name: 'const-innodb-noindex',
    what: 'the same into InnoDB, primary key only: the row insert',
    install: (w) => constInto(w, 'InnoDB'),
  },
  {
    name: 'const-outbox',
    what: 'the same into the outbox (InnoDB, with the (entity, id) index): the index',
    install: async (w) => {
      const o = await bareOutbox(w)
      for (const s of bodies(constRow(o), constRow(o))) await app.exec(s)
    },
  },
  {
    name: 'previous',
    what: 'the previous version: JSON_ARRAY(CAST(key AS CHAR)) keys, the key change checked on two renderings',
    install: (w) => prepare(w, 'previous'),
  },
  {name: 'installed', what: 'the triggers installCapture installs now', install: (w) => prepare(w, 'with')},
  {
    name: 'previous-aggregate',
    what:
      "the previous version's triggers on an aggregate's child table holding its root's key (here users.id): " +
      'INSERT … SELECT … FROM DUAL WHERE, old and new root on every update',
    install: async (w) => {
      const o = await bareOutbox(w)
      const insert = (rec: string): string =>
        `INSERT INTO ${o} (entity, op, pk, created_at) SELECT 'users', 'U', JSON_ARRAY(CAST(${rec}.id AS CHAR)), UTC_TIMESTAMP(6) FROM DUAL WHERE ${rec}.id IS NOT NULL`
      for (const s of bodies(insert('NEW'), `BEGIN ${insert('OLD')}; ${insert('NEW')}; END`, insert('OLD'))) await app.exec(s)
    },
  },
  {
    name: 'installed-aggregate',
    what: 'the same as installed now (mysqlCaptureDdl with roots.direct)',
    install: async (w) => {
      await bareOutbox(w)
      const sql = w.monolith.sql!
      const spec = {
        table: {name: 'users'},
        key: [],
        keyTypes: [{type: 'bigint' as const}],
        roots: {direct: ['id']},
        outbox: w.outbox('users'),
        service: 'users',
        entity: 'users',
        triggerPrefix: 'bench_agg',
      }
      for (const s of mysqlCaptureDdl(sql, spec).install) await app.exec(s)
    },
  },
]

type Work = 'insert-select' | 'update-all' | 'insert-loop' | 'update-loop'
const works: Work[] = ['insert-select', 'update-all', 'insert-loop', 'update-loop']

/**
 * Times `fn` in ms: with --server-pid the CPU time of the server thread that
 * ran it (the thread whose CPU time grew most: background threads such as
 * InnoDB's purge and page cleaner, which move from run to run, are left out),
 * else wall time.
 */
async function serverTime(fn: () => Promise<unknown>): Promise<number> {
  const pid = args['server-pid']
  if (!pid) {
    const start = performance.now()
    await fn()
    return performance.now() - start
  }
  const threads = (): Map<string, number> => {
    const out = new Map<string, number>()
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        out.set(t, Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]))
      } catch {
        // the thread ended meanwhile
      }
    }
    return out
  }
  const before = threads()
  await fn()
  let most = 0
  for (const [t, ns] of threads()) most = Math.max(most, ns - (before.get(t) ?? 0))
  return most / 1e6
}

async function breakdown(w: Workspace, version: string): Promise<void> {
  const basis = args['server-pid'] ? 'server thread CPU' : 'wall'
  log(`${version}: breakdown, ${rows} rows per workload, ${rounds} round(s), ${basis} time, load average ${load().join(' ')}`)
  // the rows: a numbers table, so the workloads run as one statement each
  await app.exec('DROP TABLE IF EXISTS bench_n')
  await app.exec('CREATE TABLE bench_n (n INT NOT NULL PRIMARY KEY) ENGINE=InnoDB')
  for (let i = 0; i < rows; i += 1000) {
    const part = Array.from({length: Math.min(1000, rows - i)}, (_, j) => i + j + 1)
    await app.exec(`INSERT INTO bench_n (n) VALUES ${part.map(() => '(?)').join(', ')}`, part)
  }
  await app.exec('DROP PROCEDURE IF EXISTS bench_loop_insert')
  await app.exec(`CREATE PROCEDURE bench_loop_insert(n INT) BEGIN DECLARE i INT DEFAULT 1; START TRANSACTION;
  WHILE i <= n DO
    INSERT INTO users (id, email, full_name, password_hash, created_at, is_active, country, loyalty_points, balance, preferences, external_id)
      VALUES (1000000000 + i, CONCAT('loop', i, '@example.com'), 'User', REPEAT('x', 60), '2024-01-02 03:04:05.123456', 1, 'DE', 5, 12.34, '{"lang": "en"}', UUID());
    SET i = i + 1;
  END WHILE; COMMIT; END`)
  await app.exec('DROP PROCEDURE IF EXISTS bench_loop_update')
  await app.exec(`CREATE PROCEDURE bench_loop_update(n INT) BEGIN DECLARE i INT DEFAULT 1; START TRANSACTION;
  WHILE i <= n DO
    UPDATE users SET loyalty_points = loyalty_points + 1, updated_at = '2024-05-06 07:08:09.5' WHERE id = i;
    SET i = i + 1;
  END WHILE; COMMIT; END`)
  const run: Record<Work, string> = {
    'insert-select': `INSERT INTO users (id, email, full_name, password_hash, created_at, is_active, country, loyalty_points, balance, preferences, external_id)
      SELECT n, CONCAT('user', n, '@example.com'), CONCAT('User Number ', n), REPEAT('x', 60), '2024-01-02 03:04:05.123456', n % 3 <> 0, 'DE', n % 1000, 12.34, '{"lang": "en", "n": 3}', UUID() FROM bench_n`,
    'update-all': `UPDATE users SET loyalty_points = loyalty_points + 1 WHERE id <= ${rows}`,
    'insert-loop': `CALL bench_loop_insert(${rows})`,
    'update-loop': `CALL bench_loop_update(${rows})`,
  }
  const picked = args.variants?.split(',')
  const chosen = variants.filter((v) => v.name === 'none' || !picked || picked.includes(v.name))
  const times = new Map<string, Record<Work, number[]>>()
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? chosen : [...chosen].reverse()
    for (const v of order) {
      await v.install(w)
      const t = times.get(v.name) ?? {'insert-select': [], 'update-all': [], 'insert-loop': [], 'update-loop': []}
      for (const work of works) {
        t[work].push(((await serverTime(() => app.exec(run[work]))) * 1000) / rows)
        if (v.name.startsWith('const-') && v.name !== 'const-outbox') await app.exec('DELETE FROM bench_side')
      }
      times.set(v.name, t)
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const base = times.get('none')!
  for (const v of chosen) {
    const t = times.get(v.name)!
    const us: Record<string, number> = {}
    const extra: Record<string, number> = {}
    const range: Record<string, [number, number]> = {}
    for (const work of works) {
      us[work] = Number(median(t[work]).toFixed(2))
      extra[work] = Number((median(t[work]) - median(base[work])).toFixed(2))
      range[work] = [Number(Math.min(...t[work]).toFixed(2)), Number(Math.max(...t[work]).toFixed(2))]
    }
    const variant = {variant: v.name, what: v.what, us_per_row: us, us_per_row_over_none: extra, range}
    emit({bench: 'capture-overhead', breakdown: true, engine, version, rows, rounds, basis, ...variant, load: load()})
  }
  await app.exec('DROP TABLE IF EXISTS bench_n, bench_side')
}

try {
  await createUsers(engine, app)
  ws = await Workspace.open(plan, {runId: randomUUID()})
  if (args.logical) {
    // before any round rather than at the first logical mode
    const [{w}] = (await app.exec(`SELECT current_setting('wal_level') AS w`)) as {w: string}[]
    if (w !== 'logical') throw new Error(`--logical needs the server to run with wal_level = logical; it is ${w}`)
    wsLogical = await Workspace.open(planOf('logical'), {runId: randomUUID()})
    // should this process be killed outright (no cleanup), the slot is to be dropped by hand
    log(`logical capture: replication slot ${(await serviceLogicalNames(wsLogical, 'users')).slot} (dropped at the end)`)
  }
  const info = await ws.monolith.info()
  if (args.breakdown) await breakdown(ws, info.version)
  else await overhead(ws, info.version)
} finally {
  // the consumers first: a slot in use cannot be dropped
  for (const c of consumers.values()) await c.close().catch((err: unknown) => log(`closing a consumer: ${String(err)}`))
  if (ws) await removeCapture(ws, 'users', {dropOutbox: true}).catch((err: unknown) => log(`removing capture: ${String(err)}`))
  await dropSlots().catch((err: unknown) => log(`could not drop the replication slots: ${String(err)}`))
  await wsLogical?.close()
  await ws?.close()
  await app.close()
  if (!args.keep) await db.drop()
}
