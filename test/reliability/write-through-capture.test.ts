/**
 * Issue #8 (F): `write-through` on a service whose change capture is gone
 * (the operator dropped the outbox or a trigger) is refused with a UserError:
 * exit 2, what is missing, which command restores it, no stack trace, and
 * nothing changed in the state store. Even `--force` cannot enter
 * write-through without capture. Following the hint gets the service there.
 * PostgreSQL.
 */
import pg from 'pg'
import {afterAll, describe, expect, it} from 'vitest'
import {planDir} from '../helpers/cli.js'
import {freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'
import {killAllCli, runCliProcess, type CliOutcome} from './support/cli-process.js'
import {TEST_GATES} from './support/migration.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  killAllCli()
  for (const c of cleanups.reverse()) await c().catch(() => undefined)
})

describe('write-through without change capture', () => {
  it('is refused with what is missing and the command that restores it; nothing changes', async () => {
    const [mono, target]: FreshDatabase[] = await Promise.all([freshPg('wtc_mono'), freshPg('wtc_tgt')])
    const admin = new pg.Client({connectionString: mono.url})
    await admin.connect()
    cleanups.push(async () => {
      await admin.end()
      await Promise.all([mono.drop(), target.drop()])
    })
    await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)`)
    await admin.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 200) g`)
    const dir = planDir({monolith: {url: '${MONO}'}, gates: TEST_GATES, services: {crm: {target: {url: '${TGT}'}, entities: [{source: 'users'}]}}})
    const run = (args: string[]): Promise<CliOutcome> => runCliProcess(args, {cwd: dir, env: {MONO: mono.url, TGT: target.url}})
    const ok = async (args: string[]): Promise<CliOutcome> => {
      const r = await run(args)
      expect(r.code, `${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0)
      return r
    }
    const rows = async (sql: string) => JSON.stringify((await admin.query(sql)).rows)
    const state = async () => ({
      services: await rows(`SELECT name, phase, read_pct, write_target, step FROM strangler_services ORDER BY 1`),
      transitions: await rows(`SELECT service, from_phase, to_phase FROM strangler_transitions ORDER BY id`),
      locks: await rows(`SELECT service FROM strangler_locks`),
    })
    const expectRefused = (r: CliOutcome, missing: RegExp, command: RegExp) => {
      const all = r.stdout + r.stderr
      expect(r.code, all).toBe(2)
      expect(all).toMatch(/Error: Cannot (enter write-through|drain the relay of crm): the change capture of crm is missing on the monolith/)
      expect(all).toMatch(missing)
      expect(all).toMatch(command)
      expect(all).not.toMatch(/does not exist on postgres/) // not the raw database error
      expect(all).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/)
      expect(all).not.toContain(testPassword())
    }

    for (const args of [['init'], ['shadow', 'crm'], ['diff', 'crm']]) await ok(args)

    // 1. in shadow, the outbox dropped by hand
    await admin.query(`DROP TABLE strangler_outbox_crm`)
    const before = await state()
    const refused = await run(['write-through', 'crm'])
    expectRefused(refused, /the outbox table public\.strangler_outbox_crm/, /Hint: Run `strangler shadow crm`: on a service in shadow it reinstalls change capture/)
    expect(refused.stdout).not.toMatch(/shadow → write-through/)
    expect(await state()).toEqual(before)
    const forced = await run(['write-through', 'crm', '--force', '--reason', 'try anyway'])
    expectRefused(forced, /the outbox table public\.strangler_outbox_crm/, /strangler shadow crm/)
    expect(await state()).toEqual(before)

    // the hint works: shadow reinstalls capture, then write-through goes through
    const again = await ok(['shadow', 'crm'])
    expect(again.stdout + again.stderr).toMatch(/change capture of crm was missing and has been reinstalled/)
    await ok(['diff', 'crm'])
    expect((await ok(['write-through', 'crm'])).stdout).toMatch(/Service crm: shadow → write-through/)

    // 2. in write-through, the capture trigger dropped: a re-run (which drains the relay) is refused too
    // the UPDATE trigger (the others stay: one event missing makes capture incomplete)
    const trigger = (await admin.query(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = 'users'::regclass AND tgname LIKE '%\\_tu'`)).rows as {tgname: string}[]
    expect(trigger.length).toBe(1)
    await admin.query(`DROP TRIGGER "${trigger[0].tgname}" ON users`)
    const before2 = await state()
    const rerun = await run(['write-through', 'crm'])
    expectRefused(rerun, /the capture triggers on public\.users/, /Step back with `strangler rollback crm`, reinstall capture with `strangler shadow crm`/)
    expect(await state()).toEqual(before2)

    // the hint works: back to shadow, capture reinstalled, write-through again
    await ok(['rollback', 'crm'])
    await ok(['shadow', 'crm'])
    await ok(['diff', 'crm'])
    await ok(['write-through', 'crm'])
    expect((await admin.query(`SELECT phase FROM strangler_services WHERE name = 'crm'`)).rows[0].phase).toBe('write-through')
    expect((await admin.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = 'users'::regclass`)).rows[0].n).toBe(4) // the INSERT, UPDATE, DELETE and TRUNCATE statement triggers
  })
})
