import type {StateStore} from '../state/state-store.js'
import {redact} from '../util/redact.js'

/** A key the relay could not apply: kept with the error, retried later with backoff, resolved once it applies. */
export interface DeadLetter {
  readonly id: string
  readonly service: string
  readonly entity: string
  /** The key as a JSON array of value-model values (see `encodeKey`), or the raw outbox text when it could not be read. */
  readonly pk: string
  readonly source: string
  readonly error: string
  readonly attempts: number
  readonly firstAt: string
  readonly lastAt: string
  readonly nextAt: string
  readonly resolvedAt: string | null
}

const MAX_ERROR = 2000
const MAX_DELAY_MS = 3_600_000

function toDeadLetter(r: Record<string, unknown>): DeadLetter {
  return {
    id: String(r.id),
    service: String(r.service),
    entity: String(r.entity),
    pk: String(r.pk),
    source: String(r.source),
    error: String(r.error),
    attempts: Number(r.attempts),
    firstAt: String(r.first_at),
    lastAt: String(r.last_at),
    nextAt: String(r.next_at),
    resolvedAt: r.resolved_at === null || r.resolved_at === undefined ? null : String(r.resolved_at),
  }
}

/** When a dead letter that has failed `attempts` times is tried next: base·2^(attempts-1), at most an hour, ±25 % jitter. */
export function nextRetryAt(attempts: number, baseMs: number, now = Date.now()): string {
  const d = Math.min(MAX_DELAY_MS, baseMs * 2 ** Math.max(0, attempts - 1))
  return new Date(now + Math.round(d * (0.75 + Math.random() * 0.5))).toISOString()
}

function cleanError(error: string): string {
  const e = redact(error)
  return e.length > MAX_ERROR ? `${e.slice(0, MAX_ERROR)}…` : e
}

/**
 * Records a failed key: a new dead letter, or one more attempt on the
 * unresolved one of the same key.
 */
export async function recordDeadLetter(
  store: StateStore,
  dl: {service: string; entity: string; pk: string; error: string; source?: string},
  baseMs: number,
): Promise<DeadLetter> {
  const source = dl.source ?? 'relay'
  const now = new Date().toISOString()
  const t = store.t('dead_letters')
  const cur = await store.db
    .selectFrom(t)
    .selectAll()
    .where('service', '=', dl.service)
    .where('entity', '=', dl.entity)
    .where('pk', '=', dl.pk)
    .where('source', '=', source)
    .where('resolved_at', 'is', null)
    .orderBy('id')
    .executeTakeFirst()
  if (cur) {
    const attempts = Number(cur.attempts) + 1
    const patch = {attempts, error: cleanError(dl.error), last_at: now, next_at: nextRetryAt(attempts, baseMs)}
    await store.db.updateTable(t).set(patch).where('id', '=', cur.id).execute()
    return toDeadLetter({...cur, ...patch})
  }
  const row = {service: dl.service, entity: dl.entity, pk: dl.pk, source, error: cleanError(dl.error), attempts: 1, first_at: now, last_at: now, next_at: nextRetryAt(1, baseMs)}
  await store.db.insertInto(t).values(row).execute()
  return toDeadLetter({id: '', resolved_at: null, ...row})
}

/**
 * Unresolved dead letters of a service whose retry time has come, oldest
 * first; every source unless one is named. The relay retries the SDK's too: a
 * failed service write in write-through is repaired by re-reading the monolith.
 */
export async function dueDeadLetters(store: StateStore, service: string, opts: {limit: number; source?: string; now?: string}): Promise<DeadLetter[]> {
  let q = store.db.selectFrom(store.t('dead_letters')).selectAll().where('service', '=', service)
  if (opts.source) q = q.where('source', '=', opts.source)
  const rows = await q
    .where('resolved_at', 'is', null)
    .where('next_at', '<=', opts.now ?? new Date().toISOString())
    .orderBy('next_at')
    .limit(opts.limit)
    .execute()
  return rows.map(toDeadLetter)
}

/** One more failed retry of a dead letter. */
export async function deadLetterFailed(store: StateStore, dl: DeadLetter, error: string, baseMs: number): Promise<void> {
  const attempts = dl.attempts + 1
  await store.db
    .updateTable(store.t('dead_letters'))
    .set({attempts, error: cleanError(error), last_at: new Date().toISOString(), next_at: nextRetryAt(attempts, baseMs)})
    .where('id', '=', dl.id)
    .execute()
}

/** Marks dead letters resolved by id. */
export async function resolveDeadLettersById(store: StateStore, ids: readonly string[]): Promise<number> {
  if (!ids.length) return 0
  const res = await store.db.updateTable(store.t('dead_letters')).set({resolved_at: new Date().toISOString()}).where('id', 'in', [...ids]).where('resolved_at', 'is', null).executeTakeFirst()
  return Number(res.numUpdatedRows ?? 0)
}

/**
 * Marks the unresolved dead letters of these keys resolved (the keys were just
 * applied successfully), of every source unless one is named: once the relay
 * applied a key, a failed SDK write of it is repaired too.
 */
export async function resolveDeadLetters(store: StateStore, service: string, entity: string, pks: readonly string[], source?: string): Promise<number> {
  let n = 0
  for (let i = 0; i < pks.length; i += 500) {
    let q = store.db
      .updateTable(store.t('dead_letters'))
      .set({resolved_at: new Date().toISOString()})
      .where('service', '=', service)
      .where('entity', '=', entity)
    if (source) q = q.where('source', '=', source)
    const res = await q
      .where('resolved_at', 'is', null)
      .where('pk', 'in', pks.slice(i, i + 500))
      .executeTakeFirst()
    n += Number(res.numUpdatedRows ?? 0)
  }
  return n
}

/** Unresolved dead letters of a service (every source when none is given). */
export async function countDeadLetters(store: StateStore, service: string, source?: string): Promise<number> {
  let q = store.db
    .selectFrom(store.t('dead_letters'))
    .select((eb) => eb.fn.countAll().as('n'))
    .where('service', '=', service)
    .where('resolved_at', 'is', null)
  if (source) q = q.where('source', '=', source)
  const r = await q.executeTakeFirst()
  return Number(r?.n ?? 0)
}

/** The unresolved dead letters of a service, for reports. */
export async function listDeadLetters(store: StateStore, service: string, opts: {limit?: number; includeResolved?: boolean} = {}): Promise<DeadLetter[]> {
  let q = store.db.selectFrom(store.t('dead_letters')).selectAll().where('service', '=', service)
  if (!opts.includeResolved) q = q.where('resolved_at', 'is', null)
  const rows = await q.orderBy('id').limit(opts.limit ?? 1000).execute()
  return rows.map(toDeadLetter)
}
