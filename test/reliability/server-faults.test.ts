/**
 * Server faults under a running migration, with an application writing:
 * the monolith and then the service store crash and restart under the relay
 * and under the backfill; the tool's connections are killed from the server
 * side (pg_terminate_backend, MariaDB KILL); the connections the tool may open
 * are exhausted for a while. Each time the tool retries with bounded backoff,
 * says so in its logs, keeps running (or, for a one-shot command, stops with a
 * clear message and resumes when run again), and ends with the service store
 * exactly as the load generator's truth log says.
 *
 * Needs the servers the harness started itself (restartable); skipped with
 * STRANGLER_TEST_*_URL servers.
 */
import mysql from 'mysql2/promise'
import pg from 'pg'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {testServers, testUrls, uniqueName} from '../helpers/db.js'
import {restartServer} from '../helpers/servers.js'
import {killAllCli} from './support/cli-process.js'
import {migration, secrets, type Migration} from './support/migration.js'
import {followRelay} from './support/relay-follower.js'

const SOAK = process.env.STRANGLER_SOAK === '1'
const restartable = () => Boolean(testServers().servers.postgres?.restartable && testServers().servers.mariadb?.restartable)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let open: Migration[] = []
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  killAllCli()
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
  for (const m of open) await m.close()
  open = []
})
afterAll(() => killAllCli())

async function setup(monolith: 'postgres' | 'mysql', accounts = 2000): Promise<Migration> {
  const m = await migration({monolith, accounts, items: 100, load: {seed: 11, writesPerSecond: 100, concurrency: 4}})
  open.push(m)
  expect((await m.cli(['init'])).code).toBe(0)
  return m
}

/** JSON log lines of a run at warn or error level. */
function faults(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as {level: string; msg: string})
    .filter((l) => l.level === 'warn' || l.level === 'error')
    .map((l) => l.msg)
}

/**
 * Takes all `limit` connections a user may open: kills the tool's connections
 * and grabs the freed slots with parallel attempts (faster than the tool's pool
 * reconnects), until the fillers hold every slot.
 */
async function exhaust(limit: number, fillers: unknown[], grab: () => Promise<void>, killTool: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 20_000
  while (fillers.length < limit && Date.now() < deadline) {
    await killTool()
    await Promise.all(Array.from({length: limit - fillers.length + 2}, () => grab()))
  }
  expect(fillers.length, 'the fillers hold every connection the tool may open').toBeGreaterThanOrEqual(limit)
}

async function expectConverged(m: Migration): Promise<void> {
  const check = await m.checkService()
  const mono = await m.checkMonolith()
  expect(mono.problems, 'the monolith kept every acknowledged write').toEqual([])
  expect(check.problems).toEqual([])
  expect(check.keysChecked).toBeGreaterThan(1000)
  for (const out of m.outputs) for (const s of secrets()) expect(out).not.toContain(s)
}

