import type {PGlite} from '@electric-sql/pglite'
import {acquirePGlite} from '../engines/postgres/pglite-registry.js'

/** Longest stretch of back-to-back queries before the event loop gets a turn (ms). */
const SLICE_MS = 15

const WRAPPED = Symbol.for('strangler.demo.cooperative')
let lastYield = performance.now()

/** A macrotask boundary: timers and I/O callbacks run before the next query. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * PGlite runs PostgreSQL on the JavaScript thread and answers every query
 * within the same turn of the event loop (its file system calls are
 * synchronous), so a long chain of awaited queries, a backfill or a diff,
 * never lets a timer fire: the demo application's paced writes, the SDK's
 * phase polls and flushes, the toggle client and the relay follower would all
 * stall until the phase step is over. The demo runs everything in one
 * process, so it makes the shared PGlite instances cooperative: before a
 * query, when queries have run back to back for more than a few
 * milliseconds, the event loop gets one turn.
 *
 * Applied to the instance every adapter on `url` shares (see
 * pglite-registry); the returned function releases the demo's reference.
 */
export async function makeCooperative(url: string): Promise<() => Promise<void>> {
  const {db, release} = await acquirePGlite(url)
  const target = db as PGlite & {[WRAPPED]?: true}
  if (!target[WRAPPED]) {
    target[WRAPPED] = true
    const query = db.query.bind(db)
    const exec = db.exec.bind(db)
    const turn = async (): Promise<void> => {
      if (performance.now() - lastYield < SLICE_MS) return
      await yieldToLoop()
      lastYield = performance.now()
    }
    target.query = (async (sql: string, params?: unknown[], options?: Parameters<PGlite['query']>[2]) => {
      await turn()
      return query(sql, params as never[], options)
    }) as PGlite['query']
    target.exec = (async (sql: string, options?: Parameters<PGlite['exec']>[1]) => {
      await turn()
      return exec(sql, options)
    }) as PGlite['exec']
  }
  return release
}
