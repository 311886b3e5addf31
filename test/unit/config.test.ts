import {describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import {ConfigError} from '../../src/util/errors.js'
import {redact} from '../../src/util/redact.js'

const base = () => ({
  monolith: {url: 'mysql://app:s3cret@127.0.0.1:3306/shop'},
  services: {
    users: {
      target: {url: 'postgres://svc:pw@127.0.0.1:5432/users'},
      entities: [{source: 'users', key: ['id'], columns: {id: 'id', email: {from: 'email'}}}],
    },
  },
})

function issues(plan: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validatePlan(plan, 'plan.json', env)
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues]
    throw err
  }
  return []
}

describe('plan validation', () => {
  it('accepts a minimal plan and fills defaults', () => {
    const p = validatePlan(base(), 'plan.json', {})
    expect(p.state.prefix).toBe('strangler_')
    expect(p.toggles.provider).toBe('local')
    expect(p.gates.maxRelayLagSeconds).toBe(5)
    expect(p.services.users.isolation).toBe('own-server')
  })

  it('names the exact path of a missing key', () => {
    const p = base() as any
    p.services.users.entities[0] = {key: ['id']}
    expect(issues(p)).toContain('services.users.entities[0].source: required')
  })

  it('reports unknown keys with their path', () => {
    const p = base() as any
    p.services.users.entities[0].colums = {}
    expect(issues(p)).toContain('services.users.entities[0].colums: unknown key')
  })

  it('rejects identifier injection in table and column names', () => {
    const p = base() as any
    p.services.users.entities[0].source = 'users; DROP TABLE users'
    p.services.users.entities[0].columns = {'email"--': 'email'}
    const out = issues(p)
    expect(out.some((i) => i.startsWith('services.users.entities[0].source:'))).toBe(true)
    expect(out.some((i) => i.includes('email"--'))).toBe(true)
  })

  it('rejects unknown engines', () => {
    const p = base() as any
    p.monolith.url = 'oracle://x@y/z'
    expect(issues(p).some((i) => i.startsWith('monolith.url:'))).toBe(true)
  })

  it('rejects out-of-range gate numbers', () => {
    const p = base() as any
    p.gates = {maxShadowMismatchRate: 5, maxRelayLagSeconds: -1, soak: 'forever'}
    const out = issues(p)
    expect(out.some((i) => i.startsWith('gates.maxShadowMismatchRate:'))).toBe(true)
    expect(out.some((i) => i.startsWith('gates.maxRelayLagSeconds:'))).toBe(true)
    expect(out.some((i) => i.startsWith('gates.soak:'))).toBe(true)
  })

  it('interpolates ${ENV} and ${ENV:-default}, and reports missing variables by path', () => {
    const p = base() as any
    p.monolith.url = '${MONO_URL}'
    p.services.users.target.url = '${USERS_URL:-postgres://u@127.0.0.1/users}'
    expect(validatePlan(p, 'plan.json', {MONO_URL: 'mysql://a:b@h/db'}).services.users.target.url).toBe('postgres://u@127.0.0.1/users')
    expect(issues(p, {})).toEqual([expect.stringMatching(/^monolith\.url: environment variable MONO_URL is not set/)])
  })

  it('registers interpolated passwords for redaction', () => {
    const p = base() as any
    p.monolith.url = '${MONO_URL2}'
    validatePlan(p, 'plan.json', {MONO_URL2: 'mysql://app:Very$ecretPw@h/db'})
    expect(redact('error near Very$ecretPw in mysql://app:Very$ecretPw@h/db')).not.toContain('Very$ecretPw')
  })

  it('checks cross references: duplicate targets, exclude with columns, own-schema without schema', () => {
    const p = base() as any
    p.services.users.entities.push({source: 'accounts', target: 'users', key: ['id']})
    p.services.users.entities[0].exclude = ['x']
    p.services.users.isolation = 'own-schema'
    const out = issues(p)
    expect(out.some((i) => i.startsWith('services.users.entities[1].target:'))).toBe(true)
    expect(out.some((i) => i.startsWith('services.users.entities[0].exclude:'))).toBe(true)
    expect(out).toContain('services.users.target.schema: required with isolation own-schema')
  })

  it('requires at least one service and one entity', () => {
    expect(issues({monolith: {url: 'postgres://h/db'}, services: {}})).toEqual(['services: must define at least one service'])
    const p = base() as any
    p.services.users.entities = []
    expect(issues(p)).toContain('services.users.entities: must list at least one entity')
  })

  it('validates column mapping forms and cast types', () => {
    const p = base() as any
    p.services.users.entities[0].columns = {id: 'id', a: {from: 'a', cast: 'varchar2(10)'}, b: {sql: 'lower(b)'}, c: {nope: 1}}
    const out = issues(p)
    expect(out.some((i) => i.startsWith('services.users.entities[0].columns.a.cast:'))).toBe(true)
    expect(out.some((i) => i.startsWith('services.users.entities[0].columns.b'))).toBe(true)
    expect(out.some((i) => i.startsWith('services.users.entities[0].columns.c'))).toBe(true)
  })
})
