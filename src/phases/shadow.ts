import {relationPaths} from '../mapping/aggregate.js'
import {runBackfill, type BackfillResult, type EntityBackfillResult} from '../backfill/backfill.js'
import {BACKFILL_KIND} from '../backfill/backfill-state.js'
import type {ThrottleProbe} from '../backfill/throttler.js'
import {captureInstalled, captureStatements, installCapture, removeCapture} from '../capture/capture.js'
import {emptyTarget} from '../capture/empty-target.js'
import {Relay} from '../capture/relay.js'
import type {Engine} from '../engines/engine.js'
import type {TableRef} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {deleteCheckpoints, listCheckpoints} from '../state/checkpoints.js'
import {getService, updateService, type Phase, type ServiceState} from '../state/services.js'
import {UserError, errorMessage, withContext} from '../util/errors.js'
import {silentProgress, type ProgressReporter} from '../util/progress.js'
import type {Workspace} from '../workspace.js'
import {advance, requirePhase, retreat} from './machine.js'

/** Totals the relay reports after catching up. */
export type RelayTotals = Awaited<ReturnType<Relay['drain']>>

export interface ShadowOptions {
  /** Backfill workers across the service's entities (default 4). */
  parallel?: number
  /** Rows per chunk: read, written and checkpointed together. */
  chunkRows?: number
  /** Rows per write statement. */
  batchSize?: number
  maxRowsPerSecond?: number
  /** Pause the backfill while the monolith runs more queries than this (PostgreSQL active backends, MySQL Threads_running). */
  maxMonolithLoad?: number
  /** Only these entities (names or source table names); default all. */
  entities?: readonly string[]
  /** Print what would be created; change nothing. */
  dryRun?: boolean
  /** Return after the backfill, without waiting for the relay. */
  detach?: boolean
  /** Keep the relay running after it caught up, until `signal` aborts. */
  follow?: boolean
  /** Relay catch-up timeout in ms. */
  drainTimeoutMs?: number
  progress?: ProgressReporter
  /** SIGTERM/SIGINT: the backfill stops after the chunks in hand, the relay after its batch. */
  signal?: AbortSignal
}

export interface ShadowEntityResult {
  name: string
  source: string
  target: string
  /** True when this run (or an earlier one of this shadow phase) created the target table. */
  created: boolean
  rowsCopied: number
  rowsTotal: number
  rowsEstimated: number
  chunks: number
  resumed: boolean
  done: boolean
  seconds: number
  rowsPerSecond: number
}

export interface ShadowResult {
  service: string
  /** The phase the service is in afterwards. */
  phase: Phase
  from: Phase
  dryRun: boolean
  entities: ShadowEntityResult[]
  backfill: {seconds: number; pausedSeconds: number; aborted: boolean} | null
  relay: RelayTotals | null
  /** Every statement the run would execute (dry run) or executed to create targets and capture. */
  ddl?: string[]
  warnings: string[]
}

/** What the service row remembers about the shadow phase (in `info.shadow`), so `--abort` removes exactly what it created. */
interface ShadowInfo {
  /** Tables shadow created: dropped by --abort. */
  createdTargets: TableRef[]
  /** Tables that existed, empty, before shadow filled them: emptied by --abort. */
  filledTargets: TableRef[]
}

interface Checked {
  state: ServiceState
  target: Engine
  all: ResolvedEntity[]
  selected: ResolvedEntity[]
  existing: Map<string, boolean>
  info: ShadowInfo
}

const label = (r: TableRef): string => (r.schema ? `${r.schema}.${r.name}` : r.name)
const sameRef = (a: TableRef, b: TableRef): boolean => a.name === b.name && (a.schema ?? '') === (b.schema ?? '')

function shadowInfo(state: ServiceState): ShadowInfo {
  const s = state.info.shadow as Partial<ShadowInfo> | undefined
  return {createdTargets: Array.isArray(s?.createdTargets) ? s.createdTargets : [], filledTargets: Array.isArray(s?.filledTargets) ? s.filledTargets : []}
}

