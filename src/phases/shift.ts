import {recordAudit} from '../state/audit.js'
import {getService, updateService} from '../state/services.js'
import type {ToggleProvider} from '../toggles/provider.js'
import {toggleName} from '../toggles/provider.js'
import {crashPoint} from '../util/crash-points.js'
import {UserError} from '../util/errors.js'
import type {ProgressReporter} from '../util/progress.js'
import {silentProgress} from '../util/progress.js'
import type {Workspace} from '../workspace.js'
import {checkGates, describeFailures, evaluate, failing, measure, type GateResult} from './gates.js'
import {advance} from './machine.js'

export interface ShiftOptions {
  /**
   * Percentages to walk through, in order (`--to 50` is `[50]`). A run never
   * lowers reads unless `lower` is set: steps below the current percentage are
   * skipped, the step at it holds (its soak continues), so re-running the same
   * command after an interruption resumes where it stopped.
   */
  steps: number[]
  /** `--to N`: a target below the current percentage lowers reads (recorded in the audit log). */
  lower?: boolean
  soakMs: number
  checkEveryMs: number
  dryRun?: boolean
  /** Reason for overriding the gates to enter shift (audited). */
  force?: string
  /** Run a fresh diff before every step up. */
  diffEachStep?: boolean
  signal?: AbortSignal
  progress?: ProgressReporter
}

export interface ShiftStepReport {
  pct: number
  status: 'done' | 'skipped' | 'refused' | 'stepped-back' | 'interrupted'
  startedAt: string
  finishedAt: string
  gates: GateResult[]
  reason?: string
}

export interface ShiftResult {
  service: string
  toggle: string
  provider: string
  status: 'completed' | 'refused' | 'stepped-back' | 'interrupted' | 'dry-run'
  from: number
  final: number
  steps: ShiftStepReport[]
  reason?: string
}

/** What a run does at one requested percentage (see {@link planSteps}). */
export type StepAction = 'up' | 'hold' | 'lower' | 'skip'

/**
 * The step being soaked, kept in the service's `info.shift`: a re-run that
 * holds at the same percentage continues the soak from `soakStartedAt`, and a
 * failing gate steps back to `previous`.
 */
export interface ShiftProgress {
  pct: number
  soakStartedAt: string
  previous: number
}

/**
 * What a run does with each requested percentage, starting from the current
 * one: above the level reached so far it steps up, at it it holds (the soak
 * continues or restarts), below it it is skipped, so a re-run of an
 * interrupted `--steps` walk resumes and never lowers reads. Only `lower`
 * (`--to N` below the current percentage) goes down.
 */
export function planSteps(current: number, steps: readonly number[], opts: {lower?: boolean} = {}): {pct: number; action: StepAction}[] {
  let level = current
  return steps.map((pct) => {
    if (pct > level) {
      level = pct
      return {pct, action: 'up'}
    }
    if (pct === level) return {pct, action: 'hold'}
    if (opts.lower) {
      level = pct
      return {pct, action: 'lower'}
    }
    return {pct, action: 'skip'}
  })
}

/** The recorded soak of the service's current step, if it is for `pct`. */
function recordedSoak(info: Record<string, unknown>, pct: number, steps: readonly number[]): ShiftProgress | undefined {
  const p = info.shift as Partial<ShiftProgress> | null | undefined
  if (!p || p.pct !== pct || typeof p.soakStartedAt !== 'string' || !Number.isFinite(Date.parse(p.soakStartedAt))) return undefined
  return {pct, soakStartedAt: p.soakStartedAt, previous: typeof p.previous === 'number' ? p.previous : fallbackPrevious(pct, steps)}
}

/** Where a failing soak at `pct` steps back to when nothing was recorded: the highest requested step below it, else 0. */
function fallbackPrevious(pct: number, steps: readonly number[]): number {
  return Math.max(0, ...steps.filter((s) => s < pct))
}

/** Parses `5,25,50,100` into validated percentages. */
export function parseSteps(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean)
  if (!parts.length) throw new UserError('--steps needs at least one percentage, e.g. --steps 5,25,50,100', {code: 'E_USAGE'})
  return parts.map((p) => validatePct(p, '--steps'))
}

