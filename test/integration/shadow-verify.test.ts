/**
 * `strangler shadow verify`: sampled keys read through both paths and
 * compared canonically. Clean data reports 0; planted differences in the
 * service store (a changed column, a missing row, an extra row) are found and
 * stored with masked sensitive values; a change still in the relay's lag is
 * re-checked and not reported; the CLI exits 1 on mismatches and 0 when clean.
 */
import {randomUUID} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {configSchema, type PlanInput} from '../../src/config/schema.js'
import {runShadow} from '../../src/phases/shadow.js'
import {verifyShadow} from '../../src/phases/shadow-verify.js'
import {MASK} from '../../src/util/redact.js'
import {Workspace} from '../../src/workspace.js'
import {planDir, runCli} from '../helpers/cli.js'
import {freshMongo, freshMysql, freshPg, type FreshDatabase} from '../helpers/db.js'
import {appDb, type AppDb} from './relay-setup.js'

const SERVICE = 'crm'
const ROWS = 400

interface Setup {
  source: FreshDatabase
  target: FreshDatabase
  app: AppDb
  ws: Workspace
  plan: PlanInput
}

async function setup(targetKind: 'pg' | 'mongo'): Promise<Setup> {
  const source = await freshMysql('versrc')
  const target = targetKind === 'pg' ? await freshPg('vertgt') : await freshMongo('vertgt')
  const app = await appDb(source.url)
  await app.exec(`CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL, secret varchar(50) NOT NULL, balance decimal(12,2) NOT NULL, updated_at datetime(6) NULL, prefs JSON NULL) ENGINE=InnoDB`)
  const rows: unknown[] = []
  for (let id = 1; id <= ROWS; id++) rows.push(id, `u${id}@example.com`, `s3cr3t-${id}`, (id * 3.1).toFixed(2), `2024-03-0${1 + (id % 9)} 10:11:12.${String(id * 997).padStart(6, '0').slice(0, 6)}`, JSON.stringify({id, b: [true, null]}))
  await app.exec(`INSERT INTO accounts VALUES ${Array.from({length: ROWS}, () => '(?, ?, ?, ?, ?, ?)').join(', ')}`, rows)
  const plan: PlanInput = {
    monolith: {url: source.url},
    services: {[SERVICE]: {target: {url: target.url}, entities: [{source: 'accounts', sensitive: ['secret']}]}},
  }
  const ws = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
  await ws.state.migrate()
  await runShadow(ws, SERVICE, {chunkRows: 100})
  return {source, target, app, ws, plan}
}

async function teardown(s: Setup | undefined): Promise<void> {
  if (!s) return
  await s.app.close().catch(() => undefined)
  await s.ws.close().catch(() => undefined)
  await s.source.drop().catch(() => undefined)
  await s.target.drop().catch(() => undefined)
}

