import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {connectEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import type {ColumnType, TargetTableSpec} from '../../src/engines/types.js'
import {UserError} from '../../src/util/errors.js'
import {freshMongo, freshMysql, freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'

/**
 * The adapter contract, on every engine: the same operations give the same
 * values (the value model) and the same key order (bytewise in diff mode).
 */
const spec: TargetTableSpec = {
  ref: {name: 'things'},
  key: ['tenant', 'code'],
  columns: [
    {name: 'tenant', type: 'bigint', nullable: false},
    {name: 'code', type: 'varchar', precision: 64, nullable: false},
    {name: 'price', type: 'decimal', precision: 12, scale: 2, nullable: true},
    {name: 'active', type: 'boolean', nullable: true},
    {name: 'seen_at', type: 'timestamp', precision: 6, nullable: true},
    {name: 'doc', type: 'json', nullable: true},
    {name: 'blob', type: 'binary', nullable: true},
    {name: 'note', type: 'text', nullable: true},
  ],
}
const types = Object.fromEntries(spec.columns.map((c) => [c.name, c as ColumnType]))
const cols = spec.columns.map((c) => ({name: c.name, column: c.name, type: types[c.name]}))
const keyTypes = [types.tenant, types.code]

const rows = [
  {tenant: '9007199254740993', code: 'b', price: '-0.50', active: true, seen_at: '2024-02-29 23:59:59.123456', doc: {z: 1, a: [1, 'x']}, blob: Buffer.from([0, 255]), note: 'trailing  '},
  {tenant: '9007199254740993', code: 'B', price: '10.00', active: false, seen_at: '2024-01-01 00:00:00.000000', doc: null, blob: null, note: ''},
  {tenant: '1', code: 'Zürich', price: null, active: null, seen_at: null, doc: {}, blob: Buffer.from('hi'), note: 'NULL'},
  {tenant: '1', code: 'a', price: '99999999.99', active: true, seen_at: '1999-12-31 23:59:59.999999', doc: [1, 2], blob: Buffer.alloc(0), note: '😀 emoji'},
]

type Maker = () => Promise<{db: FreshDatabase | null; url: string}>
const engines: [string, Maker][] = [
  ['postgres', async () => { const db = await freshPg('eng'); return {db, url: db.url} }],
  ['mariadb', async () => { const db = await freshMysql('eng'); return {db, url: db.url} }],
  ['ferretdb', async () => { const db = await freshMongo('eng'); return {db, url: db.url} }],
  ['pglite', async () => ({db: null, url: `pglite://memory/engines-${process.pid}`})],
]

describe.each(engines)('%s adapter', (label, make) => {
  let engine: Engine
  let fresh: FreshDatabase | null
  const ms = label === 'ferretdb' // MongoDB keeps milliseconds

  beforeAll(async () => {
    const made = await make()
    fresh = made.db
    engine = await connectEngine(made.url)
  })
  afterAll(async () => {
    await engine?.close()
    await fresh?.drop()
  })

  it('describes the server', async () => {
    const info = await engine.info()
    expect(info.version).toMatch(label === 'mariadb' ? /MariaDB/ : label === 'ferretdb' ? /FerretDB|MongoDB/ : /PostgreSQL/)
  })

  it('creates a target idempotently and upserts idempotently', async () => {
    await engine.createTarget(spec)
    await engine.createTarget(spec)
    expect(await engine.tableExists(spec.ref)).toBe(true)
    await engine.upsert({table: spec.ref, key: spec.key, columns: spec.columns, rows})
    await engine.upsert({table: spec.ref, key: spec.key, columns: spec.columns, rows})
    expect(await engine.count(spec.ref)).toBe(4)
  })

  it('returns exact values in the value model', async () => {
    const got = await engine.readByKeys({table: spec.ref, key: spec.key, keyTypes, columns: cols, keys: [['9007199254740993', 'b']]})
    expect(got).toHaveLength(1)
    const r = got[0]
    expect(String(r.tenant)).toBe('9007199254740993')
    expect(r.price).toMatch(/^-0\.50?$/)
    expect(r.active).toBe(true)
    expect(r.seen_at).toBe(ms ? '2024-02-29 23:59:59.123' : '2024-02-29 23:59:59.123456')
    expect(r.doc).toEqual({z: 1, a: [1, 'x']})
    expect(Buffer.from(r.blob as Buffer).equals(Buffer.from([0, 255]))).toBe(true)
    expect(r.note).toBe('trailing  ')
  })

  it('reads key ranges in bytewise key order, in pages', async () => {
    const all: unknown[][] = []
    let after: readonly unknown[] | undefined
    for (;;) {
      const page = await engine.readRange({table: spec.ref, key: spec.key, keyTypes, columns: cols, after, limit: 3, order: 'bytewise'})
      if (!page.length) break
      for (const r of page) all.push([String(r.tenant), r.code])
      after = [page.at(-1)!.tenant, page.at(-1)!.code]
    }
    expect(all).toEqual([
      ['1', 'Zürich'],
      ['1', 'a'],
      ['9007199254740993', 'B'],
      ['9007199254740993', 'b'],
    ])
  })

  it('bounds ranges on both ends and samples keys', async () => {
    const page = await engine.readRange({table: spec.ref, key: spec.key, keyTypes, columns: cols, after: ['1', 'Zürich'], upTo: ['9007199254740993', 'B'], order: 'bytewise'})
    expect(page.map((r) => r.code)).toEqual(['a', 'B'])
    const second = await engine.sampleKeys({table: spec.ref, key: spec.key, keyTypes, step: 2, order: 'bytewise'} as never)
    expect(second?.map(String)).toEqual(['1', 'a'])
  })

  it('deletes by key and ignores missing keys', async () => {
    const n = await engine.deleteKeys({table: spec.ref, key: spec.key, keyTypes, keys: [['1', 'a'], ['2', 'none']]})
    expect(n).toBe(1)
    expect(await engine.count(spec.ref)).toBe(3)
  })

  it('drops what it created', async () => {
    await engine.dropTarget(spec.ref)
    expect(await engine.tableExists(spec.ref)).toBe(false)
  })
})

describe('connection errors', () => {
  it('wrong password: clear message, password masked', async () => {
    const db = await freshPg('auth')
    try {
      const bad = db.url.replace(`:${encodeURIComponent(testPassword())}@`, ':wrong-Pa55@')
      const err = await connectEngine(bad).catch((e) => e)
      expect(err).toBeInstanceOf(UserError)
      expect(err.message).toMatch(/Authentication failed/)
      expect(err.message).not.toContain('wrong-Pa55')
    } finally {
      await db.drop()
    }
  })

  it('unreachable host: clear message', async () => {
    const err = await connectEngine('mysql://u:TopSecret9@127.0.0.1:1/db').catch((e) => e)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(/Cannot connect to mysql:\/\/u:\*+@127\.0\.0\.1:1\/db/)
    expect(err.message).not.toContain('TopSecret9')
  })
})
