import {createHash} from 'node:crypto'
import pLimit from 'p-limit'
import type {Engine} from '../engines/engine.js'
import type {KeyTuple, TableInfo, TableRef} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import type {StateStore} from '../state/state-store.js'
import {crashPoint} from '../util/crash-points.js'
import {UserError, errorMessage} from '../util/errors.js'
import type {ProgressReporter} from '../util/progress.js'
import {Bisector} from './bisect.js'
import {ChunkPlanner, type ChunkSizing, type PlannedChunk} from './chunk-planner.js'
import {type DiffSide, sourceSide, targetSide} from './diff-side.js'
import {type StoredChunk, type StoredKey, deleteKeys, loadChunks, loadKeys, saveChunk, saveKeys} from './diff-store.js'
import type {DiffKind, EntityDiffResult} from './diff-types.js'
import {recheckKeys, type KeysDiff} from './key-recheck.js'
import {keyOrder, type KeyOrder} from './key-order.js'
import type {LiveWrites} from './live-writes.js'
import {type DiffStrategy, diffStrategy} from './strategy.js'

/** Everything one entity's comparison needs from the run. */
export interface EntityDiffContext {
  runId: string
  service: string
  entity: ResolvedEntity
  monolith: Engine
  target: Engine
  store: StateStore
  /** Continue this run: skip the chunks it already finished. */
  resume: boolean
  samplePct?: number
  parallel: number
  maxKeys: number
  streaming?: boolean
  sizing: ChunkSizing
  leafRows?: number
  progress: ProgressReporter
  signal?: AbortSignal
  live?: LiveWrites
}

/** Raised when the run's signal aborts it; the finished chunks are saved for `--resume`. */
export class DiffAborted extends Error {
  constructor() {
    super('diff interrupted')
    this.name = 'DiffAborted'
  }
}

export function tableLabel(ref: TableRef): string {
  return ref.schema ? `${ref.schema}.${ref.name}` : ref.name
}

/** Whether chunk `no` is in a `pct` % sample (deterministic per run, so a resumed run samples the same chunks). */
function sampled(runId: string, entity: string, no: number, pct: number): boolean {
  const h = createHash('md5').update(`${runId}\u0000${entity}\u0000${no}`).digest()
  return (h.readUInt32BE(0) / 0x1_0000_0000) * 100 < pct
}

/** The resolved entity, compared: sides, order and strategy. */
export interface EntityComparison {
  strategy: DiffStrategy
  order: KeyOrder
  source: DiffSide
  target: DiffSide
}

/** Builds both sides of an entity; fails with a `UserError` when the service's table does not exist. */
export async function prepareComparison(entity: ResolvedEntity, monolith: Engine, target: Engine, opts: {streaming?: boolean} = {}): Promise<EntityComparison> {
  let targetInfo: TableInfo | undefined
  if (target.sql) {
    if (!(await target.tableExists(entity.target))) {
      throw new UserError(`The service table ${tableLabel(entity.target)} does not exist on ${target.displayUrl}.`, {
        code: 'E_NO_TABLE',
        hint: `Create and fill it first (\`strangler shadow start ${entity.service}\`), or fix the entity's target in the plan.`,
      })
    }
    targetInfo = await target.introspect(entity.target)
  }
  const strategy = diffStrategy(entity, monolith, target, {streaming: opts.streaming, targetInfo})
  const order = keyOrder(entity.sourceKeyTypes)
  return {strategy, order, source: sourceSide(entity, monolith, strategy, order), target: targetSide(entity, target, strategy, order)}
}

/** Key lists capped at `max` per kind, with complete counts. */
class KeyCollector {
  readonly lists: Record<DiffKind, {key: KeyTuple; chunk: number}[]> = {missing: [], extra: [], changed: []}
  readonly counts: Record<DiffKind, number> = {missing: 0, extra: 0, changed: 0}
  constructor(private readonly max: number) {}

  /** Adds keys (of `count` found); returns the ones kept (to be stored). */
  add(kind: DiffKind, keys: readonly KeyTuple[], chunk: number, count = keys.length): StoredKey[] {
    this.counts[kind] += count
    const room = Math.max(0, this.max - this.lists[kind].length)
    const kept = keys.slice(0, room).map((key) => ({key, chunk}))
    this.lists[kind].push(...kept)
    return kept.map((k) => ({kind, key: k.key, chunk}))
  }

