/**
 * The Unleash toggle provider against the real unleash-server of the test harness: rollout
 * changes made through the Admin API are what unleash-client (the library applications use)
 * evaluates, and every operator mistake is a clear UserError that changes nothing.
 */
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {StateStore} from '../../src/state/state-store.js'
import {listToggleChanges} from '../../src/toggles/history.js'
import {toggleName} from '../../src/toggles/provider.js'
import {inRollout} from '../../src/toggles/rollout.js'
import {UnleashToggleClient} from '../../src/toggles/unleash-toggle-client.js'
import {UnleashToggleProvider, type UnleashTogglesPlan} from '../../src/toggles/unleash-provider.js'
import {UserError} from '../../src/util/errors.js'
import {type FreshDatabase, freshPg, uniqueName} from '../helpers/db.js'
import {unleashAdmin, unleashInfo} from '../helpers/unleash.js'

const userIds = Array.from({length: 10_000}, (_, i) => `user-${i}`)

let db: FreshDatabase
let state: StateStore
let app: UnleashToggleClient

function plan(over: Partial<UnleashTogglesPlan> = {}): UnleashTogglesPlan {
  const u = unleashInfo()
  return {provider: 'unleash', url: u.url, adminToken: u.adminToken, clientToken: u.clientToken, project: 'default', environment: 'development', stickiness: 'userId', ...over}
}

/** What the application's unleash-client decides for 10,000 users. */
function appDecisions(toggle: string): boolean[] {
  return userIds.map((userId) => app.isEnabled(toggle, {userId}))
}

const expected = (toggle: string, pct: number) => userIds.map((userId) => inRollout({pct, groupId: toggle, stickiness: 'userId'}, {userId}))

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise((r) => srv.close(r))
  return port
}

async function caught(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(UserError)
  return err as UserError
}

beforeAll(async () => {
  db = await freshPg('toggles_unleash')
  state = await StateStore.open(db.url)
  await state.migrate()
  const u = unleashInfo()
  app = await UnleashToggleClient.start({url: u.url, clientToken: u.clientToken, environment: 'development', refreshIntervalMs: 250, appName: 'strangler-test-app'})
  expect(app.synchronized).toBe(true)
})

afterAll(async () => {
  app?.close()
  await state?.close()
  await db?.drop()
})

