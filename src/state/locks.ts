import {UserError} from '../util/errors.js'
import {hostName, operatorName} from './audit.js'
import type {StateStore} from './state-store.js'
import {nowIso} from './state-store.js'

export interface LeaseInfo {
  service: string
  holder: string
  runId: string
  command: string
  acquiredAt: string
  expiresAt: string
  reason: string | null
}

export interface Lease {
  readonly info: LeaseInfo
  /** True when the lease was taken over from another holder with `--steal`. */
  readonly stolenFrom?: LeaseInfo
  release(): Promise<void>
}

function toInfo(r: Record<string, unknown>): LeaseInfo {
  return {
    service: String(r.service),
    holder: String(r.holder),
    runId: String(r.run_id),
    command: String(r.command),
    acquiredAt: String(r.acquired_at),
    expiresAt: String(r.expires_at),
    reason: (r.reason as string | null) ?? null,
  }
}

/** True when the holder ran on this host and its process no longer exists (a crashed command: its lease need not be waited out). */
export function holderIsGone(holder: string): boolean {
  const m = /@(.+) pid (\d+)$/.exec(holder)
  if (!m || m[1] !== hostName()) return false
  const pid = Number(m[2])
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

export async function currentLease(store: StateStore, service: string): Promise<LeaseInfo | undefined> {
  const r = await store.db.selectFrom(store.t('locks')).selectAll().where('service', '=', service).executeTakeFirst()
  return r ? toInfo(r) : undefined
}

/**
 * Takes the lease lock of a service for a mutating command. A live lease held
 * by another run refuses with who holds it and since when; an expired lease
 * (a crashed holder) is taken over; `steal` takes over a live one. The lease
 * is renewed every ttl/3 until released.
 */
export async function acquireLease(
  store: StateStore,
  service: string,
  opts: {runId: string; command: string; ttlMs?: number; steal?: boolean; reason?: string},
): Promise<Lease> {
  const ttl = opts.ttlMs ?? 60_000
  const holder = `${operatorName()}@${hostName()} pid ${process.pid}`
  const expires = (): string => new Date(Date.now() + ttl).toISOString()
  const row = {service, holder, run_id: opts.runId, command: opts.command, acquired_at: nowIso(), expires_at: expires(), reason: opts.reason ?? null}
  let stolenFrom: LeaseInfo | undefined
  for (let attempt = 0; attempt < 3; attempt++) {
    const cur = await currentLease(store, service)
    if (!cur) {
      try {
        await store.db.insertInto(store.t('locks')).values(row).execute()
        break
      } catch {
        continue // someone inserted first: look again
      }
    }
    const live = new Date(cur.expiresAt).getTime() > Date.now() && !holderIsGone(cur.holder)
    if (cur.runId === opts.runId) break
    if (live && !opts.steal) {
      throw new UserError(
        `Service ${service} is locked by ${cur.holder} (strangler ${cur.command}, run ${cur.runId}) since ${cur.acquiredAt}; the lease expires at ${cur.expiresAt} unless renewed.`,
        {code: 'E_LOCKED', hint: 'Wait for that command to finish, or take over with --steal --reason "why" (audited).'},
      )
    }
    if (live && opts.steal && !opts.reason) {
      throw new UserError('--steal needs --reason: taking over a live lock is recorded in the audit log.', {code: 'E_USAGE'})
    }
    const res = await store.db
      .updateTable(store.t('locks'))
      .set(row)
      .where('service', '=', service)
      .where('run_id', '=', cur.runId)
      .where('expires_at', '=', cur.expiresAt)
      .executeTakeFirst()
    if (Number(res.numUpdatedRows ?? 0) === 1) {
      stolenFrom = live ? cur : undefined
      break
    }
    if (attempt === 2) throw new UserError(`Could not take the lock of service ${service}: it changed hands while trying.`, {code: 'E_LOCKED'})
  }
  const timer = setInterval(() => {
    store.db
      .updateTable(store.t('locks'))
      .set({expires_at: expires()})
      .where('service', '=', service)
      .where('run_id', '=', opts.runId)
      .execute()
      .catch(() => undefined)
  }, Math.max(1000, Math.floor(ttl / 3)))
  timer.unref()
  let released = false
  return {
    info: toInfo(row),
    stolenFrom,
    async release() {
      if (released) return
      released = true
      clearInterval(timer)
      await store.db.deleteFrom(store.t('locks')).where('service', '=', service).where('run_id', '=', opts.runId).execute()
    },
  }
}
