import {beforeEach, describe, expect, it, vi} from 'vitest'

const writes: {entity: string; state: unknown}[] = []
let gate: Promise<void> = Promise.resolve()
vi.mock('../../src/state/checkpoints.js', () => ({
  readCheckpoint: vi.fn(async () => undefined),
  writeCheckpoint: vi.fn(async (_store: unknown, _service: string, entity: string, _kind: string, state: unknown) => {
    await gate
    writes.push({entity, state})
  }),
}))

const {rangeCount, planRanges} = await import('../../src/backfill/chunk-planner.js')
const {StateTracker} = await import('../../src/backfill/state-tracker.js')
const {newBackfillState, isResumable} = await import('../../src/backfill/backfill-state.js')
const {jsonPassThrough} = await import('../../src/backfill/data-iterator.js')
const {copyText} = await import('../../src/engines/postgres/postgres-copy.js')
const {JsonText} = await import('../../src/engines/json-text.js')
const {resolveWithInfo} = await import('../../src/mapping/entity-mapping.js')

import type {Engine} from '../../src/engines/engine.js'
import type {StateStore} from '../../src/state/state-store.js'

describe('chunk planner', () => {
  it('splits into ranges per worker, never into ranges smaller than two chunks', () => {
    expect(rangeCount({rows: 1_000_000, parallel: 4, chunkRows: 10_000})).toBe(16)
    expect(rangeCount({rows: 50_000, parallel: 8, chunkRows: 10_000})).toBe(2)
    expect(rangeCount({rows: 5_000, parallel: 8, chunkRows: 10_000})).toBe(1)
    expect(rangeCount({rows: 1_000_000, parallel: 1, chunkRows: 100})).toBe(1)
    expect(rangeCount({rows: 0, parallel: 4, chunkRows: 100})).toBe(1)
  })

  it('turns sampled keys into disjoint, contiguous ranges with an open end', async () => {
    const calls: unknown[] = []
    const keys = [[250], [500], [750]]
    const engine = {
      sampleKeys: async (req: {after?: unknown[]; step: number}) => {
        calls.push([req.after, req.step])
        return keys.shift()
      },
    } as unknown as Engine
    const entity = {source: {name: 't'}, sourceKey: ['id'], sourceKeyTypes: [{type: 'bigint'}]} as never
    const ranges = await planRanges(engine, entity, {rows: 1000, parallel: 2, chunkRows: 100, rangesPerWorker: 2})
    expect(ranges).toEqual([{to: [250]}, {from: [250], to: [500]}, {from: [500], to: [750]}, {from: [750]}])
    expect(calls).toEqual([
      [undefined, 250],
      [[250], 250],
      [[500], 250],
    ])
  })

  it('stops early when the table has fewer keys than estimated', async () => {
    const keys = [[10]]
    const engine = {sampleKeys: async () => keys.shift()} as unknown as Engine
    const entity = {source: {name: 't'}, sourceKey: ['id'], sourceKeyTypes: []} as never
    expect(await planRanges(engine, entity, {rows: 1000, parallel: 4, chunkRows: 10})).toEqual([{to: [10]}, {from: [10]}])
  })
})

describe('state tracker', () => {
  beforeEach(() => {
    writes.length = 0
  })

  it('serialises checkpoint writes and coalesces saves requested while one is queued', async () => {
    const state = newBackfillState([{}, {}], 100, 10)
    const t = new StateTracker({} as StateStore, 'svc', 'e', state)
    let open!: () => void
    gate = new Promise((r) => (open = r))
    state.rowsCopied = 10
    const a = t.save() // starts, blocked in the write
    await Promise.resolve()
    state.rowsCopied = 20
    const b = t.save() // queued
    state.rowsCopied = 30
    const c = t.save() // rides along with b
    expect(c).toBe(b)
    open()
    await Promise.all([a, b, c])
    gate = Promise.resolve()
    expect(writes.map((w) => (w.state as {rowsCopied: number}).rowsCopied)).toEqual([10, 30])
    expect(t.checkpoints).toBe(2)
  })

  it('writes snapshots, not the live object', async () => {
    const state = newBackfillState([{}], 5, 10)
    const t = new StateTracker({} as StateStore, 'svc', 'e', state)
    await t.save()
    state.ranges[0].last = [99]
    expect((writes[0].state as {ranges: {last?: unknown}[]}).ranges[0].last).toBeUndefined()
    expect(isResumable(writes[0].state)).toBe(true)
    expect(isResumable({done: true})).toBe(false)
  })
})

describe('JSON pass-through and the COPY text format', () => {
  const info = {
    ref: {schema: 'shop', name: 'users'},
    primaryKey: ['id'],
    estimatedRows: 3,
    columns: [
      {name: 'id', type: 'bigint', nativeType: 'bigint', nullable: false},
      {name: 'prefs', type: 'json', nativeType: 'json', nullable: true},
      {name: 'note', type: 'text', nativeType: 'text', nullable: true},
    ],
  } as const
  const svc = {target: {url: 'postgres://x/y'}, isolation: 'own-server', entities: []} as never

  it('passes JSON through unless a mapping looks inside it', () => {
    expect(jsonPassThrough(resolveWithInfo('s', svc, {source: 'users'} as never, 0, info as never))).toBe(true)
    expect(jsonPassThrough(resolveWithInfo('s', svc, {source: 'users', columns: {id: 'id', prefs: {from: 'prefs', cast: 'text'}}} as never, 0, info as never))).toBe(false)
    expect(jsonPassThrough(resolveWithInfo('s', svc, {source: 'users', columns: {id: 'id', n: {js: (r: Record<string, unknown>) => String(r.prefs), type: 'text'}}} as never, 0, info as never))).toBe(false)
  })

  it('escapes text, writes NULL as \\N, binary as \\x hex, JSON as given or serialised', () => {
    const cols = [
      {name: 'id', type: 'bigint' as const},
      {name: 'note', type: 'text' as const},
      {name: 'ok', type: 'boolean' as const},
      {name: 'bin', type: 'binary' as const},
      {name: 'doc', type: 'json' as const},
    ]
    const rows = [
      {id: '1', note: 'tab\there\nnew\\line\r', ok: true, bin: Buffer.from([0, 255]), doc: new JsonText('{"a": "x\ty"}')},
      {id: '2', note: null, ok: 0, bin: null, doc: {b: [1, 'z']}},
      {id: '3', note: '', ok: '1', bin: Buffer.alloc(0), doc: 'a string'},
    ]
    expect([...copyText(rows, cols, 2)]).toEqual([
      '1\ttab\\there\\nnew\\\\line\\r\tt\t\\\\x00ff\t{"a": "x\\ty"}\n2\t\\N\tf\t\\N\t{"b":[1,"z"]}\n',
      '3\t\tt\t\\\\x\t"a string"\n',
    ])
  })

  it('JsonText serialises to its parsed value wherever JSON.stringify sees it', () => {
    expect(JSON.stringify({v: new JsonText('{"k": [1, 2]}')})).toBe('{"v":{"k":[1,2]}}')
  })
})
