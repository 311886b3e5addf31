import type {StateStore} from './state-store.js'
import {nowIso} from './state-store.js'

export const PHASES = ['planned', 'shadow', 'write-through', 'shift', 'decommissioned'] as const
export type Phase = (typeof PHASES)[number]

export interface ServiceState {
  name: string
  phase: Phase
  readPct: number
  writeTarget: 'monolith' | 'service'
  /** Sub-step inside a phase (for resumable multi-step commands), e.g. `decommission:archive`. */
  step: string | null
  info: Record<string, unknown>
  updatedAt: string
}

export interface Transition {
  id: number
  service: string
  fromPhase: string
  toPhase: string
  at: string
  operator: string
  runId: string
  reason: string | null
  forced: boolean
}

function rowToState(r: Record<string, unknown>): ServiceState {
  return {
    name: String(r.name),
    phase: String(r.phase) as Phase,
    readPct: Number(r.read_pct),
    writeTarget: String(r.write_target) as 'monolith' | 'service',
    step: (r.step as string | null) ?? null,
    info: r.info ? (JSON.parse(String(r.info)) as Record<string, unknown>) : {},
    updatedAt: String(r.updated_at),
  }
}

/** A service's phase as recorded; `planned` when the service has never been touched. */
export async function getService(store: StateStore, name: string): Promise<ServiceState> {
  const r = await store.db.selectFrom(store.t('services')).selectAll().where('name', '=', name).executeTakeFirst()
  if (!r) return {name, phase: 'planned', readPct: 0, writeTarget: 'monolith', step: null, info: {}, updatedAt: ''}
  return rowToState(r)
}

export async function listServices(store: StateStore): Promise<ServiceState[]> {
  const rows = await store.db.selectFrom(store.t('services')).selectAll().orderBy('name').execute()
  return rows.map(rowToState)
}

/** Inserts or updates the service row. */
export async function saveService(store: StateStore, s: Omit<ServiceState, 'updatedAt'>): Promise<void> {
  const values = {
    phase: s.phase,
    read_pct: s.readPct,
    write_target: s.writeTarget,
    step: s.step,
    info: JSON.stringify(s.info ?? {}),
    updated_at: nowIso(),
  }
  const n = await store.db.updateTable(store.t('services')).set(values).where('name', '=', s.name).executeTakeFirst()
  if (Number(n.numUpdatedRows ?? 0) === 0) {
    try {
      await store.db.insertInto(store.t('services')).values({name: s.name, ...values}).execute()
    } catch {
      await store.db.updateTable(store.t('services')).set(values).where('name', '=', s.name).execute()
    }
  }
}

export async function updateService(store: StateStore, name: string, patch: Partial<Omit<ServiceState, 'name' | 'updatedAt'>>): Promise<ServiceState> {
  const cur = await getService(store, name)
  const next = {...cur, ...patch, info: {...cur.info, ...(patch.info ?? {})}}
  await saveService(store, next)
  return next
}

export async function recordTransition(
  store: StateStore,
  t: {service: string; from: string; to: string; operator: string; runId: string; reason?: string; forced?: boolean},
): Promise<void> {
  await store.db
    .insertInto(store.t('transitions'))
    .values({
      service: t.service,
      from_phase: t.from,
      to_phase: t.to,
      at: nowIso(),
      operator: t.operator,
      run_id: t.runId,
      reason: t.reason ?? null,
      forced: t.forced ?? false,
    })
    .execute()
}

export async function listTransitions(store: StateStore, service?: string): Promise<Transition[]> {
  let q = store.db.selectFrom(store.t('transitions')).selectAll().orderBy('id')
  if (service) q = q.where('service', '=', service)
  const rows = await q.execute()
  return rows.map((r) => ({
    id: Number(r.id),
    service: String(r.service),
    fromPhase: String(r.from_phase),
    toPhase: String(r.to_phase),
    at: String(r.at),
    operator: String(r.operator),
    runId: String(r.run_id),
    reason: (r.reason as string | null) ?? null,
    forced: Boolean(r.forced),
  }))
}
