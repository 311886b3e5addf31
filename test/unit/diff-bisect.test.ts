/**
 * The diff's pure logic against an in-memory engine: chunk planning covers the
 * key space without gaps or overlaps, and bisection (checksums, splits,
 * key+hash merge, re-check) finds exactly the planted differences — for random
 * key sets, random differences, random chunk and leaf sizes, integer, text and
 * composite keys (property-based, fast-check).
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import {Bisector, mergeHashes} from '../../src/diff/bisect.js'
import {ChunkPlanner} from '../../src/diff/chunk-planner.js'
import {sourceSide, targetSide} from '../../src/diff/diff-side.js'
import type {KeyRange} from '../../src/diff/diff-types.js'
import {recheckKeys} from '../../src/diff/key-recheck.js'
import {keyOrder} from '../../src/diff/key-order.js'
import {diffStrategy} from '../../src/diff/strategy.js'
import type {Engine} from '../../src/engines/engine.js'
import type {ColumnType, KeyTuple, RangeRead, Row, TableInfo} from '../../src/engines/types.js'
import {resolveWithInfo, type ResolvedEntity} from '../../src/mapping/entity-mapping.js'

/** A table in memory behind the Engine interface (what the streaming side and the planner use). */
function memoryEngine(rows: Row[], key: readonly string[], types: readonly ColumnType[], calls = {sample: 0, range: 0}): Engine {
  const order = keyOrder(types)
  const keyOf = (r: Row): KeyTuple => key.map((k) => r[k])
  const sorted = (): Row[] => [...rows].sort((a, b) => order.compare(keyOf(a), keyOf(b)))
  const within = (r: Row, after?: KeyTuple, upTo?: KeyTuple): boolean =>
    (!after || order.compare(keyOf(r), after) > 0) && (!upTo || order.compare(keyOf(r), upTo) <= 0)
  const project = (r: Row, cols: RangeRead['columns']): Row => Object.fromEntries(cols.map((c) => [c.name, r[c.column ?? c.name] ?? null]))
  const unsupported = (): never => {
    throw new Error('not in memory')
  }
  return {
    kind: 'mongodb',
    displayUrl: 'memory://',
    database: 'memory',
    defaultSchema: undefined,
    info: async () => ({engine: 'mongodb', version: 'memory', database: 'memory', embedded: true}),
    close: async () => undefined,
    tableExists: async () => true,
    introspect: unsupported,
    count: async () => rows.length,
    readRange: async (req) => {
      calls.range++
      const out = sorted().filter((r) => within(r, req.after, req.upTo))
      return (req.limit ? out.slice(0, req.limit) : out).map((r) => project(r, req.columns))
    },
    readByKeys: async (req) => {
      const ids = new Set(req.keys.map((k) => order.id(k)))
      return rows.filter((r) => ids.has(order.id(keyOf(r)))).map((r) => project(r, req.columns))
    },
    sampleKeys: async (req) => {
      calls.sample++
      const after = sorted().filter((r) => within(r, req.after))
      const r = after[Math.max(1, req.step) - 1]
      return r ? keyOf(r) : undefined
    },
    upsert: unsupported,
    deleteKeys: unsupported,
    targetDdl: unsupported,
    createTarget: unsupported,
    dropTarget: unsupported,
  }
}

function entityFor(info: TableInfo): ResolvedEntity {
  const p = validatePlan({monolith: {url: 'postgres://a@h/m'}, services: {s: {target: {url: 'mongodb://h/t'}, entities: [{source: info.ref.name}]}}}, 'p', {})
  return resolveWithInfo('s', p.services.s, p.services.s.entities[0], 0, info)
}

