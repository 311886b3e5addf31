import {parseDuration} from '../../cli/render.js'
import {captureStatements, removeCapture, serviceOutbox} from '../../capture/capture.js'
import {Relay} from '../../capture/relay.js'
import {operatorName} from '../../state/audit.js'
import {getService, recordTransition, updateService, type ServiceState} from '../../state/services.js'
import type {ToggleProvider} from '../../toggles/provider.js'
import {toggleName} from '../../toggles/provider.js'
import {crashPoint} from '../../util/crash-points.js'
import {GateError, UserError} from '../../util/errors.js'
import {silentProgress, type ProgressReporter} from '../../util/progress.js'
import type {Workspace} from '../../workspace.js'
import {checkGates, describeFailures, failing, type GateResult} from '../gates.js'
import {requirePhase} from '../machine.js'
import {archiveInfo, archiveStatements, archiveTables, checkShared} from './archive.js'
import {reverseSync} from './reverse-sync.js'

/** The decommission steps, in order; each is recorded when done and skipped when resumed. */
export const DECOMMISSION_STEPS = ['cutover-writes', 'drain', 'final-diff', 'remove-capture', 'service-authoritative', 'archive', 'reverse-sync'] as const
export type DecommissionStep = (typeof DECOMMISSION_STEPS)[number]

export interface DecommissionOptions {
  dryRun?: boolean
  /** Confirmation of the archive step (the command asks interactively without it). */
  confirmed: boolean
  force?: string
  progress?: ProgressReporter
  signal?: AbortSignal
  /** Wait after the phase flips, so applications' SDKs (which poll the phase) stop writing the monolith before its tables move (default 2500 ms). */
  settleMs?: number
}

export interface StepReport {
  step: DecommissionStep
  status: 'done' | 'skipped (done before)' | 'planned'
  statements: string[]
  detail?: string
}

export interface DecommissionResult {
  service: string
  status: 'decommissioned' | 'dry-run' | 'already-decommissioned'
  resumed: boolean
  gates: GateResult[]
  steps: StepReport[]
  archive?: {table: string; archive: string}[]
}

interface Progress {
  startedAt: string
  done: DecommissionStep[]
  /** When applications had seen the write cut-over (after the settle time). */
  cutoverAt?: string
}

async function progressOf(s: ServiceState): Promise<Progress | undefined> {
  return s.info.decommission as Progress | undefined
}

async function markDone(ws: Workspace, service: string, p: Progress, step: DecommissionStep): Promise<void> {
  p.done.push(step)
  const next = DECOMMISSION_STEPS.find((x) => !p.done.includes(x))
  await updateService(ws.state, service, {step: next ? `decommission:${next}` : null, info: {decommission: p}})
  crashPoint(`decommission:after-${step}`)
}

/**
 * Decommission: the service becomes authoritative. Preconditions come from
 * the gates (reads at 100 % for the soak time, a clean diff, the relay drained,
 * no dead letters). Then, each step recorded and resumable: writes cut over
 * to the service (write toggle), the relay drained, a final diff, capture
 * removed, the monolith tables archived (moved out of the application's
 * reach, grants revoked, never dropped) and the reverse relay started so a
 * rollback stays lossless during the retention period.
 */
