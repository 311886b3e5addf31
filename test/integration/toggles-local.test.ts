/**
 * The local toggle provider (toggles in the state store) on PGlite, PostgreSQL and MariaDB:
 * the same rollout behaviour as Unleash, and the same users on the same side as the real
 * Unleash evaluates them.
 */
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {StateStore} from '../../src/state/state-store.js'
import {listToggleChanges} from '../../src/toggles/history.js'
import {LocalToggleClient} from '../../src/toggles/local-client.js'
import {LocalToggleProvider} from '../../src/toggles/local-provider.js'
import {toggleProviderFor} from '../../src/toggles/open.js'
import {toggleName} from '../../src/toggles/provider.js'
import {UnleashToggleClient} from '../../src/toggles/unleash-toggle-client.js'
import {UnleashToggleProvider} from '../../src/toggles/unleash-provider.js'
import {UserError} from '../../src/util/errors.js'
import {type FreshDatabase, freshMysql, freshPg, uniqueName} from '../helpers/db.js'
import {unleashInfo} from '../helpers/unleash.js'

const userIds = Array.from({length: 10_000}, (_, i) => `user-${i}`)
const dbs: FreshDatabase[] = []
const stores: StateStore[] = []

async function store(kind: 'pglite' | 'postgres' | 'mariadb'): Promise<StateStore> {
  let url: string
  if (kind === 'pglite') url = `pglite://memory/${uniqueName('toggles')}`
  else {
    const db = kind === 'postgres' ? await freshPg('toggles_local') : await freshMysql('toggles_local')
    dbs.push(db)
    url = db.url
  }
  const s = await StateStore.open(url)
  await s.migrate()
  stores.push(s)
  return s
}

afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined)
  for (const d of dbs) await d.drop().catch(() => undefined)
})

describe.each(['pglite', 'postgres', 'mariadb'] as const)('local toggles on %s', (kind) => {
  let state: StateStore
  beforeAll(async () => {
    state = await store(kind)
  })

  it('sets 0 → 25 → 100 %, and a polling client follows, sticky per user', async () => {
    const service = uniqueName('orders')
    const toggle = toggleName(service, 'reads')
    const provider = toggleProviderFor({provider: 'local', pollMs: 50}, state)
    expect(provider.kind).toBe('local')
    const client = await LocalToggleClient.open(state, {pollMs: 50})
    try {
      expect(await provider.getRollout(toggle)).toBeUndefined()
      expect(client.isEnabled(toggle, {userId: 'user-1'})).toBe(false)

      await provider.setRollout(toggle, 0, {service})
      expect(await provider.getRollout(toggle)).toBe(0)
      await vi.waitFor(() => expect(client.rollout(toggle)).toBe(0), {timeout: 5000})
      expect(userIds.some((userId) => client.isEnabled(toggle, {userId}))).toBe(false)

      await provider.setRollout(toggle, 25, {service})
      await vi.waitFor(() => expect(client.rollout(toggle)).toBe(25), {timeout: 5000})
      const at25 = userIds.map((userId) => client.isEnabled(toggle, {userId}))
      const on = at25.filter(Boolean).length
      expect(on).toBeGreaterThan(2350)
      expect(on).toBeLessThan(2650)
      expect(userIds.map((userId) => client.isEnabled(toggle, {userId}))).toEqual(at25) // sticky
      expect(client.isEnabled(toggle, {})).toBe(false) // no user id: stays on the monolith

      await provider.setRollout(toggle, 100, {service})
      await vi.waitFor(() => expect(client.rollout(toggle)).toBe(100), {timeout: 5000})
      expect(userIds.every((userId) => client.isEnabled(toggle, {userId}))).toBe(true)
      expect(await provider.getRollout(toggle)).toBe(100)

      expect((await listToggleChanges(state, service)).map((c) => [c.toggle, c.pct, c.provider])).toEqual([
        [toggle, 0, 'local'],
        [toggle, 25, 'local'],
        [toggle, 100, 'local'],
      ])
      await expect(provider.setRollout(toggle, 12.5, {service})).rejects.toThrow(UserError)
      expect(await provider.getRollout(toggle)).toBe(100)
    } finally {
      await client.close()
    }
  })
})

describe('local and Unleash bucketing', () => {
  let app: UnleashToggleClient | undefined
  afterAll(() => app?.close())

  it('puts every one of 10,000 users on the same side at 25 % as the real Unleash does', async () => {
    const state = await store('postgres')
    const service = uniqueName('orders')
    const toggle = toggleName(service, 'reads')
    const u = unleashInfo()

    await new LocalToggleProvider(state).setRollout(toggle, 25, {service})
    await new UnleashToggleProvider(
      {provider: 'unleash', url: u.url, adminToken: u.adminToken, clientToken: u.clientToken, project: 'default', environment: 'development', stickiness: 'userId'},
      {state},
    ).setRollout(toggle, 25, {service})

    const local = await LocalToggleClient.open(state)
    app = await UnleashToggleClient.start({url: u.url, clientToken: u.clientToken, refreshIntervalMs: 250})
    try {
      await vi.waitFor(() => expect(app!.isEnabled(toggle, {userId: userIds.find((id) => local.isEnabled(toggle, {userId: id}))!})).toBe(true), {timeout: 10_000})
      const fromLocal = userIds.map((userId) => local.isEnabled(toggle, {userId}))
      const fromUnleash = userIds.map((userId) => app!.isEnabled(toggle, {userId}))
      const differing = userIds.filter((_, i) => fromLocal[i] !== fromUnleash[i])
      expect(differing).toEqual([])
      expect(fromUnleash.filter(Boolean).length).toBeGreaterThan(2350)
      expect(fromUnleash.filter(Boolean).length).toBeLessThan(2650)
    } finally {
      await local.close()
    }
  })
})
