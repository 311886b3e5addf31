import {listCheckpoints} from '../state/checkpoints.js'
import {currentLease, type LeaseInfo, relayLockName} from '../state/locks.js'
import {getService, type ServiceState} from '../state/services.js'
import type {Workspace} from '../workspace.js'

export interface BackfillStatus {
  entity: string
  done: boolean
  rowsCopied: number
  rowsEstimated: number
  updatedAt: string
}

export interface ServiceStatus extends ServiceState {
  lock: LeaseInfo | null
  /** The running relay's lock (`relay --follow`), apart from the operator's lock of the service. */
  relayLock: LeaseInfo | null
  backfill: BackfillStatus[]
  /** Filled by later subsystems: relay lag, dead letters, last diff, toggle, gates. */
  [key: string]: unknown
}

export type StatusContributor = (ws: Workspace, service: string, status: ServiceStatus) => Promise<void>

const contributors: StatusContributor[] = []

/** Subsystems (relay, diff, toggles, gates) register what they add to `strangler status`. */
export function registerStatusContributor(fn: StatusContributor): void {
  contributors.push(fn)
}

/** The subsystems that add to the status; loaded on first use (they register themselves). */
async function loadContributors(): Promise<void> {
  await Promise.all([import('../capture/relay-status.js'), import('../diff/diff-status.js'), import('../toggles/toggle-status.js')])
}

export async function serviceStatus(ws: Workspace, name: string): Promise<ServiceStatus> {
  ws.service(name)
  await loadContributors()
  const base = await getService(ws.state, name)
  const cps = await listCheckpoints<{done?: boolean; rowsCopied?: number; rowsEstimated?: number}>(ws.state, name, 'backfill')
  const status: ServiceStatus = {
    ...base,
    lock: (await currentLease(ws.state, name)) ?? null,
    relayLock: (await currentLease(ws.state, relayLockName(name))) ?? null,
    backfill: cps.map((c) => ({
      entity: c.entity,
      done: Boolean(c.state.done),
      rowsCopied: Number(c.state.rowsCopied ?? 0),
      rowsEstimated: Number(c.state.rowsEstimated ?? 0),
      updatedAt: c.updatedAt,
    })),
  }
  for (const fn of contributors) await fn(ws, name, status)
  return status
}

/** The gates that apply to the service's next step, measured now (not recorded). */
registerStatusContributor(async (ws, service, status) => {
  const {evaluate, measure} = await import('./gates.js')
  const context = status.phase === 'shadow' ? 'write-through' : status.phase === 'write-through' ? 'shift' : status.phase === 'shift' ? (status.readPct >= 100 ? 'decommission' : 'shift-step') : undefined
  if (!context) return
  const results = evaluate(context, await measure(ws, service), ws.plan.gates)
  status.gates = {for: context === 'write-through' ? 'enter write-through' : context === 'shift' ? 'enter shift' : context === 'decommission' ? 'decommission' : 'next shift step', pass: results.every((r) => r.ok), results}
})
