import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import mysql from 'mysql2/promise'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadShop} from '../../src/fixtures/shop/load.js'
import {runCli, planDir} from '../helpers/cli.js'
import {freshMongo, freshMysql, freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'

/**
 * `strangler init` against the fixture plan: MariaDB monolith, PostgreSQL and
 * FerretDB services. It creates the control plane, reports what it found, and a
 * second run changes nothing.
 */
describe('strangler init on the shop fixture', () => {
  let mono: FreshDatabase
  let users: FreshDatabase
  let orders: FreshDatabase
  let catalog: FreshDatabase
  let dir: string
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    ;[mono, users, orders, catalog] = await Promise.all([freshMysql('init_mono'), freshPg('init_users'), freshPg('init_orders'), freshMongo('init_catalog')])
    await loadShop('mysql', mono.url, {users: 200})
    dir = planDir(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'shop', 'strangler.config.json'), 'utf8'))
    env = {MONOLITH_URL: mono.url, USERS_DB_URL: users.url, ORDERS_DB_URL: orders.url, CATALOG_DB_URL: catalog.url}
  })
  afterAll(async () => {
    await Promise.all([mono, users, orders, catalog].map((d) => d?.drop()))
  })

  async function stateTables(): Promise<string[]> {
    const c = await mysql.createConnection(mono.url)
    try {
      const [rows] = await c.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'strangler%' ORDER BY 1`)
      return (rows as {t: string}[]).map((r) => r.t)
    } finally {
      await c.end()
    }
  }

  async function schemaFingerprint(): Promise<string> {
    const c = await mysql.createConnection(mono.url)
    try {
      const [rows] = await c.query(`SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2`)
      const [counts] = await c.query(`SELECT COUNT(*) AS n FROM strangler_migrations`)
      return JSON.stringify([rows, counts])
    } finally {
      await c.end()
    }
  }

  it('creates the state tables and reports every service', async () => {
    expect(await stateTables()).toEqual([])
    const r = await runCli(['init', '--json'], {cwd: dir, env})
    expect(r.stderr).not.toContain(testPassword())
    expect(r.stdout).not.toContain(testPassword())
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.monolith.version).toMatch(/MariaDB/)
    expect(out.migrations.applied).toEqual(['0001_control_plane'])
    expect(out.services.map((s: {name: string}) => s.name)).toEqual(['users', 'catalog', 'orders'])
    const catalogSvc = out.services.find((s: {name: string}) => s.name === 'catalog')
    expect(catalogSvc.target.version).toMatch(/FerretDB/)
    const products = catalogSvc.entities.find((e: {source: string}) => e.source === `${mono.name}.products`)
    expect(products.columns.find((c: {name: string}) => c.name === 'attributes').from).toBe('embed product_attributes')
    const usersSvc = out.services.find((s: {name: string}) => s.name === 'users')
    expect(usersSvc.target.version).toMatch(/PostgreSQL 15/)
    expect(usersSvc.entities[0].columns.find((c: {name: string}) => c.name === 'password_hash').sensitive).toBe(true)
    expect(await stateTables()).toEqual(expect.arrayContaining(['strangler_services', 'strangler_audit', 'strangler_checkpoints', 'strangler_locks', 'strangler_diff_runs', 'strangler_transitions']))
  })

  it('changes nothing when run again', async () => {
    const before = await schemaFingerprint()
    const r = await runCli(['init'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('up to date, nothing changed')
    expect(await schemaFingerprint()).toBe(before)
    // no target table was created by init
    const c = new pg.Client({connectionString: users.url})
    await c.connect()
    const {rows} = await c.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`)
    await c.end()
    expect(rows[0].n).toBe(0)
  })

  it('status shows every service as planned', async () => {
    const r = await runCli(['status', '--json'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.services.map((s: {phase: string}) => s.phase)).toEqual(['planned', 'planned', 'planned'])
  })

  it('plan explains mappings and push-down', async () => {
    const r = await runCli(['plan', '--json'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    const u = out.services.find((s: {name: string}) => s.name === 'users')
    expect(u.entities[0].columns.find((c: {name: string}) => c.name === 'name').from).toBe('full_name')
    expect(u.entities[0].diffMode).toMatch(/push-down|mixed|streaming/)
    expect(u.capture).toEqual({method: 'triggers', problem: null})
    const human = await runCli(['plan'], {cwd: dir, env})
    expect(human.stdout).toContain('users → users')
  })
})