export async function runDecommission(ws: Workspace, service: string, toggles: ToggleProvider, opts: DecommissionOptions): Promise<DecommissionResult> {
  const progress = opts.progress ?? silentProgress
  const state = await getService(ws.state, service)
  const unfinished = (await progressOf(state)) !== undefined && state.step?.startsWith('decommission:')
  if (state.phase === 'decommissioned' && !unfinished) {
    return {service, status: 'already-decommissioned', resumed: false, gates: [], steps: []}
  }
  if (!unfinished) requirePhase(state, ['shift'], 'decommission')
  let p = await progressOf(state)
  const resumed = Boolean(p)
  let gates: GateResult[] = []
  if (!p) {
    gates = await checkGates(ws, service, 'decommission', {record: !opts.dryRun, contextLabel: 'enter:decommissioned'})
    const bad = failing(gates)
    if (bad.length && !opts.force && !opts.dryRun) {
      throw new GateError(`Service ${service} cannot be decommissioned: ${bad.length} gate(s) fail:\n${describeFailures(gates)}`, {
        hint: 'Hold reads at 100 % for the soak time (strangler shift --to 100), run a clean diff, and let the relay drain.',
      })
    }
  }

  // after the gates, before anything moves (and in a dry run): a table another service still reads cannot be archived
  if (!p || !p.done.includes('archive')) await checkShared(ws, service, await ws.entities(service))

  if (opts.dryRun) {
    const capture = await captureStatements(ws, service, {dropOutbox: true})
    const archive = await archiveStatements(ws, service)
    return {
      service,
      status: 'dry-run',
      resumed,
      gates,
      steps: [
        {step: 'cutover-writes', status: 'planned', statements: [`toggle ${toggleName(service, 'writes')} → 100 % (${toggles.kind})`, `services.${service}.write_target = service`]},
        {step: 'drain', status: 'planned', statements: ['relay: consume the outbox until empty']},
        {step: 'final-diff', status: 'planned', statements: [`diff ${service}: must be clean`]},
        {step: 'remove-capture', status: 'planned', statements: capture.remove},
        {step: 'service-authoritative', status: 'planned', statements: [`services.${service}.phase = decommissioned (applications write the service only)`]},
        {step: 'archive', status: 'planned', statements: archive.flatMap((a) => a.statements)},
        {step: 'reverse-sync', status: 'planned', statements: [`reverse relay: service → ${archive.map((a) => `${a.table.archive.schema}.${a.table.archive.name}`).join(', ')}`]},
      ],
      archive: archive.map((a) => ({table: `${a.table.source.schema}.${a.table.source.name}`, archive: `${a.table.archive.schema}.${a.table.archive.name}`})),
    }
  }
  if (!opts.confirmed) {
    throw new UserError(`Decommission archives the monolith tables of ${service}; it needs confirmation.`, {code: 'E_CONFIRM', hint: 'Run it in a terminal to confirm, or pass --yes.'})
  }

  if (!p) {
    p = {startedAt: new Date().toISOString(), done: []}
    await updateService(ws.state, service, {step: 'decommission:cutover-writes', info: {decommission: p}})
  }
  const steps: StepReport[] = []
  const run = async (step: DecommissionStep, fn: () => Promise<{statements?: string[]; detail?: string} | void>) => {
    if (p!.done.includes(step)) {
      steps.push({step, status: 'skipped (done before)', statements: []})
      return
    }
    if (opts.signal?.aborted) throw new UserError(`Interrupted before ${step}; run the command again to resume.`, {code: 'E_INTERRUPTED'})
    progress.note(`${service}: ${step}`)
    const r = (await fn()) ?? {}
    steps.push({step, status: 'done', statements: r.statements ?? [], detail: r.detail})
    await markDone(ws, service, p!, step)
  }

  await run('cutover-writes', async () => {
    await toggles.setRollout(toggleName(service, 'writes'), 100, {service})
    await updateService(ws.state, service, {writeTarget: 'service'})
    // applications' SDKs poll the write target: after the settle time every write goes to the service first
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 2500))
    p!.cutoverAt = new Date().toISOString()
    return {statements: [`toggle ${toggleName(service, 'writes')} → 100 %`], detail: 'writes now go to the service first, the monolith follows'}
  })
  await run('drain', async () => {
    // Every change made before the cut-over must reach the service. Changes after it are the
    // monolith following the service (reverse write-through): the relay may apply them too.
    // While a `relay --follow` runs, each drain waits for it to consume the outbox (one relay per service).
    const cutover = new Date(p!.cutoverAt ?? p!.startedAt).getTime()
    const outbox = serviceOutbox(ws, service)
    const relay = new Relay(ws, service, {progress, signal: opts.signal})
    let applied = 0
    for (let attempt = 0; ; attempt++) {
      applied += (await relay.drain()).applied
      const lag = await outbox.lag()
      if (lag.pending === 0 || Date.now() - lag.lagSeconds * 1000 > cutover) break
      if (attempt >= 40 || opts.signal?.aborted) {
        throw new UserError(`The relay could not drain the changes made before the write cut-over of ${service} (${lag.pending} pending, oldest ${lag.lagSeconds.toFixed(1)} s).`, {
          code: 'E_DRAIN',
          hint: 'Check `strangler status` for dead letters and long-running transactions on the monolith, then run decommission again (it resumes here).',
        })
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    return {detail: `${applied} change(s) applied`}
  })
  await run('final-diff', async () => {
    const {runDiff} = await import('../../diff/run-diff.js')
    const d = await runDiff(ws, {service, progress, signal: opts.signal})
    if (d.status !== 'clean') {
      throw new GateError(`The final diff of ${service} found differences (run ${d.runId}): missing ${d.totals.missing}, extra ${d.totals.extra}, changed ${d.totals.changed}.`, {
        hint: `Inspect with \`strangler diff ${service}\`, fix with \`strangler repair ${service}\`, then run decommission again (it resumes here).`,
      })
    }
    return {detail: `clean (run ${d.runId})`}
  })
  await run('remove-capture', async () => ({statements: await removeCapture(ws, service, {dropOutbox: true})}))
  await run('service-authoritative', async () => {
    // From here applications stop following writes into the monolith; give their SDKs time to see the phase before its tables move.
    await updateService(ws.state, service, {phase: 'decommissioned', readPct: 100, writeTarget: 'service'})
    await recordTransition(ws.state, {service, from: 'shift', to: 'decommissioned', operator: operatorName(), runId: ws.runId, reason: opts.force, forced: Boolean(opts.force && gates.some((g) => !g.ok))})
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 2500))
    return {detail: 'phase decommissioned: applications write the service only'}
  })
  await run('archive', async () => {
    const statements: string[] = []
    await archiveTables(ws, service, (s) => statements.push(s))
    return {statements}
  })
  await run('reverse-sync', async () => {
    const r = await reverseSync(ws, service, {progress, signal: opts.signal})
    return {detail: `archive caught up: ${r.totals.upserts} upserted, ${r.totals.deletes} deleted`}
  })

  const archive = await archiveInfo(ws, service)
  await updateService(ws.state, service, {phase: 'decommissioned', step: null, readPct: 100, writeTarget: 'service'})
  return {
    service,
    status: 'decommissioned',
    resumed,
    gates,
    steps,
    archive: archive.tables.map((t) => ({table: `${t.source.schema}.${t.source.name}`, archive: `${t.archive.schema}.${t.archive.name}`})),
  }
}

