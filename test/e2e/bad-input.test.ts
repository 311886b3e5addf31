import mysql from 'mysql2/promise'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {planDir, runCli, type CliResult} from '../helpers/cli.js'
import {freshMysql, freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'

/**
 * Bad input, across commands: each case gets a clear one-paragraph message
 * naming what is wrong, exit code 2, no stack trace, no password, and nothing
 * created on the monolith or the target.
 */
let mono: FreshDatabase
let target: FreshDatabase
const password = () => testPassword()

async function monolithTables(): Promise<string[]> {
  const c = await mysql.createConnection(mono.url)
  try {
    const [rows] = await c.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`)
    const [trg] = await c.query(`SELECT TRIGGER_NAME AS t FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`)
    return [...(rows as {t: string}[]).map((r) => r.t), ...(trg as {t: string}[]).map((r) => `trigger:${r.t}`)]
  } finally {
    await c.end()
  }
}

async function targetTables(): Promise<string[]> {
  const c = new pg.Client({connectionString: target.url})
  await c.connect()
  try {
    const {rows} = await c.query(`SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
    return rows.map((r) => r.t)
  } finally {
    await c.end()
  }
}

const SOURCE_TABLES = ['geo', 'no_key', 'users']

function goodPlan(over: (p: any) => void = () => undefined): any {
  const p: any = {
    monolith: {url: '${MONO}'},
    services: {users: {target: {url: '${TARGET}'}, entities: [{source: 'users', columns: {id: 'id', email: 'email'}}]}},
  }
  over(p)
  return p
}

function expectCleanFailure(r: CliResult, message: RegExp): void {
  const all = r.stdout + r.stderr
  expect(r.code, all).toBe(2)
  expect(all).toMatch(message)
  expect(all).not.toContain(password())
  expect(all).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/) // no stack trace
}

beforeAll(async () => {
  ;[mono, target] = await Promise.all([freshMysql('bad_mono'), freshPg('bad_target')])
  const c = await mysql.createConnection(mono.url)
  await c.query('CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(200))')
  await c.query('CREATE TABLE no_key (a INT, b TEXT)')
  await c.query('CREATE TABLE geo (id INT PRIMARY KEY, place POINT)')
  await c.end()
})
afterAll(async () => {
  await Promise.all([mono?.drop(), target?.drop()])
})

const env = () => ({MONO: mono.url, TARGET: target.url})

type Case = {name: string; args: string[]; plan?: unknown; planName?: string; env?: () => NodeJS.ProcessEnv; message: RegExp}

