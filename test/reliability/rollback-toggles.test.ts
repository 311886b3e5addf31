/**
 * Issue #8 (G): `rollback` changes the toggle and the state first and reports
 * after. When the toggle provider fails (Unleash on a closed port, a wrong
 * admin token) the operator reads no success line, the state store keeps the
 * service as it was, and the error names the provider (its URL without
 * credentials), what failed and the command that retries. From
 * decommissioned, the provider is asked before anything moves. PostgreSQL,
 * local toggles for the walk, Unleash for the rollback.
 */
import {randomBytes} from 'node:crypto'
import pg from 'pg'
import {afterAll, describe, expect, it, type TestContext} from 'vitest'
import {planDir} from '../helpers/cli.js'
import {freshPg, testPassword} from '../helpers/db.js'
import {freePort} from '../helpers/servers.js'
import {unleashInfo} from '../helpers/unleash.js'
import {killAllCli, runCliProcess, type CliOutcome} from './support/cli-process.js'
import {TEST_GATES} from './support/migration.js'

afterAll(() => killAllCli())
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Setup {
  service: string
  admin: pg.Client
  /** Runs the CLI with the plan's toggles (local unless given). */
  run(args: string[], toggles?: Record<string, unknown>, env?: Record<string, string>): Promise<CliOutcome>
  ok(args: string[]): Promise<CliOutcome>
  /** What a failed rollback must not change. */
  state(): Promise<string>
}

async function setup(ctx: TestContext, prefix: string): Promise<Setup> {
  const [mono, target] = await Promise.all([freshPg(`${prefix}_mono`), freshPg(`${prefix}_tgt`)])
  const admin = new pg.Client({connectionString: mono.url})
  await admin.connect()
  ctx.onTestFinished(async () => {
    await admin.end()
    await Promise.all([mono.drop(), target.drop()])
  })
  await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)`)
  await admin.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 200) g`)
  // the Unleash server is shared by the whole run: a service name of its own
  const service = `rb${randomBytes(4).toString('hex')}`
  const plan = (toggles?: Record<string, unknown>) => ({monolith: {url: '${MONO}'}, gates: TEST_GATES, ...(toggles ? {toggles} : {}), services: {[service]: {target: {url: '${TGT}'}, entities: [{source: 'users'}]}}})
  const run = (args: string[], toggles?: Record<string, unknown>, env: Record<string, string> = {}) =>
    runCliProcess(args, {cwd: planDir(plan(toggles)), env: {MONO: mono.url, TGT: target.url, ...env}})
  const ok = async (args: string[]) => {
    const r = await run(args)
    expect(r.code, `${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0)
    return r
  }
  const rows = async (sql: string) => (await admin.query(sql)).rows
  const state = async () =>
    JSON.stringify({
      services: await rows(`SELECT name, phase, read_pct, write_target, step, info FROM strangler_services ORDER BY 1`),
      transitions: await rows(`SELECT service, from_phase, to_phase FROM strangler_transitions ORDER BY id`),
      toggles: await rows(`SELECT name, pct FROM strangler_toggles ORDER BY 1`),
      tables: await rows(`SELECT table_schema, table_name FROM information_schema.tables WHERE table_name IN ('users') ORDER BY 1`),
      triggers: await rows(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`),
    })
  for (const args of [['init'], ['shadow', service], ['diff', service], ['write-through', service]]) await ok(args)
  return {service, admin, run, ok, state}
}

function expectToggleFailure(r: CliOutcome, secrets: string[], failed: RegExp, retry: string): void {
  const all = r.stdout + r.stderr
  expect(r.code, all).toBe(2)
  expect(all).toMatch(failed)
  expect(all).toContain(`retry with \`${retry}\``)
  // no success line before (or instead of) the error
  expect(all).not.toMatch(/reads → \d+ % on the service|✔|rolled back/)
  expect(all).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/)
  for (const s of secrets) expect(all).not.toContain(s)
}

