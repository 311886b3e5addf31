/**
 * Capture overhead: what the change-capture triggers cost the monolith's own
 * writes. Same workload on the fixture's `users` table, without and with the
 * triggers installed by `installCapture`, in alternating rounds:
 *
 *   insert-single  N single-row INSERTs, autocommit, `--concurrency` connections (OLTP)
 *   update-single  N single-row UPDATEs by primary key, autocommit
 *   insert-batch   N rows in multi-row INSERTs of `--batch` rows (bulk loads, the worst case)
 *
 *   node --import tsx bench/capture-overhead.ts --engine mysql|postgres --url URL --rows N
 *
 * --url is a server URL (a database in it is ignored): a scratch database is
 * created next to it and dropped at the end. Defaults: STRANGLER_BENCH_{PG,MYSQL}_URL,
 * else STRANGLER_TEST_{PG,MYSQL}_URL. Prints JSON lines: one per round and phase,
 * then a summary per phase with the best rate of each mode and the loss in %.
 */
import {randomUUID} from 'node:crypto'
import {parseArgs} from 'node:util'
import {installCapture, removeCapture} from '../src/capture/capture.js'
import {configSchema} from '../src/config/schema.js'
import {Workspace} from '../src/workspace.js'
import {appPool, createUsers, defaultUrl, emit, insertSql, scratchDb, timed, userParams, type BenchEngine} from './capture-bench-support.js'

const {values: args} = parseArgs({
  options: {
    engine: {type: 'string', default: 'postgres'},
    url: {type: 'string'},
    rows: {type: 'string', default: '20000'},
    concurrency: {type: 'string', default: '8'},
    batch: {type: 'string', default: '500'},
    rounds: {type: 'string', default: '2'},
    keep: {type: 'boolean', default: false},
  },
})
const engine = args.engine as BenchEngine
if (engine !== 'postgres' && engine !== 'mysql') throw new Error('--engine must be postgres or mysql')
const serverUrl = args.url ?? defaultUrl(engine)
if (!serverUrl) throw new Error(`--url is required (or set STRANGLER_BENCH_${engine === 'postgres' ? 'PG' : 'MYSQL'}_URL)`)
const rows = Number(args.rows)
const concurrency = Number(args.concurrency)
const batch = Number(args.batch)
const rounds = Number(args.rounds)
const log = (m: string): void => void process.stderr.write(`[bench:capture-overhead] ${m}\n`)

const db = await scratchDb(engine, serverUrl, 'strangler_bench_capture')
const app = appPool(engine, db.url, concurrency)
const plan = configSchema.parse({
  monolith: {url: db.url},
  services: {users: {target: {url: db.url}, isolation: 'private-tables', entities: [{source: 'users'}]}},
})
let ws: Workspace | undefined
type Phase = 'insert-single' | 'update-single' | 'insert-batch'
const results: {phase: Phase; triggers: boolean; rowsPerSec: number}[] = []

try {
  await createUsers(engine, app)
  ws = await Workspace.open(plan, {runId: randomUUID()})
  const info = await ws.monolith.info()
  log(`${info.version}, ${rows} rows per phase, concurrency ${concurrency}, batch ${batch}, ${rounds} round(s)`)
  for (let round = 1; round <= rounds; round++) {
    for (const triggers of [false, true]) {
      await removeCapture(ws, 'users', {dropOutbox: true})
      await createUsers(engine, app)
      if (triggers) await installCapture(ws, 'users')
      const record = (phase: Phase, seconds: number, n: number) => {
        const rowsPerSec = Math.round(n / seconds)
        results.push({phase, triggers, rowsPerSec})
        emit({bench: 'capture-overhead', engine, version: info.version, round, phase, triggers, rows: n, seconds: Number(seconds.toFixed(3)), rowsPerSec})
      }
      const one = insertSql(1)
      record('insert-single', await timed(rows, concurrency, (i) => app.exec(one, userParams(i + 1))), rows)
      record(
        'update-single',
        await timed(rows, concurrency, (i) => app.exec(`UPDATE users SET loyalty_points = loyalty_points + 1, updated_at = ? WHERE id = ?`, ['2024-05-06 07:08:09.5', ((i * 7919) % rows) + 1])),
        rows,
      )
      const many = insertSql(batch)
      const batches = Math.ceil(rows / batch)
      record(
        'insert-batch',
        await timed(batches, concurrency, (b) => app.exec(many, Array.from({length: batch}, (_, j) => userParams(rows + b * batch + j + 1)).flat())),
        batches * batch,
      )
    }
  }
  for (const phase of ['insert-single', 'update-single', 'insert-batch'] as const) {
    const best = (t: boolean) => Math.max(...results.filter((r) => r.phase === phase && r.triggers === t).map((r) => r.rowsPerSec))
    const without = best(false)
    const withTriggers = best(true)
    emit({bench: 'capture-overhead', summary: true, engine, phase, rows, without_rows_per_s: without, with_rows_per_s: withTriggers, loss_pct: Number((((without - withTriggers) / without) * 100).toFixed(1))})
  }
} finally {
  if (ws) await removeCapture(ws, 'users', {dropOutbox: true}).catch(() => undefined)
  await ws?.close()
  await app.close()
  if (!args.keep) await db.drop()
}