describe('shadow verify (MariaDB → PostgreSQL)', () => {
  let s: Setup
  beforeAll(async () => {
    s = await setup('pg')
  })
  afterAll(() => teardown(s))

  it('reports no mismatch on clean data and stores the sample', async () => {
    const res = await verifyShadow(s.ws, SERVICE, {sample: 100})
    expect(res.entities).toHaveLength(1)
    expect(res.entities[0].sampled).toBeGreaterThanOrEqual(90)
    expect(res.entities[0].sampled).toBeLessThanOrEqual(110)
    expect(res.mismatches).toBe(0)
    expect(res.entities[0].errors).toBe(0)
    const stored = await s.ws.state.db.selectFrom(s.ws.state.t('shadow_samples')).selectAll().where('service', '=', SERVICE).execute()
    expect(stored.map((r) => [r.entity, r.source, Number(r.sampled), Number(r.mismatches)])).toEqual([['accounts', 'verify', res.entities[0].sampled, 0]])
  })

  it('finds planted differences in the service store, masks sensitive values, and exits 1', async () => {
    const tgt = (await s.ws.target(SERVICE)).sql!
    await tgt.execute(`UPDATE "accounts" SET "balance" = "balance" + 1, "secret" = 'leaked' WHERE "id" = 7`)
    await tgt.execute(`DELETE FROM "accounts" WHERE "id" = 8`)
    await tgt.execute(`INSERT INTO "accounts" ("id", "email", "secret", "balance") VALUES (100000, 'ghost@example.com', 'x', 0)`)
    // sample everything: every planted key is read
    const res = await verifyShadow(s.ws, SERVICE, {sample: ROWS * 2})
    const e = res.entities[0]
    expect(e.mismatches).toBe(3)
    const byKey = Object.fromEntries(e.examples.map((x) => [x.key, x]))
    expect(byKey['7'].kind).toBe('changed')
    expect(byKey['7'].columns.sort()).toEqual(['balance', 'secret'])
    expect(byKey['7'].monolith?.secret).toBe(MASK)
    expect(byKey['7'].service?.secret).toBe(MASK)
    expect(byKey['7'].monolith?.balance).toBe('21.70')
    expect(byKey['8'].kind).toBe('missing')
    expect(byKey['100000'].kind).toBe('extra')
    expect(JSON.stringify(res)).not.toMatch(/s3cr3t|leaked/)
    const stored = await s.ws.state.db.selectFrom(s.ws.state.t('shadow_samples')).selectAll().where('service', '=', SERVICE).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow()
    expect(Number(stored.mismatches)).toBe(3)
    expect(String(stored.examples)).toMatch(/"balance"/)
    expect(String(stored.examples)).not.toMatch(/s3cr3t|leaked/)

    const cli = await runCli(['shadow', 'verify', SERVICE, '--sample', String(ROWS * 2), '--json'], {cwd: planDir(s.plan)})
    expect(cli.code, cli.stderr).toBe(1)
    const out = JSON.parse(cli.stdout) as {mismatches: number}
    expect(out.mismatches).toBe(3)

    // repaired: clean again, exit 0
    await tgt.execute(`DELETE FROM "accounts" WHERE "id" = 100000`)
    const [mono] = await s.app.exec(`SELECT secret, CAST(balance AS CHAR) AS balance FROM accounts WHERE id = 7`)
    await tgt.execute(`UPDATE "accounts" SET "balance" = $1, "secret" = $2 WHERE "id" = 7`, [mono.balance, mono.secret])
    await s.app.exec(`UPDATE accounts SET email = email WHERE id = 8`) // a no-op write: captured, the relay restores row 8
    const human = await runCli(['shadow', 'verify', SERVICE, '--sample', String(ROWS * 2)], {cwd: planDir(s.plan)})
    expect(human.code, human.stdout + human.stderr).toBe(0)
    expect(human.stdout).toMatch(/No mismatch in \d+ sampled keys/)
  })

  it('re-checks a key changed within the relay lag instead of reporting it', async () => {
    await s.app.exec(`UPDATE accounts SET balance = balance + 5 WHERE id BETWEEN 1 AND 20`)
    const res = await verifyShadow(s.ws, SERVICE, {sample: ROWS * 2})
    expect(res.mismatches).toBe(0)
    expect(res.entities[0].settledByRelay).toBe(20)
    const without = await verifyShadow(s.ws, SERVICE, {sample: ROWS * 2, recheck: false})
    expect(without.mismatches).toBe(0) // the relay caught up in the first run
  })
})

describe('shadow verify (MariaDB → FerretDB)', () => {
  let s: Setup
  beforeAll(async () => {
    s = await setup('mongo')
  })
  afterAll(() => teardown(s))

  it('compares timestamps at millisecond precision and finds a planted change', async () => {
    const clean = await verifyShadow(s.ws, SERVICE, {sample: 50})
    expect(clean.mismatches).toBe(0)
    expect(clean.entities[0].errors).toBe(0)
    const tgt = await s.ws.target(SERVICE)
    const e = await s.ws.entity(SERVICE, 'accounts')
    const [row] = await tgt.readByKeys({table: e.target, key: e.targetKey, columns: e.targetProjections, keys: [['5']], keyTypes: e.sourceKeyTypes})
    await tgt.upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows: [{...row, email: 'changed@example.com'}]})
    const res = await verifyShadow(s.ws, SERVICE, {sample: ROWS * 2})
    expect(res.mismatches).toBe(1)
    expect(res.entities[0].examples[0]).toMatchObject({key: '5', kind: 'changed', columns: ['email']})
  })
})
