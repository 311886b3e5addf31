/**
 * `strangler shadow` on real databases: MariaDB → PostgreSQL, PostgreSQL →
 * PostgreSQL and MariaDB → FerretDB with an application writing (inserts,
 * updates, deletes, key changes) during the backfill and the relay; the
 * lifecycle (dry run, resume, abort) and the refusals (wrong phase, unknown
 * service, no control plane, unreachable target, foreign rows in a target).
 */
import {randomUUID} from 'node:crypto'
import {afterEach, describe, expect, it} from 'vitest'
import {captureInstalled} from '../../src/capture/capture.js'
import {Relay} from '../../src/capture/relay.js'
import {configSchema, type PlanInput} from '../../src/config/schema.js'
import {canonicalRow} from '../../src/diff/canonical.js'
import {keyToString} from '../../src/engines/keys.js'
import type {Row} from '../../src/engines/types.js'
import {inspectPlan} from '../../src/phases/inspect.js'
import {abortShadow, runShadow} from '../../src/phases/shadow.js'
import {listCheckpoints} from '../../src/state/checkpoints.js'
import {getService, listTransitions, updateService} from '../../src/state/services.js'
import {UserError} from '../../src/util/errors.js'
import {Workspace} from '../../src/workspace.js'
import {freshMongo, freshMysql, freshPg, type FreshDatabase} from '../helpers/db.js'
import {appDb, appWorkload, entries, rng, type AppDb} from './relay-setup.js'

/** `pgl-pg`: PostgreSQL → PostgreSQL with logical capture (a replication slot instead of triggers). */
type Pair = 'my-pg' | 'pg-pg' | 'pgl-pg' | 'my-mongo'
const SERVICE = 'crm'

const SCHEMA = {
  mysql: [
    `CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100), balance decimal(12,2) NOT NULL DEFAULT 0,
       updated_at datetime(3), active tinyint(1) NOT NULL DEFAULT 1, prefs JSON NULL, avatar BLOB NULL) ENGINE=InnoDB`,
    // composite, non-integer key in the database collation (utf8mb4_general_ci)
    `CREATE TABLE attrs (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name)) ENGINE=InnoDB`,
  ],
  postgres: [
    `CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100), balance numeric(12,2) NOT NULL DEFAULT 0,
       updated_at timestamp(3), active boolean NOT NULL DEFAULT true, prefs jsonb, avatar bytea)`,
    `CREATE TABLE attrs (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name))`,
  ],
}

interface Fixture {
  pair: Pair
  ws: Workspace
  app: AppDb
  source: FreshDatabase
  target: FreshDatabase
  plan: PlanInput
  counts: {accounts: number; attrs: number}
  close(): Promise<void>
}

let open: Fixture[] = []
afterEach(async () => {
  for (const f of open) await f.close()
  open = []
})

/** Seeds `accounts` rows with JSON, binary, NULLs and tricky text, and `attrs` with a composite text key. */
async function seed(app: AppDb, accounts: number, products: number): Promise<void> {
  const rand = rng(7)
  // distinct under MariaDB's case- and accent-insensitive collation too
  const names = ['Color', 'Size', 'weight', 'Höhe', 'Ünïcode ✓', 'tab\there']
  for (let start = 1; start <= accounts; start += 500) {
    const rows: unknown[][] = []
    for (let id = start; id < Math.min(accounts + 1, start + 500); id++) {
      const prefs = id % 7 === 0 ? null : JSON.stringify({theme: id % 2 ? 'dark' : 'light', n: id, nested: {a: [1, 2, {b: 'x\\y"z'}]}, 'größe': 'S'})
      const avatar = id % 5 === 0 ? null : id % 11 === 0 ? Buffer.alloc(0) : Buffer.from([0, id % 256, 255, 10, 9])
      rows.push([id, `user${id}@Example.com`, id % 13 === 0 ? null : id % 17 === 0 ? '' : `Name ${id}\twith\\slash `, (rand() * 10000).toFixed(2), `2024-05-0${1 + (id % 9)} 12:34:56.${String(id % 1000).padStart(3, '0')}`, id % 3 !== 0, prefs, avatar])
    }
    const ph = rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')
    await app.exec(`INSERT INTO accounts (id, email, name, balance, updated_at, active, prefs, avatar) VALUES ${ph}`, rows.flat())
  }
  const attrs: unknown[][] = []
  for (let p = 1; p <= products; p++) for (const n of names) attrs.push([p, n, p % 4 === 0 ? null : `value ${p}/${n}`])
  for (let i = 0; i < attrs.length; i += 500) {
    const part = attrs.slice(i, i + 500)
    await app.exec(`INSERT INTO attrs (product_id, name, value) VALUES ${part.map(() => '(?, ?, ?)').join(', ')}`, part.flat())
  }
}