const INT_TABLE: TableInfo = {
  ref: {name: 't'},
  primaryKey: ['k'],
  estimatedRows: -1,
  columns: [
    {name: 'k', type: 'integer', nativeType: 'integer', nullable: false},
    {name: 'v', type: 'text', nativeType: 'text', nullable: true},
  ],
}
const TEXT_TABLE: TableInfo = {
  ref: {name: 't'},
  primaryKey: ['k'],
  estimatedRows: -1,
  columns: [
    {name: 'k', type: 'varchar', precision: 40, nativeType: 'varchar(40)', nullable: false},
    {name: 'v', type: 'text', nativeType: 'text', nullable: true},
  ],
}
const COMPOSITE_TABLE: TableInfo = {
  ref: {name: 't'},
  primaryKey: ['a', 'b'],
  estimatedRows: -1,
  columns: [
    {name: 'a', type: 'bigint', nativeType: 'bigint', nullable: false},
    {name: 'b', type: 'text', nativeType: 'text', nullable: false},
    {name: 'v', type: 'text', nativeType: 'text', nullable: true},
  ],
}

interface Scenario {
  source: Row[]
  target: Row[]
  missing: KeyTuple[]
  extra: KeyTuple[]
  changed: KeyTuple[]
}

/** A source table and a copy with planted differences. */
function scenario(keys: KeyTuple[], keyCols: string[], picks: {missing: number[]; extra: KeyTuple[]; changed: number[]}): Scenario {
  const row = (k: KeyTuple, v: string | null): Row => ({...Object.fromEntries(keyCols.map((c, i) => [c, k[i]])), v})
  const source = keys.map((k, i) => row(k, i % 7 === 0 ? null : `v${i}`))
  const miss = new Set(picks.missing.filter((i) => i < keys.length))
  const change = new Set(picks.changed.filter((i) => i < keys.length && !miss.has(i)))
  const target = source.flatMap((r, i) => (miss.has(i) ? [] : [change.has(i) ? {...r, v: r.v === null ? '' : null} : r]))
  const order = keyOrder(keyCols.map(() => ({type: 'text'})))
  const existing = new Set(keys.map((k) => order.id(k)))
  const extra = picks.extra.filter((k) => !existing.has(order.id(k)))
  const uniqueExtra = [...new Map(extra.map((k) => [order.id(k), k])).values()]
  target.push(...uniqueExtra.map((k) => row(k, 'ghost')))
  return {source, target, missing: [...miss].map((i) => keys[i]), extra: uniqueExtra, changed: [...change].map((i) => keys[i])}
}

/** Plans chunks over the source, compares each with the bisector, and returns what was found. */
async function diffAll(info: TableInfo, s: Scenario, opts: {chunkRows: number; leafRows: number; fanout: number; parts: number}) {
  const e = entityFor(info)
  const types = e.sourceKeyTypes
  const src = memoryEngine(s.source, e.sourceKey, types)
  const tgt = memoryEngine(s.target, e.targetKey, types)
  const strategy = diffStrategy(e, src, tgt)
  const order = keyOrder(types)
  const source = sourceSide(e, src, strategy, order, {pageRows: 7})
  const target = targetSide(e, tgt, strategy, order, {pageRows: 5})
  const bisector = new Bisector(source, target, order, {leafRows: opts.leafRows, fanout: opts.fanout})
  const planner = new ChunkPlanner(source, {fixedRows: opts.chunkRows, parts: opts.parts})
  const found = {missing: [] as KeyTuple[], extra: [] as KeyTuple[], changed: [] as KeyTuple[]}
  const ranges: KeyRange[] = []
  let rows = 0
  for (let c = await planner.plan(); c; c = await planner.plan()) {
    ranges.push(c.range)
    const out = await bisector.compare(c.range, c.bounds)
    rows += out.sourceRows
    found.missing.push(...out.missing)
    found.extra.push(...out.extra)
    found.changed.push(...out.changed)
  }
  const rechecked = await recheckKeys(source, target, order, strategy.columns, [...found.missing, ...found.extra, ...found.changed])
  return {found, ranges, rows, order, rechecked, strategy}
}

const ids = (order: ReturnType<typeof keyOrder>, list: readonly KeyTuple[]): string[] => list.map((k) => order.id(k)).sort()

