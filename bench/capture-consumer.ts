/**
 * What a running relay does to the monolith, in a process of its own, for
 * bench/capture-overhead.ts (which forks it; IPC only): reads the `users`
 * service's outbox through `serviceOutbox` (under `capture: 'logical'` every
 * read first pumps the slot: decoding, the outbox INSERT, the slot advance),
 * deletes what it read, pauses when the outbox is empty and measures the lag
 * every second, as `Relay.follow` does with its defaults (batch 500, idle
 * 200 ms, lag 1 s: under logical capture a peek of the slot). It applies
 * nothing to a target: the target is another server in production, and the
 * bench measures what capture costs the monolith and the machine.
 *
 *   node --import tsx bench/capture-consumer.ts --url DB_URL --capture triggers|logical
 *
 * Messages in: {cmd: 'start'} (acknowledged once the first read is done:
 * the feed is set up outside the measured writes), {cmd: 'stop'}
 * (acknowledged when no read is in flight: the slot is free to drop; with
 * where the time went since the start: reads of the outbox, under logical
 * capture with the pump of the slot before each; deletes; lag measurements).
 * Out: {ready}, {consumed: total} after every non-empty batch, {ack}, {error}.
 * Exits when the parent disconnects.
 */
import {randomUUID} from 'node:crypto'
import {parseArgs} from 'node:util'
import {logicalFeed, serviceOutbox} from '../src/capture/capture.js'
import {configSchema} from '../src/config/schema.js'
import {Workspace} from '../src/workspace.js'

const {values: args} = parseArgs({
  options: {
    url: {type: 'string'},
    capture: {type: 'string', default: 'logical'},
    batch: {type: 'string', default: '500'},
    'idle-ms': {type: 'string', default: '200'},
    'lag-ms': {type: 'string', default: '1000'},
  },
})
if (!args.url) throw new Error('--url is required')
if (args.capture !== 'triggers' && args.capture !== 'logical') throw new Error('--capture must be triggers or logical')
if (!process.send) throw new Error('capture-consumer runs forked by capture-overhead.ts (it talks over IPC)')
const send = (m: Record<string, unknown>): void => void process.send?.(m)
const batch = Number(args.batch)
const idleMs = Number(args['idle-ms'])
const lagMs = Number(args['lag-ms'])

const plan = configSchema.parse({
  monolith: {url: args.url},
  services: {users: {target: {url: args.url}, isolation: 'private-tables', capture: args.capture, entities: [{source: 'users'}]}},
})
const ws = await Workspace.open(plan, {runId: randomUUID()})
const outbox = serviceOutbox(ws, 'users')
// the relay reads by entity name (`users_users` here, private tables), as Relay.batch does
const entities = (await ws.entities('users')).map((e) => e.name)
let consumed = 0
/** Where the time went since the last start, ms. */
let spent = {reads: 0, readMs: 0, deleteMs: 0, lags: 0, lagMs: 0}
let stopping = true
let running: Promise<void> | undefined
// wakes the idle pause early on stop
let wake: (() => void) | undefined

/** One relay batch: the oldest `batch` rows (a pump of the slot first, under logical capture), deleted by id. */
async function once(): Promise<number> {
  let t = performance.now()
  const rows = await outbox.fetch(batch, entities)
  spent.reads++
  spent.readMs += performance.now() - t
  if (rows.length) {
    t = performance.now()
    await outbox.remove(rows.map((r) => r.id))
    spent.deleteMs += performance.now() - t
    consumed += rows.length
    send({consumed})
  }
  return rows.length
}

async function loop(): Promise<void> {
  let nextLag = Date.now() + lagMs
  while (!stopping) {
    const n = await once()
    if (Date.now() >= nextLag) {
      const t = performance.now()
      await outbox.lag(entities)
      spent.lags++
      spent.lagMs += performance.now() - t
      nextLag = Date.now() + lagMs
    }
    if (n === 0 && !stopping) await new Promise<void>((r) => ((wake = r), setTimeout(r, idleMs)))
  }
}

process.on('message', (m: {cmd: string}) => {
  void (async () => {
    if (m.cmd === 'start' && stopping) {
      stopping = false
      spent = {reads: 0, readMs: 0, deleteMs: 0, lags: 0, lagMs: 0}
      await once()
      running = loop()
      running.catch((err: unknown) => send({error: String((err as Error)?.stack ?? err)}))
    } else if (m.cmd === 'stop') {
      stopping = true
      wake?.()
      await running?.catch(() => undefined)
      running = undefined
      // logical capture: end the replication stream, so the slot is free to drop
      await (await logicalFeed(ws, 'users').catch(() => undefined))?.close()
    }
    const ms = (x: number): number => Math.round(x)
    send({ack: m.cmd, consumed, spent: {...spent, readMs: ms(spent.readMs), deleteMs: ms(spent.deleteMs), lagMs: ms(spent.lagMs)}})
  })().catch((err: unknown) => send({error: String((err as Error)?.stack ?? err)}))
})
// a Ctrl-C reaches the whole process group: the parent stops this process, after its cleanup needs it no more
process.on('SIGINT', () => undefined)
process.on('disconnect', () => {
  stopping = true
  wake?.()
  void (running ?? Promise.resolve())
    .catch(() => undefined)
    .then(() => ws.close())
    .finally(() => process.exit(0))
})
send({ready: true})
