import type {StateStore} from '../state/state-store.js'
import {nowIso} from '../state/state-store.js'
import {UserError} from '../util/errors.js'

/** One row of the state store's `toggles` table. */
export interface LocalToggle {
  name: string
  service: string
  pct: number
  enabled: boolean
  stickiness: string
  updatedAt: string
}

function rowToToggle(r: Record<string, unknown>): LocalToggle {
  return {
    name: String(r.name),
    service: String(r.service),
    pct: Number(r.pct),
    enabled: r.enabled === true || Number(r.enabled) === 1,
    stickiness: String(r.stickiness),
    updatedAt: String(r.updated_at),
  }
}

/** Every local toggle (the local client's poll). */
export async function listLocalToggles(store: StateStore): Promise<LocalToggle[]> {
  const rows = await store.db.selectFrom(store.t('toggles')).selectAll().orderBy('name').execute()
  return rows.map(rowToToggle)
}

export async function getLocalToggle(store: StateStore, name: string): Promise<LocalToggle | undefined> {
  const r = await store.db.selectFrom(store.t('toggles')).selectAll().where('name', '=', name).executeTakeFirst()
  return r ? rowToToggle(r) : undefined
}

/** Inserts or updates a toggle (enabled, at `pct`). */
export async function upsertLocalToggle(store: StateStore, t: {name: string; service: string; pct: number; stickiness?: string}): Promise<void> {
  const values = {service: t.service, pct: t.pct, enabled: true, updated_at: nowIso(), ...(t.stickiness ? {stickiness: t.stickiness} : {})}
  const n = await store.db.updateTable(store.t('toggles')).set(values).where('name', '=', t.name).executeTakeFirst()
  if (Number(n.numUpdatedRows ?? 0) > 0) return
  try {
    await store.db
      .insertInto(store.t('toggles'))
      .values({name: t.name, stickiness: 'userId', ...values})
      .execute()
  } catch (err) {
    // a concurrent insert won: update instead
    const again = await store.db.updateTable(store.t('toggles')).set(values).where('name', '=', t.name).executeTakeFirst()
    if (Number(again.numUpdatedRows ?? 0) === 0) throw err
  }
}

/** Fails with a UserError unless `pct` is an integer from 0 to 100. */
export function requireValidPct(pct: number, where: string): void {
  if (!Number.isInteger(pct) || pct < 0 || pct > 100) {
    throw new UserError(`${where}: the rollout percentage must be an integer from 0 to 100, not ${pct}.`, {code: 'E_USAGE'})
  }
}
