import {randomUUID} from 'node:crypto'
import {UserError, errorMessage} from '../util/errors.js'
import {type ProgressReporter, silentProgress} from '../util/progress.js'
import type {Workspace} from '../workspace.js'
import type {ChunkSizing} from './chunk-planner.js'
import {type RunRow, type RunSummary, findRun, insertRun, recentRuns, runRowId, updateRun} from './diff-store.js'
import type {EntityDiffResult} from './diff-types.js'
import {DiffAborted, diffEntity} from './entity-diff.js'
import {type CatchUp, LiveWrites} from './live-writes.js'

export type {ChangedColumn, ChangedRow, DiffMode, EntityDiffResult} from './diff-types.js'

/** Options of a diff run (`strangler diff`, the phase gates, `shift`). */
export interface DiffOptions {
  /** One service (default: every service of the plan). */
  service?: string
  /** Entity names (target table or source table names) to compare; default all. */
  entities?: string[]
  /** Compare a random `samplePct` % of the chunks (a quick check; never a clean gate). */
  samplePct?: number
  /** Continue an interrupted run: `true` for the service's last one, or its run id. */
  resume?: boolean | string
  /** Chunks compared at once per entity (default 2). */
  parallel?: number
  /** Differing keys listed per entity and kind (default 1,000,000; counts are always complete). */
  maxKeys?: number
  progress?: ProgressReporter
  /** Aborting stops after the chunks in flight; the run can be resumed. */
  signal?: AbortSignal
  /** Re-check differing keys after the relay caught up (default: when the service has an outbox). */
  recheckLive?: boolean
  /** Hash both sides in JS even where SQL push-down is possible. */
  streaming?: boolean
  /** Fixed rows per chunk (default: adaptive, toward `targetChunkSeconds`). */
  chunkRows?: number
  /** Seconds one chunk's checksums should take when adapting (default 0.5). */
  targetChunkSeconds?: number
  /** Mismatched ranges are bisected down to this many rows, then compared key by key (default 4096). */
  leafRows?: number
  /** How the service store catches up before the live re-check (default: the service's relay, drained). */
  catchUp?: CatchUp
}

export interface DiffTotals {
  rowsCompared: number
  missing: number
  extra: number
  changed: number
}

export interface DiffRunResult {
  runId: string
  status: 'clean' | 'differences' | 'error'
  startedAt: string
  finishedAt: string
  /** Set when only a sample of the chunks was compared. */
  samplePct?: number
  services: {name: string; status: 'clean' | 'differences' | 'error'; entities: EntityDiffResult[]}[]
  totals: DiffTotals
}

/** The last finished diff of a service, as `status` and the gates show it. */
export interface LastDiff {
  runId: string
  status: string
  startedAt: string
  finishedAt: string
  totals: DiffTotals
  samplePct?: number
}

/** Raised when a run is interrupted (its signal aborted); `--resume RUN` continues it. */
export class DiffInterrupted extends UserError {
  readonly runId: string
  constructor(runId: string) {
    super(`The diff run ${runId} was interrupted; the chunks it finished are saved.`, {
      code: 'E_INTERRUPTED',
      hint: `Continue it with \`strangler diff --resume ${runId}\`.`,
    })
    this.name = 'DiffInterrupted'
    this.runId = runId
  }
}

const DEFAULT_MAX_KEYS = 1_000_000

interface StoredOptions {
  runId: string
  services: string[]
  entities?: string[]
  samplePct?: number
  streaming?: boolean
  chunkRows?: number
  leafRows?: number
  maxKeys?: number
}

function sumTotals(entities: readonly EntityDiffResult[]): DiffTotals {
  return entities.reduce(
    (t, e) => ({rowsCompared: t.rowsCompared + e.rowsSource, missing: t.missing + e.counts.missing, extra: t.extra + e.counts.extra, changed: t.changed + e.counts.changed}),
    {rowsCompared: 0, missing: 0, extra: 0, changed: 0},
  )
}

function statusOf(entities: readonly {status: string}[]): 'clean' | 'differences' | 'error' {
  if (entities.some((e) => e.status === 'error')) return 'error'
  return entities.some((e) => e.status === 'differences') ? 'differences' : 'clean'
}

