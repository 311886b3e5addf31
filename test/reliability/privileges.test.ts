/**
 * Least privilege, checked against SECURITY.md: a database user with only
 * SELECT on the source table (and the control-plane tables, which `init` made
 * as an administrator) runs `strangler shadow`. It is refused with a message
 * naming what to grant, exit 2, nothing half-created (no service table, no
 * outbox, no trigger, the service still planned) and the user's password not
 * printed. With exactly the grants SECURITY.md lists for the shadow phase it
 * then succeeds, on PostgreSQL and on MariaDB.
 */
import mysql from 'mysql2/promise'
import pg from 'pg'
import {afterAll, describe, expect, it} from 'vitest'
import {planDir} from '../helpers/cli.js'
import {freshMysql, freshPg, testPassword, testUrls, uniqueName, type FreshDatabase} from '../helpers/db.js'
import {killAllCli, runCliProcess, type CliOutcome} from './support/cli-process.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  killAllCli()
  for (const c of cleanups.reverse()) await c().catch(() => undefined)
})

function withUser(url: string, user: string, password: string): string {
  const u = new URL(url)
  u.username = user
  u.password = password
  return u.toString()
}

async function run(args: string[], dir: string, env: Record<string, string>): Promise<CliOutcome> {
  return runCliProcess([...args, '--log-format', 'json'], {cwd: dir, env})
}

function plan(): unknown {
  return {monolith: {url: '${MONO}'}, services: {crm: {target: {url: '${TGT}'}, entities: [{source: 'users'}]}}}
}

interface Probe {
  tables(): Promise<string[]>
  triggers(): Promise<string[]>
  target(): Promise<string[]>
  phase(): Promise<string | undefined>
}

async function expectRefusedCleanly(r: CliOutcome, probe: Probe, secrets: string[], grantHint: RegExp): Promise<void> {
  const all = r.stdout + r.stderr
  expect(r.code, all).toBe(2)
  expect(all).toMatch(/Permission denied|command denied|permission denied/i)
  // it says what to grant
  expect(all).toMatch(grantHint)
  expect(all).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/)
  for (const s of secrets) expect(all).not.toContain(s)
  // nothing half-created
  expect(await probe.tables()).toEqual(['users'])
  expect(await probe.triggers()).toEqual([])
  expect(await probe.target()).toEqual([])
  expect([undefined, 'planned']).toContain(await probe.phase())
}