const cases: Case[] = [
  {name: 'malformed JSON', args: ['init'], plan: '{"monolith": {', message: /could not parse JSON/},
  {name: 'malformed YAML', args: ['init'], plan: 'monolith: [unclosed', planName: 'strangler.config.yaml', message: /could not parse YAML/},
  {name: 'unknown key', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].colums = {})), message: /services\.users\.entities\[0\]\.colums: unknown key/},
  {name: 'missing required key', args: ['init'], plan: goodPlan((p) => delete p.services.users.entities[0].source), message: /services\.users\.entities\[0\]\.source: required/},
  {name: 'missing environment variable', args: ['init'], plan: goodPlan(), env: () => ({MONO: mono.url, TARGET: ''}), message: /services\.users\.target\.url: environment variable TARGET is not set/},
  {name: 'identifier injection in a table name', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].source = 'users`; DROP TABLE users; --')), message: /services\.users\.entities\[0\]\.source: must be `table` or `schema\.table`/},
  {name: 'identifier injection in a column name', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].columns = {id: 'id', 'x"); DROP TABLE t; --': 'email'})), message: /must be a plain identifier/},
  {name: 'unknown engine', args: ['init'], plan: goodPlan((p) => (p.monolith.url = 'oracle://scott:tiger@127.0.0.1/orcl')), message: /monolith\.url: must be a connection URL/},
  {name: 'huge number', args: ['init'], plan: '{"monolith": {"url": "${MONO}"}, "gates": {"maxRelayLagSeconds": 1e400}, "services": {"users": {"target": {"url": "${TARGET}"}, "entities": [{"source": "users"}]}}}', message: /gates\.maxRelayLagSeconds/},
  {name: 'unreachable monolith', args: ['init'], plan: goodPlan((p) => (p.monolith.url = 'mysql://strangler:${PW}@127.0.0.1:1/db')), env: () => ({...env(), PW: password()}), message: /Cannot connect to mysql:\/\/strangler:\*+@127\.0\.0\.1:1\/db: connection refused/},
  {name: 'wrong monolith password', args: ['init'], plan: goodPlan((p) => (p.monolith.url = '${BAD}')), env: () => ({...env(), BAD: mono.url.replace(/:[^:@/]+@/, ':Wr0ng-pass@')}), message: /Authentication failed/},
  {name: 'unreachable target (nothing created on the monolith)', args: ['init'], plan: goodPlan((p) => (p.services.users.target.url = 'postgres://u:p@127.0.0.1:1/x')), message: /services\.users\.target\.url: Cannot connect to postgres:\/\/u:\*+@127\.0\.0\.1:1\/x/},
  {name: 'wrong target password', args: ['init'], plan: goodPlan((p) => (p.services.users.target.url = '${BAD}')), env: () => ({...env(), BAD: target.url.replace(/:[^:@/]+@/, ':Wr0ng-pass@')}), message: /Authentication failed for postgres:\/\//},
  {name: 'database does not exist', args: ['init'], plan: goodPlan((p) => (p.services.users.target.url = '${BAD}')), env: () => ({...env(), BAD: target.url.replace(/\/[^/?]+(\?|$)/, '/no_such_db$1')}), message: /Database does not exist/},
  {name: 'table without a key', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0] = {source: 'no_key'})), message: /table .*no_key has no primary key/},
  {name: 'unsupported column type', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0] = {source: 'geo'})), message: /column "place" has unsupported type point/},
  {name: 'missing source table', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].source = 'customers')), message: /services\.users\.entities\[0\]\.source: Table .*customers not found/},
  {name: 'unknown source column', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].columns.mail = {from: 'e_mail'})), message: /columns\.mail: column "e_mail" does not exist/},
  {name: 'no plan file', args: ['init'], message: /No plan file found/},
  {name: 'plan path does not exist', args: ['plan', '--config', 'nope.yaml'], plan: goodPlan(), message: /Plan file not found: nope\.yaml/},
  {name: 'unknown service', args: ['status', 'billing'], plan: goodPlan(), message: /Unknown service "billing"/},
  {name: 'status before init', args: ['status'], plan: goodPlan(), message: /control-plane tables are missing.*\n.*strangler init/},
  {name: 'unknown flag', args: ['plan', '--frobnicate'], plan: goodPlan(), message: /Nonexistent flag: --frobnicate/},
  // aggregates: the related tables and their joins are checked against the monolith before anything is created
  {name: 'aggregate: embedded table missing', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].embed = [{table: 'orders', on: {id: 'user_id'}, as: 'orders'}])), message: /services\.users\.entities\[0\]\.embed\[0\]\.table: Table .*orders not found/},
  {name: 'aggregate: join column missing', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].embed = [{table: 'geo', on: {id: 'user_id'}, as: 'places', columns: {id: 'id'}}])), message: /embed\[0\]\.on\.id: column "user_id" does not exist in .*geo/},
  {name: 'aggregate: field collides with a column', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].lookup = [{table: 'geo', on: {id: 'id'}, columns: {email: 'id'}}])), message: /lookup\[0\]: field "email" is already a field of the parent/},
  {name: 'aggregate: identifier injection in a related table', args: ['init'], plan: goodPlan((p) => (p.services.users.entities[0].embed = [{table: 'geo; DROP TABLE users', on: {id: 'id'}, as: 'g'}])), message: /embed\[0\]\.table: must be `table` or `schema\.table`/},
]

describe('bad input', () => {
  it.concurrent.each(cases)('$name: clear message, exit 2, nothing created', async (c) => {
    const dir = c.plan === undefined ? planDir('{}', 'unrelated.txt') : planDir(c.plan, c.planName)
    const r = await runCli(c.args, {cwd: dir, env: c.env ? c.env() : env()})
    expectCleanFailure(r, c.message)
  })

  it('--json errors are machine-readable', async () => {
    const r = await runCli(['init', '--json'], {cwd: planDir(goodPlan((p) => (p.services.users.entities[0].source = 'customers'))), env: env()})
    expect(r.code).toBe(2)
    const out = JSON.parse(r.stdout)
    expect(out.error.code).toBe('E_NO_TABLE')
    expect(out.error.message).toMatch(/customers not found/)
  })

  it('left nothing behind on the monolith or the target', async () => {
    expect(await monolithTables()).toEqual(SOURCE_TABLES)
    expect(await targetTables()).toEqual([])
  })
})
