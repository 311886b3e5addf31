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
  /** Percentages to walk through, in order (`--to 50` is `[50]`). */
  steps: number[]
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
  status: 'done' | 'refused' | 'stepped-back' | 'interrupted'
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
 * leaves the toggle at the last completed step.
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
    result.status = 'dry-run'
    result.steps = opts.steps.map((pct) => ({pct, status: 'done', startedAt: '', finishedAt: '', gates, reason: 'dry run: nothing changed'}))
    return result
  }

  if (state.phase === 'write-through') {
    await advance(ws, service, 'shift', {force: opts.force, patch: {readPct: 0}})
    state = await getService(ws.state, service)
    progress.note(`${service}: entered shift (reads 0 % on the service)`)
  }

  let lastGood = state.readPct
  for (const pct of opts.steps) {
    if (opts.signal?.aborted) {
      result.status = 'interrupted'
      break
    }
    const step: ShiftStepReport = {pct, status: 'done', startedAt: new Date().toISOString(), finishedAt: '', gates: []}
    result.steps.push(step)
    const up = pct > lastGood
    if (up) {
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
    }
    progress.note(`${service}: reads → ${pct} % on the service`)
    await provider.setRollout(toggle, pct, {service})
    crashPoint('shift:after-rollout')
    await updateService(ws.state, service, {readPct: pct})
    result.final = pct

    // Soak: hold the step and keep checking the gates.
    const soakStart = new Date().toISOString()
    const deadline = Date.now() + opts.soakMs
    const bar = opts.soakMs > 0 ? progress.task(`soak ${pct}%`, Math.ceil(opts.soakMs / 1000), 's') : undefined
    let failed: GateResult[] | undefined
    while (Date.now() < deadline && !opts.signal?.aborted) {
      await sleep(Math.min(opts.checkEveryMs, Math.max(0, deadline - Date.now())), opts.signal)
      if (opts.signal?.aborted) break
      const gates = await checkGates(ws, service, 'soak', {shadowSince: soakStart, contextLabel: `soak:${pct}`})
      bar?.update(Math.min(Math.ceil(opts.soakMs / 1000), Math.round((opts.soakMs - (deadline - Date.now())) / 1000)))
      if (failing(gates).length) {
        failed = gates
        break
      }
    }
    bar?.stop()
    if (failed) {
      step.gates = failed
      step.status = 'stepped-back'
      step.reason = `gate failed during the soak at ${pct} %, back to ${lastGood} %:\n${describeFailures(failed)}`
      await provider.setRollout(toggle, lastGood, {service})
      await updateService(ws.state, service, {readPct: lastGood})
      result.final = lastGood
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
      lastGood = pct
      break
    }
    lastGood = pct
  }
  return result
}
