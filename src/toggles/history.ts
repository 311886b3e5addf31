import type {StateStore} from '../state/state-store.js'
import {nowIso} from '../state/state-store.js'

/** One toggle change as recorded in `metrics` (kind `toggle`), for reports and the soak gate. */
export interface ToggleChange {
  at: string
  service: string
  toggle: string
  pct: number
  provider: 'local' | 'unleash'
}

/** Appends a toggle change to `metrics` (kind `toggle`, value `{toggle, pct, provider}`). */
export async function recordToggleChange(store: StateStore, c: Omit<ToggleChange, 'at'>): Promise<void> {
  await store.db
    .insertInto(store.t('metrics'))
    .values({service: c.service, at: nowIso(), kind: 'toggle', value: JSON.stringify({toggle: c.toggle, pct: c.pct, provider: c.provider})})
    .execute()
}

/** A service's toggle changes, oldest first (the percentage over time). */
export async function listToggleChanges(store: StateStore, service: string, opts: {toggle?: string; since?: string} = {}): Promise<ToggleChange[]> {
  let q = store.db.selectFrom(store.t('metrics')).select(['at', 'value']).where('service', '=', service).where('kind', '=', 'toggle').orderBy('id')
  if (opts.since) q = q.where('at', '>=', opts.since)
  const rows = await q.execute()
  const out: ToggleChange[] = []
  for (const r of rows) {
    const v = JSON.parse(String(r.value)) as {toggle?: string; pct?: number; provider?: 'local' | 'unleash'}
    if (typeof v.toggle !== 'string' || typeof v.pct !== 'number') continue
    if (opts.toggle && v.toggle !== opts.toggle) continue
    out.push({at: String(r.at), service, toggle: v.toggle, pct: v.pct, provider: v.provider ?? 'local'})
  }
  return out
}