const picks = fc.record({
  missing: fc.uniqueArray(fc.nat({max: 400}), {maxLength: 12}),
  changed: fc.uniqueArray(fc.nat({max: 400}), {maxLength: 12}),
})
const sizes = fc.record({chunkRows: fc.integer({min: 1, max: 60}), leafRows: fc.integer({min: 1, max: 20}), fanout: fc.integer({min: 2, max: 9}), parts: fc.integer({min: 1, max: 17})})

describe('bisection finds exactly the planted differences', () => {
  it('integer keys', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({min: -500, max: 500}), {maxLength: 250}), picks, fc.uniqueArray(fc.integer({min: -600, max: 600}), {maxLength: 8}), sizes, async (ks, p, extra, sz) => {
        const s = scenario(ks.map((k) => [k]), ['k'], {...p, extra: extra.map((k) => [k])})
        const r = await diffAll(INT_TABLE, s, sz)
        expect(r.strategy.mode).toBe('streaming')
        expect(ids(r.order, r.found.missing)).toEqual(ids(r.order, s.missing))
        expect(ids(r.order, r.found.extra)).toEqual(ids(r.order, s.extra))
        expect(ids(r.order, r.found.changed)).toEqual(ids(r.order, s.changed))
        expect(r.rows).toBe(s.source.length)
        // reading the rows confirms every key, and names the changed column
        expect(ids(r.order, r.rechecked.missing)).toEqual(ids(r.order, s.missing))
        expect(ids(r.order, r.rechecked.extra)).toEqual(ids(r.order, s.extra))
        for (const c of r.rechecked.changed) expect(c.columns.map((x) => x.name)).toEqual(['v'])
      }),
      {numRuns: 120},
    )
  })

  it('text keys with mixed case, accents, spaces and emoji (bytewise order)', async () => {
    const text = fc.string({unit: fc.constantFrom('a', 'A', 'b', 'B', 'é', 'É', ' ', '-', '_', '😀', 'z', '0'), minLength: 1, maxLength: 4})
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(text, {maxLength: 200}), picks, fc.uniqueArray(text, {maxLength: 6}), sizes, async (ks, p, extra, sz) => {
        const s = scenario(ks.map((k) => [k]), ['k'], {...p, extra: extra.map((k) => [k])})
        const r = await diffAll(TEXT_TABLE, s, sz)
        expect(ids(r.order, r.found.missing)).toEqual(ids(r.order, s.missing))
        expect(ids(r.order, r.found.extra)).toEqual(ids(r.order, s.extra))
        expect(ids(r.order, r.found.changed)).toEqual(ids(r.order, s.changed))
      }),
      {numRuns: 100},
    )
  })

  it('composite keys (bigint as strings, text)', async () => {
    const key = fc.tuple(fc.integer({min: 0, max: 30}).map(String), fc.constantFrom('a', 'B', 'c', 'a ', 'é'))
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(key, {maxLength: 150, selector: (k) => k.join('\u0000')}), picks, fc.array(key, {maxLength: 6}), sizes, async (ks, p, extra, sz) => {
        const s = scenario(ks, ['a', 'b'], {...p, extra})
        const r = await diffAll(COMPOSITE_TABLE, s, sz)
        expect(ids(r.order, r.found.missing)).toEqual(ids(r.order, s.missing))
        expect(ids(r.order, r.found.extra)).toEqual(ids(r.order, s.extra))
        expect(ids(r.order, r.found.changed)).toEqual(ids(r.order, s.changed))
      }),
      {numRuns: 80},
    )
  })
})