async function fixture(pair: Pair, opts: {accounts?: number; products?: number; targetUrl?: string; migrate?: boolean} = {}): Promise<Fixture> {
  const source = pair === 'pg-pg' || pair === 'pgl-pg' ? await freshPg('shsrc') : await freshMysql('shsrc')
  const target = pair === 'my-mongo' ? await freshMongo('shtgt') : await freshPg('shtgt')
  const app = await appDb(source.url)
  for (const ddl of SCHEMA[app.dialect]) await app.exec(ddl)
  const counts = {accounts: opts.accounts ?? 2000, attrs: (opts.products ?? 60) * 6}
  await seed(app, counts.accounts, opts.products ?? 60)
  const plan: PlanInput = {
    monolith: pair === 'pgl-pg' ? {url: source.url, capture: 'logical'} : {url: source.url},
    services: {[SERVICE]: {target: {url: opts.targetUrl ?? target.url}, isolation: 'own-server', entities: [{source: 'accounts', sensitive: ['email']}, {source: 'attrs'}]}},
  }
  const ws = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
  if (opts.migrate !== false) await ws.state.migrate()
  const f: Fixture = {
    pair,
    ws,
    app,
    source,
    target,
    plan,
    counts,
    async close() {
      await app.close().catch(() => undefined)
      await ws.close().catch(() => undefined)
      await source.drop().catch(() => undefined)
      await target.drop().catch(() => undefined)
    },
  }
  open.push(f)
  return f
}

/** Every row of both sides, canonical, keyed by entity and key (timestamps at the lower precision of the two engines). */
async function snapshot(ws: Workspace): Promise<{source: Map<string, string>; target: Map<string, string>}> {
  const tgt = await ws.target(SERVICE)
  const precision = Math.min(ws.monolith.maxTimestampPrecision ?? 6, tgt.maxTimestampPrecision ?? 6)
  const src = new Map<string, string>()
  const dst = new Map<string, string>()
  for (const e of await ws.entities(SERVICE)) {
    const types = e.targetSpec.columns
    const enc = (r: Row) => JSON.stringify(canonicalRow(types.map((c) => r[c.name]), types, {timestampPrecision: types.map(() => precision)}))
    for (const r of await ws.monolith.readRange({table: e.source, key: e.sourceKey, columns: e.projections, keyTypes: e.sourceKeyTypes})) {
      const m = e.mapRow(r)
      src.set(`${e.name}:${keyToString(e.targetKey.map((k) => m[k]))}`, enc(m))
    }
    const rows = await tgt.readRange({table: e.target, key: e.targetKey, columns: e.targetProjections, keyTypes: e.sourceKeyTypes})
    const before = dst.size
    for (const r of rows) dst.set(`${e.name}:${keyToString(e.targetKey.map((k) => r[k]))}`, enc(r))
    // no key twice in the target (its primary key or _id forbids it; the map would hide it)
    expect(dst.size - before).toBe(rows.length)
  }
  return {source: src, target: dst}
}

async function targetCount(ws: Workspace, entity: string): Promise<number> {
  const e = await ws.entity(SERVICE, entity)
  return (await ws.target(SERVICE)).count(e.target)
}

