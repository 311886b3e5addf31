import pLimit from 'p-limit'
import {backoffMs, sleep} from '../capture/retry.js'
import type {Engine} from '../engines/engine.js'
import {isTransientDbError} from '../engines/errors.js'
import {keyToString} from '../engines/keys.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {crashPoint} from '../util/crash-points.js'
import {UserError, errorMessage} from '../util/errors.js'
import {silentProgress, type ProgressReporter, type ProgressTask} from '../util/progress.js'
import type {Workspace} from '../workspace.js'
import {newBackfillState, type BackfillState, type RangeState} from './backfill-state.js'
import {BatchWriter} from './batch-writer.js'
import {planRanges} from './chunk-planner.js'
import {DataIterator, jsonPassThrough, textCopyPlan, type TextCopyPlan} from './data-iterator.js'
import {StateTracker} from './state-tracker.js'
import {Throttler, type ThrottleProbe} from './throttler.js'

export const BACKFILL_DEFAULTS = {parallel: 4, chunkRows: 5_000, batchSize: 5_000, chunkBytes: 4 << 20} as const

/** Above this many estimated rows the engine's statistics are trusted instead of a COUNT(*). */
const COUNT_LIMIT = 5_000_000

/** A range whose copy fails with a transient error (server restart, killed connection) resumes after its last written chunk: attempts and backoff. */
const RANGE_RETRY = {attempts: 8, baseMs: 500, maxMs: 8_000} as const

export interface BackfillOptions {
  /** Workers copying key ranges at once, across all entities (default 4). */
  parallel?: number
  /** Most rows per chunk: read, written and checkpointed as one unit (default 5,000). */
  chunkRows?: number
  /** Most bytes per chunk, about (default 4 MiB): chunks of wide rows hold fewer rows, so memory stays bounded whatever the row size. */
  chunkBytes?: number
  /** Rows per write statement within a chunk (default 5,000). */
  batchSize?: number
  /** Token bucket over all workers; 0 or absent: unlimited. */
  maxRowsPerSecond?: number
  /** Conditions that pause the copy (relay lag, monolith load). */
  probes?: readonly ThrottleProbe[]
  progress?: ProgressReporter
  /** Stops after the chunks in hand (their checkpoints are written); the result says `aborted`. */
  signal?: AbortSignal
}

/** What one run did for one entity. */
export interface EntityBackfillResult {
  name: string
  /** Rows written by this run (including at most one re-copied chunk per range after a crash). */
  rowsCopied: number
  /** Rows committed and checkpointed over all runs. */
  rowsTotal: number
  rowsEstimated: number
  /** Chunks written by this run. */
  chunks: number
  ranges: number
  /** Rows already checkpointed when this run started (0 for a fresh backfill). */
  resumedFromRows: number
  resumed: boolean
  /** Nothing to do: an earlier run finished this entity. */
  alreadyDone: boolean
  done: boolean
  seconds: number
  rowsPerSecond: number
}

export interface BackfillResult {
  entities: EntityBackfillResult[]
  rowsCopied: number
  seconds: number
  /** Seconds every worker waited because a probe (relay lag, monolith load) was over its limit. */
  pausedSeconds: number
  aborted: boolean
}

interface EntityRun {
  entity: ResolvedEntity
  tracker: StateTracker
  state: BackfillState
  result: EntityBackfillResult
  pending: number
  started: number
  task: ProgressTask
}

/**
 * The backfill orchestrator: for each entity, plans disjoint key ranges (or
 * resumes the stored plan), then copies the ranges with at most `parallel`
 * workers across all entities of the service. Each worker owns one range at a
 * time and copies it in key order: read a chunk (the next one is read while
 * this one is written), write it, checkpoint it. After a kill -9, a re-run
 * continues every range after its last checkpoint, so it re-copies at most
 * the one uncheckpointed chunk per worker, and the idempotent upsert makes
 * that re-copy harmless. Memory is bounded by the chunk size (rows and bytes),
 * not the table. A plain copy (no cast, constant, SQL or JS mapping, no
 * aggregate) between engines that offer it takes the text path: the source
 * server encodes each row as a line of the target's bulk format and the
 * target loads the lines as they are (see `textCopyPlan`).
 */