/**
 * Everything `shadow` checks before it changes anything: the control plane
 * is initialised, the service exists and is planned (or already in shadow,
 * which resumes), the mapping resolves against the monolith, the target is
 * reachable, no target table is a source table, and no table it would fill
 * holds someone else's rows.
 */
async function check(ws: Workspace, service: string, opts: {entities?: readonly string[]; allowed: Phase[]; action: string}): Promise<Checked> {
  await ws.state.requireReady()
  ws.service(service)
  const state = await getService(ws.state, service)
  requirePhase(state, opts.allowed, opts.action)
  const all = await ws.entities(service)
  let selected = all
  if (opts.entities?.length) {
    selected = []
    for (const name of opts.entities) {
      const e = all.find((x) => x.name === name || x.source.name === name || label(x.source) === name)
      if (!e) throw new UserError(`Service ${service} has no entity "${name}".`, {code: 'E_UNKNOWN_ENTITY', hint: `Entities: ${all.map((x) => x.name).join(', ')}.`})
      if (!selected.includes(e)) selected.push(e)
    }
  }
  const target = await ws.target(service)
  try {
    await target.info()
  } catch (err) {
    throw withContext(err, `services.${service}.target`)
  }
  const info = shadowInfo(state)
  const existing = new Map<string, boolean>()
  for (const e of all) {
    if (target === ws.monolith) {
      const t = {schema: e.target.schema ?? target.defaultSchema, name: e.target.name}
      for (const s of all) {
        if (sameRef(t, {schema: s.source.schema ?? ws.monolith.defaultSchema, name: s.source.name})) {
          throw new UserError(`services.${service}: the target of ${e.name} is the source table ${label(s.source)} itself.`, {
            code: 'E_CONFIG',
            hint: 'Give the service its own schema, a table prefix (isolation: private-tables) or its own server.',
          })
        }
      }
    }
    existing.set(e.name, await target.tableExists(e.target))
  }
  if (state.phase === 'planned') {
    for (const e of selected) {
      if (!existing.get(e.name) || info.createdTargets.some((r) => sameRef(r, e.target))) continue
      const rows = await target.count(e.target)
      if (rows > 0) {
        throw new UserError(`Target ${label(e.target)} on ${target.displayUrl} already holds ${rows} row(s), and strangler did not create it.`, {
          code: 'E_TARGET_NOT_EMPTY',
          hint: 'Empty or drop it first, or map the entity to another target table; shadow only fills tables that are empty or its own.',
        })
      }
    }
  }
  return {state, target, all, selected, existing, info}
}

/**
 * planned → shadow. Creates the target tables, installs change capture (before
 * the backfill, so every write after a row is copied is captured), backfills
 * the entities, then runs the relay until the service is caught up
 * (`follow`: keeps running; `detach`: returns after the backfill). Running it
 * again on a service in shadow resumes the backfill from its checkpoints.
 */
