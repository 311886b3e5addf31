import {describe, expect, it} from 'vitest'
import fc from 'fast-check'
import {createRequire} from 'node:module'
import {InMemStorageProvider, Unleash} from 'unleash-client'
import {murmurhash3x86_32} from '../../src/toggles/murmurhash.js'
import {contextFor, inRollout, normalizedValue} from '../../src/toggles/rollout.js'

// the hash unleash-client itself uses (its dependency), for a byte-for-byte comparison
const require = createRequire(import.meta.url)
const reference = require(require.resolve('murmurhash3js', {paths: [require.resolve('unleash-client')]})) as {x86: {hash32(key: string, seed?: number): number}}

const userIds = Array.from({length: 10_000}, (_, i) => `user-${i}`)

/** unleash-client evaluating a bootstrapped flexibleRollout, offline. */
async function offlineUnleash(features: {name: string; pct: number; stickiness: string}[]): Promise<Unleash> {
  const unleash = new Unleash({
    appName: 'strangler-unit',
    url: 'http://127.0.0.1:9/api/',
    refreshInterval: 0,
    disableMetrics: true,
    skipInstanceCountWarning: true,
    storageProvider: new InMemStorageProvider(),
    bootstrap: {
      data: features.map((f) => ({
        name: f.name,
        enabled: true,
        type: 'release',
        project: 'default',
        stale: false,
        impressionData: false,
        variants: [],
        strategies: [{name: 'flexibleRollout', constraints: [], parameters: {rollout: String(f.pct), stickiness: f.stickiness, groupId: f.name}}],
      })),
    },
  })
  unleash.on('error', () => {})
  unleash.on('warn', () => {})
  await new Promise<void>((resolve) => unleash.once('ready', () => resolve()))
  return unleash
}

describe('murmurhash3 x86 32', () => {
  it('matches the murmurhash3js package unleash-client uses, for any string and seed', () => {
    fc.assert(
      fc.property(fc.string({unit: 'binary', maxLength: 40}), fc.integer({min: 0, max: 2 ** 31 - 1}), (s, seed) => {
        expect(murmurhash3x86_32(s, seed)).toBe(reference.x86.hash32(s, seed))
      }),
      {numRuns: 2000},
    )
  })

  it('gives the published MurmurHash3 test vectors', () => {
    expect(murmurhash3x86_32('', 0)).toBe(0)
    expect(murmurhash3x86_32('', 1)).toBe(0x514e28b7)
    expect(murmurhash3x86_32('test', 0)).toBe(0xba6bd213)
    expect(murmurhash3x86_32('Hello, world!', 1234)).toBe(0xfaf6cdb3)
    expect(murmurhash3x86_32('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723)
  })
})

describe('flexibleRollout evaluation', () => {
  it('puts about 25 % of 10,000 user ids in a 25 % rollout', () => {
    const rule = {pct: 25, groupId: 'strangler.orders.reads', stickiness: 'userId'}
    const on = userIds.filter((u) => inRollout(rule, {userId: u})).length
    expect(on).toBeGreaterThan(2350)
    expect(on).toBeLessThan(2650)
  })

  it('is sticky: the same user gets the same answer every time, and stays on as the percentage grows', () => {
    const at = (pct: number, u: string) => inRollout({pct, groupId: 'strangler.users.reads', stickiness: 'userId'}, {userId: u})
    for (const u of userIds.slice(0, 2000)) {
      const first = at(25, u)
      for (let i = 0; i < 3; i++) expect(at(25, u)).toBe(first)
      if (first) expect(at(50, u)).toBe(true)
      if (!at(50, u)) expect(first).toBe(false)
    }
  })

  it('splits users differently per toggle (groupId is the toggle name)', () => {
    const a = userIds.map((u) => normalizedValue(u, 'strangler.a.reads'))
    const b = userIds.map((u) => normalizedValue(u, 'strangler.b.reads'))
    expect(a.filter((x, i) => x === b[i]).length).toBeLessThan(300)
    expect(Math.min(...a)).toBe(1)
    expect(Math.max(...a)).toBe(100)
  })

  it('0 % is off for everyone, 100 % on for everyone, and a context without the sticky field is off', () => {
    expect(userIds.some((u) => inRollout({pct: 0, groupId: 't', stickiness: 'userId'}, {userId: u}))).toBe(false)
    expect(userIds.every((u) => inRollout({pct: 100, groupId: 't', stickiness: 'userId'}, {userId: u}))).toBe(true)
    expect(inRollout({pct: 100, groupId: 't', stickiness: 'userId'}, {sessionId: 's1'})).toBe(false)
    expect(inRollout({pct: 100, groupId: 't', stickiness: 'userId'}, {userId: ''})).toBe(false)
    expect(inRollout({pct: 100, groupId: 't', stickiness: 'default'}, {sessionId: 's1'})).toBe(true)
  })

  it('decides exactly as unleash-client does, user by user, for several percentages and stickiness fields', async () => {
    const features = [
      {name: 'strangler.orders.reads', pct: 25, stickiness: 'userId'},
      {name: 'strangler.orders.writes', pct: 73, stickiness: 'userId'},
      {name: 'strangler.carts.reads', pct: 10, stickiness: 'sessionId'},
      {name: 'strangler.tenants.reads', pct: 50, stickiness: 'tenantId'},
      {name: 'strangler.edge.reads', pct: 1, stickiness: 'default'},
    ]
    const unleash = await offlineUnleash(features)
    try {
      for (const f of features) {
        let on = 0
        for (const u of userIds) {
          const ctx = contextFor(f.stickiness, u)
          const ours = inRollout({pct: f.pct, groupId: f.name, stickiness: f.stickiness}, ctx)
          const theirs = unleash.isEnabled(f.name, {userId: ctx.userId, sessionId: ctx.sessionId, properties: ctx.properties}, false)
          if (ours !== theirs) throw new Error(`${f.name} ${u}: ours ${ours}, unleash-client ${theirs}`)
          if (ours) on++
        }
        expect(Math.abs(on / userIds.length - f.pct / 100)).toBeLessThan(0.03)
      }
      // non-ASCII ids follow unleash-client's hashing too
      for (const u of ['zoë', 'ユーザー', '🙂-42', 'ü'.repeat(7)]) {
        expect(inRollout({pct: 25, groupId: 'strangler.orders.reads', stickiness: 'userId'}, {userId: u})).toBe(
          unleash.isEnabled('strangler.orders.reads', {userId: u}, false),
        )
      }
    } finally {
      unleash.destroy()
    }
  })
})
