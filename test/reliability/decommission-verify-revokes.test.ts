/**
 * Issue #8 (D): decommission verifies that its revokes took effect.
 *
 * MariaDB: an operator user without SELECT on mysql.tables_priv cannot see
 * the application's table grants (information_schema shows a user only its
 * own). Decommission used to revoke nothing and report success; now the
 * archive step fails before it changes anything, exit 2, naming the grant the
 * operator needs and how to resume; with that grant the same command resumes,
 * revokes and verifies.
 *
 * PostgreSQL: a grant made by another role (one holding GRANT OPTION) survives
 * the tool's REVOKE without an error. The check after the archive finds it,
 * fails the step with what is still granted, and a re-run after revoking it by
 * hand completes.
 */
import mysql from 'mysql2/promise'
import pg from 'pg'
import {afterAll, describe, expect, it, type TestContext} from 'vitest'
import {planDir} from '../helpers/cli.js'
import {freshMysql, freshPg, testPassword, testUrls, uniqueName} from '../helpers/db.js'
import {killAllCli, runCliProcess, type CliOutcome} from './support/cli-process.js'
import {TEST_GATES} from './support/migration.js'

afterAll(() => killAllCli())
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function withUser(url: string, user: string, password: string): string {
  const u = new URL(url)
  u.username = user
  u.password = password
  return u.toString()
}

