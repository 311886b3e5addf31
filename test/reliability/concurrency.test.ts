/**
 * Concurrency on the monolith while the tool copies and relays: commits that
 * land out of the order their outbox ids were taken, hot keys updated
 * thousands of times during the backfill together with key changes, deletes
 * and re-inserts of the same keys, multi-megabyte text and binary values, and
 * composite text keys in mixed case (a case-sensitive key on both engines, and
 * MariaDB's case- and pad-insensitive collation, where a key can change by
 * case only). Each ends with the service store exactly as the truth log (or,
 * for tables it does not cover, the monolith) says.
 *
 * The shadow phase and the relay run in-process here (the CLI paths are
 * covered by crash-points and server-faults), which keeps the interleavings tight.
 */
import {createHash, randomBytes} from 'node:crypto'
import {afterAll, describe, expect, it, type TestContext} from 'vitest'
import {Relay} from '../../src/capture/relay.js'
import {runShadow} from '../../src/phases/shadow.js'
import {killAllCli} from './support/cli-process.js'
import {compareStores} from './support/compare-stores.js'
import {migration, type Migration, type MonolithKind} from './support/migration.js'

const SOAK = process.env.STRANGLER_SOAK === '1'
const SCALE = SOAK ? 5 : 1
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

afterAll(() => killAllCli())

/** A fresh migration with its control plane, closed when the (concurrent) test that made it ends. */
async function fixture(ctx: TestContext, monolith: MonolithKind, opts: Partial<Parameters<typeof migration>[0]> = {}): Promise<Migration> {
  const m = await migration({monolith, accounts: 200, items: 20, load: {seed: 5}, ...opts})
  // the context's hook: the global one cannot tell concurrent tests apart
  ctx.onTestFinished(() => m.close())
  await (await m.workspace()).state.migrate()
  return m
}

async function drain(m: Migration): Promise<void> {
  const t = await new Relay(await m.workspace(), m.service, {batchSize: 200}).drain()
  expect(t.pending).toBe(0)
}

async function expectTruth(m: Migration): Promise<void> {
  const check = await m.checkService()
  expect(check.problems).toEqual([])
  expect(check.extra).toBe(0)
}

const DIALECTS: MonolithKind[] = ['postgres', 'mysql']

describe.concurrent.each(DIALECTS)('concurrency on a %s monolith', (dialect) => {
  it('commits out of the order their outbox ids were taken: none is skipped', async (ctx) => {
    const m = await fixture(ctx, dialect)
    const ws = await m.workspace()
    await runShadow(ws, m.service, {chunkRows: 100})
    const {app} = m
    const target = await ws.target(m.service)
    const read = async (id: number) => (await target.readByKeys({table: {name: 'accounts'}, key: ['id'], columns: [{name: 'email', column: 'email'}], keys: [[String(id)]]}))[0]?.email

    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let inTx!: () => void
    const started = new Promise<void>((r) => (inTx = r))
    // T1 takes its outbox ids first (an update and an insert) and commits last
    const t1 = app.tx(async (exec) => {
      await exec(`UPDATE accounts SET email = ? WHERE id = ?`, ['late@t1', '1'])
      await exec(`INSERT INTO accounts (id, email, balance, updated_at) VALUES (?, ?, ?, ?)`, ['900001', 'new@t1', '1.00', '2025-01-01 00:00:00.000'])
      inTx()
      await held
    })
    await started
    // T2 and T3 take later ids and commit at once
    await app.exec(`UPDATE accounts SET email = ? WHERE id = ?`, ['early@t2', '2'])
    await app.exec(`DELETE FROM accounts WHERE id = ?`, ['3'])
    await drain(m)
    expect(await read(2)).toBe('early@t2')
    expect(await read(3)).toBeUndefined()
    expect(await read(1)).not.toBe('late@t1')
    release()
    await t1
    await drain(m)
    expect(await read(1)).toBe('late@t1')
    expect(await read(900001)).toBe('new@t1')
    expect((await compareStores(ws, m.service)).problems).toEqual([])

    // and under load: many held transactions interleaved with quick ones
    m.gen.start()
    const relay = new Relay(ws, m.service, {batchSize: 25, idleMs: 10})
    const stop = new AbortController()
    const following = relay.follow(stop.signal)
    await sleep(2500 * SCALE)
    await m.gen.stop()
    stop.abort()
    await following
    await drain(m)
    // the keys written by hand above are not in the truth log: compare with the monolith
    expect((await compareStores(ws, m.service)).problems).toEqual([])
    expect(m.gen.stats().byOp.tx ?? 0).toBeGreaterThan(2)
  })

  it('hot keys updated thousands of times during the backfill, with key changes, deletes and re-inserts of the same keys', async (ctx) => {
    const m = await fixture(ctx, dialect, {
      accounts: 3000 * SCALE,
      items: 150,
      load: {seed: 17, writesPerSecond: 1500, concurrency: 6, hotKeys: 3, mix: {hot: 100, rekey: 8, delete: 8, reinsert: 10, update: 4, insert: 3, tx: 3, 'attr-insert': 3, 'attr-update': 3, 'attr-delete': 3}},
    })
    const ws = await m.workspace()
    m.gen.start()
    // slow enough (about 10 s) that the hot keys are updated thousands of times while their chunks are copied
    const res = await runShadow(ws, m.service, {chunkRows: 200, parallel: 2, maxRowsPerSecond: 380, detach: true})
    expect(res.entities.every((e) => e.done)).toBe(true)
    const stats = await m.gen.stop()
    await drain(m)
    await expectTruth(m)
    // the interesting traffic really happened while the rows were being copied
    expect(stats.byOp.hot, JSON.stringify(stats)).toBeGreaterThan(500)
    expect(stats.byOp.rekey).toBeGreaterThan(10)
    expect(stats.byOp.reinsert).toBeGreaterThan(10)
    const hot = m.gen.truth().entries.filter((e) => e.table === 'accounts' && Number(e.key[0]) <= 3)
    expect(Math.max(...hot.map((e) => e.writes))).toBeGreaterThan(250)
  })

  it('rows of several megabytes (text and binary) through the backfill, the relay and the diff', async (ctx) => {
    const blob = dialect === 'postgres' ? 'bytea' : 'longblob'
    const text = dialect === 'postgres' ? 'text' : 'longtext'
    const m = await fixture(ctx, dialect, {
      load: {seed: 23, writesPerSecond: 8, concurrency: 2, mix: {large: 10, update: 5, hot: 0, delete: 0, rekey: 0, reinsert: 0, insert: 1, tx: 0}},
      extraDdl: [`CREATE TABLE blobs (id bigint PRIMARY KEY, body ${text}, data ${blob})`],
      extraEntities: [{source: 'blobs'}],
    })
    const big = (n: number, seed: number) => {
      const size = 2_000_000 + ((seed * 7919) % 3_000_000)
      return {body: `doc ${n} ` + 'Grüße, 世界! \\ \t'.repeat(Math.ceil(size / 16)).slice(0, size), data: randomBytes(size)}
    }
    for (let i = 1; i <= 4; i++) {
      const v = big(i, i)
      await m.app.exec(`INSERT INTO blobs (id, body, data) VALUES (?, ?, ?)`, [String(i), v.body, v.data])
    }
    const ws = await m.workspace()
    m.gen.start()
    await runShadow(ws, m.service, {chunkRows: 50, batchSize: 2, detach: true})
    for (let i = 2; i <= 3; i++) {
      const v = big(i, i + 100)
      await m.app.exec(`UPDATE blobs SET body = ?, data = ? WHERE id = ?`, [v.body, v.data, String(i)])
    }
    await m.app.exec(`DELETE FROM blobs WHERE id = ?`, ['4'])
    const v5 = big(5, 5)
    await m.app.exec(`INSERT INTO blobs (id, body, data) VALUES (?, ?, ?)`, ['5', v5.body, v5.data])
    await sleep(1000)
    const stats = await m.gen.stop()
    expect(stats.byOp.large).toBeGreaterThan(3)
    await drain(m)
    await expectTruth(m)
    const cmp = await compareStores(ws, m.service)
    expect(cmp.problems).toEqual([])
    expect(cmp.rows.blobs).toEqual({source: 4, target: 4})
    const [row] = await (await ws.target(m.service)).readByKeys({table: {name: 'blobs'}, key: ['id'], columns: [{name: 'data', column: 'data'}], keys: [['5']]})
    expect(createHash('md5').update(row.data as Buffer).digest('hex')).toBe(createHash('md5').update(v5.data).digest('hex'))
    // the diff agrees, with the hashes computed in the databases
    const d = await m.cli(['diff', m.service, '--json'])
    expect(d.code, d.stdout + d.stderr).toBe(0)
  })
})