  get truncated(): boolean {
    return (['missing', 'extra', 'changed'] as const).some((k) => this.counts[k] > this.lists[k].length)
  }
}

/**
 * Compares one entity: plans chunks on the source, compares them in parallel
 * (checksums, bisection, key+hash merge), saves each finished chunk and its
 * keys, then reads the differing rows from both sides (after the relay caught
 * up when writes are live) and reports what still differs, column by column.
 */
export async function diffEntity(ctx: EntityDiffContext): Promise<EntityDiffResult> {
  const started = Date.now()
  const {entity, store, runId, service} = ctx
  const cmp = await prepareComparison(entity, ctx.monolith, ctx.target, {streaming: ctx.streaming})
  const {strategy, order, source, target} = cmp
  const bisector = new Bisector(source, target, order, {leafRows: ctx.leafRows})
  const collector = new KeyCollector(ctx.maxKeys)
  const label = `${service}/${entity.name}`
  const task = ctx.progress.task(label, Math.max(0, entity.sourceInfo.estimatedRows))

  let rowsSource = 0
  let rowsTarget = 0
  let chunks = 0
  let mismatched = 0
  let resumed = 0
  let skipped = 0

  // resume: finished chunks count as done; gaps between them and everything after the last are (re)done
  const prior: StoredChunk[] = ctx.resume ? await loadChunks(store, runId, service, entity.name) : []
  const gaps: PlannedChunk[] = []
  let prev: StoredChunk | undefined
  for (const c of prior) {
    const expected = prev ? prev.no + 1 : 0
    if (c.no > expected) gaps.push({no: expected, range: {after: prev?.upTo, upTo: c.after}, bounds: []})
    prev = c
  }
  if (prior.length) {
    const doneNos = new Set(prior.map((c) => c.no))
    const keys = (await loadKeys(store, runId, service, entity.name)).filter((k) => k.chunk !== undefined && doneNos.has(k.chunk))
    // keys of unfinished chunks are found again; keep exactly those of finished chunks
    await deleteKeys(store, runId, service, entity.name)
    const kept: StoredKey[] = []
    for (const c of prior) {
      for (const kind of ['missing', 'extra', 'changed'] as const) {
        const list = keys.filter((k) => k.chunk === c.no && k.kind === kind).map((k) => k.key)
        kept.push(...collector.add(kind, list, c.no, Math.max(list.length, c.found?.[kind] ?? 0)))
      }
    }
    await saveKeys(store, runId, service, entity.name, kept)
    for (const c of prior) {
      rowsSource += c.sourceRows
      rowsTarget += c.targetRows
      chunks++
      resumed++
      if (c.mismatched) mismatched++
      if (c.skipped) skipped++
    }
    task.update(rowsSource)
  }
  const last = prior.at(-1)
  const planner = new ChunkPlanner(source, ctx.sizing, {after: last?.upTo, no: last ? last.no + 1 : 0, done: last !== undefined && last.upTo === undefined})

  const processChunk = async (chunk: PlannedChunk): Promise<void> => {
    if (ctx.signal?.aborted) return
    if (ctx.samplePct !== undefined && ctx.samplePct < 100 && !sampled(runId, entity.name, chunk.no, ctx.samplePct)) {
      await saveChunk(store, runId, service, entity.name, chunk.no, {...chunk.range, sourceRows: 0, targetRows: 0, mismatched: false, skipped: true, ms: 0})
      chunks++
      skipped++
      return
    }
    const t0 = performance.now()
    let outcome
    try {
      outcome = await bisector.compare(chunk.range, chunk.bounds)
    } catch (err) {
      if (err instanceof UserError) throw err
      const where = `${chunk.range.after ? JSON.stringify(chunk.range.after) : 'start'} .. ${chunk.range.upTo ? JSON.stringify(chunk.range.upTo) : 'end'}`
      throw new Error(`during diff of ${label}, chunk ${chunk.no} (keys ${where}): ${errorMessage(err)}`, {cause: err})
    }
    const ms = performance.now() - t0
    if (!outcome.mismatched) planner.observe(Math.max(outcome.sourceRows, outcome.targetRows), ms)
    const kept = [
      ...collector.add('missing', outcome.missing, chunk.no),
      ...collector.add('extra', outcome.extra, chunk.no),
      ...collector.add('changed', outcome.changed, chunk.no),
    ]
    if (kept.length) await saveKeys(store, runId, service, entity.name, kept)
    await saveChunk(store, runId, service, entity.name, chunk.no, {
      ...chunk.range,
      sourceRows: outcome.sourceRows,
      targetRows: outcome.targetRows,
      mismatched: outcome.mismatched,
      ms: Math.round(ms),
      found: {missing: outcome.missing.length, extra: outcome.extra.length, changed: outcome.changed.length},
    })
    crashPoint('diff:after-chunk')
    rowsSource += outcome.sourceRows
    rowsTarget += outcome.targetRows
    chunks++
    if (outcome.mismatched) mismatched++
    const found = collector.counts.missing + collector.counts.extra + collector.counts.changed
    task.increment(outcome.sourceRows, {extra: found ? `${found} differing` : ''})
  }

  // bounded parallelism; planning runs ahead of the workers by at most `parallel` chunks
  const limit = pLimit(Math.max(1, ctx.parallel))
  const inflight = new Set<Promise<void>>()
  let failure: unknown
  const schedule = (chunk: PlannedChunk): void => {
    const p: Promise<void> = limit(() => (failure ? Promise.resolve() : processChunk(chunk)))
      .catch((err: unknown) => {
        failure ??= err
      })
      .finally(() => inflight.delete(p))
    inflight.add(p)
  }
  try {
    for (const g of gaps) schedule(g)
    while (!planner.done && !failure && !ctx.signal?.aborted) {
      while (inflight.size >= ctx.parallel * 2 && !failure) await Promise.race(inflight)
      if (failure || ctx.signal?.aborted) break
      const chunk = await planner.plan()
      if (!chunk) break
      schedule(chunk)
    }
  } catch (err) {
    failure ??= err
  }
  await Promise.all(inflight)
  if (failure) {
    task.stop('failed')
    throw failure
  }
  if (ctx.signal?.aborted) {
    task.stop('interrupted')
    throw new DiffAborted()
  }

  // read the differing rows; with live writes, let the relay catch up and look again
  const found: KeyTuple[] = [...collector.lists.missing, ...collector.lists.extra, ...collector.lists.changed].map((k) => k.key)
  let result: KeysDiff = await recheckKeys(source, target, order, strategy.columns, found)
  let resolvedLive = 0
  // at most a few rounds: under a steady stream of writes something is always pending
  for (let round = 0; round < 3 && ctx.live?.active && diffCount(result) > 0; round++) {
    if (!((await ctx.live.pending(entity.name)) > 0 && (await ctx.live.catchUp()))) break
    const again = await recheckKeys(source, target, order, strategy.columns, keysOf(result))
    const resolved = diffCount(result) - diffCount(again)
    resolvedLive += Math.max(0, resolved)
    result = again
    if (resolved <= 0) break
  }
  const listed = {missing: collector.lists.missing.length, extra: collector.lists.extra.length, changed: collector.lists.changed.length}
  const counts = {
    missing: collector.counts.missing - listed.missing + result.missing.length,
    extra: collector.counts.extra - listed.extra + result.extra.length,
    changed: collector.counts.changed - listed.changed + result.changed.length,
  }
  await deleteKeys(store, runId, service, entity.name)
  await saveKeys(store, runId, service, entity.name, [
    ...result.missing.map((key) => ({kind: 'missing' as const, key})),
    ...result.extra.map((key) => ({kind: 'extra' as const, key})),
    ...result.changed.map((c) => ({kind: 'changed' as const, key: c.key, columns: c.columns})),
  ])
  const total = counts.missing + counts.extra + counts.changed
  task.stop(total ? `${total} differing` : 'clean')
  return {
    entity: entity.name,
    source: tableLabel(entity.source),
    target: tableLabel(entity.target),
    keyColumns: [...entity.targetKey],
    mode: strategy.mode,
    notes: strategy.reasons,
    status: total ? 'differences' : 'clean',
    rowsSource,
    rowsTarget,
    chunks,
    chunksMismatched: mismatched,
    chunksResumed: resumed,
    chunksSkipped: skipped,
    missing: result.missing,
    extra: result.extra,
    changed: result.changed,
    counts,
    truncated: collector.truncated,
    resolvedLive,
    durationMs: Date.now() - started,
  }
}

function diffCount(d: KeysDiff): number {
  return d.missing.length + d.extra.length + d.changed.length
}

function keysOf(d: KeysDiff): KeyTuple[] {
  return [...d.missing, ...d.extra, ...d.changed.map((c) => c.key)]
}