/** planned → shift at 100 % for the soak, as the administrator. */
async function walk(dir: string, env: Record<string, string>): Promise<void> {
  for (const args of [['init'], ['shadow', 'crm'], ['diff', 'crm'], ['write-through', 'crm'], ['shift', 'crm', '--to', '100']]) {
    const r = await runCliProcess(args, {cwd: dir, env})
    expect(r.code, `${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0)
  }
  await sleep(1200) // the plan's soak: reads at 100 % for 1 s
}

function expectClean(r: CliOutcome, secrets: string[]): void {
  const all = r.stdout + r.stderr
  expect(all).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/)
  for (const s of secrets) expect(all).not.toContain(s)
}

describe.concurrent('decommission verifies its revokes', () => {
  it('MariaDB: an operator who cannot read mysql.tables_priv is refused before the archive; with the grant it resumes and revokes', async (ctx: TestContext) => {
    const [mono, target] = await Promise.all([freshMysql('dvr_mono'), freshPg('dvr_tgt')])
    const app = uniqueName('app').slice(0, 32)
    const op = uniqueName('op').slice(0, 32)
    const opPw = `Op-${op.slice(-6)}-secret`
    const table = `users_${app.slice(-6)}`
    const archiveDb = `${mono.name}_strangler_archive`
    const admin = await mysql.createConnection({uri: mono.url})
    ctx.onTestFinished(async () => {
      await admin.query(`DROP USER IF EXISTS '${app}'@'%'`)
      await admin.query(`DROP USER IF EXISTS '${op}'@'%'`)
      await admin.query(`DROP DATABASE IF EXISTS \`${archiveDb}\``).catch(() => undefined)
      await admin.end()
      await Promise.all([mono.drop(), target.drop()])
    })
    await admin.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, email varchar(100) NOT NULL)`)
    await admin.query(`INSERT INTO ${table} VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x')`)
    await admin.query(`CREATE USER '${app}'@'%' IDENTIFIED BY 'App-pw-1'`)
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${mono.name}\`.\`${table}\` TO '${app}'@'%'`)
    // the operator: everything on the monolith database (with GRANT OPTION, to revoke) and on the archive database, nothing on mysql.*
    await admin.query(`CREATE USER '${op}'@'%' IDENTIFIED BY '${opPw}'`)
    await admin.query(`GRANT ALL ON \`${mono.name}\`.* TO '${op}'@'%' WITH GRANT OPTION`)
    await admin.query(`GRANT ALL ON \`${archiveDb}\`.* TO '${op}'@'%'`)
    const appGrants = async () =>
      ((await admin.query(`SELECT Db AS db, Table_priv AS privs FROM mysql.tables_priv WHERE User = ? ORDER BY 1`, [app]))[0] as {db: string; privs: string}[]).map((r) => `${r.db}: ${r.privs}`)
    const tableIn = async (db: string) => ((await admin.query(`SELECT count(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, [db, table]))[0] as {n: number}[])[0].n
    const step = async () => ((await admin.query(`SELECT phase, step FROM strangler_services WHERE name = 'crm'`))[0] as {phase: string; step: string | null}[])[0]

    const dir = planDir({monolith: {url: '${MONO}', appUsers: [`${app}@%`]}, gates: TEST_GATES, services: {crm: {target: {url: '${TGT}'}, entities: [{source: table}]}}})
    await walk(dir, {MONO: mono.url, TGT: target.url})
    const asOperator = {MONO: withUser(mono.url, op, opPw), TGT: target.url}

    // 1. refused at the archive step: the grants cannot be checked; nothing of the archive done
    const refused = await runCliProcess(['decommission', 'crm', '--yes'], {cwd: dir, env: asOperator})
    const all = refused.stdout + refused.stderr
    expect(refused.code, all).toBe(2)
    expect(all).toMatch(new RegExp(`Error: Cannot check which privileges the application users \\(${app}@%\\) hold on ${mono.name}\\.${table}: .*SELECT command denied .*tables_priv`))
    expect(all).toMatch(new RegExp(`Hint: .*GRANT SELECT ON mysql\\.tables_priv TO '${op}'@'%'.*strangler decommission crm --yes.* resumes at the archive step`))
    expectClean(refused, [opPw, testPassword()])
    expect(await appGrants()).toEqual([`${mono.name}: Select,Insert,Update,Delete`])
    expect(await tableIn(mono.name)).toBe(1)
    expect(await step()).toEqual({phase: 'decommissioned', step: 'decommission:archive'})

    // 2. with SELECT on mysql.tables_priv the same command resumes, revokes and verifies
    await admin.query(`GRANT SELECT ON mysql.tables_priv TO '${op}'@'%'`)
    const resumed = await runCliProcess(['decommission', 'crm', '--yes'], {cwd: dir, env: asOperator})
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0)
    expect(resumed.stdout).toMatch(new RegExp(`REVOKE ALL PRIVILEGES ON \`${mono.name}\`\\.\`${table}\` FROM '${app}'@'%'`))
    expectClean(resumed, [opPw, testPassword()])
    expect(await appGrants()).toEqual([])
    expect(await tableIn(mono.name)).toBe(0)
    expect(await tableIn(archiveDb)).toBe(1)
    expect(await step()).toEqual({phase: 'decommissioned', step: null})
  })

  it('PostgreSQL: a grant the revoke could not take away fails the archive step; revoked by hand, a re-run completes', async (ctx: TestContext) => {
    const [mono, target] = await Promise.all([freshPg('dvr_mono'), freshPg('dvr_tgt')])
    const app = uniqueName('app')
    const mid = uniqueName('mid')
    ctx.onTestFinished(async () => {
      await Promise.all([mono.drop(), target.drop()])
      const c = new pg.Client({connectionString: testUrls().pg})
      await c.connect()
      await c.query(`DROP ROLE IF EXISTS "${app}"`)
      await c.query(`DROP ROLE IF EXISTS "${mid}"`)
      await c.end()
    })
    const admin = new pg.Client({connectionString: mono.url})
    await admin.connect()
    ctx.onTestFinished(() => admin.end())
    await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)`)
    await admin.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 30) g`)
    await admin.query(`CREATE ROLE "${app}" LOGIN PASSWORD 'App-pw-1'`)
    await admin.query(`CREATE ROLE "${mid}" NOLOGIN`)
    await admin.query(`GRANT SELECT, INSERT ON users TO "${app}"`)
    // a team lead's role may pass SELECT on; its grant to the application is not the owner's to revoke
    await admin.query(`GRANT SELECT ON users TO "${mid}" WITH GRANT OPTION`)
    await admin.query(`SET ROLE "${mid}"; GRANT SELECT ON users TO "${app}"; RESET ROLE`)
    const appPrivileges = async (schema: string) =>
      (await admin.query(`SELECT privilege_type AS p FROM information_schema.role_table_grants WHERE grantee = $1 AND table_schema = $2 ORDER BY 1`, [app, schema])).rows.map((r) => r.p as string)

    const dir = planDir({monolith: {url: '${MONO}', appUsers: [app]}, gates: TEST_GATES, services: {crm: {target: {url: '${TGT}'}, entities: [{source: 'users'}]}}})
    const env = {MONO: mono.url, TGT: target.url}
    await walk(dir, env)

    const failed = await runCliProcess(['decommission', 'crm', '--yes'], {cwd: dir, env})
    const all = failed.stdout + failed.stderr
    expect(failed.code, all).toBe(2)
    expect(all).toMatch(new RegExp(`Error: The application users still hold privileges on the archived monolith tables of crm after the revoke: ${app} has SELECT on strangler_archive\\.users\\.`))
    expect(all).toMatch(new RegExp(`Hint: .*REVOKE ALL ON TABLE "strangler_archive"\\."users" FROM "${app}".*strangler decommission crm --yes.* resumes at the archive step`))
    expectClean(failed, [testPassword()])
    // the owner's grants went, the other role's stayed; the step is not done
    expect(await appPrivileges('strangler_archive')).toEqual(['SELECT'])
    expect((await admin.query(`SELECT step FROM strangler_services WHERE name = 'crm'`)).rows[0].step).toBe('decommission:archive')

    // revoked by hand (the grant option taken from the other role takes its grant along); the re-run checks again and completes
    await admin.query(`REVOKE GRANT OPTION FOR SELECT ON strangler_archive.users FROM "${mid}" CASCADE`)
    const resumed = await runCliProcess(['decommission', 'crm', '--yes'], {cwd: dir, env})
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0)
    expect(await appPrivileges('strangler_archive')).toEqual([])
    expect((await admin.query(`SELECT step, phase FROM strangler_services WHERE name = 'crm'`)).rows[0]).toEqual({step: null, phase: 'decommissioned'})
  })
})
