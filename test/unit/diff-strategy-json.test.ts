/**
 * JSON columns in the diff strategy: pushed down only PostgreSQL ↔ PostgreSQL
 * with json/jsonb stored on both sides, hashed there as jsonb text on both
 * sides, and never on one side alone (a jsonb-text hash is not the JS hash).
 */
import {describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import {diffStrategy} from '../../src/diff/strategy.js'
import {jsonbHashable, pushDownSupport, sqlRowHash} from '../../src/diff/sql-hash.js'
import type {Engine, SqlCapabilities} from '../../src/engines/engine.js'
import type {TableInfo} from '../../src/engines/types.js'
import {resolveWithInfo} from '../../src/mapping/entity-mapping.js'

function fakeEngine(kind: 'postgres' | 'mysql' | 'mongodb'): Engine {
  const quoteId = (n: string): string => (kind === 'postgres' ? `"${n}"` : `\`${n}\``)
  const sql = kind === 'mongodb' ? undefined : ({dialect: kind, quoteId} as unknown as SqlCapabilities)
  return {kind, sql} as unknown as Engine
}

function table(json: string, extra: TableInfo['columns'] = []): TableInfo {
  return {
    ref: {name: 'users'},
    primaryKey: ['id'],
    estimatedRows: 1,
    columns: [
      {name: 'id', type: 'bigint', nativeType: 'bigint', nullable: false},
      {name: 'prefs', type: 'json', nativeType: json, nullable: true},
      ...extra,
    ],
  }
}

function entity(source: TableInfo, columns?: Record<string, unknown>) {
  const entities = [{source: 'users', ...(columns ? {columns} : {})}]
  const p = validatePlan({monolith: {url: 'postgres://a@h/m'}, services: {s: {target: {url: 'postgres://a@h/t'}, entities}}}, 'p', {})
  return resolveWithInfo('s', p.services.s, p.services.s.entities[0], 0, source)
}

describe('json push-down in the diff strategy', () => {
  it('pushes jsonb ↔ jsonb and json ↔ jsonb down on PostgreSQL, as jsonb text on both sides', () => {
    for (const [src, tgt] of [['jsonb', 'jsonb'], ['json', 'jsonb'], ['jsonb', 'json']]) {
      const s = diffStrategy(entity(table(src)), fakeEngine('postgres'), fakeEngine('postgres'), {targetInfo: table(tgt)})
      expect(s.mode, `${src} → ${tgt}`).toBe('push-down')
      expect(s.reasons).toEqual([])
      expect(s.sourceHashSql).toContain(`'32:' || md5(convert_to(((("prefs"))::jsonb)::text, 'UTF8'))`)
      expect(s.targetHashSql).toContain(`'32:' || md5(convert_to(((("prefs"))::jsonb)::text, 'UTF8'))`)
    }
  })

  it('streams json across engines, from text columns, through casts, and without the target table known', () => {
    const e = entity(table('jsonb'))
    // neither side has an SQL hash of canonical JSON: both stream
    expect(diffStrategy(e, fakeEngine('mysql'), fakeEngine('postgres'), {targetInfo: table('jsonb')}).mode).toBe('streaming')
    expect(diffStrategy(e, fakeEngine('postgres'), fakeEngine('mysql'), {targetInfo: table('json')}).mode).toBe('streaming')
    expect(diffStrategy(e, fakeEngine('postgres'), fakeEngine('postgres'), {targetInfo: table('text')}).mode).toBe('streaming')
    expect(diffStrategy(e, fakeEngine('postgres'), fakeEngine('postgres')).mode).toBe('streaming')
    const cast = entity(table('jsonb'), {id: 'id', prefs: {from: 'prefs', cast: 'text'}})
    expect(diffStrategy(cast, fakeEngine('postgres'), fakeEngine('postgres'), {targetInfo: table('jsonb')}).mode).not.toBe('push-down')
    const renamed = entity(table('jsonb'), {id: 'id', settings: 'prefs'})
    const target: TableInfo = {...table('jsonb'), columns: [table('jsonb').columns[0], {name: 'settings', type: 'json', nativeType: 'jsonb', nullable: true}]}
    expect(diffStrategy(renamed, fakeEngine('postgres'), fakeEngine('postgres'), {targetInfo: target}).mode).toBe('push-down')
  })

  it('never hashes json as jsonb text on one side only', () => {
    // a float column keeps the source in JS; the jsonb target hash would not match the JS one
    const withFloat = table('jsonb', [{name: 'score', type: 'double', nativeType: 'double precision', nullable: true}])
    const s = diffStrategy(entity(withFloat), fakeEngine('postgres'), fakeEngine('postgres'), {targetInfo: withFloat})
    expect(s).toMatchObject({mode: 'streaming', sourceHashSql: undefined, targetHashSql: undefined})
    const mapped = entity(table('jsonb'), {id: 'id', prefs: 'prefs', n: {js: () => 1, type: 'integer'}})
    const targetInfo = table('jsonb', [{name: 'n', type: 'integer', nativeType: 'integer', nullable: true}])
    const js = diffStrategy(mapped, fakeEngine('postgres'), fakeEngine('postgres'), {targetInfo})
    expect(js).toMatchObject({mode: 'streaming', sourceHashSql: undefined, targetHashSql: undefined})
    expect(js.reasons.join('\n')).toMatch(/jsonb text in SQL only when both sides are/)
  })

  it('keeps json out of push-down unless asked for jsonb text, which only PostgreSQL has', () => {
    expect(pushDownSupport('postgres', {type: 'json'}).ok).toBe(false)
    expect(pushDownSupport('postgres', {type: 'json'}, {jsonb: true}).ok).toBe(true)
    expect(pushDownSupport('mysql', {type: 'json'}, {jsonb: true}).ok).toBe(false)
    expect(sqlRowHash('postgres', [{expr: 'j', type: {type: 'json'}}])).toBeNull()
    expect(jsonbHashable({dialect: 'postgres', nativeType: 'jsonb'}, {dialect: 'postgres', nativeType: 'JSON'})).toBe(true)
    expect(jsonbHashable({dialect: 'postgres', nativeType: 'text'}, {dialect: 'postgres', nativeType: 'jsonb'})).toBe(false)
    expect(jsonbHashable({dialect: 'mysql', nativeType: 'json'}, {dialect: 'postgres', nativeType: 'jsonb'})).toBe(false)
  })
})