export function validatePct(text: string | number, flag: string): number {
  const n = typeof text === 'number' ? text : Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 100) {
    throw new UserError(`${flag}: ${JSON.stringify(String(text))} is not a whole percentage between 0 and 100.`, {code: 'E_USAGE'})
  }
  return n
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}

/**
 * Walks the service's read toggle through the steps. Before every step up the
 * gates are checked; during every soak they are re-checked every
 * `checkEveryMs`. A failing gate steps back to the last good percentage on its
 * own and ends with status `stepped-back` (the CLI exits 1). An abort (Ctrl-C)
 * leaves the toggle at the last completed step. Re-running the same steps
 * resumes (see {@link planSteps}): steps below the current percentage are
 * skipped, the current step's soak continues from its recorded start.
 */
export async function runShift(ws: Workspace, service: string, provider: ToggleProvider, opts: ShiftOptions): Promise<ShiftResult> {
  const progress = opts.progress ?? silentProgress
  const toggle = toggleName(service, 'reads')
  let state = await getService(ws.state, service)
  if (state.phase !== 'write-through' && state.phase !== 'shift') {
    throw new UserError(`Cannot shift reads: service ${service} is in phase ${state.phase}, needs write-through or shift.`, {
      code: 'E_PHASE',
      hint: state.phase === 'decommissioned' ? 'Reads are already on the service; use `strangler rollback` to go back.' : `Run \`strangler write-through ${service}\` first.`,
    })
  }
  const from = state.readPct
  const result: ShiftResult = {service, toggle, provider: provider.kind, status: 'completed', from, final: from, steps: []}

  if (opts.dryRun) {
    const m = await measure(ws, service)
    const gates = evaluate(state.phase === 'write-through' ? 'shift' : 'shift-step', m, ws.plan.gates)
    const current = state.phase === 'write-through' ? 0 : state.readPct
    result.status = 'dry-run'
    result.steps = planSteps(current, opts.steps, {lower: opts.lower}).map(({pct, action}) => ({
      pct,
      status: action === 'skip' ? 'skipped' : 'done',
      startedAt: '',
      finishedAt: '',
      gates,
      reason: `dry run: nothing changed (${DRY_RUN_ACTION[action]})`,
    }))
    return result
  }

  if (state.phase === 'write-through') {
    await advance(ws, service, 'shift', {force: opts.force, patch: {readPct: 0, info: {shift: null}}})
    state = await getService(ws.state, service)
    progress.note(`${service}: entered shift (reads 0 % on the service)`)
  }

  let current = state.readPct
  // only the first hold at the recorded step continues its soak; a later hold in the same run restarts it
  let recorded = recordedSoak(state.info, current, opts.steps)
  for (const {pct, action} of planSteps(current, opts.steps, {lower: opts.lower})) {
    if (opts.signal?.aborted) {
      result.status = 'interrupted'
      break
    }
    const now = new Date().toISOString()
    const step: ShiftStepReport = {pct, status: 'done', startedAt: now, finishedAt: '', gates: []}
    result.steps.push(step)
    if (action === 'skip') {
      step.status = 'skipped'
      step.reason = `reads are at ${current} % already: a walk never lowers them (lower with --to ${pct}, or \`strangler rollback ${service} --to ${pct}\`)`
      step.finishedAt = now
      continue
    }

    let soak: ShiftProgress
    if (action === 'up') {
      if (opts.diffEachStep) {
        const {runDiff} = await import('../diff/run-diff.js')
        progress.note(`${service}: diff before stepping to ${pct} %`)
        await runDiff(ws, {service, progress})
      }
      step.gates = await checkGates(ws, service, 'shift-step', {contextLabel: `shift:${pct}`})
      const bad = failing(step.gates)
      if (bad.length) {
        step.status = 'refused'
        step.reason = `gates fail before ${pct} %:\n${describeFailures(step.gates)}`
        step.finishedAt = new Date().toISOString()
        result.status = 'refused'
        result.reason = step.reason
        break
      }
      progress.note(`${service}: reads → ${pct} % on the service`)
      await provider.setRollout(toggle, pct, {service})
      crashPoint('shift:after-rollout')
      soak = {pct, soakStartedAt: new Date().toISOString(), previous: current}
      await updateService(ws.state, service, {readPct: pct, info: {shift: soak}})
    } else if (action === 'lower') {
      progress.note(`${service}: reads → ${pct} % on the service (lowered from ${current} %)`)
      await provider.setRollout(toggle, pct, {service})
      soak = {pct, soakStartedAt: new Date().toISOString(), previous: pct}
      await updateService(ws.state, service, {readPct: pct, info: {shift: soak}})
      const detail = `reads lowered from ${current} % to ${pct} % on the service (--to ${pct})`
      await recordAudit(ws.state, {runId: ws.runId, command: 'shift', args: {service, from: current, to: pct}, service, outcome: 'success', detail})
      ws.log.info(`service ${service}: ${detail}`, {service, component: 'phases'})
    } else {
      const rec = recorded?.pct === pct ? recorded : undefined
      soak = rec ?? {pct, soakStartedAt: new Date().toISOString(), previous: fallbackPrevious(pct, opts.steps)}
      if (!rec) await updateService(ws.state, service, {info: {shift: soak}})
      // the toggle may disagree with the recorded percentage (interrupted between a toggle change and its record)
      if ((await provider.getRollout(toggle)) !== pct) await provider.setRollout(toggle, pct, {service})
      progress.note(`${service}: reads stay at ${pct} % on the service (${rec ? `soak continues from ${rec.soakStartedAt}` : 'soak restarts'})`)
    }
    recorded = undefined
    current = pct
    result.final = pct

    // Soak: hold the step and keep checking the gates.
    const started = Date.parse(soak.soakStartedAt)
    const deadline = started + opts.soakMs
    const totalS = Math.ceil(opts.soakMs / 1000)
    const bar = opts.soakMs > 0 ? progress.task(`soak ${pct}%`, totalS, 's') : undefined
    bar?.update(Math.min(totalS, Math.max(0, Math.round((Date.now() - started) / 1000))))
    let failed: GateResult[] | undefined
    while (Date.now() < deadline && !opts.signal?.aborted) {
      await sleep(Math.min(opts.checkEveryMs, Math.max(0, deadline - Date.now())), opts.signal)
      if (opts.signal?.aborted) break
      const gates = await checkGates(ws, service, 'soak', {shadowSince: soak.soakStartedAt, contextLabel: `soak:${pct}`})
      bar?.update(Math.min(totalS, Math.round((Date.now() - started) / 1000)))
      if (failing(gates).length) {
        failed = gates
        break
      }
    }
    bar?.stop()
    if (failed) {
      const back = Math.min(soak.previous, pct)
      step.gates = failed
      step.status = 'stepped-back'
      if (back < pct) {
        step.reason = `gate failed during the soak at ${pct} %, back to ${back} %:\n${describeFailures(failed)}`
        await provider.setRollout(toggle, back, {service})
        // the soak at the lower step starts again on the next run
        await updateService(ws.state, service, {readPct: back, info: {shift: null}})
        result.final = back
      } else {
        step.reason = `gate failed during the soak at ${pct} %, nothing lower to step back to (lower reads with --to or \`strangler rollback\`):\n${describeFailures(failed)}`
      }
      result.status = 'stepped-back'
      result.reason = step.reason
      step.finishedAt = new Date().toISOString()
      progress.note(`${service}: ${step.reason}`)
      break
    }
    step.finishedAt = new Date().toISOString()
    if (opts.signal?.aborted) {
      // the toggle stays at this step: it completed (it was set); only its soak was cut short
      step.status = 'interrupted'
      result.status = 'interrupted'
      break
    }
  }
  return result
}

const DRY_RUN_ACTION: Record<StepAction, string> = {
  up: 'would step up once the gates pass',
  hold: 'reads are at this percentage: its soak would continue',
  lower: 'would lower reads (recorded in the audit log)',
  skip: 'below the current percentage: skipped',
}