describe.each(['my-pg', 'pg-pg', 'pgl-pg', 'my-mongo'] as const)('shadow %s with an application writing', (pair) => {
  it('ends with the service store identical to the monolith', async () => {
    const f = await fixture(pair)
    let stop = false
    let committed = 0
    let round = 0
    // a steady application: about a hundred small transactions a second
    const writer = (async () => {
      while (!stop) {
        committed += await appWorkload(f.app, {workers: 2, txPerWorker: 5, seed: ++round, idRange: f.counts.accounts})
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    const follow = new AbortController()
    let res
    let following: Promise<unknown> | undefined
    try {
      // throttled so that the writes overlap the whole backfill
      res = await runShadow(f.ws, SERVICE, {parallel: 3, chunkRows: 150, batchSize: 100, maxRowsPerSecond: 1200, detach: true})
      // then the relay alone keeps up with the writes for a while
      following = new Relay(f.ws, SERVICE, {idleMs: 50}).follow(follow.signal)
      await new Promise((r) => setTimeout(r, 1500))
    } finally {
      stop = true
      await writer
      follow.abort()
      await following
    }
    expect(committed).toBeGreaterThan(20)
    expect(res.phase).toBe('shadow')
    expect(res.from).toBe('planned')
    expect(res.entities.map((e) => e.done)).toEqual([true, true])
    expect(res.entities[0].rowsCopied).toBeGreaterThanOrEqual(f.counts.accounts * 0.8)
    expect(res.backfill?.aborted).toBe(false)

    const relay = new Relay(f.ws, SERVICE)
    await relay.drain()
    expect((await relay.lag()).pending).toBe(0)
    const {source, target} = await snapshot(f.ws)
    expect(source.size).toBeGreaterThan(f.counts.accounts)
    expect(entries(target)).toEqual(entries(source))
    const accounts = (await f.ws.entities(SERVICE))[0]
    expect(await targetCount(f.ws, accounts.name)).toBe(await f.ws.monolith.count(accounts.source))

    const state = await getService(f.ws.state, SERVICE)
    expect(state.phase).toBe('shadow')
    expect(state.step).toBe('shadow:relay') // --detach leaves the catching up to the relay
    const cps = await listCheckpoints<{done: boolean; rowsCopied: number; rowsEstimated: number}>(f.ws.state, SERVICE, 'backfill')
    expect(cps.map((c) => c.state.done)).toEqual([true, true])
    if (pair === 'pgl-pg') {
      // the slot captured every write: the source tables carry no trigger
      const sql = f.ws.monolith.sql!
      expect(await sql.query(`SELECT trigger_name FROM information_schema.triggers WHERE event_object_table IN ('accounts', 'attrs')`)).toEqual([])
      expect(await sql.query(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`)).toHaveLength(1)
    }
  })
})

describe('shadow lifecycle, logical capture (PostgreSQL → PostgreSQL)', () => {
  const slots = (f: Fixture) => f.ws.monolith.sql!.query<{slot_name: string; plugin: string}>(`SELECT slot_name, plugin FROM pg_replication_slots WHERE database = current_database()`)
  const publications = (f: Fixture) => f.ws.monolith.sql!.query<{tablename: string}>(`SELECT tablename FROM pg_publication_tables ORDER BY tablename`)

  it('--dry-run prints the publication and the slot and creates nothing; --abort drops both', async () => {
    const f = await fixture('pgl-pg', {accounts: 200, products: 5})
    const dry = await runShadow(f.ws, SERVICE, {dryRun: true})
    const ddl = (dry.ddl ?? []).join('\n')
    expect(ddl).toMatch(/CREATE PUBLICATION "strangler_crm" FOR TABLE "public"\."accounts", "public"\."attrs"/)
    expect(ddl).toMatch(/pg_create_logical_replication_slot\('strangler_crm_[0-9a-f]{8}', 'pgoutput'\)/)
    expect(ddl).not.toMatch(/CREATE (OR REPLACE )?TRIGGER/)
    expect(await slots(f)).toEqual([])
    expect(await publications(f)).toEqual([])
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)

    const res = await runShadow(f.ws, SERVICE, {parallel: 2, chunkRows: 50})
    expect(res.entities.map((e) => e.rowsCopied)).toEqual([200, 30])
    expect(await captureInstalled(f.ws, SERVICE)).toBe(true)
    expect((await slots(f)).map((s) => s.plugin)).toEqual(['pgoutput'])
    expect((await publications(f)).map((p) => p.tablename)).toEqual(['accounts', 'attrs'])
    // a write after the backfill travels through the slot
    await f.app.exec(`UPDATE accounts SET name = 'via the slot' WHERE id = 7`)
    await new Relay(f.ws, SERVICE).drain()
    const [row] = await (await f.ws.target(SERVICE)).sql!.query<{name: string}>(`SELECT name FROM accounts WHERE id = 7`)
    expect(row.name).toBe('via the slot')

    const aborted = await abortShadow(f.ws, SERVICE)
    expect(aborted.phase).toBe('planned')
    expect(await captureInstalled(f.ws, SERVICE)).toBe(false)
    expect(await slots(f)).toEqual([])
    expect(await publications(f)).toEqual([])
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
  })

  it('refuses a table without a replica identity, with exit code 2, and creates nothing; `plan` says so beforehand', async () => {
    const f = await fixture('pgl-pg', {accounts: 20, products: 2})
    expect((await inspectPlan(f.ws, {connectTargets: false})).services[0].capture).toEqual({method: 'logical', problem: null})
    await f.app.exec(`ALTER TABLE attrs REPLICA IDENTITY NOTHING`)
    expect((await inspectPlan(f.ws, {connectTargets: false})).services[0].capture.problem).toMatch(/"public"\."attrs" has no replica identity.*REPLICA IDENTITY FULL/)
    const err = await runShadow(f.ws, SERVICE).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).exitCode).toBe(2)
    expect((err as UserError).message).toMatch(/"public"\."attrs" has no replica identity/)
    expect((err as UserError).hint).toMatch(/REPLICA IDENTITY FULL/)
    expect(await slots(f)).toEqual([])
    expect(await publications(f)).toEqual([])
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
    expect((await getService(f.ws.state, SERVICE)).phase).toBe('planned')
    // REPLICA IDENTITY FULL makes it publishable (and the application's DELETEs keep working)
    await f.app.exec(`ALTER TABLE attrs REPLICA IDENTITY FULL`)
    const res = await runShadow(f.ws, SERVICE, {detach: true})
    expect(res.phase).toBe('shadow')
    await f.app.exec(`DELETE FROM attrs WHERE product_id = 1`)
    await new Relay(f.ws, SERVICE).drain()
    const {source, target} = await snapshot(f.ws)
    expect(entries(target)).toEqual(entries(source))
    await abortShadow(f.ws, SERVICE)
  })
})

describe('shadow lifecycle (MariaDB → PostgreSQL)', () => {
  it('--dry-run prints the DDL and triggers and creates nothing', async () => {
    const f = await fixture('my-pg', {accounts: 50, products: 5})
    const res = await runShadow(f.ws, SERVICE, {dryRun: true})
    expect(res.dryRun).toBe(true)
    const ddl = (res.ddl ?? []).join('\n')
    expect(ddl).toMatch(/CREATE TABLE IF NOT EXISTS "accounts"/)
    expect(ddl).toMatch(/CREATE TABLE IF NOT EXISTS "attrs"/)
    expect(ddl).toMatch(/CREATE TRIGGER/)
    expect(ddl).toMatch(/strangler_outbox_crm/)
    const tgt = await f.ws.target(SERVICE)
    for (const e of await f.ws.entities(SERVICE)) expect(await tgt.tableExists(e.target)).toBe(false)
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
    const trg = await f.app.exec(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`)
    expect(trg).toEqual([])
    expect((await getService(f.ws.state, SERVICE)).phase).toBe('planned')
    expect(await listCheckpoints(f.ws.state, SERVICE, 'backfill')).toEqual([])
    expect(await listTransitions(f.ws.state, SERVICE)).toEqual([])
  })

  it('runs, resumes idempotently, and --abort removes what it created', async () => {
    const f = await fixture('my-pg', {accounts: 300, products: 10})
    const tgt = await f.ws.target(SERVICE)
    // an empty table that exists before shadow: used, and left in place by --abort
    const attrs = await f.ws.entity(SERVICE, 'attrs')
    await tgt.createTarget(attrs.targetSpec)

    const first = await runShadow(f.ws, SERVICE, {parallel: 2, chunkRows: 50})
    expect(first.entities.map((e) => [e.name, e.rowsCopied, e.created])).toEqual([
      ['accounts', 300, true],
      ['attrs', 60, false],
    ])
    expect(await captureInstalled(f.ws, SERVICE)).toBe(true)

    const again = await runShadow(f.ws, SERVICE, {parallel: 2, chunkRows: 50})
    expect(again.from).toBe('shadow')
    expect(again.entities.map((e) => [e.rowsCopied, e.rowsTotal, e.done, e.resumed])).toEqual([
      [0, 300, true, true],
      [0, 60, true, true],
    ])
    expect((await listTransitions(f.ws.state, SERVICE)).map((t) => `${t.fromPhase}>${t.toPhase}`)).toEqual(['planned>shadow'])

    const dry = await abortShadow(f.ws, SERVICE, {dryRun: true})
    expect(dry.droppedTargets).toEqual(['accounts'])
    expect(dry.emptiedTargets).toEqual(['attrs'])
    expect(await captureInstalled(f.ws, SERVICE)).toBe(true)

    const aborted = await abortShadow(f.ws, SERVICE)
    expect(aborted.phase).toBe('planned')
    expect(aborted.droppedTargets).toEqual(['accounts'])
    expect(aborted.emptiedTargets).toEqual(['attrs'])
    expect(await captureInstalled(f.ws, SERVICE)).toBe(false)
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
    const trg = await f.app.exec(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`)
    expect(trg).toEqual([])
    expect(await tgt.tableExists((await f.ws.entity(SERVICE, 'accounts')).target)).toBe(false)
    expect(await tgt.tableExists(attrs.target)).toBe(true)
    expect(await tgt.count(attrs.target)).toBe(0)
    expect(await listCheckpoints(f.ws.state, SERVICE, 'backfill')).toEqual([])
    const state = await getService(f.ws.state, SERVICE)
    expect(state.phase).toBe('planned')
    expect(state.info.shadow).toBeUndefined()
    expect((await listTransitions(f.ws.state, SERVICE)).map((t) => `${t.fromPhase}>${t.toPhase}:${t.reason ?? ''}`)).toEqual(['planned>shadow:', 'shadow>planned:shadow --abort'])
    // the monolith's own data is untouched
    expect(await f.ws.monolith.count({name: 'accounts'})).toBe(300)

    // and shadow can start over from planned
    const over = await runShadow(f.ws, SERVICE, {parallel: 2, chunkRows: 50})
    expect(over.entities.map((e) => e.rowsCopied)).toEqual([300, 60])
  })

  it('refuses a service past shadow, with exit code 2, and changes nothing', async () => {
    const f = await fixture('my-pg', {accounts: 20, products: 2})
    await updateService(f.ws.state, SERVICE, {phase: 'write-through'})
    const err = await runShadow(f.ws, SERVICE).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).exitCode).toBe(2)
    expect((err as UserError).code).toBe('E_PHASE')
    expect((err as UserError).message).toMatch(/write-through/)
    const abortErr = await abortShadow(f.ws, SERVICE).catch((e: unknown) => e)
    expect((abortErr as UserError).code).toBe('E_PHASE')
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
    const tgt = await f.ws.target(SERVICE)
    for (const e of await f.ws.entities(SERVICE)) expect(await tgt.tableExists(e.target)).toBe(false)
    expect((await getService(f.ws.state, SERVICE)).phase).toBe('write-through')
  })

  it('refuses an unknown service, an unknown entity, and a control plane that is not initialised', async () => {
    const f = await fixture('my-pg', {accounts: 20, products: 2, migrate: false})
    const notInit = (await runShadow(f.ws, SERVICE).catch((e: unknown) => e)) as UserError
    expect(notInit.code).toBe('E_NOT_INITIALISED')
    expect(notInit.hint).toMatch(/strangler init/)
    await f.ws.state.migrate()
    const unknown = (await runShadow(f.ws, 'nope').catch((e: unknown) => e)) as UserError
    expect(unknown.code).toBe('E_UNKNOWN_SERVICE')
    expect(unknown.hint).toMatch(/crm/)
    const entity = (await runShadow(f.ws, SERVICE, {entities: ['orders']}).catch((e: unknown) => e)) as UserError
    expect(entity.code).toBe('E_UNKNOWN_ENTITY')
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
  })

  it('refuses an unreachable target before creating anything on the monolith', async () => {
    const f = await fixture('my-pg', {accounts: 20, products: 2, targetUrl: 'postgres://nobody:secret@127.0.0.1:9/none'})
    const err = (await runShadow(f.ws, SERVICE).catch((e: unknown) => e)) as Error
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(/services\.crm\.target/)
    expect(err.message).not.toMatch(/secret/)
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
    const trg = await f.app.exec(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`)
    expect(trg).toEqual([])
    expect((await getService(f.ws.state, SERVICE)).phase).toBe('planned')
  })

  it('refuses to fill a target table that holds rows it did not create', async () => {
    const f = await fixture('my-pg', {accounts: 20, products: 2})
    const tgt = await f.ws.target(SERVICE)
    const accounts = await f.ws.entity(SERVICE, 'accounts')
    await tgt.createTarget(accounts.targetSpec)
    await tgt.upsert({table: accounts.target, key: accounts.targetKey, columns: accounts.targetSpec.columns, rows: [{id: '999', email: 'x', name: null, balance: '1.00', updated_at: null, active: true, prefs: null, avatar: null}]})
    const err = (await runShadow(f.ws, SERVICE).catch((e: unknown) => e)) as UserError
    expect(err.code).toBe('E_TARGET_NOT_EMPTY')
    expect(await f.ws.monolith.tableExists(f.ws.outbox(SERVICE))).toBe(false)
  })

  it('backfills only the entities asked for; the relay holds back the others', async () => {
    const f = await fixture('my-pg', {accounts: 100, products: 5})
    const res = await runShadow(f.ws, SERVICE, {entities: ['accounts'], chunkRows: 40})
    expect(res.entities.map((e) => e.name)).toEqual(['accounts'])
    expect(res.warnings.join(' ')).toMatch(/attrs/)
    await f.app.exec(`UPDATE attrs SET value = 'changed' WHERE product_id = 1`)
    expect((await getService(f.ws.state, SERVICE)).step).toBe('shadow:relay')
    const rest = await runShadow(f.ws, SERVICE, {entities: ['attrs']})
    expect(rest.entities.map((e) => [e.name, e.rowsCopied])).toEqual([['attrs', 30]])
    const {source, target} = await snapshot(f.ws)
    expect(entries(target)).toEqual(entries(source))
    expect((await getService(f.ws.state, SERVICE)).step).toBeNull()
  })

  it('reads the monolith load the backfill throttles on (MariaDB Threads_running, PostgreSQL active backends)', async () => {
    for (const pair of ['my-pg', 'pg-pg'] as const) {
      const f = await fixture(pair, {accounts: 10, products: 1})
      const load = await f.ws.monolith.serverLoad?.()
      expect(Number.isInteger(load)).toBe(true)
      expect(load).toBeGreaterThanOrEqual(1) // at least the query asking
      // a limit the probe is under lets the backfill run
      const res = await runShadow(f.ws, SERVICE, {maxMonolithLoad: 1000, detach: true})
      expect(res.entities.map((e) => e.done)).toEqual([true, true])
      expect(res.backfill?.pausedSeconds).toBe(0)
    }
  })
})