export async function runShadow(ws: Workspace, service: string, opts: ShadowOptions = {}): Promise<ShadowResult> {
  const progress = opts.progress ?? silentProgress
  const log = ws.log.child({service, component: 'shadow'})
  const c = await check(ws, service, {entities: opts.entities, allowed: ['planned', 'shadow'], action: 'start the shadow phase'})
  const from = c.state.phase
  const warnings: string[] = []
  const capture = await captureStatements(ws, service)
  const targetDdl = c.selected.flatMap((e) => c.target.targetDdl(e.targetSpec))

  if (opts.dryRun) {
    return {
      service,
      phase: from,
      from,
      dryRun: true,
      entities: c.selected.map((e) => entityResult(e, c, undefined)),
      backfill: null,
      relay: null,
      ddl: [...targetDdl, ...capture.install],
      warnings,
    }
  }

  // 1. Target tables, remembered before they are created or filled so --abort finds them even after a crash.
  const known = (r: TableRef): boolean => [...c.info.createdTargets, ...c.info.filledTargets].some((x) => sameRef(x, r))
  const fresh = c.selected.filter((e) => !known(e.target))
  if (fresh.length) {
    for (const e of fresh) {
      const ref = {...(e.target.schema ? {schema: e.target.schema} : {}), name: e.target.name}
      if (c.existing.get(e.name)) c.info.filledTargets.push(ref)
      else c.info.createdTargets.push(ref)
    }
    await updateService(ws.state, service, {info: {shadow: c.info}})
  }
  const ddl: string[] = []
  for (const e of c.selected) {
    progress.note(`${c.existing.get(e.name) ? 'using' : 'creating'} ${label(e.target)} on ${c.target.displayUrl}`)
    try {
      ddl.push(...(await c.target.createTarget(e.targetSpec)))
    } catch (err) {
      throw withContext(err, `creating ${label(e.target)} for ${e.name}`)
    }
  }

  // 2. Change capture, before the first row is copied.
  if (!(await captureInstalled(ws, service))) {
    if (from === 'shadow') {
      const w = `change capture of ${service} was missing and has been reinstalled: entities backfilled earlier may have missed changes; run \`strangler diff ${service}\``
      warnings.push(w)
      log.warn(w)
    }
    progress.note(`installing change capture on ${c.all.map((e) => label(e.source)).join(', ')}`)
    try {
      ddl.push(...(await installCapture(ws, service)))
    } catch (err) {
      throw await undoFreshStart(ws, service, from, c.all, err)
    }
  }

  // 3. The phase: shadow starts now (the backfill and relay are its work).
  if (from === 'planned') await advance(ws, service, 'shadow', {patch: {step: 'shadow:backfill'}})
  else await updateService(ws.state, service, {step: 'shadow:backfill'})

  // 4. The backfill, with the relay following alongside: entities already copied (by an
  // earlier run, or the first to finish in this one) stay current while the others copy,
  // and the backfill pauses while that relay lags behind.
  const alongside = new AbortController()
  const relaySignal = opts.signal ? AbortSignal.any([opts.signal, alongside.signal]) : alongside.signal
  const following = new Relay(ws, service, {signal: relaySignal, idleMs: 500}).follow(relaySignal)
  let backfill: BackfillResult
  let during: RelayTotals | undefined
  try {
    backfill = await runBackfill(ws, c.target, c.selected, {
      parallel: opts.parallel,
      chunkRows: opts.chunkRows,
      batchSize: opts.batchSize,
      maxRowsPerSecond: opts.maxRowsPerSecond,
      probes: probes(ws, service, opts),
      progress,
      signal: opts.signal,
    })
  } finally {
    alongside.abort()
    during = await following.catch((err: unknown) => {
      log.warn(`the relay running alongside the backfill stopped: ${errorMessage(err)}`)
      return undefined
    })
  }
  const entities = c.selected.map((e) => entityResult(e, c, backfill.entities.find((b) => b.name === e.name)))
  const result: ShadowResult = {
    service,
    phase: 'shadow',
    from,
    dryRun: false,
    entities,
    backfill: {seconds: backfill.seconds, pausedSeconds: backfill.pausedSeconds, aborted: backfill.aborted},
    relay: during ?? null,
    ddl,
    warnings,
  }
  if (backfill.aborted || opts.signal?.aborted) return result
  const pending = await pendingEntities(ws, service, c.all)
  if (pending.length) {
    warnings.push(`entities not backfilled yet: ${pending.join(', ')} (run \`strangler shadow ${service}\` for them)`)
  }
  await updateService(ws.state, service, {step: 'shadow:relay'})
  if (opts.detach) return result

  // 5. The relay: catch up, then (with --follow) keep the service store a live copy.
  const relay = new Relay(ws, service, {progress, signal: opts.signal})
  result.relay = addTotals(result.relay, await relay.drain({timeoutMs: opts.drainTimeoutMs}))
  if (!pending.length) await updateService(ws.state, service, {step: null})
  if (opts.follow && !opts.signal?.aborted) {
    progress.note(`relay of ${service} caught up; following changes until SIGTERM`)
    result.relay = addTotals(result.relay, await relay.follow(opts.signal ?? new AbortController().signal))
  }
  return result
}