/** The run to continue: by id, or the newest unfinished run of the selected services. */
async function resumable(ws: Workspace, services: string[], resume: true | string): Promise<{runId: string; rows: RunRow[]}> {
  if (typeof resume === 'string') {
    const rows = await findRun(ws.state, resume)
    if (!rows.length) throw new UserError(`No diff run ${resume} in the state store.`, {code: 'E_NO_RUN', hint: 'Run `strangler status` to see the last diff runs.'})
    return {runId: rows[0].runId, rows: await findRun(ws.state, rows[0].runId)}
  }
  const candidates: RunRow[] = []
  for (const s of services) candidates.push(...(await recentRuns(ws.state, s, {limit: 5})).filter((r) => r.status === 'running' || r.status === 'interrupted'))
  candidates.sort((a, b) => b.startedAt.localeCompare(a.startedAt))
  if (!candidates.length) {
    throw new UserError(`No interrupted diff run of ${services.join(', ')} to resume.`, {code: 'E_NO_RUN', hint: 'Start a new run without --resume.'})
  }
  return {runId: candidates[0].runId, rows: await findRun(ws.state, candidates[0].runId)}
}

async function freshRunId(ws: Workspace): Promise<string> {
  const used = await findRun(ws.state, ws.runId)
  return used.length ? randomUUID() : ws.runId
}

/**
 * Compares the monolith with the service stores, entity by entity, through
 * the plan's mappings, and records the run (its chunks and every differing
 * key) in the state store. Throws `DiffInterrupted` when `signal` aborts it.
 */
export async function runDiff(ws: Workspace, opts: DiffOptions = {}): Promise<DiffRunResult> {
  await ws.state.requireReady()
  const progress = opts.progress ?? silentProgress
  let services = opts.service ? [(ws.service(opts.service), opts.service)] : ws.serviceNames()
  let stored: StoredOptions
  let runId: string
  let resuming = false
  let rowIds: Map<string, string>

  if (opts.resume) {
    const found = await resumable(ws, services, opts.resume)
    runId = found.runId
    const base = (found.rows[0]?.options ?? {}) as Partial<StoredOptions>
    const runServices = found.rows.map((r) => r.service).filter((s): s is string => s !== null)
    services = opts.service ? runServices.filter((s) => s === opts.service) : runServices
    if (!services.length) throw new UserError(`The diff run ${runId} did not compare ${opts.service}.`, {code: 'E_NO_RUN'})
    for (const r of found.rows) {
      if (r.finishedAt && r.service && services.includes(r.service)) {
        throw new UserError(`The diff run ${runId} of ${r.service} already finished (${r.status}); nothing to resume.`, {code: 'E_NO_RUN', hint: 'Start a new run without --resume.'})
      }
    }
    stored = {runId, services: runServices, entities: base.entities, samplePct: base.samplePct, streaming: base.streaming, chunkRows: base.chunkRows, leafRows: base.leafRows, maxKeys: base.maxKeys}
    rowIds = new Map(found.rows.filter((r) => r.service).map((r) => [r.service!, r.id]))
    resuming = true
  } else {
    if (opts.samplePct !== undefined && !(opts.samplePct > 0 && opts.samplePct <= 100)) {
      throw new UserError(`--sample must be a percentage between 0 and 100, not ${opts.samplePct}.`, {code: 'E_USAGE'})
    }
    runId = await freshRunId(ws)
    stored = {
      runId,
      services,
      entities: opts.entities,
      samplePct: opts.samplePct !== undefined && opts.samplePct < 100 ? opts.samplePct : undefined,
      streaming: opts.streaming || undefined,
      chunkRows: opts.chunkRows,
      leafRows: opts.leafRows,
      maxKeys: opts.maxKeys,
    }
    rowIds = new Map(services.map((s) => [s, runRowId(runId, s, services.length === 1)]))
  }

  // resolve everything before recording anything, so a bad entity name records no run
  const plan: {service: string; entities: Awaited<ReturnType<Workspace['entities']>>}[] = []
  const wanted = stored.entities
  const matched = new Set<string>()
  for (const s of services) {
    const all = await ws.entities(s)
    const chosen = wanted?.length ? all.filter((e) => wanted.some((w) => (w === e.name || w === e.source.name ? (matched.add(w), true) : false))) : all
    plan.push({service: s, entities: chosen})
  }
  const unknown = (wanted ?? []).filter((w) => !matched.has(w))
  if (unknown.length) {
    const names = (await Promise.all(services.map((s) => ws.entities(s)))).flat().map((e) => e.name)
    throw new UserError(`Unknown entit${unknown.length > 1 ? 'ies' : 'y'} ${unknown.join(', ')}.`, {code: 'E_UNKNOWN_ENTITY', hint: `Entities: ${[...new Set(names)].join(', ')}.`})
  }

  const startedAt = new Date().toISOString()
  if (!resuming) for (const s of services) await insertRun(ws.state, {id: rowIds.get(s)!, service: s, options: {...stored}})
  else for (const s of services) await updateRun(ws.state, rowIds.get(s)!, {status: 'running'})

  const sizing: ChunkSizing = {fixedRows: stored.chunkRows, targetSeconds: opts.targetChunkSeconds}
  const result: DiffRunResult = {runId, status: 'clean', startedAt, finishedAt: startedAt, services: [], totals: {rowsCompared: 0, missing: 0, extra: 0, changed: 0}}
  if (stored.samplePct !== undefined) result.samplePct = stored.samplePct
  try {
    for (const {service, entities} of plan) {
      const entitiesOut: EntityDiffResult[] = []
      let target
      let targetError: string | undefined
      try {
        target = await ws.target(service)
      } catch (err) {
        targetError = errorMessage(err)
      }
      const live = target && opts.recheckLive !== false ? await LiveWrites.open(ws, service, {catchUp: opts.catchUp}) : undefined
      for (const entity of entities) {
        if (opts.signal?.aborted) throw new DiffAborted()
        try {
          if (!target) throw new Error(targetError)
          entitiesOut.push(
            await diffEntity({
              runId,
              service,
              entity,
              monolith: ws.monolith,
              target,
              store: ws.state,
              resume: resuming,
              samplePct: stored.samplePct,
              parallel: Math.max(1, opts.parallel ?? 2),
              maxKeys: stored.maxKeys && stored.maxKeys > 0 ? stored.maxKeys : DEFAULT_MAX_KEYS,
              streaming: stored.streaming,
              sizing,
              leafRows: stored.leafRows,
              progress,
              signal: opts.signal,
              live,
            }),
          )
        } catch (err) {
          if (err instanceof DiffAborted) throw err
          ws.log.error(`diff of ${service}/${entity.name} failed: ${errorMessage(err)}`, {service})
          entitiesOut.push(errorResult(entity, errorMessage(err)))
        }
      }
      const status = statusOf(entitiesOut)
      const totals = sumTotals(entitiesOut)
      await updateRun(ws.state, rowIds.get(service)!, {status: sampledStatus(status, stored.samplePct), finished: true, summary: summaryOf(runId, service, status, totals, entitiesOut, stored.samplePct)})
      result.services.push({name: service, status, entities: entitiesOut})
    }
  } catch (err) {
    const pending = services.filter((s) => !result.services.some((r) => r.name === s))
    const aborted = err instanceof DiffAborted
    for (const s of pending) {
      await updateRun(ws.state, rowIds.get(s)!, {status: aborted ? 'interrupted' : 'error', finished: !aborted}).catch(() => undefined)
    }
    if (aborted) throw new DiffInterrupted(runId)
    throw err
  } finally {
    progress.close()
  }
  result.finishedAt = new Date().toISOString()
  result.status = statusOf(result.services)
  result.totals = sumTotals(result.services.flatMap((s) => s.entities))
  return result
}