export async function runBackfill(ws: Workspace, target: Engine, entities: readonly ResolvedEntity[], opts: BackfillOptions = {}): Promise<BackfillResult> {
  const parallel = Math.max(1, Math.floor(opts.parallel ?? BACKFILL_DEFAULTS.parallel))
  const chunkRows = Math.max(1, Math.floor(opts.chunkRows ?? BACKFILL_DEFAULTS.chunkRows))
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? Math.min(BACKFILL_DEFAULTS.batchSize, chunkRows)))
  const chunkBytes = Math.max(1, Math.floor(opts.chunkBytes ?? BACKFILL_DEFAULTS.chunkBytes))
  const progress = opts.progress ?? silentProgress
  const log = ws.log.child({component: 'backfill'})
  const t0 = performance.now()

  const internal = new AbortController()
  const onAbort = (): void => internal.abort()
  opts.signal?.addEventListener('abort', onAbort, {once: true})
  const signal = internal.signal
  const throttler = new Throttler({
    maxRowsPerSecond: opts.maxRowsPerSecond,
    probes: opts.probes,
    signal,
    onPause: (reason) => progress.note(reason ? `backfill paused: ${reason}` : 'backfill resumed'),
  })

  try {
    const runs: EntityRun[] = []
    for (const entity of entities) runs.push(await prepare(ws, entity, {parallel, chunkRows}, progress))

    // Round-robin over entities so that the entities of a service progress together.
    const work: {run: EntityRun; range: RangeState}[] = []
    const open = runs.map((r) => r.state.ranges.filter((x) => !x.done))
    for (let i = 0; open.some((o) => i < o.length); i++) {
      runs.forEach((r, j) => {
        if (i < open[j].length) work.push({run: r, range: open[j][i]})
      })
    }
    for (const r of runs) {
      r.pending = r.state.ranges.filter((x) => !x.done).length
      if (r.pending === 0) await finishEntity(r)
    }

    const limit = pLimit(parallel)
    const writers = new Map(runs.map((r) => [r.entity.name, new BatchWriter(target, r.entity, batchSize)]))
    const textPlans = new Map(runs.map((r) => [r.entity.name, textCopyPlan(ws.monolith, target, r.entity)]))
    for (const r of runs) if (textPlans.get(r.entity.name)) log.debug(`${r.entity.name}: plain copy, rows encoded by the source server`, {entity: r.entity.name})
    let failure: unknown
    await Promise.all(
      work.map(({run, range}) =>
        limit(async () => {
          if (signal.aborted) return
          try {
            await copyRange(run, range, writers.get(run.entity.name)!, textPlans.get(run.entity.name))
            if (!signal.aborted) {
              range.done = true
              run.pending--
              if (run.pending === 0) await finishEntity(run)
              else await run.tracker.save()
            }
          } catch (err) {
            failure ??= err
            internal.abort()
          }
        }),
      ),
    )
    if (failure) throw isTransientDbError(failure) && !(failure instanceof UserError) ? new UserError(`Backfill stopped: ${errorMessage(failure)}`, {code: 'E_CONNECT', hint: 'Run the same command again once the databases are reachable: the backfill resumes from its checkpoints.', cause: failure}) : failure
    for (const r of runs) {
      if (r.state.done) continue
      settle(r)
      r.task.stop('paused')
    }
    const entitiesOut = runs.map((r) => r.result)
    return {
      entities: entitiesOut,
      rowsCopied: entitiesOut.reduce((a, e) => a + e.rowsCopied, 0),
      seconds: round((performance.now() - t0) / 1000),
      pausedSeconds: round(throttler.pausedMilliseconds / 1000),
      aborted: Boolean(opts.signal?.aborted) && runs.some((r) => !r.state.done),
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
  }

  /**
   * Copies a range; a transient database error (server restart, killed
   * connection, too many connections) is retried with bounded backoff from the
   * range's last written chunk, reported as a warning. When the attempts run
   * out, the error says that a re-run resumes.
   */
  async function copyRange(run: EntityRun, range: RangeState, writer: BatchWriter, text: TextCopyPlan | undefined): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await copyRangeOnce(run, range, writer, text)
      } catch (err) {
        if (signal.aborted || !isTransientDbError(err)) throw err
        const where = range.last ? `after key ${keyToString(range.last)}` : 'from the start of its range'
        if (attempt >= RANGE_RETRY.attempts) {
          throw new UserError(`Backfill of ${run.entity.name} stopped after ${attempt} attempts: ${errorMessage(err)}`, {
            code: 'E_CONNECT',
            hint: 'Run the same command again once the databases are reachable: the backfill resumes from its checkpoints.',
            cause: err,
          })
        }
        const delay = backoffMs(attempt, RANGE_RETRY.baseMs, RANGE_RETRY.maxMs)
        log.warn(`backfill of ${run.entity.name} failed ${where} (${errorMessage(err)}); retry ${attempt}/${RANGE_RETRY.attempts - 1} in ${delay} ms`, {entity: run.entity.name})
        await sleep(delay, signal)
        if (signal.aborted) return
      }
    }
  }

  /** Read → map → write, chunk by chunk: a plain copy on the text path (`text`) skips the mapping; an aggregate is assembled in the writer's `materialise`. */
  async function copyRangeOnce(run: EntityRun, range: RangeState, writer: BatchWriter, text: TextCopyPlan | undefined): Promise<void> {
    // JSON stays text end to end where the target's bulk path writes text as is
    const jsonText = Boolean(target.bulkLoad) && jsonPassThrough(run.entity)
    const it = new DataIterator(ws.monolith, run.entity, range, {chunkRows, chunkBytes, resumeAfter: range.last, jsonText, text})
    for (;;) {
      if (signal.aborted) return
      const chunk = await it.nextChunk()
      if (!chunk) return
      await throttler.acquire(chunk.count)
      if (signal.aborted) return
      const n = await writer.write(chunk)
      crashPoint('backfill:after-chunk-write')
      range.last = chunk.last
      range.rows += n
      range.chunks++
      run.state.rowsCopied += n
      run.result.rowsCopied += n
      run.result.chunks++
      await run.tracker.save()
      crashPoint('backfill:after-checkpoint')
      run.task.increment(n)
      log.debug(`${run.entity.name}: chunk of ${n} rows up to key ${JSON.stringify(chunk.last)}`)
    }
  }

  async function finishEntity(run: EntityRun): Promise<void> {
    const already = run.state.done
    run.state.done = true
    run.state.finishedAt ??= new Date().toISOString()
    if (!already) await run.tracker.save()
    const seconds = settle(run)
    run.task.stop(run.result.alreadyDone ? 'already done' : undefined)
    log.info(`backfill of ${run.entity.name} done: ${run.result.rowsCopied} rows in ${round(seconds)} s`, {entity: run.entity.name})
  }
}