/** Counters summed; lag and pending from the later run. */
function addTotals(a: RelayTotals | null, b: RelayTotals): RelayTotals {
  if (!a) return b
  const out = {...b}
  for (const k of ['batches', 'changes', 'applied', 'upserts', 'deletes', 'deadLettered', 'resolved', 'retries'] as const) out[k] = a[k] + b[k]
  return out
}

function entityResult(e: ResolvedEntity, c: Checked, b: EntityBackfillResult | undefined): ShadowEntityResult {
  return {
    name: e.name,
    source: label(e.source),
    target: label(e.target),
    created: !c.existing.get(e.name) || c.info.createdTargets.some((r) => sameRef(r, e.target)),
    rowsCopied: b?.rowsCopied ?? 0,
    rowsTotal: b?.rowsTotal ?? 0,
    rowsEstimated: b?.rowsEstimated ?? e.sourceInfo.estimatedRows,
    chunks: b?.chunks ?? 0,
    resumed: b?.resumed ?? false,
    done: b?.done ?? false,
    seconds: b?.seconds ?? 0,
    rowsPerSecond: b?.rowsPerSecond ?? 0,
  }
}

/**
 * Capture could not be installed (most often: the monolith user lacks a
 * privilege). A fresh start undoes what it created — the service tables and a
 * partly installed capture — so nothing is left half-made, and the error says
 * which grants capture needs.
 */
async function undoFreshStart(ws: Workspace, service: string, from: Phase, entities: readonly ResolvedEntity[], err: unknown): Promise<Error> {
  let left = ''
  if (from === 'planned') {
    try {
      await abortShadow(ws, service)
    } catch (undo) {
      left = ` Parts of the capture may be left: run \`strangler shadow ${service} --abort\` with a privileged user.`
      // abort could not remove the (partial) capture with these privileges: at least drop the tables this start created
      const info = shadowInfo(await getService(ws.state, service))
      const target = await ws.target(service)
      for (const r of info.createdTargets) await target.dropTarget(r).catch(() => undefined)
      await updateService(ws.state, service, {step: null, info: {shadow: undefined}})
      ws.log.warn(`could not undo the partial start of ${service} completely (${errorMessage(undo)}); run \`strangler shadow ${service} --abort\` with a privileged user`, {service})
    }
  }
  const e = withContext(err, 'installing change capture on the monolith')
  if (!(err instanceof UserError) || err.code !== 'E_PRIVILEGE') return e
  let user = 'the monolith user'
  try {
    user = decodeURIComponent(new URL(ws.plan.monolith.url).username) || user
  } catch {
    // not a URL with a user
  }
  const schema = ws.monolith.defaultSchema ?? ws.monolith.database
  // an aggregate's related tables carry capture triggers too
  const tables = [...new Set(entities.flatMap((x) => [label(x.source), ...relationPaths(x.relations ?? []).map((p) => label(p.relation.table))]))].join(', ')
  return new UserError(e.message, {
    code: 'E_PRIVILEGE',
    cause: err,
    hint:
      `Change capture needs, for ${user}: on PostgreSQL, CREATE on schema ${schema} (the outbox and the trigger functions) and TRIGGER on ${tables}; ` +
      `on MySQL/MariaDB, CREATE and TRIGGER on database ${ws.monolith.database} and SELECT, INSERT, DELETE on its ${ws.outbox(service).name} table ` +
      `(plus SUPER, or log_bin_trust_function_creators=1, when binary logging is on).${left} SECURITY.md lists the grants of every phase.`,
  })
}

/** Entities whose backfill has not finished (the relay holds their changes back). */
async function pendingEntities(ws: Workspace, service: string, all: readonly ResolvedEntity[]): Promise<string[]> {
  const cps = await listCheckpoints<{done?: boolean}>(ws.state, service, BACKFILL_KIND)
  return all.filter((e) => !cps.find((c) => c.entity === e.name)?.state.done).map((e) => e.name)
}

