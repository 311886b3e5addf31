import type {KeyTuple} from '../engines/types.js'
import {UserError} from '../util/errors.js'
import {type ProgressReporter, silentProgress} from '../util/progress.js'
import type {Workspace} from '../workspace.js'
import {type RunRow, findRun, loadKeys, recentRuns} from './diff-store.js'
import type {ChangedRow} from './diff-types.js'
import {prepareComparison, tableLabel} from './entity-diff.js'
import {recheckKeys} from './key-recheck.js'

export interface RepairOptions {
  service: string
  /** Entities to repair (default: every entity with differing keys). */
  entities?: string[]
  /** The diff run whose keys to repair (default: the service's last finished run). */
  fromDiff?: string
  /** Plan only: read both sides, change nothing. */
  dryRun?: boolean
  progress?: ProgressReporter
}

/** What repair did (or would do) to one entity, and what still differs after it. */
export interface EntityRepair {
  entity: string
  source: string
  target: string
  /** Differing keys the diff run recorded for the entity. */
  keys: number
  /** Rows re-copied from the monolith (or that would be). */
  upserts: number
  /** Keys deleted from the service store because the monolith does not have them (or would be). */
  deletes: number
  /** Re-check of the keys after the repair (before it, with --dry-run). */
  remaining: {missing: KeyTuple[]; extra: KeyTuple[]; changed: ChangedRow[]}
}

export interface RepairResult {
  runId: string
  fromDiff: string
  service: string
  dryRun: boolean
  status: 'repaired' | 'nothing-to-repair' | 'dry-run' | 'still-differs'
  entities: EntityRepair[]
  totals: {keys: number; upserts: number; deletes: number; remaining: number}
}

async function pickRun(ws: Workspace, service: string, fromDiff?: string): Promise<RunRow> {
  if (fromDiff) {
    const rows = (await findRun(ws.state, fromDiff)).filter((r) => r.service === service)
    if (!rows.length) throw new UserError(`No diff run ${fromDiff} of ${service} in the state store.`, {code: 'E_NO_RUN', hint: `Run \`strangler diff ${service}\` first.`})
    return rows[0]
  }
  const [last] = await recentRuns(ws.state, service, {finished: true, limit: 1})
  if (!last) throw new UserError(`Service ${service} has never been diffed: there is nothing to repair.`, {code: 'E_NO_RUN', hint: `Run \`strangler diff ${service}\` first.`})
  return last
}

/**
 * Re-copies exactly the keys a diff run found differing, from the monolith
 * (authoritative before decommission): keys the monolith has are re-read,
 * mapped and upserted; keys it lacks are deleted from the service store.
 * Then the keys are compared again. With `dryRun`, nothing is written.
 */
export async function runRepair(ws: Workspace, opts: RepairOptions): Promise<RepairResult> {
  await ws.state.requireReady()
  ws.service(opts.service)
  const run = await pickRun(ws, opts.service, opts.fromDiff)
  if (run.status === 'running' || run.status === 'interrupted') {
    throw new UserError(`The diff run ${run.runId} of ${opts.service} did not finish (${run.status}); its key list is incomplete.`, {
      code: 'E_NO_RUN',
      hint: `Finish it with \`strangler diff ${opts.service} --resume ${run.runId}\`, then repair.`,
    })
  }
  const stored = await loadKeys(ws.state, run.runId, opts.service)
  const target = await ws.target(opts.service)
  const all = await ws.entities(opts.service)
  const wanted = opts.entities?.length ? all.filter((e) => opts.entities!.some((w) => w === e.name || w === e.source.name)) : all
  const unknown = (opts.entities ?? []).filter((w) => !all.some((e) => e.name === w || e.source.name === w))
  if (unknown.length) throw new UserError(`Unknown entity ${unknown.join(', ')} of ${opts.service}.`, {code: 'E_UNKNOWN_ENTITY', hint: `Entities: ${all.map((e) => e.name).join(', ')}.`})
  const progress = opts.progress ?? silentProgress

  const out: EntityRepair[] = []
  for (const entity of wanted) {
    const keys = stored.filter((k) => k.entity === entity.name).map((k) => k.key)
    if (!keys.length) continue
    const cmp = await prepareComparison(entity, ws.monolith, target)
    const task = progress.task(`repair ${opts.service}/${entity.name}`, keys.length, 'keys')
    let upserts = 0
    let deletes = 0
    for (let i = 0; i < keys.length; i += 1000) {
      const part = keys.slice(i, i + 1000)
      const ids = new Map(part.map((k) => [cmp.order.id(k), k]))
      const rows = await ws.monolith.readByKeys({table: entity.source, key: entity.sourceKey, keyTypes: entity.sourceKeyTypes, columns: entity.projections, keys: part, filter: entity.filter})
      // only rows whose key is bytewise one of ours (a case-insensitive collation returns near matches)
      const found = rows.filter((r) => ids.has(cmp.order.id(entity.sourceKey.map((k) => r[k]))))
      const have = new Set(found.map((r) => cmp.order.id(entity.sourceKey.map((k) => r[k]))))
      const gone = [...ids.entries()].filter(([id]) => !have.has(id)).map(([, k]) => k)
      upserts += found.length
      deletes += gone.length
      if (!opts.dryRun) {
        if (found.length) await target.upsert({table: entity.target, key: entity.targetKey, columns: entity.targetSpec.columns, rows: await entity.materialise(found)})
        if (gone.length) await target.deleteKeys({table: entity.target, key: entity.targetKey, keys: gone, keyTypes: entity.sourceKeyTypes})
      }
      task.increment(part.length)
    }
    const remaining = await recheckKeys(cmp.source, cmp.target, cmp.order, cmp.strategy.columns, keys)
    task.stop(opts.dryRun ? `${upserts} to re-copy, ${deletes} to delete` : `${upserts} re-copied, ${deletes} deleted`)
    out.push({entity: entity.name, source: tableLabel(entity.source), target: tableLabel(entity.target), keys: keys.length, upserts, deletes, remaining})
  }
  progress.close()
  const count = (r: EntityRepair['remaining']) => r.missing.length + r.extra.length + r.changed.length
  const totals = {
    keys: out.reduce((n, e) => n + e.keys, 0),
    upserts: out.reduce((n, e) => n + e.upserts, 0),
    deletes: out.reduce((n, e) => n + e.deletes, 0),
    remaining: out.reduce((n, e) => n + count(e.remaining), 0),
  }
  const status = totals.keys === 0 ? 'nothing-to-repair' : opts.dryRun ? 'dry-run' : totals.remaining ? 'still-differs' : 'repaired'
  return {runId: ws.runId, fromDiff: run.runId, service: opts.service, dryRun: Boolean(opts.dryRun), status, entities: out, totals}
}