/** Fills the result's totals and timing from the state; returns the seconds spent. */
function settle(run: EntityRun): number {
  const seconds = (performance.now() - run.started) / 1000
  run.result.rowsTotal = run.state.rowsCopied
  run.result.done = run.state.done
  run.result.seconds = round(seconds)
  run.result.rowsPerSecond = seconds > 0 ? Math.round(run.result.rowsCopied / seconds) : 0
  return seconds
}

/** Loads or plans an entity's backfill state. */
async function prepare(ws: Workspace, entity: ResolvedEntity, opts: {parallel: number; chunkRows: number}, progress: ProgressReporter): Promise<EntityRun> {
  const started = performance.now()
  let state = await StateTracker.load(ws.state, entity.service, entity.name)
  const resumed = Boolean(state)
  const alreadyDone = Boolean(state?.done)
  if (!state) {
    const est = entity.sourceInfo.estimatedRows
    const rows = est > COUNT_LIMIT && !entity.filter ? est : await ws.monolith.count(entity.source, entity.filter)
    const ranges = await planRanges(ws.monolith, entity, {rows, parallel: opts.parallel, chunkRows: opts.chunkRows})
    state = newBackfillState(ranges, rows, opts.chunkRows)
  } else if (!state.done) {
    state.runs++
  }
  const tracker = new StateTracker(ws.state, entity.service, entity.name, state)
  if (!alreadyDone) await tracker.save() // the plan is durable before the first row is copied
  const task = progress.task(entity.name, state.rowsEstimated)
  if (state.rowsCopied) task.update(state.rowsCopied)
  const result: EntityBackfillResult = {
    name: entity.name,
    rowsCopied: 0,
    rowsTotal: state.rowsCopied,
    rowsEstimated: state.rowsEstimated,
    chunks: 0,
    ranges: state.ranges.length,
    resumedFromRows: resumed ? state.rowsCopied : 0,
    resumed,
    alreadyDone,
    done: state.done,
    seconds: 0,
    rowsPerSecond: 0,
  }
  return {entity, tracker, state, result, pending: 0, started, task}
}

function round(n: number): number {
  return Math.round(n * 100) / 100
}