/** Throttle probes: relay lag of the entities already backfilled, and monolith load. */
function probes(ws: Workspace, service: string, opts: ShadowOptions): ThrottleProbe[] {
  const out: ThrottleProbe[] = []
  const maxLag = ws.plan.gates.maxRelayLagSeconds
  out.push({
    name: 'relay lag',
    unit: 's',
    limit: maxLag,
    async read() {
      // Only entities whose backfill is done are relayed; the others' changes wait on purpose.
      const done = (await listCheckpoints<{done?: boolean}>(ws.state, service, BACKFILL_KIND)).filter((c) => c.state.done).map((c) => c.entity)
      if (!done.length) return undefined
      return (await new Relay(ws, service, {entities: done}).lag()).lagSeconds
    },
  })
  const serverLoad = ws.monolith.serverLoad?.bind(ws.monolith)
  if (opts.maxMonolithLoad && serverLoad) out.push({name: 'monolith load', unit: 'running queries', limit: opts.maxMonolithLoad, read: () => serverLoad()})
  return out
}

export interface AbortShadowResult {
  service: string
  phase: Phase
  from: Phase
  dryRun: boolean
  /** Capture statements run (or, dry run, that would run). */
  removed: string[]
  droppedTargets: string[]
  /** Target tables that existed (empty) before shadow filled them: emptied, left in place. */
  emptiedTargets: string[]
}

/**
 * `shadow --abort`: back to planned. Removes the triggers and the outbox,
 * drops the target tables shadow created, empties the ones that existed
 * (empty) before it filled them, and forgets the backfill checkpoints. Safe
 * to repeat.
 */
export async function abortShadow(ws: Workspace, service: string, opts: {dryRun?: boolean} = {}): Promise<AbortShadowResult> {
  const c = await check(ws, service, {allowed: ['shadow', 'planned'], action: 'abort the shadow phase'})
  const from = c.state.phase
  const sources = c.all.map((e) => ({schema: e.source.schema ?? ws.monolith.defaultSchema, name: e.source.name}))
  const isSource = (r: TableRef): boolean =>
    c.target === ws.monolith && sources.some((s) => sameRef(s, {schema: r.schema ?? c.target.defaultSchema, name: r.name}))
  const drop = c.info.createdTargets.filter((r) => !isSource(r))
  const empty = c.info.filledTargets.filter((r) => !isSource(r))
  const plan = await captureStatements(ws, service, {dropOutbox: true})
  if (opts.dryRun) {
    return {service, phase: from, from, dryRun: true, removed: plan.remove, droppedTargets: drop.map(label), emptiedTargets: empty.map(label)}
  }
  const removed = await removeCapture(ws, service, {dropOutbox: true})
  const fail = (r: TableRef, what: string, err: unknown): UserError =>
    new UserError(`Could not ${what} ${label(r)} on ${c.target.displayUrl}: ${errorMessage(err)}`, {hint: 'Fix the cause and run `strangler shadow SERVICE --abort` again.', cause: err})
  const dropped: string[] = []
  for (const r of drop) {
    try {
      await c.target.dropTarget(r)
      dropped.push(label(r))
    } catch (err) {
      throw fail(r, 'drop', err)
    }
  }
  const emptied: string[] = []
  for (const r of empty) {
    const e = c.all.find((x) => sameRef(x.target, r))
    if (!e || !(await c.target.tableExists(r))) continue
    try {
      await emptyTarget(c.target, e)
      emptied.push(label(r))
    } catch (err) {
      throw fail(r, 'empty', err)
    }
  }
  await deleteCheckpoints(ws.state, service, BACKFILL_KIND)
  const patch = {step: null, info: {shadow: undefined}}
  if (from === 'shadow') await retreat(ws, service, 'planned', {reason: 'shadow --abort', patch})
  else await updateService(ws.state, service, patch)
  return {service, phase: 'planned', from, dryRun: false, removed, droppedTargets: dropped, emptiedTargets: emptied}
}

/** Deletes every row of an entity's target, key batch by key batch (any engine). */
