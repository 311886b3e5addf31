import type {KeyTuple} from '../../engines/types.js'
import {chunks} from '../../engines/sql/sql-engine.js'
import type {ResolvedEntity} from '../../mapping/entity-mapping.js'
import {silentProgress, type ProgressReporter} from '../../util/progress.js'
import {UserError} from '../../util/errors.js'
import type {Workspace} from '../../workspace.js'

export interface ReverseSyncResult {
  diffRunId: string
  entities: {entity: string; upserts: number; deletes: number}[]
  totals: {upserts: number; deletes: number}
}

/**
 * The reverse relay after decommission: keeps the archived monolith tables a
 * live copy of the service store, so a rollback loses nothing. Each pass diffs
 * the service against the archive (checksums pushed down where possible, so
 * an idle pass moves only checksums) and writes exactly the differing keys
 * back: rows the service has are mapped back to the monolith's columns and
 * upserted, rows it no longer has are deleted from the archive.
 */
export async function reverseSync(ws: Workspace, service: string, opts: {progress?: ProgressReporter; signal?: AbortSignal} = {}): Promise<ReverseSyncResult> {
  const {runDiff} = await import('../../diff/run-diff.js')
  const progress = opts.progress ?? silentProgress
  const diff = await runDiff(ws, {service, progress, signal: opts.signal, recheckLive: false})
  const entities = await ws.entities(service)
  const target = await ws.target(service)
  const out: ReverseSyncResult = {diffRunId: diff.runId, entities: [], totals: {upserts: 0, deletes: 0}}
  const svc = diff.services.find((s) => s.name === service)
  for (const r of svc?.entities ?? []) {
    if (r.status === 'error') throw new UserError(`Reverse sync of ${service}/${r.entity} could not compare: ${r.error ?? 'unknown error'}`, {code: 'E_REVERSE'})
    const e = entities.find((x) => x.name === r.entity)!
    const upsertKeys = [...r.extra, ...r.changed.map((c) => c.key)]
    const upserts = await copyBack(ws, e, target, upsertKeys)
    let deletes = 0
    for (const part of chunks(r.missing, 1000)) {
      deletes += await ws.monolith.deleteKeys({table: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, keys: part})
    }
    out.entities.push({entity: e.name, upserts, deletes})
    out.totals.upserts += upserts
    out.totals.deletes += deletes
  }
  return out
}

async function copyBack(ws: Workspace, e: ResolvedEntity, target: Awaited<ReturnType<Workspace['target']>>, keys: readonly KeyTuple[]): Promise<number> {
  let n = 0
  for (const part of chunks(keys, 1000)) {
    const rows = await target.readByKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, columns: e.targetProjections, keys: part})
    if (!rows.length) continue
    await ws.monolith.upsert({table: e.source, key: e.sourceKey, columns: e.reverseColumns, rows: rows.map((r) => e.unmapRow(r))})
    n += rows.length
  }
  return n
}
