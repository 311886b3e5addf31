import {captureState} from '../capture/capture.js'
import type {TableRef} from '../engines/types.js'
import {operatorName} from '../state/audit.js'
import {getService, PHASES, recordTransition, updateService, type Phase, type ServiceState} from '../state/services.js'
import {GateError, UserError} from '../util/errors.js'
import type {Workspace} from '../workspace.js'
import {checkGates, describeFailures, failing, type GateContext, type GateResult} from './gates.js'

/**
 * The phase state machine: planned → shadow → write-through → shift →
 * decommissioned, one step forward at a time through the gates, or one step
 * back with `rollback`. Every transition is recorded with who, when and why.
 */
export const NEXT: Record<Phase, Phase | undefined> = {
  planned: 'shadow',
  shadow: 'write-through',
  'write-through': 'shift',
  shift: 'decommissioned',
  decommissioned: undefined,
}

export const PREVIOUS: Record<Phase, Phase | undefined> = {
  planned: undefined,
  shadow: 'planned',
  'write-through': 'shadow',
  shift: 'write-through',
  decommissioned: 'shift',
}

const GATE_CONTEXT: Partial<Record<Phase, GateContext>> = {
  'write-through': 'write-through',
  shift: 'shift',
  decommissioned: 'decommission',
}

/** Refuses unless the service is in one of `allowed`; says which command gets it there. */
export function requirePhase(state: ServiceState, allowed: readonly Phase[], action: string): void {
  if (allowed.includes(state.phase)) return
  const order = PHASES.indexOf(state.phase)
  const target = PHASES.indexOf(allowed[0])
  const hint =
    target > order
      ? `Move it forward first: the service is in ${state.phase}; ${describePath(state.phase, allowed[0])}.`
      : `The service is already past that point (${state.phase}); use \`strangler rollback ${state.name}\` to step back.`
  throw new UserError(`Cannot ${action}: service ${state.name} is in phase ${state.phase}, needs ${allowed.join(' or ')}.`, {code: 'E_PHASE', hint})
}

function describePath(from: Phase, to: Phase): string {
  const cmds: Record<Phase, string> = {
    planned: '',
    shadow: 'strangler shadow',
    'write-through': 'strangler write-through',
    shift: 'strangler shift',
    decommissioned: 'strangler decommission',
  }
  const steps: string[] = []
  let p: Phase | undefined = NEXT[from]
  while (p) {
    steps.push(`\`${cmds[p]} SERVICE\``)
    if (p === to) break
    p = NEXT[p]
  }
  return `run ${steps.join(', then ')}`
}

export interface TransitionResult {
  service: string
  from: Phase
  to: Phase
  gates: GateResult[]
  forced: boolean
}

/** Phases in which the relay carries monolith writes to the service: they need change capture on the monolith. */
const CAPTURED: readonly Phase[] = ['write-through', 'shift']

const label = (r: TableRef): string => (r.schema ? `${r.schema}.${r.name}` : r.name)

/** What is missing of the service's change capture on the monolith (its outbox, complete triggers); empty when it is all there. */
export async function missingCapture(ws: Workspace, service: string): Promise<string[]> {
  if (!ws.monolith.sql) return []
  const outbox = ws.outbox(service)
  const missing: string[] = []
  if (!(await ws.monolith.tableExists(outbox))) missing.push(`the outbox table ${label(outbox)}`)
  for (const s of await captureState(ws, service)) {
    if (!s.installed) missing.push(s.method === 'logical' ? `the replication slot or publication capturing ${label(s.table)}` : `the capture triggers on ${label(s.table)}${s.events.length ? ` (only ${s.events.join(', ')} captured)` : ''}`)
  }
  return missing
}