describe('chunk planning', () => {
  it('covers the key space without gaps or overlaps', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({min: -1000, max: 1000}), {maxLength: 300}), fc.integer({min: 1, max: 80}), fc.integer({min: 1, max: 20}), fc.array(fc.integer({min: -1100, max: 1100}), {maxLength: 20}), async (ks, step, parts, probes) => {
        const types: ColumnType[] = [{type: 'integer'}]
        const order = keyOrder(types)
        const engine = memoryEngine(ks.map((k) => ({k})), ['k'], types)
        const sampler = {keyAfter: (after: KeyTuple | undefined, n: number) => engine.sampleKeys({table: {name: 't'}, key: ['k'], after, step: n})}
        const planner = new ChunkPlanner(sampler, {fixedRows: step, parts})
        const ranges: KeyRange[] = []
        const inRange = (k: KeyTuple, r: KeyRange) => (!r.after || order.compare(k, r.after) > 0) && (!r.upTo || order.compare(k, r.upTo) <= 0)
        for (let c = await planner.plan(); c; c = await planner.plan()) {
          expect(c.no).toBe(ranges.length)
          ranges.push(c.range)
          // part bounds: ascending, strictly inside the chunk, at most `parts - 1` of them
          expect(c.bounds.length).toBeLessThan(Math.max(parts, 1))
          for (let i = 0; i < c.bounds.length; i++) {
            expect(inRange(c.bounds[i], c.range)).toBe(true)
            if (c.range.upTo) expect(order.compare(c.bounds[i], c.range.upTo)).toBeLessThan(0)
            if (i) expect(order.compare(c.bounds[i - 1], c.bounds[i])).toBeLessThan(0)
          }
        }
        // contiguous: open start, each chunk starts where the previous ended, open end
        expect(ranges[0].after).toBeUndefined()
        expect(ranges.at(-1)!.upTo).toBeUndefined()
        for (let i = 1; i < ranges.length; i++) expect(ranges[i].after).toEqual(ranges[i - 1].upTo)
        for (const r of ranges.slice(0, -1)) if (r.after) expect(order.compare(r.after, r.upTo!)).toBeLessThan(0)
        // every key (and any value between or beyond them) falls in exactly one chunk
        for (const k of [...ks, ...probes]) expect(ranges.filter((r) => inRange([k], r))).toHaveLength(1)
        // every full chunk holds exactly `step` source keys
        for (const r of ranges.slice(0, -1)) expect(ks.filter((k) => inRange([k], r))).toHaveLength(step)
        expect(ranges).toHaveLength(Math.floor(ks.length / step) + 1)
      }),
      {numRuns: 200},
    )
  })

  it('adapts the chunk size toward the target time, within bounds', () => {
    const planner = new ChunkPlanner({keyAfter: async () => undefined}, {initialRows: 10_000, minRows: 1000, maxRows: 100_000, targetSeconds: 0.5})
    planner.observe(10_000, 100) // 100k rows/s: 50k rows would take 0.5 s
    expect(planner.chunkRows).toBeGreaterThan(10_000)
    for (let i = 0; i < 20; i++) planner.observe(planner.chunkRows, (planner.chunkRows / 100_000) * 1000)
    expect(planner.chunkRows).toBeGreaterThan(45_000)
    expect(planner.chunkRows).toBeLessThanOrEqual(55_000)
    for (let i = 0; i < 20; i++) planner.observe(planner.chunkRows, planner.chunkRows) // 1,000 rows/s
    expect(planner.chunkRows).toBe(1000)
  })

  it('splits chunks into fewer parts when sampling keys costs more than a tenth of a chunk', async () => {
    let n = 0
    const slow = {keyAfter: async () => (await new Promise((r) => setTimeout(r, 2)), [++n])}
    const planner = new ChunkPlanner(slow, {fixedRows: 1600, parts: 16})
    expect((await planner.plan())!.bounds).toHaveLength(15)
    planner.observe(1600, 20) // 16 samples took ≥ 32 ms: more than 10 % of 20 ms
    expect(planner.chunkParts).toBe(8)
    expect((await planner.plan())!.bounds).toHaveLength(7)
    planner.observe(1600, 100_000) // sampling now negligible: back up
    expect(planner.chunkParts).toBe(16)
  })
})

describe('merge of key+hash lists', () => {
  it('classifies missing, extra and changed in one pass', () => {
    const order = keyOrder([{type: 'integer'}])
    const h = (k: number, x = 'a') => ({key: [k], hash: x.repeat(32)})
    const d = mergeHashes([h(1), h(2), h(4), h(6)], [h(0), h(2, 'b'), h(4), h(5), h(7)], order)
    expect(d).toEqual({missing: [[1], [6]], extra: [[0], [5], [7]], changed: [[2]]})
  })
})