describe('UnleashToggleProvider', () => {
  it('creates the toggle and sets 0 → 25 → 100 %, which unleash-client then evaluates (sticky per user)', async () => {
    const service = uniqueName('orders')
    const toggle = toggleName(service, 'reads')
    const provider = new UnleashToggleProvider(plan(), {state})
    expect(await provider.getRollout(toggle)).toBeUndefined()

    await provider.setRollout(toggle, 0, {service})
    expect(await provider.getRollout(toggle)).toBe(0)
    expect(provider.lastVerification?.mismatches).toBe(0)
    await vi.waitFor(() => expect(app.isEnabled(toggle, {userId: 'user-1'})).toBe(false), {timeout: 10_000})
    expect(appDecisions(toggle).filter(Boolean)).toHaveLength(0)

    await provider.setRollout(toggle, 25, {service})
    expect(await provider.getRollout(toggle)).toBe(25)
    await vi.waitFor(() => expect(appDecisions(toggle)).toEqual(expected(toggle, 25)), {timeout: 10_000, interval: 200})
    const on = appDecisions(toggle).filter(Boolean).length
    expect(on).toBeGreaterThan(2350)
    expect(on).toBeLessThan(2650)
    // the same users stay on across evaluations
    const first = appDecisions(toggle)
    expect(appDecisions(toggle)).toEqual(first)

    await provider.setRollout(toggle, 100, {service})
    expect(await provider.getRollout(toggle)).toBe(100)
    await vi.waitFor(() => expect(appDecisions(toggle).every(Boolean)).toBe(true), {timeout: 10_000, interval: 200})
    // every user who was on at 25 % is still on
    const at100 = appDecisions(toggle)
    expect(first.every((wasOn, i) => !wasOn || at100[i])).toBe(true)

    // one strategy, managed in place, with the plan's stickiness and the toggle as groupId
    const f = await unleashAdmin<{environments: {name: string; enabled: boolean; strategies: {name: string; parameters: Record<string, string>}[]}[]}>(
      `/api/admin/projects/default/features/${toggle}`,
    )
    const dev = f.environments.find((e) => e.name === 'development')!
    expect(dev.enabled).toBe(true)
    expect(dev.strategies).toHaveLength(1)
    expect(dev.strategies[0]).toMatchObject({name: 'flexibleRollout', parameters: {rollout: '100', stickiness: 'userId', groupId: toggle}})

    // recorded for reports and the soak gate
    expect((await listToggleChanges(state, service)).map((c) => [c.toggle, c.pct, c.provider])).toEqual([
      [toggle, 0, 'unleash'],
      [toggle, 25, 'unleash'],
      [toggle, 100, 'unleash'],
    ])
  })

  it('tells a one-point change apart (25 → 26 %): verification is exact, user by user', async () => {
    const service = uniqueName('carts')
    const toggle = toggleName(service, 'reads')
    const provider = new UnleashToggleProvider(plan(), {state, verifySample: 2000})
    await provider.setRollout(toggle, 25, {service})
    await provider.setRollout(toggle, 26, {service})
    expect(await provider.getRollout(toggle)).toBe(26)
    await vi.waitFor(() => expect(appDecisions(toggle)).toEqual(expected(toggle, 26)), {timeout: 10_000, interval: 200})
  })

  it('refuses a wrong admin token with a clear error and changes nothing', async () => {
    const service = uniqueName('users')
    const toggle = toggleName(service, 'reads')
    const good = new UnleashToggleProvider(plan(), {state})
    await good.setRollout(toggle, 25, {service})
    const before = await good.getRollout(toggle)

    const wrongSecret = `*:*.${'f'.repeat(32)}`
    const err = await caught(new UnleashToggleProvider(plan({adminToken: wrongSecret}), {state}).setRollout(toggle, 75, {service}))
    expect(err.code).toBe('E_UNLEASH_AUTH')
    expect(err.exitCode).toBe(2)
    expect(err.message).toMatch(/rejected the admin token \(401/)
    expect(err.hint).toMatch(/toggles\.adminToken/)
    expect(`${err.message} ${err.hint}`).not.toContain(wrongSecret)

    // the backend token is not an admin token
    const asAdmin = await caught(new UnleashToggleProvider(plan({adminToken: unleashInfo().clientToken}), {state}).setRollout(toggle, 75, {service}))
    expect(asAdmin.code).toBe('E_UNLEASH_AUTH')
    expect(asAdmin.message).toMatch(/not an admin token \(403/)
    expect(`${asAdmin.message} ${asAdmin.hint}`).not.toContain(unleashInfo().clientToken)

    expect(await good.getRollout(toggle)).toBe(before)
    expect(before).toBe(25)
    expect((await listToggleChanges(state, service)).map((c) => c.pct)).toEqual([25])
  })

  it('names a missing project, an unreachable server and a missing or mismatched client token', async () => {
    const service = uniqueName('payments')
    const toggle = toggleName(service, 'reads')

    const project = await caught(new UnleashToggleProvider(plan({project: 'no_such_project'}), {state}).setRollout(toggle, 10, {service}))
    expect(project.code).toBe('E_UNLEASH_PROJECT')
    expect(project.message).toMatch(/project "no_such_project" does not exist/)
    expect(project.hint).toMatch(/default/)

    const down = await caught(new UnleashToggleProvider(plan({url: `http://127.0.0.1:${await closedPort()}`}), {state}).setRollout(toggle, 10, {service}))
    expect(down.code).toBe('E_UNLEASH_UNREACHABLE')
    expect(down.message).toMatch(/cannot reach the Unleash server \(ECONNREFUSED\)/)

    const noClient = await caught(new UnleashToggleProvider(plan({clientToken: undefined}), {state}).setRollout(toggle, 10, {service}))
    expect(noClient.code).toBe('E_CONFIG')
    expect(noClient.message).toMatch(/toggles\.clientToken is required/)

    const otherEnv = await caught(new UnleashToggleProvider(plan({clientToken: 'default:production.abcdef0123456789'}), {state}).setRollout(toggle, 10, {service}))
    expect(otherEnv.message).toMatch(/environment "production"/)

    const badPct = await caught(new UnleashToggleProvider(plan(), {state}).setRollout(toggle, 101, {service}))
    expect(badPct.message).toMatch(/integer from 0 to 100/)

    // none of these created the flag or recorded a change
    await expect(unleashAdmin(`/api/admin/projects/default/features/${toggle}`)).rejects.toThrow(/404/)
    expect(await listToggleChanges(state, service)).toEqual([])
  })

  it('fails fast, saying so, when clients cannot verify because the client token is wrong', async () => {
    const service = uniqueName('wrongclient')
    const toggle = toggleName(service, 'reads')
    const wrong = `default:development.${'0'.repeat(32)}`
    const err = await caught(new UnleashToggleProvider(plan({clientToken: wrong}), {state, verifyTimeoutMs: 20_000}).setRollout(toggle, 30, {service}))
    expect(err.code).toBe('E_UNLEASH_AUTH')
    expect(err.message).toMatch(/rejected toggles\.clientToken .*the rollout change itself was made/)
    expect(`${err.message} ${err.hint}`).not.toContain(wrong)
    // the change stands (and is recorded): the operator re-runs with the right token
    expect(await new UnleashToggleProvider(plan(), {state}).getRollout(toggle)).toBe(30)
    expect((await listToggleChanges(state, service)).map((c) => c.pct)).toEqual([30])
  })

  it('refuses to manage a flag that has other active strategies', async () => {
    const service = uniqueName('search')
    const toggle = toggleName(service, 'reads')
    await unleashAdmin('/api/admin/projects/default/features', {method: 'POST', body: JSON.stringify({name: toggle, type: 'release'})})
    await unleashAdmin(`/api/admin/projects/default/features/${toggle}/environments/development/strategies`, {
      method: 'POST',
      body: JSON.stringify({name: 'default', parameters: {}}),
    })
    const err = await caught(new UnleashToggleProvider(plan(), {state}).setRollout(toggle, 10, {service}))
    expect(err.code).toBe('E_UNLEASH_STRATEGY')
    expect(err.message).toMatch(/other active strategies .*default/)
    expect(await new UnleashToggleProvider(plan(), {state}).getRollout(toggle)).toBe(0) // still off in development
  })
})