describe.skipIf(!restartable())('server faults', () => {
  it('the monolith, then the service store, crash and restart while the relay follows (MariaDB → PostgreSQL)', async () => {
    const m = await setup('mysql')
    expect((await m.cli(['shadow', m.service])).code).toBe(0)
    m.gen.start()
    const relay = await followRelay(m, ['--batch-size', '50'])
    await sleep(1500)
    const before = (await relay.metric('strangler_relay_outbox_changes_total')) ?? 0
    expect(before).toBeGreaterThan(0)

    await restartServer('mariadb', {mode: 'kill', downMs: 1500})
    await sleep(2000)
    await restartServer('postgres', {mode: 'immediate', downMs: 1500})
    await sleep(2000 * (SOAK ? 5 : 1))
    const stats = await m.gen.stop()
    expect(stats.errors, 'the outage was real for the application too').toBeGreaterThan(0)

    await relay.caughtUp({minConsumed: before + 1})
    expect(relay.process.exited(), 'the relay kept running through both outages').toBe(false)
    // the faults were seen: retried database steps, or whole passes that failed and were retried
    expect(((await relay.metric('strangler_relay_retries_total')) ?? 0) + ((await relay.metric('strangler_relay_errors_total')) ?? 0)).toBeGreaterThan(0)
    const out = await relay.stop()
    expect(out.code, out.stderr.slice(-3000)).toBe(0)
    const reported = faults(out.stderr)
    expect(reported.join('\n')).toMatch(/retry|retrying/i)
    expect(reported.some((l) => /connect|connection|closed|terminat|ECONNREFUSED|shutdown/i.test(l)), reported.join('\n')).toBe(true)
    await expectConverged(m)
  })

  it('the monolith, then the service store, crash and restart during the backfill (MariaDB → PostgreSQL)', async () => {
    const m = await setup('mysql', 4000)
    m.gen.start()
    // slow enough that both outages land inside the copy
    const p = m.start(['shadow', m.service, '--chunk-rows', '100', '--parallel', '2', '--max-rows-per-second', '600'])
    expect(await p.waitFor(/(creating|using) \S+ on /), p.stderr()).toBe(true)
    await sleep(800)
    await restartServer('mariadb', {mode: 'kill', downMs: 1500})
    await sleep(800)
    expect(p.exited(), `the backfill stopped at the monolith outage:\n${p.stderr().slice(-3000)}`).toBe(false)
    await restartServer('postgres', {mode: 'immediate', downMs: 1500})
    const r = await m.keep(p)
    // it rode out both outages: retried with backoff from the last written chunk, and said so
    expect(r.code, r.stderr.slice(-3000)).toBe(0)
    const warned = faults(r.stderr).filter((l) => /backfill of \S+ failed .*retry \d+\/\d+ in \d+ ms/.test(l))
    expect(warned.length, faults(r.stderr).join('\n')).toBeGreaterThan(0)
    expect((await m.state()).phase).toBe('shadow')
    await m.gen.stop()
    expect((await m.cli(['relay', m.service, '--once'])).code).toBe(0)
    await expectConverged(m)
  })

  it("kills the tool's PostgreSQL backends and exhausts its connection limit while the relay follows", async () => {
    const m = await setup('postgres')
    expect((await m.cli(['shadow', m.service])).code).toBe(0)
    // the tool runs as a role of its own, limited to 6 connections
    const role = uniqueName('rel_tool')
    const rolePw = `Rl-${role.slice(-6)}-pw`
    const admin = new pg.Client({connectionString: m.mono.url})
    await admin.connect()
    cleanups.push(async () => {
      await admin.end().catch(() => undefined)
      const c = new pg.Client({connectionString: testUrls().pg})
      await c.connect()
      await m.mono.drop().catch(() => undefined)
      await c.query(`DROP ROLE IF EXISTS "${role}"`).catch(() => undefined)
      await c.end()
    })
    await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${rolePw}' CONNECTION LIMIT 6`)
    await admin.query(`GRANT ALL ON SCHEMA public TO "${role}"; GRANT ALL ON ALL TABLES IN SCHEMA public TO "${role}"; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "${role}"`)
    const u = new URL(m.mono.url)
    u.username = role
    u.password = rolePw
    const toolUrl = u.toString()

    m.gen.start()
    const relay = await followRelay(m, ['--batch-size', '50'], {MONO: toolUrl})
    await sleep(1000)
    const terminate = () => admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND application_name = 'strangler'`, [role])
    for (let i = 0; i < 3; i++) {
      await terminate()
      await sleep(700)
    }
    // take every connection the role may open: kill the tool's and grab the freed slots (in parallel, faster than
    // the relay reconnects) until the fillers hold all 6; then hold them for 3 s while the relay has none
    const fillers: pg.Client[] = []
    const grab = async (): Promise<void> => {
      const c = new pg.Client({connectionString: toolUrl, application_name: 'filler'})
      c.on('error', () => undefined)
      try {
        await c.connect()
        fillers.push(c)
      } catch (err) {
        expect(String(err)).toMatch(/too many connections/)
      }
    }
    await exhaust(6, fillers, grab, async () => void (await terminate()))
    await sleep(3000)
    for (const c of fillers) await c.end().catch(() => undefined)
    await sleep(1500)
    await m.gen.stop()
    await relay.caughtUp()
    expect(relay.process.exited()).toBe(false)
    const met = ((await relay.metric('strangler_relay_retries_total')) ?? 0) + ((await relay.metric('strangler_relay_errors_total')) ?? 0)
    const out = await relay.stop()
    expect(out.code, out.stderr.slice(-3000)).toBe(0)
    // the relay met the faults: retried steps or failed passes in its metrics, or (a pool replacing a killed idle
    // connection retries nothing) the faults it reported
    expect(met + faults(out.stderr).length, 'the relay met the faults').toBeGreaterThan(0)
    const reported = faults(out.stderr).join('\n')
    expect(reported).toMatch(/terminat|Connection terminated|too many connections|connection/i)
    expect(out.stderr).not.toContain(rolePw)
    await expectConverged(m)
  })

  it("kills the tool's MariaDB connections and exhausts its max_user_connections while the relay follows", async () => {
    const m = await setup('mysql')
    expect((await m.cli(['shadow', m.service])).code).toBe(0)
    const user = uniqueName('rel_tool').slice(0, 32)
    const userPw = `Rl-${user.slice(-6)}-pw`
    const admin = await mysql.createConnection({uri: m.mono.url})
    cleanups.push(async () => {
      await admin.query(`DROP USER IF EXISTS '${user}'@'%'`).catch(() => undefined)
      await admin.end().catch(() => undefined)
    })
    await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${userPw}' WITH MAX_USER_CONNECTIONS 6`)
    await admin.query(`GRANT ALL PRIVILEGES ON \`${m.mono.name}\`.* TO '${user}'@'%'`)
    const u = new URL(m.mono.url)
    u.username = user
    u.password = userPw
    const toolUrl = u.toString()

    m.gen.start()
    const relay = await followRelay(m, ['--batch-size', '50'], {MONO: toolUrl})
    await sleep(1000)
    const fillers: mysql.Connection[] = []
    const kill = async () => {
      const [rows] = await admin.query(`SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?`, [user])
      const mine = new Set(fillers.map((c) => c.threadId))
      for (const r of rows as {id: number}[]) if (!mine.has(r.id)) await admin.query(`KILL CONNECTION ${Number(r.id)}`).catch(() => undefined)
    }
    for (let i = 0; i < 3; i++) {
      await kill()
      await sleep(700)
    }
    const grab = async (): Promise<void> => {
      try {
        fillers.push(await mysql.createConnection({uri: toolUrl}))
      } catch (err) {
        expect(String(err)).toMatch(/max_user_connections/)
      }
    }
    await exhaust(6, fillers, grab, kill)
    await sleep(3000)
    for (const c of fillers) await c.end().catch(() => undefined)
    await sleep(1500)
    await m.gen.stop()
    await relay.caughtUp()
    expect(relay.process.exited()).toBe(false)
    const met = ((await relay.metric('strangler_relay_retries_total')) ?? 0) + ((await relay.metric('strangler_relay_errors_total')) ?? 0)
    const out = await relay.stop()
    expect(out.code, out.stderr.slice(-3000)).toBe(0)
    // the relay met the faults: retried steps or failed passes in its metrics, or (a pool replacing a killed idle
    // connection retries nothing) the faults it reported
    expect(met + faults(out.stderr).length, 'the relay met the faults').toBeGreaterThan(0)
    const reported = faults(out.stderr).join('\n')
    expect(reported).toMatch(/max_user_connections|connection|closed|killed/i)
    expect(out.stderr).not.toContain(userPw)
    await expectConverged(m)
  })
})
