import {listCheckpoints} from '../state/checkpoints.js'
import {currentLease, type LeaseInfo} from '../state/locks.js'
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

export async function serviceStatus(ws: Workspace, name: string): Promise<ServiceStatus> {
  ws.service(name)
  const base = await getService(ws.state, name)
  const cps = await listCheckpoints<{done?: boolean; rowsCopied?: number; rowsEstimated?: number}>(ws.state, name, 'backfill')
  const status: ServiceStatus = {
    ...base,
    lock: (await currentLease(ws.state, name)) ?? null,
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
