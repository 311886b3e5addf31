/**
 * The application SDK against real databases: a PostgreSQL monolith (which also holds the
 * state store) and a PostgreSQL service store, each with a simple `orders` table, accessed the
 * way an application would (its own pg pools). The phase comes from the state store, the
 * toggle from the local provider.
 */
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi} from 'vitest'
import pg from 'pg'
import {validatePlan} from '../../src/config/load.js'
import {createRouter, openRouter} from '../../src/sdk/index.js'
import type {Router, RouterOptions} from '../../src/sdk/types.js'
import {saveService, type Phase} from '../../src/state/services.js'
import {StateStore} from '../../src/state/state-store.js'
import {LocalToggleClient} from '../../src/toggles/local-client.js'
import {LocalToggleProvider} from '../../src/toggles/local-provider.js'
import {toggleName} from '../../src/toggles/provider.js'
import {type FreshDatabase, freshPg} from '../helpers/db.js'

interface Order {
  id: number
  customer: string
  total: string
  card: string
}

const SERVICE = 'orders'
const N = 200
const CARD = (id: number) => `4111-0000-0000-${String(id).padStart(4, '0')}`

let monolithDb: FreshDatabase
let serviceDb: FreshDatabase
let monolith: pg.Pool
let service: pg.Pool
let state: StateStore
let toggles: LocalToggleClient
const provider = () => new LocalToggleProvider(state)
let router: Router | undefined

const ddl = 'create table orders (id integer primary key, customer text not null, total numeric(12,2) not null, card text not null)'

async function reset(): Promise<void> {
  for (const p of [monolith, service]) {
    await p.query('drop table if exists orders_gone')
    await p.query('drop table if exists orders')
    await p.query(ddl)
    await p.query(`insert into orders select g, 'customer ' || g, (g * 1.25)::numeric(12,2), '4111-0000-0000-' || lpad(g::text, 4, '0') from generate_series(1, ${N}) g`)
  }
  await state.db.deleteFrom(state.t('shadow_samples')).execute()
  await state.db.deleteFrom(state.t('dead_letters')).execute()
  await state.db.deleteFrom(state.t('metrics')).execute()
}

async function setPhase(phase: Phase): Promise<void> {
  await saveService(state, {name: SERVICE, phase, readPct: 0, writeTarget: phase === 'decommissioned' ? 'service' : 'monolith', step: null, info: {}})
}

const readFrom = (pool: pg.Pool) => async (id: number): Promise<Order | null> => {
  const r = await pool.query<Order>('select id, customer, total::text as total, card from orders where id = $1', [id])
  return r.rows[0] ?? null
}
const readMonolith = (id: number) => readFrom(monolith)(id)

const plan = () =>
  validatePlan({
    monolith: {url: monolithDb.url},
    services: {orders: {target: {url: serviceDb.url}, entities: [{source: 'orders', sensitive: ['card']}]}},
  })

function open(extra: Partial<RouterOptions> = {}): Router {
  router = createRouter({service: SERVICE, state, toggles, plan: plan(), phasePollMs: 50, flushMs: 200, shadowTimeoutMs: 500, ...extra})
  return router
}

async function shadowTotals(): Promise<{sampled: number; mismatches: number; errors: number; rows: {examples: string | null; source: string; entity: string}[]}> {
  const rows = await state.db.selectFrom(state.t('shadow_samples')).selectAll().where('service', '=', SERVICE).execute()
  return {
    sampled: rows.reduce((a, r) => a + Number(r.sampled), 0),
    mismatches: rows.reduce((a, r) => a + Number(r.mismatches), 0),
    errors: rows.reduce((a, r) => a + Number(r.errors), 0),
    rows: rows as {examples: string | null; source: string; entity: string}[],
  }
}

beforeAll(async () => {
  monolithDb = await freshPg('sdk_monolith')
  serviceDb = await freshPg('sdk_service')
  monolith = new pg.Pool({connectionString: monolithDb.url, max: 20})
  service = new pg.Pool({connectionString: serviceDb.url, max: 20})
  state = await StateStore.open(monolithDb.url)
  await state.migrate()
  toggles = await LocalToggleClient.open(state, {pollMs: 50})
})