describe.concurrent('rollback when the toggle provider fails', () => {
  it('from shift: nothing is printed as done and nothing changes; the same command retries once Unleash answers', async (ctx: TestContext) => {
    const s = await setup(ctx, 'rbt_shift')
    await s.ok(['shift', s.service, '--to', '50'])
    const before = await s.state()
    const u = unleashInfo()
    const tokens = {adminToken: '${UT}', clientToken: '${UCT}'}
    const env = {UT: u.adminToken, UCT: u.clientToken}

    // Unleash on a closed port, its URL carrying credentials: they are not shown
    const port = await freePort()
    const closed = await s.run(['rollback', s.service, '--to', '20'], {provider: 'unleash', url: `http://ops:Url-Secret-42@127.0.0.1:${port}`, ...tokens}, env)
    expectToggleFailure(
      closed,
      [u.adminToken, testPassword(), 'Url-Secret-42'],
      new RegExp(`Error: Rollback of ${s.service} stopped: setting toggle strangler\\.${s.service}\\.reads to 20 % failed on Unleash at http://127\\.0\\.0\\.1:${port}/: cannot reach the Unleash server`),
      `strangler rollback ${s.service} --to 20`,
    )
    expect(await s.state()).toEqual(before)

    // a wrong admin token
    const wrong = `*:*.${randomBytes(16).toString('hex')}`
    const denied = await s.run(['rollback', s.service, '--to', '20'], {provider: 'unleash', url: u.url, ...tokens}, {...env, UT: wrong})
    expectToggleFailure(denied, [wrong, u.adminToken], new RegExp(`failed on Unleash at ${u.url.replace(/\/?$/, '/').replace(/[.]/g, '\\.')}: Unleash rejected the admin token \\(401`), `strangler rollback ${s.service} --to 20`)
    expect(await s.state()).toEqual(before)

    // the same command with a working Unleash: done, and reported after the fact
    const done = await s.run(['rollback', s.service, '--to', '20'], {provider: 'unleash', url: u.url, ...tokens}, env)
    expect(done.code, done.stdout + done.stderr).toBe(0)
    expect(done.stdout).toMatch(new RegExp(`✔ reads → 20 % on the service \\(toggle strangler\\.${s.service}\\.reads\\)\\nService ${s.service}: shift → shift \\(reads 20 %`))
    expect((await s.admin.query(`SELECT read_pct FROM strangler_services WHERE name = $1`, [s.service])).rows[0].read_pct).toBe(20)
  })

  it('from decommissioned: the provider is asked before anything moves', async (ctx: TestContext) => {
    const s = await setup(ctx, 'rbt_dec')
    await s.ok(['shift', s.service, '--to', '100'])
    await sleep(1200) // the plan's soak: reads at 100 % for 1 s
    await s.ok(['decommission', s.service, '--yes'])
    const before = await s.state()
    expect(before).toContain('"table_schema":"strangler_archive"')

    const port = await freePort()
    const u = unleashInfo()
    const r = await s.run(['rollback', s.service], {provider: 'unleash', url: `http://127.0.0.1:${port}`, adminToken: '${UT}', clientToken: '${UCT}'}, {UT: u.adminToken, UCT: u.clientToken})
    expectToggleFailure(
      r,
      [u.adminToken, testPassword()],
      new RegExp(`Rollback of ${s.service} stopped: reading toggle strangler\\.${s.service}\\.writes failed on Unleash at http://127\\.0\\.0\\.1:${port}/[\\s\\S]*Nothing was changed`),
      `strangler rollback ${s.service}`,
    )
    expect(r.stdout + r.stderr).not.toMatch(/reverse relay|restore/)
    // the archive is where it was, the phase too
    expect(await s.state()).toEqual(before)

    // with the plan's own (local) toggles the rollback goes through
    await s.ok(['rollback', s.service])
    expect((await s.admin.query(`SELECT phase, write_target FROM strangler_services WHERE name = $1`, [s.service])).rows[0]).toEqual({phase: 'shift', write_target: 'monolith'})
  })
})