/** Runs of a sample are recorded as `sample-clean` so a gate never passes on a sample. */
function sampledStatus(status: string, samplePct?: number): string {
  return samplePct !== undefined && status === 'clean' ? 'sample-clean' : status
}

function summaryOf(runId: string, service: string, status: string, totals: DiffTotals, entities: readonly EntityDiffResult[], samplePct?: number): RunSummary {
  return {
    runId,
    service,
    status,
    totals,
    samplePct,
    entities: entities.map((e) => ({
      entity: e.entity,
      status: e.status,
      mode: e.mode,
      missing: e.counts.missing,
      extra: e.counts.extra,
      changed: e.counts.changed,
      rowsSource: e.rowsSource,
      rowsTarget: e.rowsTarget,
      error: e.error,
    })),
  }
}

function errorResult(entity: {name: string; source: {schema?: string; name: string}; target: {schema?: string; name: string}; targetKey: readonly string[]}, message: string): EntityDiffResult {
  const label = (r: {schema?: string; name: string}) => (r.schema ? `${r.schema}.${r.name}` : r.name)
  return {
    entity: entity.name,
    source: label(entity.source),
    target: label(entity.target),
    keyColumns: [...entity.targetKey],
    mode: 'streaming',
    notes: [],
    status: 'error',
    error: message,
    rowsSource: 0,
    rowsTarget: 0,
    chunks: 0,
    chunksMismatched: 0,
    chunksResumed: 0,
    chunksSkipped: 0,
    missing: [],
    extra: [],
    changed: [],
    counts: {missing: 0, extra: 0, changed: 0},
    truncated: false,
    resolvedLive: 0,
    durationMs: 0,
  }
}

/** The last finished diff run of a service, or undefined when it has never been diffed. */
export async function lastDiff(ws: Workspace, service: string): Promise<LastDiff | undefined> {
  const [r] = await recentRuns(ws.state, service, {finished: true, limit: 1})
  if (!r || !r.finishedAt) return undefined
  const out: LastDiff = {
    runId: r.runId,
    status: r.status,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    totals: r.summary?.totals ?? {rowsCompared: 0, missing: 0, extra: 0, changed: 0},
  }
  if (r.summary?.samplePct !== undefined) out.samplePct = r.summary.samplePct
  return out
}
