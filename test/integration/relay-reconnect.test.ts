/**
 * The monolith restarting under a following relay (the harness restarts the
 * real server process on the same data directory and port): the relay
 * reconnects through its pools, and an application that keeps writing through
 * the restart ends with the service store identical to the monolith.
 * Needs the harness's own servers (not STRANGLER_TEST_*_URL ones).
 */
import {afterEach, describe, expect, it} from 'vitest'
import {Relay} from '../../src/capture/relay.js'
import {restartServer, type ServerKind} from '../helpers/servers.js'
import {testServers} from '../helpers/db.js'
import {entries, relayFixture, SERVICE, type Pair, type RelayFixture} from './relay-setup.js'

let fixtures: RelayFixture[] = []
afterEach(async () => {
  for (const f of fixtures) await f.close()
  fixtures = []
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await Promise.resolve(cond()).catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const CASES: [Pair, ServerKind][] = [
  ['pg-pg', 'postgres'],
  // logical capture: the slot survives the restart, and the feed reconnects with the relay
  ['pgl-pg', 'postgres'],
  ['my-pg', 'mariadb'],
]

describe.each(CASES)('the monolith restarting while the relay follows (%s)', (pair, kind) => {
  it.skipIf(!testServers().servers[kind]?.restartable)(`reconnects and catches up after ${kind} restarts`, async () => {
    const f = await relayFixture(pair)
    fixtures.push(f)
    const relay = new Relay(f.ws, SERVICE, {idleMs: 20, retryBaseMs: 100, maxAttempts: 8})
    const stop = new AbortController()
    const following = relay.follow(stop.signal)

    // an application that keeps writing through the outage (idempotent inserts, retried until they succeed)
    let next = 1
    let writing = true
    let writeErrors = 0
    const insert = f.app.dialect === 'postgres' ? `INSERT INTO accounts (id, email) VALUES (?, ?) ON CONFLICT DO NOTHING` : `INSERT IGNORE INTO accounts (id, email) VALUES (?, ?)`
    const writer = (async () => {
      while (writing) {
        try {
          await f.app.exec(insert, [next, `u${next}@x`])
          if (next % 7 === 0) await f.app.exec(`UPDATE accounts SET name = ? WHERE id = ?`, [`n${next}`, next - 3])
          next++
        } catch {
          writeErrors++
          await sleep(50)
        }
      }
    })()

    await waitFor('writes before the restart', () => next > 100)
    await waitFor('the relay to apply some', async () => (await f.snapshot()).target.size > 20)
    const before = next
    await restartServer(kind, {downMs: 1000})
    await waitFor('writes after the restart', () => next > before + 200)
    writing = false
    await writer
    // caught up: nothing pending, and every write applied (under logical capture the relay cannot count what the server has not sent yet)
    await waitFor('the relay to catch up', async () => {
      if ((await relay.lag()).pending !== 0) return false
      const {source, target} = await f.snapshot()
      return JSON.stringify(entries(source)) === JSON.stringify(entries(target))
    })
    stop.abort()
    const totals = await following

    expect(writeErrors).toBeGreaterThan(0) // the outage was real for the application too
    expect(totals.changes).toBeGreaterThanOrEqual(next - 1)
    expect(await f.outboxCount()).toBe(0)
    const {source, target} = await f.snapshot()
    expect(source.size).toBe(next - 1)
    expect(entries(target)).toEqual(entries(source))
  })
})
