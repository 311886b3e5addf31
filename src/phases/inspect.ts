import {captureMethod, captureSpecs, serviceLogicalNames} from '../capture/capture.js'
import {checkLogicalCapture} from '../capture/logical.js'
import {diffStrategy} from '../diff/strategy.js'
import {getService, type Phase} from '../state/services.js'
import {errorMessage, UserError} from '../util/errors.js'
import type {Workspace} from '../workspace.js'

export interface EntityInspection {
  name: string
  source: string
  target: string
  estimatedRows: number
  key: string[]
  columns: {name: string; type: string; from: string; sensitive: boolean}[]
  filter: string | null
  targetExists: boolean | null
  diffMode: 'push-down' | 'mixed' | 'streaming'
  pushdown: boolean
  diffNotes: string[]
}

export interface ServiceInspection {
  name: string
  isolation: string
  /** How the monolith's changes will be captured; for `logical`, what still keeps it from working (null: ready). */
  capture: {method: 'triggers' | 'logical'; problem: string | null}
  phase: Phase | 'unknown'
  target: {engine: string; version: string; url: string}
  entities: EntityInspection[]
}

export interface PlanInspection {
  runId: string
  monolith: {engine: string; version: string; url: string; database: string}
  state: {location: string; prefix: string; initialised: boolean}
  services: ServiceInspection[]
}

function typeText(c: {type: string; precision?: number; scale?: number}): string {
  return c.precision === undefined ? c.type : c.scale === undefined ? `${c.type}(${c.precision})` : `${c.type}(${c.precision},${c.scale})`
}

/**
 * Connects to the monolith (and the service stores when asked), introspects
 * every source table and explains each entity's mapping and diff strategy.
 * Reads only: creates nothing.
 */
export async function inspectPlan(ws: Workspace, opts: {connectTargets: boolean; service?: string}): Promise<PlanInspection> {
  const mono = await ws.monolith.info()
  const initialised = await ws.state.isReady()
  const services: ServiceInspection[] = []
  for (const name of opts.service ? [opts.service] : ws.serviceNames()) {
    const svc = ws.service(name)
    const entities = await ws.entities(name)
    const target = opts.connectTargets ? await ws.target(name) : undefined
    const tinfo = target ? await target.info() : undefined
    const phase = initialised ? (await getService(ws.state, name)).phase : 'unknown'
    const out: EntityInspection[] = []
    for (const e of entities) {
      const strategy = target ? diffStrategy(e, ws.monolith, target) : undefined
      let exists: boolean | null = null
      if (target) {
        try {
          exists = await target.tableExists(e.target)
        } catch (err) {
          throw new Error(`checking ${e.target.name} on ${target.displayUrl}: ${errorMessage(err)}`)
        }
      }
      out.push({
        name: e.name,
        source: `${e.source.schema ? e.source.schema + '.' : ''}${e.source.name}`,
        target: `${e.target.schema ? e.target.schema + '.' : ''}${e.target.name}`,
        estimatedRows: e.sourceInfo.estimatedRows,
        key: [...e.sourceKey],
        columns: e.columns.map((c) => ({
          name: c.name,
          type: typeText(c),
          from:
            c.source.kind === 'column'
              ? c.source.cast
                ? `cast(${c.source.column})`
                : c.source.column
              : c.source.kind === 'const'
                ? `const ${JSON.stringify(c.source.value)}`
                : c.source.kind === 'sql'
                  ? `sql: ${c.source.sql}`
                  : c.source.kind === 'relation'
                    ? `${c.source.relation} ${c.source.table.name}`
                    : 'js function',
          sensitive: c.sensitive,
        })),
        filter: e.filter ?? null,
        targetExists: exists,
        diffMode: strategy?.mode ?? (e.sqlExpressible ? 'push-down' : 'mixed'),
        pushdown: strategy ? strategy.mode === 'push-down' : e.sqlExpressible,
        diffNotes: strategy?.reasons ?? [],
      })
    }
    services.push({
      name,
      isolation: svc.isolation,
      capture: await captureReadiness(ws, name),
      phase,
      target: tinfo ? {engine: tinfo.engine, version: tinfo.version, url: target!.displayUrl} : {engine: '?', version: 'not connected', url: ''},
      entities: out,
    })
  }
  return {
    runId: ws.runId,
    monolith: {engine: mono.engine, version: mono.version, url: ws.monolith.displayUrl, database: mono.database},
    state: {location: ws.state.engine.displayUrl, prefix: ws.state.prefix, initialised},
    services,
  }
}

/** Logical capture's preconditions (wal_level, REPLICATION, CREATE, ownership, replica identity), checked without creating anything. */
async function captureReadiness(ws: Workspace, service: string): Promise<ServiceInspection['capture']> {
  const method = captureMethod(ws, service)
  if (method !== 'logical') return {method, problem: null}
  try {
    const specs = (await captureSpecs(ws, service)).filter((s) => !s.roots)
    await checkLogicalCapture(ws.monolith, specs, await serviceLogicalNames(ws, service))
    return {method, problem: null}
  } catch (err) {
    if (!(err instanceof UserError)) throw err
    return {method, problem: `${err.message}${err.hint ? ` ${err.hint}` : ''}`}
  }
}
