import mysql from 'mysql2/promise'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import {runDiff} from '../../src/diff/run-diff.js'
import {verifyShadow} from '../../src/phases/shadow-verify.js'
import {runShadow} from '../../src/phases/shadow.js'
import {advance} from '../../src/phases/machine.js'
import {runShift} from '../../src/phases/shift.js'
import {runDecommission, purgeArchive} from '../../src/phases/decommission/decommission.js'
import {runRollback} from '../../src/phases/decommission/rollback.js'
import {reverseSync} from '../../src/phases/decommission/reverse-sync.js'
import {createRouter} from '../../src/sdk/index.js'
import {LocalToggleClient} from '../../src/toggles/local-client.js'
import {openToggleProvider} from '../../src/toggles/index.js'
import {getService, listTransitions} from '../../src/state/services.js'
import {UserError} from '../../src/util/errors.js'
import {Workspace} from '../../src/workspace.js'
import {freshMysql, freshPg, type FreshDatabase} from '../helpers/db.js'

/**
 * The whole walk under a steady write load through the SDK:
 * planned → shadow → write-through → shift 100 → decommission → rollback →
 * decommission again. It ends with a clean diff and no lost write: every
 * write the application saw succeed is in the store that owns the data.
 */
describe('full walk under load', () => {
  let mono: FreshDatabase
  let svc: FreshDatabase
  let ws: Workspace
  let monoPool: mysql.Pool
  let svcPool: pg.Pool
  const truth = new Map<number, string | null>() // id → balance, null = deleted
  let stopLoad = false
  let load: Promise<void>
  let writes = 0
  let writeErrors = 0

  beforeAll(async () => {
    ;[mono, svc] = await Promise.all([freshMysql('walk_mono'), freshPg('walk_svc')])
    monoPool = mysql.createPool({uri: mono.url, connectionLimit: 4})
    svcPool = new pg.Pool({connectionString: svc.url, max: 4})
    await monoPool.query('CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(100) NOT NULL, balance DECIMAL(12,2) NOT NULL)')
    const rows = Array.from({length: 3000}, (_, i) => [i + 1, `owner ${i + 1}`, `${(i * 7) % 1000}.00`])
    await monoPool.query('INSERT INTO accounts (id, owner, balance) VALUES ?', [rows])
    for (const r of rows) truth.set(r[0] as number, r[2] as string)
    const plan = validatePlan(
      {
        monolith: {url: mono.url},
        toggles: {provider: 'local', pollMs: 200},
        gates: {maxRelayLagSeconds: 30, minShadowSamples: 50, maxShadowMismatchRate: 0.05, soak: '1s', retention: '7d', maxDiffAgeMinutes: 60},
        services: {accounts: {target: {url: svc.url}, entities: [{source: 'accounts', columns: {id: 'id', owner_name: 'owner', balance: 'balance'}}]}},
      },
      'walk',
      {},
    )
    ws = await Workspace.open(plan, {runId: 'walk-test'})
    await ws.state.migrate()
  })

  afterAll(async () => {
    stopLoad = true
    await load?.catch(() => undefined)
    await ws?.close()
    await monoPool?.end()
    await svcPool?.end()
    await Promise.all([mono?.drop(), svc?.drop()])
  })

  /** The application: writes through the SDK, which follows the phase in the state store. */
  async function startLoad(): Promise<void> {
    const toggles = await LocalToggleClient.open(ws.state, {pollMs: 200})
    const router = createRouter({service: 'accounts', toggles, state: ws.state, phasePollMs: 200, serviceWriteTimeoutMs: 5000})
    let n = 0
    load = (async () => {
      while (!stopLoad) {
        n++
        const id = n % 7 === 0 ? 5000 + n : 1 + ((n * 7919) % 3000)
        const del = n % 23 === 0 && id <= 3000
        const balance = `${n}.${String(n % 100).padStart(2, '0')}`
        try {
          await router.write('accounts', id, {
            monolith: async () => {
              if (del) await monoPool.query('DELETE FROM accounts WHERE id = ?', [id])
              else await monoPool.query('INSERT INTO accounts (id, owner, balance) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE balance = VALUES(balance)', [id, `owner ${id}`, balance])
              return null
            },
            service: async () => {
              if (del) await svcPool.query('DELETE FROM accounts WHERE id = $1', [id])
              else await svcPool.query('INSERT INTO accounts (id, owner_name, balance) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET balance = EXCLUDED.balance', [id, `owner ${id}`, balance])
              return null
            },
          })
          truth.set(id, del ? null : balance)
          writes++
        } catch {
          writeErrors++ // the caller saw the failure: not a write that must survive
        }
        await new Promise((r) => setTimeout(r, 5))
      }
      await router.close()
      await toggles.close()
    })()
  }

  async function serviceRows(): Promise<Map<number, string>> {
    const {rows} = await svcPool.query('SELECT id::text AS id, balance::text AS balance FROM accounts')
    return new Map(rows.map((r) => [Number(r.id), r.balance as string]))
  }

  async function monolithRows(table = 'accounts', db?: string): Promise<Map<number, string>> {
    const [rows] = await monoPool.query(`SELECT id, balance FROM ${db ? `\`${db}\`.` : ''}\`${table}\``)
    return new Map((rows as {id: string | number; balance: string}[]).map((r) => [Number(r.id), String(r.balance)]))
  }

  function lost(store: Map<number, string>): number[] {
    const bad: number[] = []
    for (const [id, v] of truth) if ((v === null && store.has(id)) || (v !== null && store.get(id) !== v)) bad.push(id)
    return bad
  }

  const toggles = () => openToggleProvider(ws)
  const archiveDb = () => `${mono.name}_strangler_archive`
  const explain = (d: Awaited<ReturnType<typeof runDiff>>) => JSON.stringify({totals: d.totals, entities: d.services.flatMap((s) => s.entities.map((e) => ({missing: e.missing.slice(0, 5), extra: e.extra.slice(0, 5), changed: e.changed.slice(0, 3)})))})

  it('shadow: capture, backfill, relay catch-up, shadow verify, clean diff', async () => {
    await startLoad()
    const r = await runShadow(ws, 'accounts', {parallel: 2, chunkRows: 500})
    expect(r.phase).toBe('shadow')
    const v = await verifyShadow(ws, 'accounts', {sample: 200})
    expect(v.entities[0].mismatches.length ?? 0).toBe(0)
    const d = await runDiff(ws, {service: 'accounts'})
    expect(d.status).toBe('clean')
  })

  it('write-through and shift to 100 % through the gates', async () => {
    const wt = await advance(ws, 'accounts', 'write-through')
    expect(wt.gates.every((g) => g.ok)).toBe(true)
    expect((await runDiff(ws, {service: 'accounts'})).status).toBe('clean')
    const t = await toggles()
    const s = await runShift(ws, 'accounts', t, {steps: [50, 100], soakMs: 1200, checkEveryMs: 400})
    await t.close()
    expect(s.status).toBe('completed')
    expect(s.final).toBe(100)
  })

  it('decommission: writes cut over, tables archived, reverse sync', async () => {
    await new Promise((r) => setTimeout(r, 1200)) // reads held at 100 % for the soak
    expect((await runDiff(ws, {service: 'accounts'})).status).toBe('clean')
    const t = await toggles()
    const r = await runDecommission(ws, 'accounts', t, {confirmed: true, settleMs: 1000})
    await t.close()
    expect(r.status).toBe('decommissioned')
    expect(r.steps.map((s) => s.step)).toEqual(['cutover-writes', 'drain', 'final-diff', 'remove-capture', 'service-authoritative', 'archive', 'reverse-sync'])
    const [tables] = await monoPool.query(`SELECT TABLE_SCHEMA AS s FROM information_schema.TABLES WHERE TABLE_NAME = 'accounts' AND TABLE_SCHEMA IN (?, ?)`, [mono.name, archiveDb()])
    expect(tables).toEqual([{s: archiveDb()}])
    expect((await getService(ws.state, 'accounts')).phase).toBe('decommissioned')
  })

  it('purge is refused before the retention period ends', async () => {
    await expect(purgeArchive(ws, 'accounts', {confirmed: true})).rejects.toThrow(/retention period \(7d\) ends at/)
    expect((await monolithRows('accounts', archiveDb())).size).toBeGreaterThan(0)
  })

  it('rollback: the archive catches up, tables come back, writes return to the monolith', async () => {
    await new Promise((r) => setTimeout(r, 1000)) // writes land on the service only now
    const t = await toggles()
    const r = await runRollback(ws, 'accounts', t, {settleMs: 1000})
    await t.close()
    expect(r.from).toBe('decommissioned')
    expect(r.to).toBe('shift')
    expect(r.diff?.status, JSON.stringify(r)).toBe('clean')
    const s = await getService(ws.state, 'accounts')
    expect([s.phase, s.readPct, s.writeTarget]).toEqual(['shift', 100, 'monolith'])
  })

  it('decommission again, then stop the load: clean diff, no lost write', async () => {
    await new Promise((r) => setTimeout(r, 1500))
    const d0 = await runDiff(ws, {service: 'accounts'})
    expect(d0.status, explain(d0)).toBe('clean')
    const t = await toggles()
    const r = await runDecommission(ws, 'accounts', t, {confirmed: true, settleMs: 1000})
    await t.close()
    expect(r.status).toBe('decommissioned')
    await new Promise((r) => setTimeout(r, 500))
    stopLoad = true
    await load
    const sync = await reverseSync(ws, 'accounts')
    const d = await runDiff(ws, {service: 'accounts'})
    expect(d.status, JSON.stringify(d.totals)).toBe('clean')
    expect(sync.diffRunId).toBeTruthy()
    expect(writes).toBeGreaterThan(200)
    expect(lost(await serviceRows())).toEqual([])
    expect(lost(await monolithRows('accounts', archiveDb()))).toEqual([])
    const transitions = (await listTransitions(ws.state, 'accounts')).map((t) => `${t.fromPhase}→${t.toPhase}`)
    expect(transitions).toEqual(['planned→shadow', 'shadow→write-through', 'write-through→shift', 'shift→decommissioned', 'decommissioned→shift', 'shift→decommissioned'])
  })

  it('rollback with nothing to roll back is refused clearly', async () => {
    const fresh = await getService(ws.state, 'nope')
    expect(fresh.phase).toBe('planned')
    const t = await toggles()
    await expect(runRollback(ws, 'nope', t, {})).rejects.toThrow(UserError)
    await t.close()
  })
})