export interface PurgeResult {
  service: string
  dropped: string[]
  retentionEndedAt: string
}

/** Drops the archived tables once the plan's retention period has passed; refuses earlier. */
export async function purgeArchive(ws: Workspace, service: string, opts: {dryRun?: boolean; confirmed: boolean}): Promise<PurgeResult> {
  const state = await getService(ws.state, service)
  requirePhase(state, ['decommissioned'], 'purge the archive')
  const info = await archiveInfo(ws, service)
  if ((info as {purgedAt?: string}).purgedAt) throw new UserError(`The archive of ${service} was purged already.`, {code: 'E_PURGED'})
  const archivedAt = info.archivedAt ? new Date(info.archivedAt).getTime() : NaN
  const retentionMs = parseDuration(ws.plan.gates.retention)
  const endsAt = new Date(archivedAt + retentionMs)
  if (!Number.isFinite(archivedAt) || Date.now() < endsAt.getTime()) {
    throw new UserError(`Refusing to purge ${service}: the retention period (${ws.plan.gates.retention}) ends at ${Number.isFinite(archivedAt) ? endsAt.toISOString() : 'an unknown time'}.`, {
      code: 'E_RETENTION',
      hint: 'Rollback stays possible until then. Lower gates.retention in the plan if you really need to purge earlier.',
    })
  }
  const dropped = info.tables.filter((t) => t.archived).map((t) => `${t.archive.schema}.${t.archive.name}`)
  if (opts.dryRun) return {service, dropped, retentionEndedAt: endsAt.toISOString()}
  if (!opts.confirmed) throw new UserError(`Purging drops ${dropped.length} archived table(s) of ${service} for good; it needs confirmation.`, {code: 'E_CONFIRM', hint: 'Pass --yes.'})
  for (const t of info.tables.filter((x) => x.archived)) await ws.monolith.dropTarget(t.archive)
  await updateService(ws.state, service, {info: {archive: {...info, purgedAt: new Date().toISOString()}}})
  return {service, dropped, retentionEndedAt: endsAt.toISOString()}
}