describe('a composite key whose text part changes by case or trailing spaces only (MariaDB case- and pad-insensitive collation)', () => {
  it('the service store (case-sensitive PostgreSQL) follows every rename', async (ctx) => {
    const m = await fixture(ctx, 'mysql', {
      extraDdl: ['CREATE TABLE `Tags` (`ItemId` bigint NOT NULL, `Name` varchar(40) NOT NULL, `Note` text, PRIMARY KEY (`ItemId`, `Name`)) ENGINE=InnoDB COLLATE utf8mb4_general_ci'],
      extraEntities: [{source: 'Tags'}],
    })
    const names = ['Color', 'COLOR', 'color', 'Size', 'Size ', 'size  ', 'Straße', 'STRASSE', 'é', 'E']
    for (let item = 1; item <= 30; item++) {
      for (const n of ['Color', 'Size', 'Straße', 'é']) await m.app.exec('INSERT INTO `Tags` (`ItemId`, `Name`, `Note`) VALUES (?, ?, ?)', [item, n, `${item}/${n}`])
    }
    const ws = await m.workspace()
    await runShadow(ws, m.service, {chunkRows: 25})
    const relay = new Relay(ws, m.service, {batchSize: 7, idleMs: 5})
    const stop = new AbortController()
    const following = relay.follow(stop.signal)
    let renames = 0
    for (let round = 0; round < 6; round++) {
      for (let item = 1; item <= 30; item++) {
        const from = names[(item + round) % names.length]
        const to = names[(item * 3 + round) % names.length]
        try {
          const r = await m.app.exec('UPDATE `Tags` SET `Name` = ?, `Note` = ? WHERE `ItemId` = ? AND `Name` = ?', [to, `${item}/${to}/${round}`, item, from])
          renames += r.count
        } catch (err) {
          if (!/Duplicate/.test(String(err))) throw err
        }
        if (item % 7 === 0) await m.app.exec('DELETE FROM `Tags` WHERE `ItemId` = ? AND `Name` = ?', [item, names[round]])
        if (item % 5 === 0) await m.app.exec('INSERT IGNORE INTO `Tags` (`ItemId`, `Name`, `Note`) VALUES (?, ?, ?)', [item, names[(round + 4) % names.length], `re ${round}`])
      }
    }
    stop.abort()
    await following
    await drain(m)
    expect(renames).toBeGreaterThan(30)
    const cmp = await compareStores(ws, m.service)
    expect(cmp.problems).toEqual([])
    expect(cmp.rows.Tags.source).toBeGreaterThan(60)
    const d = await m.cli(['diff', m.service])
    expect(d.code, d.stdout + d.stderr).toBe(0)
  })
})