afterAll(async () => {
  await toggles?.close()
  await state?.close()
  await monolith?.end()
  await service?.end()
  await monolithDb?.drop()
  await serviceDb?.drop()
})

beforeEach(async () => {
  await reset()
})

afterEach(async () => {
  await router?.close()
  router = undefined
})

describe('SDK router on PostgreSQL', () => {
  it('in shadow returns the monolith rows and records planted mismatches, masking sensitive fields', async () => {
    await setPhase('shadow')
    const planted = [3, 17, 42, 99, 150]
    await service.query(`update orders set total = total + 1 where id = any($1)`, [planted])
    await service.query(`update orders set card = 'leaked-card-number' where id = 42`)
    const r = open()
    for (let id = 1; id <= N; id++) {
      const got = await r.read('orders', id, {monolith: () => readMonolith(id), service: () => readFrom(service)(id)}, {userId: `u${id}`})
      expect(got).toEqual({id, customer: `customer ${id}`, total: (id * 1.25).toFixed(2), card: CARD(id)})
    }
    await r.close()
    const s = await shadowTotals()
    expect(s).toMatchObject({sampled: N, mismatches: planted.length, errors: 0})
    expect(s.rows.every((row) => row.source === 'sdk' && row.entity === 'orders')).toBe(true)
    const examples = s.rows.flatMap((row) => (row.examples ? (JSON.parse(row.examples) as {key: number[]; fields: string[]; monolith: Record<string, unknown>; service: Record<string, unknown>}[]) : []))
    expect(examples.map((e) => e.key[0]).sort((a, b) => a - b)).toEqual(planted)
    const e42 = examples.find((e) => e.key[0] === 42)!
    expect(e42.fields.sort()).toEqual(['card', 'total'])
    expect(e42.monolith).toEqual({card: '********', total: '52.50'})
    expect(e42.service).toEqual({card: '********', total: '53.50'})
    expect(JSON.stringify(s.rows)).not.toMatch(/leaked-card-number|4111-0000/)
    // latencies are published too
    const m = await state.db.selectFrom(state.t('metrics')).selectAll().where('service', '=', SERVICE).where('kind', '=', 'sdk').execute()
    const latest = m.map((x) => JSON.parse(String(x.value)) as {latencyMs: Record<string, {n: number}>; reads: {monolith: number}})
    expect(latest.reduce((a, v) => a + v.reads.monolith, 0)).toBe(N)
    expect(latest.reduce((a, v) => a + (v.latencyMs['shadow.service']?.n ?? 0), 0)).toBe(N)
  })

  it('returns the monolith result when the service throws or hangs, without waiting for it', async () => {
    await setPhase('write-through')
    const r = open({shadowTimeoutMs: 300})
    let hungDone = false
    const hung = await r.read('orders', 1, {
      monolith: () => readMonolith(1),
      service: async () => {
        await service.query('select pg_sleep(2)')
        hungDone = true
        return readFrom(service)(1)
      },
    })
    expect(hungDone).toBe(false) // the caller got its row while the service still slept
    expect(hung?.id).toBe(1)
    const failed = await r.read('orders', 2, {monolith: () => readMonolith(2), service: async () => (await service.query('select * from no_such_table')).rows[0] as Order})
    expect(failed?.id).toBe(2)
    await r.flush()
    await vi.waitFor(async () => expect((await shadowTotals()).errors).toBe(2), {timeout: 5000, interval: 100})
    const s = await shadowTotals()
    const errors = s.rows.flatMap((row) => (row.examples ? (JSON.parse(row.examples) as {error?: string}[]) : [])).map((e) => e.error)
    expect(errors.some((e) => /timed out after 300 ms/.test(e ?? ''))).toBe(true)
    expect(errors.some((e) => /no_such_table/.test(e ?? ''))).toBe(true)
  })

  it('during a service outage in write-through fails no caller, and every failed service write lands in dead_letters', async () => {
    await setPhase('write-through')
    const r = open({breaker: {failures: 5, resetMs: 60_000}})
    const write = (id: number, total: string) =>
      r.write('orders', id, {
        monolith: async () => {
          await monolith.query('insert into orders values ($1, $2, $3, $4) on conflict (id) do update set total = excluded.total', [id, `customer ${id}`, total, CARD(id)])
          return id
        },
        service: async (m) => {
          await service.query('insert into orders values ($1, $2, $3, $4) on conflict (id) do update set total = excluded.total', [m, `customer ${m}`, total, CARD(m!)])
          return m!
        },
      })
    // healthy: both sides get the write
    expect(await write(1, '9.99')).toBe(1)
    await vi.waitFor(async () => expect((await readFrom(service)(1))?.total).toBe('9.99'), {timeout: 5000})

    await service.query('alter table orders rename to orders_gone') // the outage
    const ids = Array.from({length: 40}, (_, i) => 1000 + i)
    const results = await Promise.all(ids.slice(0, -1).map((id) => write(id, '1.00')))
    await vi.waitFor(() => expect(r.stats().breaker).toBe('open'), {timeout: 5000})
    results.push(await write(ids.at(-1)!, '1.00')) // with the breaker open: dead-lettered without a try
    expect(results).toEqual(ids) // no caller failed
    // the same key failing again adds attempts to its row (in this batch or a flushed one)
    await write(1000, '2.00')
    await r.flush()
    await write(1000, '3.00')
    await r.close()
    const inMonolith = await monolith.query('select count(*)::int as n from orders where id >= 1000')
    expect(inMonolith.rows[0].n).toBe(ids.length)
    const dl = await state.db.selectFrom(state.t('dead_letters')).selectAll().where('service', '=', SERVICE).execute()
    expect(dl).toHaveLength(ids.length)
    // keys in the outbox's format, so the relay retries and resolves them like its own
    expect(dl.map((d) => String(d.pk)).sort()).toEqual(ids.map((id) => `["${id}"]`))
    expect(dl.every((d) => d.source === 'sdk' && d.entity === 'orders' && d.resolved_at === null)).toBe(true)
    expect(dl.map((d) => Number(d.attempts)).sort((a, b) => b - a).slice(0, 2)).toEqual([3, 1])
    expect(Number(dl.find((d) => String(d.pk) === '["1000"]')?.attempts)).toBe(3)
    expect(dl.every((d) => /relation "orders" does not exist|circuit breaker open/.test(String(d.error)))).toBe(true)
    // the five failures that opened the breaker; key 1000 may be one of them, and its later attempts record the open breaker
    expect(dl.filter((d) => String(d.pk) !== '["1000"]' && /does not exist/.test(String(d.error))).length).toBeGreaterThanOrEqual(4)
    expect(dl.find((d) => String(d.pk) === `["${ids.at(-1)}"]`)?.error).toMatch(/circuit breaker open/)
    expect(router!.stats().writes.serviceFailures).toBe(ids.length + 2)
    expect((await monolith.query('select total::text from orders where id = 1000')).rows[0].total).toBe('3.00')
  })

  it('in shift keeps each user on one side across calls and follows the toggle', async () => {
    await setPhase('shift')
    const toggle = toggleName(SERVICE, 'reads')
    await provider().setRollout(toggle, 50, {service: SERVICE})
    await toggles.refresh()
    const r = open()
    const side = async (userId: string, id: number) => {
      const got = await r.read('orders', id, {monolith: async () => ({from: 'monolith', row: await readMonolith(id)}), service: async () => ({from: 'service', row: await readFrom(service)(id)})}, {userId})
      expect(got.row?.id).toBe(id)
      return got.from
    }
    const first = new Map<string, string>()
    for (let round = 0; round < 3; round++) {
      for (let u = 0; u < 100; u++) {
        const s = await side(`user-${u}`, (u % N) + 1 + round)
        if (round === 0) first.set(`user-${u}`, s)
        else expect(s).toBe(first.get(`user-${u}`))
      }
    }
    const onService = [...first.values()].filter((s) => s === 'service').length
    expect(onService).toBeGreaterThan(25)
    expect(onService).toBeLessThan(75)

    await provider().setRollout(toggle, 100, {service: SERVICE})
    await vi.waitFor(() => expect(toggles.rollout(toggle)).toBe(100), {timeout: 5000}) // the client's poll
    for (let u = 0; u < 100; u++) expect(await side(`user-${u}`, 1)).toBe('service')
    await provider().setRollout(toggle, 0, {service: SERVICE})
    await vi.waitFor(() => expect(toggles.rollout(toggle)).toBe(0), {timeout: 5000})
    for (let u = 0; u < 100; u++) expect(await side(`user-${u}`, 1)).toBe('monolith')
  })

  it('in shift opens the circuit breaker on a failing service and falls back to the monolith', async () => {
    await setPhase('shift')
    await provider().setRollout(toggleName(SERVICE, 'reads'), 100, {service: SERVICE})
    await toggles.refresh()
    const r = open({breaker: {failures: 3, resetMs: 60_000}})
    let serviceCalls = 0
    const read = (id: number) =>
      r.read('orders', id, {
        monolith: async () => ({from: 'monolith', row: await readMonolith(id)}),
        service: async () => {
          serviceCalls++
          return {from: 'service', row: await readFrom(service)(id)}
        },
      }, {userId: `user-${id}`})
    expect((await read(1)).from).toBe('service')
    await service.query('alter table orders rename to orders_gone')
    for (let id = 2; id <= 30; id++) {
      const got = await read(id)
      expect(got.from).toBe('monolith')
      expect(got.row?.id).toBe(id)
    }
    expect(serviceCalls).toBe(1 + 3) // one good call, then three failures opened the breaker
    expect(r.stats().breaker).toBe('open')
    expect(r.stats().reads.fallbacks).toBe(29)
    await r.close()
    const m = await state.db.selectFrom(state.t('metrics')).select('value').where('service', '=', SERVICE).where('kind', '=', 'sdk').execute()
    const values = m.map((x) => JSON.parse(String(x.value)) as {breaker: string; reads: {fallbacks: number}})
    expect(values.reduce((a, v) => a + v.reads.fallbacks, 0)).toBe(29)
    expect(values.at(-1)?.breaker).toBe('open')
  })

  it('follows the phase recorded in the state store, through decommission', async () => {
    await setPhase('shadow')
    const r = open()
    let serviceWrites = 0
    const once = () =>
      r.write('orders', 5, {monolith: async () => 'monolith', service: async (m) => (serviceWrites++, m ?? 'service')})
    expect(await once()).toBe('monolith')
    await setPhase('decommissioned')
    await vi.waitFor(async () => expect((await r.phase()).phase).toBe('decommissioned'), {timeout: 5000})
    expect(await once()).toBe('service')
    const row = await r.read('orders', 5, {monolith: async () => Promise.reject(new Error('archived')), service: () => readFrom(service)(5)})
    expect(row?.id).toBe(5)
    expect(serviceWrites).toBe(1)
  })

  it('openRouter wires the state store and the plan\'s toggle client from the plan alone', async () => {
    await setPhase('shift')
    await provider().setRollout(toggleName(SERVICE, 'reads'), 100, {service: SERVICE})
    const r = await openRouter({plan: {...plan(), toggles: {provider: 'local', pollMs: 50}}, service: SERVICE, flushMs: 100})
    try {
      expect(await r.readSide({userId: 'someone'})).toBe('service')
      const row = await r.read('orders', 7, {monolith: () => readMonolith(7), service: () => readFrom(service)(7)}, {userId: 'someone'})
      expect(row?.id).toBe(7)
    } finally {
      await r.close()
    }
    const m = await state.db.selectFrom(state.t('metrics')).select('value').where('service', '=', SERVICE).where('kind', '=', 'sdk').execute()
    expect(m.map((x) => (JSON.parse(String(x.value)) as {reads: {service: number}}).reads.service).reduce((a, b) => a + b, 0)).toBe(1)
  })
})