describe('least privilege: shadow with a SELECT-only database user', () => {
  it('PostgreSQL: refused naming the grants, nothing half-created; the SECURITY.md grants are enough', async () => {
    const [mono, target] = await Promise.all([freshPg('priv_mono'), freshPg('priv_tgt')])
    const role = uniqueName('ro')
    const rolePw = `Ro-${role.slice(-6)}-secret`
    cleanups.push(async () => {
      await Promise.all([mono.drop(), target.drop()])
      const c = new pg.Client({connectionString: testUrls().pg})
      await c.connect()
      await c.query(`DROP ROLE IF EXISTS "${role}"`)
      await c.end()
    })
    const admin = new pg.Client({connectionString: mono.url})
    await admin.connect()
    cleanups.push(() => admin.end())
    await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)`)
    await admin.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 20) g`)
    const dir = planDir(plan())
    const adminEnv = {MONO: mono.url, TGT: target.url}
    expect((await run(['init'], dir, adminEnv)).code).toBe(0)

    // the tool's user: SELECT on the source, DML on the control plane; no CREATE, no TRIGGER
    await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${rolePw}'`)
    await admin.query(`GRANT USAGE ON SCHEMA public TO "${role}"; GRANT SELECT ON users TO "${role}"`)
    const {rows} = await admin.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'strangler\\_%'`)
    for (const r of rows) await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${r.tablename}" TO "${role}"`)
    await admin.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "${role}"`)

    const probe: Probe = {
      tables: async () => (await admin.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'strangler\\_%' ORDER BY 1`)).rows.map((r) => r.tablename),
      triggers: async () => (await admin.query(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`)).rows.map((r) => r.tgname),
      target: async () => {
        const c = new pg.Client({connectionString: target.url})
        await c.connect()
        const t = (await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).rows.map((r) => r.table_name)
        await c.end()
        return t
      },
      phase: async () => (await admin.query(`SELECT phase FROM strangler_services WHERE name = 'crm'`)).rows[0]?.phase,
    }
    const toolEnv = {MONO: withUser(mono.url, role, rolePw), TGT: target.url}
    const refused = await run(['shadow', 'crm'], dir, toolEnv)
    await expectRefusedCleanly(refused, probe, [rolePw, testPassword()], /Hint: Change capture needs, for ro_\w+: on PostgreSQL, CREATE on schema public .* and TRIGGER on public\.users/)
    expect(await probe.tables()).not.toContain('strangler_outbox_crm')

    // SECURITY.md, shadow on PostgreSQL: CREATE on the schema (outbox, trigger function) and TRIGGER on each source table
    await admin.query(`GRANT CREATE ON SCHEMA public TO "${role}"; GRANT TRIGGER ON users TO "${role}"`)
    const ok = await run(['shadow', 'crm'], dir, toolEnv)
    expect(ok.code, ok.stderr).toBe(0)
    expect(await probe.phase()).toBe('shadow')
    // statement triggers for INSERT, UPDATE, DELETE and TRUNCATE
    expect(await probe.triggers()).toEqual(['strangler_crm_users_td', 'strangler_crm_users_ti', 'strangler_crm_users_trt', 'strangler_crm_users_tu'])
    await admin.query(`INSERT INTO users VALUES (21, 'new@x')`)
    const relay = await run(['relay', 'crm', '--once', '--json'], dir, toolEnv)
    expect(relay.code, relay.stderr).toBe(0)
    expect(JSON.parse(relay.stdout)).toMatchObject({upserts: 1, pending: 0})
  })

  it('PostgreSQL, logical capture: refused without REPLICATION, nothing half-created; the SECURITY.md grants are enough', async () => {
    const [mono, target] = await Promise.all([freshPg('priv_lmono'), freshPg('priv_ltgt')])
    const role = uniqueName('lr')
    const rolePw = `Lr-${role.slice(-6)}-secret`
    const admin = new pg.Client({connectionString: mono.url})
    await admin.connect()
    cleanups.push(async () => {
      await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()`).catch(() => undefined)
      await admin.end()
      await Promise.all([mono.drop(), target.drop()])
      const c = new pg.Client({connectionString: testUrls().pg})
      await c.connect()
      await c.query(`DROP ROLE IF EXISTS "${role}"`)
      await c.end()
    })
    await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)`)
    await admin.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 20) g`)
    const dir = planDir({monolith: {url: '${MONO}', capture: 'logical'}, services: {crm: {target: {url: '${TGT}'}, entities: [{source: 'users'}]}}})
    expect((await run(['init'], dir, {MONO: mono.url, TGT: target.url})).code).toBe(0)

    // the tool's user owns the source table and may create in the schema, but has no REPLICATION
    await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${rolePw}'`)
    await admin.query(`GRANT USAGE, CREATE ON SCHEMA public TO "${role}"; ALTER TABLE users OWNER TO "${role}"`)
    const {rows} = await admin.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'strangler\\_%'`)
    for (const r of rows) await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${r.tablename}" TO "${role}"`)
    await admin.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "${role}"`)
    const created = async () => ({
      tables: (await admin.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'strangler\\_%' ORDER BY 1`)).rows.map((r) => r.tablename),
      outbox: (await admin.query(`SELECT 1 FROM pg_tables WHERE tablename = 'strangler_outbox_crm'`)).rows.length,
      slots: (await admin.query(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`)).rows.length,
      publications: (await admin.query(`SELECT pubname FROM pg_publication`)).rows.length,
      triggers: (await admin.query(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`)).rows.length,
    })
    const toolEnv = {MONO: withUser(mono.url, role, rolePw), TGT: target.url}
    const refused = await run(['shadow', 'crm'], dir, toolEnv)
    const all = refused.stdout + refused.stderr
    expect(refused.code, all).toBe(2)
    expect(all).toMatch(new RegExp(`needs a user with the REPLICATION attribute.*${role} has none`))
    expect(all).toMatch(new RegExp(`ALTER ROLE "${role}" REPLICATION`))
    expect(all).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/)
    for (const secret of [rolePw, testPassword()]) expect(all).not.toContain(secret)
    expect(await created()).toEqual({tables: ['users'], outbox: 0, slots: 0, publications: 0, triggers: 0})

    // with REPLICATION, the next missing grant is named, still before anything is created
    await admin.query(`ALTER ROLE "${role}" REPLICATION`)
    const noPublish = await run(['shadow', 'crm'], dir, toolEnv)
    expect(noPublish.code, noPublish.stdout + noPublish.stderr).toBe(2)
    expect(noPublish.stderr).toMatch(/needs CREATE on the database .* to create a publication/)
    expect(noPublish.stderr).toMatch(/GRANT CREATE ON DATABASE/)
    expect(await created()).toEqual({tables: ['users'], outbox: 0, slots: 0, publications: 0, triggers: 0})

    // SECURITY.md, logical capture: REPLICATION, CREATE on the database, ownership of the source tables, CREATE on the schema
    await admin.query(`GRANT CREATE ON DATABASE "${mono.name}" TO "${role}"`)
    const ok = await run(['shadow', 'crm'], dir, toolEnv)
    expect(ok.code, ok.stderr).toBe(0)
    expect(await created()).toEqual({tables: ['users'], outbox: 1, slots: 1, publications: 1, triggers: 0})
    await admin.query(`INSERT INTO users VALUES (21, 'new@x')`)
    const relay = await run(['relay', 'crm', '--once', '--json'], dir, toolEnv)
    expect(relay.code, relay.stderr).toBe(0)
    expect(JSON.parse(relay.stdout)).toMatchObject({upserts: 1, pending: 0})
    const aborted = await run(['shadow', 'crm', '--abort'], dir, toolEnv)
    expect(aborted.code, aborted.stderr).toBe(0)
    expect(await created()).toEqual({tables: ['users'], outbox: 0, slots: 0, publications: 0, triggers: 0})
  })

  it('MariaDB: refused naming the grants, nothing half-created; the SECURITY.md grants are enough', async () => {
    const [mono, target]: FreshDatabase[] = await Promise.all([freshMysql('priv_mono'), freshPg('priv_tgt')])
    const user = uniqueName('ro').slice(0, 32)
    const userPw = `Ro-${user.slice(-6)}-secret`
    const admin = await mysql.createConnection({uri: mono.url})
    cleanups.push(async () => {
      await admin.query(`DROP USER IF EXISTS '${user}'@'%'`)
      await admin.end()
      await Promise.all([mono.drop(), target.drop()])
    })
    await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100) NOT NULL)`)
    await admin.query(`INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x')`)
    const dir = planDir(plan())
    expect((await run(['init'], dir, {MONO: mono.url, TGT: target.url})).code).toBe(0)

    const db = mono.name
    await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${userPw}'`)
    await admin.query(`GRANT SELECT ON \`${db}\`.\`users\` TO '${user}'@'%'`)
    const [tables] = await admin.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE 'strangler\\_%'`, [db])
    for (const r of tables as {t: string}[]) await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db}\`.\`${r.t}\` TO '${user}'@'%'`)

    const probe: Probe = {
      tables: async () => ((await admin.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME NOT LIKE 'strangler\\_%' ORDER BY 1`, [db]))[0] as {t: string}[]).map((r) => r.t),
      triggers: async () => ((await admin.query(`SELECT TRIGGER_NAME AS t FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY 1`, [db]))[0] as {t: string}[]).map((r) => r.t),
      target: async () => {
        const c = new pg.Client({connectionString: target.url})
        await c.connect()
        const t = (await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).rows.map((r) => r.table_name)
        await c.end()
        return t
      },
      phase: async () => ((await admin.query(`SELECT phase FROM strangler_services WHERE name = 'crm'`))[0] as {phase: string}[])[0]?.phase,
    }
    const toolEnv = {MONO: withUser(mono.url, user, userPw), TGT: target.url}
    const refused = await run(['shadow', 'crm'], dir, toolEnv)
    await expectRefusedCleanly(refused, probe, [userPw, testPassword()], /Hint: Change capture needs, for ro_\w+: .*on MySQL\/MariaDB, CREATE and TRIGGER on database priv_mono_\w+ and SELECT, INSERT, DELETE on its strangler_outbox_crm table/)

    // CREATE and TRIGGER alone are not enough on MySQL/MariaDB: the triggers run as their definer, who must be able to
    // write the outbox (MySQL grants a table's creator nothing on it). Capture checks that before any trigger exists,
    // so the application's writes never fail on it.
    await admin.query(`GRANT CREATE, TRIGGER ON \`${db}\`.* TO '${user}'@'%'`)
    const probed = await run(['shadow', 'crm'], dir, toolEnv)
    expect(probed.code, probed.stderr).toBe(2)
    expect(probed.stdout + probed.stderr).toMatch(/INSERT command denied[\s\S]*Hint: Change capture needs/)
    expect(await probe.triggers()).toEqual([])
    expect(await probe.target()).toEqual([])
    await admin.query(`INSERT INTO users VALUES (10, 'the application still writes')`)

    // SECURITY.md, shadow on MySQL/MariaDB: CREATE and TRIGGER on the database, SELECT, INSERT, DELETE on the outbox
    await admin.query(`GRANT SELECT, INSERT, DELETE ON \`${db}\`.\`strangler_outbox_crm\` TO '${user}'@'%'`)
    const ok = await run(['shadow', 'crm'], dir, toolEnv)
    expect(ok.code, ok.stderr).toBe(0)
    expect(await probe.phase()).toBe('shadow')
    expect((await probe.triggers()).length).toBe(3)
    await admin.query(`INSERT INTO users VALUES (4, 'd@x')`)
    const relay = await run(['relay', 'crm', '--once', '--json'], dir, toolEnv)
    expect(relay.code, relay.stderr).toBe(0)
    expect(JSON.parse(relay.stdout)).toMatchObject({upserts: 1, pending: 0})
  })
})
