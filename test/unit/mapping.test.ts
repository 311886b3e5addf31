import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import type {TableInfo} from '../../src/engines/types.js'
import {compareKeys, keyToString} from '../../src/engines/keys.js'
import {castValue, roundHalfAway} from '../../src/mapping/cast.js'
import {resolveWithInfo} from '../../src/mapping/entity-mapping.js'
import {UserError} from '../../src/util/errors.js'

const info: TableInfo = {
  ref: {schema: 'shop', name: 'users'},
  primaryKey: ['id'],
  estimatedRows: 10,
  columns: [
    {name: 'id', type: 'bigint', nativeType: 'bigint', nullable: false},
    {name: 'email', type: 'varchar', precision: 255, nativeType: 'varchar(255)', nullable: false},
    {name: 'full_name', type: 'text', nativeType: 'text', nullable: true},
    {name: 'balance', type: 'decimal', precision: 12, scale: 2, nativeType: 'numeric(12,2)', nullable: true},
    {name: 'geo', type: 'text', unsupported: true, nativeType: 'point', nullable: true},
  ],
}

function plan(entity: Record<string, unknown>, isolation = 'own-server') {
  return validatePlan({monolith: {url: 'postgres://a@h/m'}, services: {users: {isolation, target: {url: 'postgres://a@h/u'}, entities: [{source: 'users', ...entity}]}}}, 'p', {})
}

describe('entity mapping', () => {
  it('maps renames, casts, constants and JS functions', () => {
    const p = plan({columns: {id: 'id', name: {from: 'full_name'}, balance_cents: {from: 'balance', cast: 'decimal(14,0)'}, origin: {const: 'monolith'}, domain: {js: (r: any) => String(r.email).split('@')[1], type: 'text', uses: ['email']}}})
    const e = resolveWithInfo('users', p.services.users, p.services.users.entities[0], 0, info)
    expect(e.targetKey).toEqual(['id'])
    expect(e.sqlExpressible).toBe(false)
    expect(e.mapRow({id: '9007199254740993', email: 'a@b.org', full_name: 'Ann ', balance: '12.50'})).toEqual({id: '9007199254740993', name: 'Ann ', balance_cents: '13', origin: 'monolith', domain: 'b.org'})
  })

  it('copies every supported column when no columns are given, minus exclusions', () => {
    const p = plan({exclude: ['geo']})
    const e = resolveWithInfo('users', p.services.users, p.services.users.entities[0], 0, info)
    expect(e.columns.map((c) => c.name)).toEqual(['id', 'email', 'full_name', 'balance'])
    expect(e.target).toEqual({schema: undefined, name: 'users'})
  })

  it('refuses unsupported column types with a fix', () => {
    const p = plan({})
    expect(() => resolveWithInfo('users', p.services.users, p.services.users.entities[0], 0, info)).toThrow(/unsupported type point/)
  })

  it('refuses a table without a key', () => {
    const p = plan({exclude: ['geo']})
    expect(() => resolveWithInfo('users', p.services.users, p.services.users.entities[0], 0, {...info, primaryKey: []})).toThrow(UserError)
  })

  it('refuses a key column that is not mapped unchanged', () => {
    const p = plan({columns: {email: 'email'}})
    expect(() => resolveWithInfo('users', p.services.users, p.services.users.entities[0], 0, info)).toThrow(/key column "id" must be mapped/)
  })

  it('names unknown source columns', () => {
    const p = plan({columns: {id: 'id', x: {from: 'nope'}}})
    expect(() => resolveWithInfo('users', p.services.users, p.services.users.entities[0], 0, info)).toThrow(/services\.users\.entities\[0\]\.columns\.x: column "nope" does not exist/)
  })

  it('prefixes target tables under private-tables isolation', () => {
    const p = plan({exclude: ['geo']}, 'private-tables')
    expect(resolveWithInfo('users', p.services.users, p.services.users.entities[0], 0, info).target.name).toBe('users_users')
  })
})

describe('casts', () => {
  it('rounds decimals half away from zero at the scale, without -0', () => {
    expect(roundHalfAway('1.005', 2)).toBe('1.01')
    expect(roundHalfAway('-1.005', 2)).toBe('-1.01')
    expect(roundHalfAway('-0.001', 2)).toBe('0.00')
    expect(roundHalfAway('12', 2)).toBe('12.00')
  })

  it('keeps big integers exact', () => {
    expect(castValue('9223372036854775807', {type: 'decimal', precision: 30, scale: 0}, {type: 'bigint'})).toBe('9223372036854775807')
    expect(castValue(42, {type: 'integer'}, {type: 'text'})).toBe('42')
  })

  it('truncates timestamps to the target precision', () => {
    expect(castValue('2024-02-29 23:59:59.123456', {type: 'timestamp', precision: 6}, {type: 'timestamp', precision: 3})).toBe('2024-02-29 23:59:59.123')
    expect(castValue('2024-02-29 23:59:59.123456', {type: 'timestamp'}, {type: 'date'})).toBe('2024-02-29')
  })
})

describe('key order', () => {
  it('orders text bytewise and numbers numerically, including big integers', () => {
    expect(compareKeys(['B'], ['a'])).toBeLessThan(0)
    expect(compareKeys(['Zürich'], ['Zz'])).toBeGreaterThan(0)
    expect(compareKeys(['9007199254740993'], ['9007199254740992'], [true])).toBeGreaterThan(0)
    expect(compareKeys([2, 'b'], [2, 'a'])).toBeGreaterThan(0)
    expect(keyToString([7, "O'Hara"])).toBe("(7,'O''Hara')")
  })

  it('is a total order consistent with UTF-8 byte order (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const c = compareKeys([a], [b])
        const bytes = Buffer.compare(Buffer.from(a), Buffer.from(b))
        return Math.sign(c) === Math.sign(bytes) && Math.sign(compareKeys([b], [a])) === -Math.sign(c)
      }),
    )
  })
})
