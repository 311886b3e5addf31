/**
 * Where each side of an entity is hashed: push-down only where SQL gives the
 * very bytes JS would (safe casts, plain constants), JS otherwise; timestamps
 * compared at the lower precision of the two sides; secrets always masked.
 */
import {describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import {diffStrategy} from '../../src/diff/strategy.js'
import type {Engine, SqlCapabilities} from '../../src/engines/engine.js'
import type {TableInfo} from '../../src/engines/types.js'
import {resolveWithInfo} from '../../src/mapping/entity-mapping.js'

function fakeEngine(kind: 'postgres' | 'mysql' | 'mongodb', maxTimestampPrecision?: number): Engine {
  const sql = kind === 'mongodb' ? undefined : ({dialect: kind, quoteId: (n: string) => (kind === 'postgres' ? `"${n}"` : `\`${n}\``)} as unknown as SqlCapabilities)
  return {kind, sql, maxTimestampPrecision} as unknown as Engine
}

const info: TableInfo = {
  ref: {name: 'orders'},
  primaryKey: ['id'],
  estimatedRows: 1,
  columns: [
    {name: 'id', type: 'integer', nativeType: 'int', nullable: false},
    {name: 'total', type: 'decimal', precision: 12, scale: 2, nativeType: 'decimal(12,2)', nullable: false},
    {name: 'note', type: 'text', nativeType: 'text', nullable: true},
    {name: 'placed_at', type: 'timestamp', precision: 6, nativeType: 'datetime(6)', nullable: false},
    {name: 'shipped_at', type: 'timestamp', precision: 0, nativeType: 'datetime', nullable: true},
    {name: 'weight', type: 'double', nativeType: 'double', nullable: true},
    {name: 'password', type: 'text', nativeType: 'text', nullable: true},
  ],
}

function entity(columns: Record<string, unknown>) {
  const p = validatePlan({monolith: {url: 'mysql://a@h/m'}, services: {s: {target: {url: 'postgres://a@h/t'}, entities: [{source: 'orders', columns, ...('note' in columns ? {sensitive: ['note']} : {})}]}}}, 'p', {})
  return resolveWithInfo('s', p.services.s, p.services.s.entities[0], 0, info)
}

describe('diff strategy', () => {
  it('pushes down renames, SQL expressions, widening casts and plain constants on both sides', () => {
    const e = entity({id: 'id', total: 'total', cents: {from: 'id', cast: 'bigint'}, dec: {from: 'total', cast: 'decimal(14,1)'}, upper: {sql: 'UPPER(note)', type: 'text'}, origin: {const: 'monolith'}, n: {const: 42}})
    const s = diffStrategy(e, fakeEngine('mysql'), fakeEngine('postgres'))
    expect(s.mode).toBe('push-down')
    expect(s.reasons).toEqual([])
    expect(s.sourceHashSql).toContain('MD5(')
    expect(s.sourceHashSql).toContain('(UPPER(note))')
    expect(s.sourceHashSql).toContain(`'monolith'`)
    expect(s.targetHashSql).toContain('md5(convert_to(')
    expect(s.targetHashSql).toContain('"upper"')
  })

  it('hashes the monolith side in JS for lossy casts, quoted constants and JS transforms (mixed mode)', () => {
    for (const col of [{from: 'total', cast: 'integer'}, {from: 'note', cast: 'varchar(5)'}, {const: "it's"}, {js: () => 1, type: 'integer'}]) {
      const s = diffStrategy(entity({id: 'id', x: col}), fakeEngine('postgres'), fakeEngine('postgres'))
      expect(s.mode, JSON.stringify(col)).toBe('mixed')
      expect(s.sourceInSql).toBe(false)
      expect(s.targetInSql).toBe(true)
    }
  })

  it('streams floats and MongoDB, and can be forced to stream', () => {
    expect(diffStrategy(entity({id: 'id', weight: 'weight'}), fakeEngine('postgres'), fakeEngine('postgres')).mode).toBe('streaming')
    const m = diffStrategy(entity({id: 'id', total: 'total'}), fakeEngine('mysql'), fakeEngine('mongodb', 3))
    expect(m).toMatchObject({mode: 'mixed', sourceInSql: true, targetInSql: false})
    expect(m.reasons.join()).toMatch(/mongodb computes no checksums/)
    const f = diffStrategy(entity({id: 'id', total: 'total'}), fakeEngine('mysql'), fakeEngine('postgres'), {streaming: true})
    expect(f).toMatchObject({mode: 'streaming', sourceHashSql: undefined, targetHashSql: undefined})
  })

  it('compares timestamps at the lower precision of the source, the target table and the engine', () => {
    const e = entity({id: 'id', placed_at: 'placed_at', shipped_at: 'shipped_at'})
    const p = (s: ReturnType<typeof diffStrategy>) => s.columns.map((c) => c.precision)
    expect(p(diffStrategy(e, fakeEngine('mysql'), fakeEngine('postgres')))).toEqual([6, 6, 0])
    expect(p(diffStrategy(e, fakeEngine('mysql'), fakeEngine('mongodb', 3)))).toEqual([6, 3, 0])
    const targetInfo: TableInfo = {...info, columns: info.columns.map((c) => (c.name === 'placed_at' ? {...c, precision: 2} : c))}
    expect(p(diffStrategy(e, fakeEngine('mysql'), fakeEngine('postgres'), {targetInfo}))).toEqual([6, 2, 0])
  })

  it('hashes native uuid columns as their text (already canonical), uuids in text columns normalised', () => {
    const withUuid: TableInfo = {...info, columns: [...info.columns, {name: 'ext', type: 'uuid', nativeType: 'uuid', nullable: false}, {name: 'ext_txt', type: 'uuid', nativeType: 'char(36)', nullable: false}]}
    const p = validatePlan({monolith: {url: 'postgres://a@h/m'}, services: {s: {target: {url: 'postgres://a@h/t'}, entities: [{source: 'orders', columns: {id: 'id', ext: 'ext', ext_txt: 'ext_txt'}}]}}}, 'p', {})
    const e = resolveWithInfo('s', p.services.s, p.services.s.entities[0], 0, withUuid)
    const targetInfo: TableInfo = {...withUuid, columns: withUuid.columns.map((c) => (c.name === 'ext_txt' ? {...c, nativeType: 'uuid'} : c))}
    const s = diffStrategy(e, fakeEngine('postgres'), fakeEngine('postgres'), {targetInfo})
    const regexes = (sql: string | undefined) => (sql ?? '').split('[0-9a-fA-F]{32}').length - 1
    const one = regexes(diffStrategy(resolveWithInfo('s', p.services.s, {source: 'orders', columns: {id: 'id', ext_txt: 'ext_txt'}}, 0, withUuid), fakeEngine('postgres'), fakeEngine('postgres')).sourceHashSql)
    expect(one).toBeGreaterThan(0)
    expect(regexes(s.sourceHashSql)).toBe(one) // only ext_txt, held in char(36), is normalised
    expect(regexes(s.targetHashSql)).toBe(0) // both native uuid on the target
    expect(s.columns.map((c) => c.type.type)).toEqual(['integer', 'uuid', 'uuid'])
  })

  it('masks sensitive columns and anything named like a password', () => {
    const s = diffStrategy(entity({id: 'id', note: 'note', password: 'password', total: 'total'}), fakeEngine('mysql'), fakeEngine('postgres'))
    expect(s.columns.map((c) => [c.name, c.masked])).toEqual([['id', false], ['note', true], ['password', true], ['total', false]])
  })
})
