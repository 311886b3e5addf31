/**
 * What decommission takes away from the application, checked as the
 * application's own database user (SECURITY.md, "What decommission revokes"):
 * after `strangler decommission` the monolith table is gone from its schema
 * or database, archived in the `strangler_archive` schema (PostgreSQL) or the
 * `<database>_strangler_archive` database (MariaDB), and the application user can
 * reach it under neither name (its table grants revoked, no access to the
 * archive); `strangler rollback` brings the table and the grants back.
 * PostgreSQL and MariaDB, side by side.
 */
import mysql from 'mysql2/promise'
import pg from 'pg'
import {afterAll, describe, expect, it, type TestContext} from 'vitest'
import {planDir} from '../helpers/cli.js'
import {freshMysql, freshPg, testUrls, uniqueName} from '../helpers/db.js'
import {killAllCli, runCliProcess, type CliOutcome} from './support/cli-process.js'
import {TEST_GATES} from './support/migration.js'

afterAll(() => killAllCli())
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface AppUser {
  /** Runs a query as the application user; the error message when it fails. */
  query(sql: string): Promise<string>
  close(): Promise<void>
}

async function walk(dir: string, env: Record<string, string>): Promise<(args: string[]) => Promise<CliOutcome>> {
  const cli = async (args: string[]) => {
    const r = await runCliProcess([...args, '--log-format', 'json'], {cwd: dir, env})
    expect(r.code, `${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0)
    return r
  }
  for (const args of [['init'], ['shadow', 'crm'], ['diff', 'crm'], ['write-through', 'crm'], ['shift', 'crm', '--to', '100']]) await cli(args)
  await sleep(1200) // the plan's soak: reads at 100 % for 1 s
  return cli
}

describe.concurrent('decommission revokes the application user', () => {
  it('PostgreSQL: the table moves to the strangler_archive schema, the grants are revoked, rollback restores them', async (ctx: TestContext) => {
    const [mono, target] = await Promise.all([freshPg('rev_mono'), freshPg('rev_tgt')])
    const app = uniqueName('app')
    const appPw = `App-${app.slice(-6)}-pw`
    ctx.onTestFinished(async () => {
      await Promise.all([mono.drop(), target.drop()])
      const c = new pg.Client({connectionString: testUrls().pg})
      await c.connect()
      await c.query(`DROP ROLE IF EXISTS "${app}"`)
      await c.end()
    })
    const admin = new pg.Client({connectionString: mono.url})
    await admin.connect()
    ctx.onTestFinished(() => admin.end())
    await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)`)
    await admin.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 30) g`)
    await admin.query(`CREATE ROLE "${app}" LOGIN PASSWORD '${appPw}'`)
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON users TO "${app}"`)
    const u = new URL(mono.url)
    u.username = app
    u.password = appPw
    const appUser: AppUser = {
      async query(sql) {
        const c = new pg.Client({connectionString: u.toString()})
        await c.connect()
        try {
          return JSON.stringify((await c.query(sql)).rows)
        } catch (err) {
          return `ERROR ${(err as Error).message}`
        } finally {
          await c.end()
        }
      },
      close: async () => undefined,
    }
    expect(await appUser.query('SELECT count(*) AS n FROM users')).toBe('[{"n":"30"}]')

    const dir = planDir({monolith: {url: '${MONO}', appUsers: [app]}, gates: TEST_GATES, services: {crm: {target: {url: '${TGT}'}, entities: [{source: 'users'}]}}})
    const cli = await walk(dir, {MONO: mono.url, TGT: target.url})
    const d = await cli(['decommission', 'crm', '--yes'])
    expect(d.stdout).toMatch(/REVOKE ALL ON TABLE "public"\."users" FROM "app_\w+"/)
    expect(d.stdout).toMatch(/ALTER TABLE "public"\."users" SET SCHEMA "strangler_archive"/)

    expect(await appUser.query('SELECT count(*) FROM users')).toMatch(/ERROR relation "users" does not exist/)
    expect(await appUser.query('SELECT count(*) FROM strangler_archive.users')).toMatch(/ERROR permission denied for schema strangler_archive/)
    const grants = await admin.query(`SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = $1`, [app])
    expect(grants.rows).toEqual([])

    await cli(['rollback', 'crm'])
    expect(await appUser.query('SELECT count(*) AS n FROM users')).toBe('[{"n":"30"}]')
    expect(await appUser.query(`UPDATE users SET email = 'back@x' WHERE id = 1`)).toBe('[]')
  })

  it('MariaDB: the table moves to the <database>_strangler_archive database, the grants are revoked, rollback restores them', async (ctx: TestContext) => {
    const [mono, target] = await Promise.all([freshMysql('rev_mono'), freshPg('rev_tgt')])
    const app = uniqueName('app').slice(0, 32)
    const appPw = `App-${app.slice(-6)}-pw`
    const table = `users_${app.slice(-6)}`
    // databases are server-wide on MariaDB: the archive is a database per monolith database
    const archiveDb = `${mono.name}_strangler_archive`
    const admin = await mysql.createConnection({uri: mono.url})
    ctx.onTestFinished(async () => {
      await admin.query(`DROP USER IF EXISTS '${app}'@'%'`)
      await admin.query(`DROP DATABASE IF EXISTS \`${archiveDb}\``).catch(() => undefined)
      await admin.end()
      await Promise.all([mono.drop(), target.drop()])
    })
    await admin.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, email varchar(100) NOT NULL)`)
    await admin.query(`INSERT INTO ${table} VALUES (1, 'a@x'), (2, 'b@x')`)
    await admin.query(`CREATE USER '${app}'@'%' IDENTIFIED BY '${appPw}'`)
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${mono.name}\`.\`${table}\` TO '${app}'@'%'`)
    const u = new URL(mono.url)
    u.username = app
    u.password = appPw
    const withoutDb = new URL(u.toString())
    withoutDb.pathname = '/'
    const t = `\`${mono.name}\`.\`${table}\``
    const appUser: AppUser = {
      async query(sql) {
        let c: mysql.Connection | undefined
        try {
          // no default database: once its grants are gone the user may not even select it
          c = await mysql.createConnection({uri: withoutDb.toString()})
          const [rows] = await c.query(sql)
          return JSON.stringify(rows)
        } catch (err) {
          return `ERROR ${(err as Error).message}`
        } finally {
          await c?.end()
        }
      },
      close: async () => undefined,
    }
    expect(await appUser.query(`SELECT count(*) AS n FROM ${t}`)).toBe('[{"n":2}]')

    const dir = planDir({monolith: {url: '${MONO}', appUsers: [`${app}@%`]}, gates: TEST_GATES, services: {crm: {target: {url: '${TGT}'}, entities: [{source: table}]}}})
    const cli = await walk(dir, {MONO: mono.url, TGT: target.url})
    const d = await cli(['decommission', 'crm', '--yes'])
    expect(d.stdout).toMatch(new RegExp(`REVOKE ALL PRIVILEGES ON \`${mono.name}\`\\.\`${table}\` FROM '${app}'@'%'`))
    expect(d.stdout).toMatch(new RegExp(`RENAME TABLE \`${mono.name}\`\\.\`${table}\` TO \`${archiveDb}\`\\.\`${table}\``))

    expect(await appUser.query(`SELECT count(*) FROM ${t}`)).toMatch(new RegExp(`ERROR (Table .*${table}' doesn't exist|SELECT command denied)`))
    expect(await appUser.query(`SELECT count(*) FROM \`${archiveDb}\`.${table}`)).toMatch(/ERROR SELECT command denied/)
    const [grants] = await admin.query(`SELECT * FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?`, [`'${app}'@'%'`])
    expect(grants).toEqual([])

    await cli(['rollback', 'crm'])
    expect(await appUser.query(`SELECT count(*) AS n FROM ${t}`)).toBe('[{"n":2}]')
    expect(await appUser.query(`UPDATE ${t} SET email = 'back@x' WHERE id = 1`)).toMatch(/"affectedRows":1/)
  })
})