function captureMissing(service: string, phase: Phase, action: string, missing: readonly string[]): UserError {
  const hint =
    phase === 'shadow'
      ? `Run \`strangler shadow ${service}\`: on a service in shadow it reinstalls change capture. Writes made while it was missing may not have reached the service: run \`strangler diff ${service}\` (and \`strangler repair ${service}\`), then \`strangler write-through ${service}\` again.`
      : `Writes made on the monolith while it was missing have not reached the service. Step back with \`strangler rollback ${service}\`${phase === 'shift' ? ' (until the service is in shadow)' : ''}, reinstall capture with \`strangler shadow ${service}\`, check with \`strangler diff ${service}\` (and \`strangler repair ${service}\`), then \`strangler write-through ${service}\` again.`
  return new UserError(`Cannot ${action}: the change capture of ${service} is missing on the monolith (${missing.join('; ')}). Nothing was changed.`, {code: 'E_NO_CAPTURE', hint})
}

/** Refuses (exit 2, nothing changed) when a service in write-through or shift lost its change capture. */
export async function requireCapture(ws: Workspace, service: string, action: string): Promise<void> {
  const cur = await getService(ws.state, service)
  if (!CAPTURED.includes(cur.phase)) return
  const missing = await missingCapture(ws, service)
  if (missing.length) throw captureMissing(service, cur.phase, action, missing)
}

/**
 * Moves a service one phase forward after checking the gates for leaving its
 * current phase. A failing gate refuses (exit 1) naming the gate, its value
 * and its threshold, unless `force` gives a reason (recorded in the transition
 * and the audit log). Write-through and shift need change capture on the
 * monolith: when it is missing the move is refused (exit 2) even with `force`,
 * saying what is missing and which command restores it; a refusal for that
 * alone is not reported as a gate failure.
 */
export async function advance(ws: Workspace, service: string, to: Phase, opts: {force?: string; patch?: Partial<ServiceState>} = {}): Promise<TransitionResult> {
  const cur = await getService(ws.state, service)
  if (cur.phase === to) return {service, from: cur.phase, to, gates: [], forced: false}
  if (NEXT[cur.phase] !== to) requirePhase(cur, [PREVIOUS[to]!], `enter ${to}`)
  const ctx = GATE_CONTEXT[to]
  const gates = ctx ? await checkGates(ws, service, ctx, {contextLabel: `enter:${to}`}) : []
  const bad = failing(gates)
  const missing = CAPTURED.includes(to) ? await missingCapture(ws, service) : []
  // with capture missing the relay-lag gate fails too ("no capture installed"): that alone is the capture's error
  const onlyCapture = missing.length > 0 && bad.every((g) => g.gate === 'relay-lag')
  if (bad.length && !opts.force && !onlyCapture) {
    throw new GateError(`Service ${service} cannot enter ${to}: ${bad.length} gate(s) fail:\n${describeFailures(gates)}`, {
      hint: `Fix the cause, or override with --force --reason "why" (recorded in the audit log).`,
    })
  }
  if (missing.length) throw captureMissing(service, cur.phase, `enter ${to}`, missing)
  await updateService(ws.state, service, {phase: to, ...(opts.patch ?? {})})
  await recordTransition(ws.state, {service, from: cur.phase, to, operator: operatorName(), runId: ws.runId, reason: opts.force, forced: Boolean(bad.length && opts.force)})
  ws.log.info(`service ${service}: ${cur.phase} → ${to}${bad.length ? ' (forced)' : ''}`, {service, component: 'phases'})
  return {service, from: cur.phase, to, gates, forced: Boolean(bad.length && opts.force)}
}

/** Records a step back (used by rollback); no gates, the caller verifies with a diff. */
export async function retreat(ws: Workspace, service: string, to: Phase, opts: {reason?: string; patch?: Partial<ServiceState>} = {}): Promise<void> {
  const cur = await getService(ws.state, service)
  await updateService(ws.state, service, {phase: to, ...(opts.patch ?? {})})
  await recordTransition(ws.state, {service, from: cur.phase, to, operator: operatorName(), runId: ws.runId, reason: opts.reason ?? 'rollback'})
}
