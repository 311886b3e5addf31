/**
 * The relay's folding of outbox changes, as a property: whatever sequence of
 * writes hits the source (modelled as a map key → value), folding the captured
 * changes to one per key and applying the plan the relay derives from a
 * re-read of the source leaves the target equal to the source — the same state
 * as replaying every raw change in order — from any stale starting state, and
 * applying it twice changes nothing.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {coalesce, planApply, type Change} from '../../src/capture/coalesce.js'

type Op = {kind: 'put'; key: number; value: number} | {kind: 'del'; key: number} | {kind: 'move'; key: number; to: number}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({kind: fc.constant('put' as const), key: fc.integer({min: 0, max: 12}), value: fc.integer({min: 0, max: 1000})}),
  fc.record({kind: fc.constant('del' as const), key: fc.integer({min: 0, max: 12})}),
  fc.record({kind: fc.constant('move' as const), key: fc.integer({min: 0, max: 12}), to: fc.integer({min: 0, max: 12})}),
)

/** Applies one write to the source and returns what the triggers would capture (a key change is a delete plus an upsert). */
function write(source: Map<number, number>, op: Op): {op: 'U' | 'D'; key: number; value?: number}[] {
  switch (op.kind) {
    case 'put':
      source.set(op.key, op.value)
      return [{op: 'U', key: op.key, value: op.value}]
    case 'del':
      if (!source.has(op.key)) return []
      source.delete(op.key)
      return [{op: 'D', key: op.key}]
    case 'move': {
      const v = source.get(op.key)
      if (v === undefined || source.has(op.to)) return []
      if (op.to === op.key) return [{op: 'U', key: op.key, value: v}]
      source.delete(op.key)
      source.set(op.to, v)
      return [
        {op: 'D', key: op.key},
        {op: 'U', key: op.to, value: v},
      ]
    }
  }
}

function runScenario(initial: [number, number][], ops: Op[], batchSize: number, staleTarget: [number, number][]) {
  const source = new Map(initial)
  const captured: (Change<number> & {value?: number})[] = []
  let id = 0
  for (const op of ops) for (const c of write(source, op)) captured.push({id: String(++id), entity: 'e', op: c.op, key: c.key, value: c.value})

  // replaying the raw sequence onto a copy of the initial state
  const replay = new Map(initial)
  for (const c of captured) {
    if (c.op === 'U') replay.set(c.key, c.value!)
    else replay.delete(c.key)
  }

  // the relay: batches of the queue, folded, re-read, applied (deletes first)
  const target = new Map(staleTarget)
  const applyBatch = (batch: typeof captured) => {
    const groups = coalesce(batch, (c) => String(c.key))
    const rows = groups.filter((g) => source.has(g.key)).map((g) => ({k: g.key, v: source.get(g.key)}))
    const plan = planApply(groups, rows, (r) => String(r.k))
    for (const k of plan.deletes) target.delete(k)
    for (const r of plan.upserts) target.set(r.k as number, r.v as number)
    return groups
  }
  const allGroups: ReturnType<typeof coalesce<number>>[] = []
  for (let i = 0; i < captured.length; i += batchSize) allGroups.push(applyBatch(captured.slice(i, i + batchSize)))
  return {source, replay, target, captured, allGroups, applyBatch}
}

describe('relay coalescing', () => {
  it('folds a batch to exactly one entry per key, covering every outbox id once, with the last operation', () => {
    fc.assert(
      fc.property(fc.array(fc.record({key: fc.integer({min: 0, max: 8}), op: fc.constantFrom<'U' | 'D'>('U', 'D'), entity: fc.constantFrom('a', 'b')}), {maxLength: 60}), (raw) => {
        const changes: Change<number>[] = raw.map((c, i) => ({id: String(i + 1), ...c}))
        const groups = coalesce(changes, (c) => String(c.key))
        const slots = groups.map((g) => `${g.entity}/${g.key}`)
        expect(new Set(slots).size).toBe(slots.length)
        expect(groups.flatMap((g) => g.ids).sort()).toEqual(changes.map((c) => c.id).sort())
        for (const g of groups) {
          const mine = changes.filter((c) => c.entity === g.entity && c.key === g.key)
          expect(g.op).toBe(mine[mine.length - 1].op)
          expect(g.ids).toEqual(mine.map((c) => c.id))
        }
      }),
      {numRuns: 300},
    )
  })

  it('ends with the target equal to the source and to the raw replay, from any stale target, in any batch size', () => {
    const entries = fc.array(fc.tuple(fc.integer({min: 0, max: 12}), fc.integer({min: 0, max: 1000})), {maxLength: 10})
    fc.assert(
      fc.property(entries, fc.array(opArb, {maxLength: 80}), fc.integer({min: 1, max: 20}), entries, (initialRaw, ops, batchSize, staleRaw) => {
        const initial = [...new Map(initialRaw)]
        // the target starts as the initial state with arbitrary staleness on top (a backfill copied earlier)
        const stale = [...new Map([...initial, ...staleRaw])]
        const {source, replay, target, captured} = runScenario(initial, ops, batchSize, stale)
        expect([...replay].sort()).toEqual([...source].sort())
        const touched = new Set(captured.map((c) => c.key))
        for (const k of touched) expect(target.get(k)).toBe(source.get(k))
        for (const [k, v] of stale) if (!touched.has(k)) expect(target.get(k)).toBe(v)
      }),
      {numRuns: 500},
    )
  })

  it('is idempotent: applying the same batch again (a crash before the outbox cleanup) changes nothing', () => {
    fc.assert(
      fc.property(fc.array(opArb, {maxLength: 60}), fc.integer({min: 1, max: 20}), (ops, batchSize) => {
        const {target, captured, applyBatch} = runScenario([], ops, batchSize, [])
        const before = [...target].sort()
        for (let i = 0; i < captured.length; i += batchSize) applyBatch(captured.slice(i, i + batchSize))
        expect([...target].sort()).toEqual(before)
      }),
      {numRuns: 200},
    )
  })

  it('deletes a requested key that came back only through a looser match (case-insensitive collation)', () => {
    const plan = planApply(
      [
        {identity: 'Abc', key: ['Abc']},
        {identity: 'abc', key: ['abc']},
        {identity: 'x', key: ['x']},
      ],
      [{k: 'abc'}],
      (r) => String(r.k),
    )
    expect(plan.deletes).toEqual([['Abc'], ['x']])
    expect(plan.upserts).toEqual([{k: 'abc'}])
  })
})
