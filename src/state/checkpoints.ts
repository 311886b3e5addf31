import type {StateStore} from './state-store.js'
import {nowIso} from './state-store.js'

/**
 * Serialisable progress of a resumable job (backfill, diff), one row per
 * service, entity and kind. Written after every committed unit of work.
 */
export async function readCheckpoint<T>(store: StateStore, service: string, entity: string, kind: string): Promise<T | undefined> {
  const r = await store.db
    .selectFrom(store.t('checkpoints'))
    .select('state')
    .where('service', '=', service)
    .where('entity', '=', entity)
    .where('kind', '=', kind)
    .executeTakeFirst()
  return r ? (JSON.parse(String(r.state)) as T) : undefined
}

export async function writeCheckpoint(store: StateStore, service: string, entity: string, kind: string, state: unknown): Promise<void> {
  const text = JSON.stringify(state)
  const res = await store.db
    .updateTable(store.t('checkpoints'))
    .set({state: text, updated_at: nowIso()})
    .where('service', '=', service)
    .where('entity', '=', entity)
    .where('kind', '=', kind)
    .executeTakeFirst()
  if (Number(res.numUpdatedRows ?? 0) === 0) {
    try {
      await store.db.insertInto(store.t('checkpoints')).values({service, entity, kind, state: text, updated_at: nowIso()}).execute()
    } catch {
      await store.db
        .updateTable(store.t('checkpoints'))
        .set({state: text, updated_at: nowIso()})
        .where('service', '=', service)
        .where('entity', '=', entity)
        .where('kind', '=', kind)
        .execute()
    }
  }
}

export async function deleteCheckpoints(store: StateStore, service: string, kind?: string): Promise<void> {
  let q = store.db.deleteFrom(store.t('checkpoints')).where('service', '=', service)
  if (kind) q = q.where('kind', '=', kind)
  await q.execute()
}

export async function listCheckpoints<T>(store: StateStore, service: string, kind: string): Promise<{entity: string; state: T; updatedAt: string}[]> {
  const rows = await store.db.selectFrom(store.t('checkpoints')).selectAll().where('service', '=', service).where('kind', '=', kind).execute()
  return rows.map((r) => ({entity: String(r.entity), state: JSON.parse(String(r.state)) as T, updatedAt: String(r.updated_at)}))
}
