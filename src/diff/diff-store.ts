import type {KeyTuple} from '../engines/types.js'
import {nowIso, type StateStore} from '../state/state-store.js'
import type {ChangedColumn, DiffKind} from './diff-types.js'

/**
 * Diff runs in the state store: one `diff_runs` row per service and run, the
 * finished chunks of each entity in `diff_chunks` (what `--resume` skips), and
 * every differing key in `diff_keys` (what `repair` re-copies).
 */

/** What `diff_chunks.state` holds for a finished chunk. */
export interface ChunkState {
  after?: KeyTuple
  upTo?: KeyTuple
  sourceRows: number
  targetRows: number
  mismatched: boolean
  /** Left out by `--sample`. */
  skipped?: boolean
  ms: number
  /** Differing keys the chunk found (its keys are stored only up to the run's key cap). */
  found?: {missing: number; extra: number; changed: number}
}

export interface StoredChunk extends ChunkState {
  no: number
}

/** A differing key as stored. */
export interface StoredKey {
  kind: DiffKind
  key: KeyTuple
  /** Chunk that found it (for resume). */
  chunk?: number
  columns?: ChangedColumn[]
}

/** Per service summary kept in `diff_runs.summary`. */
export interface RunSummary {
  runId: string
  service: string
  status: string
  totals: {rowsCompared: number; missing: number; extra: number; changed: number}
  entities: {entity: string; status: string; mode: string; missing: number; extra: number; changed: number; rowsSource: number; rowsTarget: number; error?: string}[]
  samplePct?: number
}

export interface RunRow {
  id: string
  runId: string
  service: string | null
  startedAt: string
  finishedAt: string | null
  status: string
  options: Record<string, unknown>
  summary: RunSummary | null
}

/** `diff_runs.id` of a service's row: the run id itself for one service, `run:service` when a run spans several. */
export function runRowId(runId: string, service: string, single: boolean): string {
  return single ? runId : `${runId}:${service}`.slice(0, 64)
}

export async function insertRun(store: StateStore, row: {id: string; service: string; options: Record<string, unknown>}): Promise<void> {
  await store.db
    .insertInto(store.t('diff_runs'))
    .values({id: row.id, service: row.service, started_at: nowIso(), finished_at: null, status: 'running', options: JSON.stringify(row.options), summary: null})
    .execute()
}

export async function updateRun(store: StateStore, id: string, values: {status: string; finished?: boolean; summary?: RunSummary}): Promise<void> {
  await store.db
    .updateTable(store.t('diff_runs'))
    .set({
      status: values.status,
      finished_at: values.finished ? nowIso() : null,
      ...(values.summary ? {summary: JSON.stringify(values.summary)} : {}),
    })
    .where('id', '=', id)
    .execute()
}

function toRunRow(r: Record<string, unknown>): RunRow {
  const options = r.options ? (JSON.parse(String(r.options)) as Record<string, unknown>) : {}
  const summary = r.summary ? (JSON.parse(String(r.summary)) as RunSummary) : null
  return {
    id: String(r.id),
    runId: String(options.runId ?? summary?.runId ?? r.id),
    service: r.service === null || r.service === undefined ? null : String(r.service),
    startedAt: String(r.started_at),
    finishedAt: r.finished_at === null || r.finished_at === undefined ? null : String(r.finished_at),
    status: String(r.status),
    options,
    summary,
  }
}

/** The rows of a run (one per service), by run id or by a service row's id. */
export async function findRun(store: StateStore, runId: string): Promise<RunRow[]> {
  const rows = await store.db
    .selectFrom(store.t('diff_runs'))
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', runId), eb('id', 'like', `${runId.replace(/[\\%_]/g, (c) => `\\${c}`)}:%`)]))
    .execute()
  return rows.map(toRunRow)
}

/** Recent runs of a service, newest first. */
export async function recentRuns(store: StateStore, service: string, opts: {finished?: boolean; limit?: number} = {}): Promise<RunRow[]> {
  let q = store.db.selectFrom(store.t('diff_runs')).selectAll().where('service', '=', service)
  if (opts.finished) q = q.where('finished_at', 'is not', null)
  const rows = await q.orderBy(opts.finished ? 'finished_at' : 'started_at', 'desc').limit(opts.limit ?? 20).execute()
  return rows.map(toRunRow)
}

export async function saveChunk(store: StateStore, runId: string, service: string, entity: string, no: number, state: ChunkState): Promise<void> {
  const text = JSON.stringify(state)
  const where = {run_id: runId, service, entity, chunk_no: no}
  const res = await store.db
    .updateTable(store.t('diff_chunks'))
    .set({state: text})
    .where('run_id', '=', runId)
    .where('service', '=', service)
    .where('entity', '=', entity)
    .where('chunk_no', '=', no)
    .executeTakeFirst()
  if (Number(res.numUpdatedRows ?? 0) === 0) await store.db.insertInto(store.t('diff_chunks')).values({...where, state: text}).execute()
}

export async function loadChunks(store: StateStore, runId: string, service: string, entity: string): Promise<StoredChunk[]> {
  const rows = await store.db
    .selectFrom(store.t('diff_chunks'))
    .select(['chunk_no', 'state'])
    .where('run_id', '=', runId)
    .where('service', '=', service)
    .where('entity', '=', entity)
    .orderBy('chunk_no')
    .execute()
  return rows.map((r) => ({no: Number(r.chunk_no), ...(JSON.parse(String(r.state)) as ChunkState)}))
}

export async function saveKeys(store: StateStore, runId: string, service: string, entity: string, keys: readonly StoredKey[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 500) {
    const values = keys.slice(i, i + 500).map((k) => ({
      run_id: runId,
      service,
      entity,
      kind: k.kind,
      pk: JSON.stringify(k.key),
      detail: JSON.stringify({chunk: k.chunk, columns: k.columns}),
    }))
    await store.db.insertInto(store.t('diff_keys')).values(values).execute()
  }
}

/** Deletes an entity's keys of a run: all of them, or those found by the given chunks. */
export async function deleteKeys(store: StateStore, runId: string, service: string, entity: string): Promise<void> {
  await store.db.deleteFrom(store.t('diff_keys')).where('run_id', '=', runId).where('service', '=', service).where('entity', '=', entity).execute()
}

export async function loadKeys(store: StateStore, runId: string, service: string, entity?: string): Promise<(StoredKey & {entity: string})[]> {
  let q = store.db.selectFrom(store.t('diff_keys')).select(['entity', 'kind', 'pk', 'detail']).where('run_id', '=', runId).where('service', '=', service)
  if (entity) q = q.where('entity', '=', entity)
  const rows = await q.orderBy('id').execute()
  return rows.map((r) => {
    const detail = r.detail ? (JSON.parse(String(r.detail)) as {chunk?: number; columns?: ChangedColumn[]}) : {}
    return {entity: String(r.entity), kind: String(r.kind) as DiffKind, key: JSON.parse(String(r.pk)) as KeyTuple, chunk: detail.chunk, columns: detail.columns}
  })
}
