import type {StateStore} from '../state/state-store.js'

/**
 * One relay measurement in the state store's `metrics` table (kind `relay`),
 * written every few seconds while the relay runs, so reports can draw lag and
 * throughput over time.
 */
export interface RelaySample {
  /** Age of the oldest unconsumed change, seconds. */
  lagSeconds: number
  /** Changes waiting in the outbox. */
  pending: number
  /** Keys applied (upserted or deleted) since the previous sample. */
  applied: number
  /** Mean batch duration since the previous sample, milliseconds. */
  batchMs: number
  /** Transient-error retries since the previous sample. */
  retries: number
  /** Unresolved dead letters of the relay now. */
  deadLetters: number
  /** Outbox changes consumed per second since the previous sample. */
  throughput: number
}

export const RELAY_METRIC_KIND = 'relay'

export async function writeRelaySample(store: StateStore, service: string, sample: RelaySample, at = new Date().toISOString()): Promise<void> {
  await store.db.insertInto(store.t('metrics')).values({service, at, kind: RELAY_METRIC_KIND, value: JSON.stringify(sample)}).execute()
}

/** Relay samples of a service, oldest first (optionally since an ISO time). */
export async function listRelaySamples(store: StateStore, service: string, opts: {since?: string; limit?: number} = {}): Promise<(RelaySample & {at: string})[]> {
  let q = store.db.selectFrom(store.t('metrics')).select(['at', 'value']).where('service', '=', service).where('kind', '=', RELAY_METRIC_KIND)
  if (opts.since) q = q.where('at', '>=', opts.since)
  const rows = await q.orderBy('at', 'desc').limit(opts.limit ?? 10_000).execute()
  return rows.reverse().map((r) => ({...(JSON.parse(String(r.value)) as RelaySample), at: String(r.at)}))
}

export async function latestRelaySample(store: StateStore, service: string): Promise<(RelaySample & {at: string}) | undefined> {
  const [last] = await listRelaySamples(store, service, {limit: 1})
  return last
}
