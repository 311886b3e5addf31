import {UserError} from '../util/errors.js'
import {hostName, operatorName, recordAudit} from './audit.js'
import type {StateStore} from './state-store.js'
import {nowIso} from './state-store.js'

export interface LeaseInfo {
  /** The lock's name: the service (the operator's lock of phase commands) or `relay:<service>` (see `relayLockName`). */
  service: string
  holder: string
  runId: string
  command: string
  acquiredAt: string
  expiresAt: string
  reason: string | null
}

/**
 * A held lease lock, renewed in the background until released. Every renewal
 * is conditional on this run still holding it: when another run took it over
 * (`--steal`) or the row is gone, `signal` aborts with a `LeaseLostError` and
 * the holder must stop changing anything (see `BaseCommand.lockService`, and
 * the relay's check before each batch).
 */
export interface Lease {
  readonly info: LeaseInfo
  /** True when the lease was taken over from another holder with `--steal`. */
  readonly stolenFrom?: LeaseInfo
  /** Aborts, with the `LeaseLostError` as its reason, when a renewal finds the lease no longer held. */
  readonly signal: AbortSignal
  /** The error once the lease was lost, else undefined. */
  readonly lost: LeaseLostError | undefined
  /** When the store last confirmed the lease (ms since the epoch). */
  readonly confirmedAt: number
  /** Throws the `LeaseLostError` when the lease is known to be lost. */
  check(): void
  /** Renews now and throws the `LeaseLostError` when the lease is no longer held. */
  confirm(): Promise<void>
  release(): Promise<void>
}

/** The name of a service's relay lock: one relay per service, apart from the operator's lock of the service. */
export function relayLockName(service: string): string {
  return `relay:${service}`
}

/** The service a lock belongs to. */
export function lockService(name: string): string {
  return name.startsWith('relay:') ? name.slice('relay:'.length) : name
}

/** `service users` or `the relay of service users`, for messages. */
export function describeLock(name: string): string {
  return name.startsWith('relay:') ? `the relay of service ${name.slice('relay:'.length)}` : `service ${name}`
}

/** The lease of a running command was taken over (or removed) by someone else; the command stops. Exit 2. */
export class LeaseLostError extends UserError {
  /** Who holds the lock now (undefined: the lock row was removed). */
  readonly takenBy: LeaseInfo | undefined

  constructor(name: string, takenBy: LeaseInfo | undefined) {
    const what = name.startsWith('relay:') ? `relay lock of service ${lockService(name)}` : `lock on service ${name}`
    super(
      takenBy
        ? `The ${what} was taken over by ${takenBy.holder} (strangler ${takenBy.command}, run ${takenBy.runId}) at ${takenBy.acquiredAt}${takenBy.reason ? ` (reason: ${takenBy.reason})` : ''}; stopping.`
        : `The ${what} was removed by someone else while this run held it; stopping.`,
      {
        code: 'E_LOCK_LOST',
        hint: 'This run stopped without changing anything more; what it did is resumable. `strangler audit` shows the takeover; run the command again once the other holder is done.',
      },
    )
    this.name = 'LeaseLostError'
    this.takenBy = takenBy
  }
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

/** One lease row held by this process; several `acquireLease` calls of one run share it (counted). */
class HeldLease {
  refs = 1
  confirmedAt = Date.now()
  lost: LeaseLostError | undefined
  readonly controller = new AbortController()
  private readonly timer: NodeJS.Timeout
  private renewing: Promise<void> | undefined

  constructor(
    private readonly store: StateStore,
    readonly info: LeaseInfo,
    private readonly ttl: number,
    renewMs: number,
    private readonly onEnd: () => void,
  ) {
    this.timer = setInterval(() => void this.renew().catch(() => undefined), renewMs)
    this.timer.unref()
  }

  /** Extends the lease if this run still holds it (holder and run id); marks it lost otherwise. One renewal at a time. */
  renew(): Promise<void> {
    this.renewing ??= this.renewNow().finally(() => (this.renewing = undefined))
    return this.renewing
  }

  private async renewNow(): Promise<void> {
    if (this.lost || this.refs === 0) return
    const {store, info} = this
    const res = await store.db
      .updateTable(store.t('locks'))
      .set({expires_at: new Date(Date.now() + this.ttl).toISOString()})
      .where('service', '=', info.service)
      .where('run_id', '=', info.runId)
      .where('holder', '=', info.holder)
      .executeTakeFirst()
    if (Number(res.numUpdatedRows ?? 0) === 1) {
      this.confirmedAt = Date.now()
      return
    }
    // MySQL counts changed rows, not matched ones: look before concluding
    const cur = await currentLease(store, info.service)
    if (cur && cur.runId === info.runId && cur.holder === info.holder) {
      this.confirmedAt = Date.now()
      return
    }
    if (this.refs === 0 || this.lost) return
    // gone: taken over and released since (a short command), as the audit log tells, or removed by hand
    const by = cur ?? (await findTakeover(store, info.service, info.runId).catch(() => undefined))
    this.lost = new LeaseLostError(info.service, by)
    clearInterval(this.timer)
    this.onEnd()
    this.controller.abort(this.lost)
  }

  async release(): Promise<void> {
    if (--this.refs > 0) return
    clearInterval(this.timer)
    this.onEnd()
    await this.renewing?.catch(() => undefined)
    if (this.lost) return
    const {store, info} = this
    await store.db.deleteFrom(store.t('locks')).where('service', '=', info.service).where('run_id', '=', info.runId).where('holder', '=', info.holder).execute()
  }
}

/** Records a takeover in the audit log when it happens (the taking command's own record follows when it ends). */
async function auditTakeover(store: StateStore, from: LeaseInfo, to: LeaseInfo): Promise<void> {
  await recordAudit(store, {
    runId: to.runId,
    command: 'lock-takeover',
    args: {lock: to.service, from, to},
    service: lockService(to.service),
    outcome: 'taken-over',
    detail: `${to.holder} (strangler ${to.command}) took over the lock of ${describeLock(to.service)} from ${from.holder} (strangler ${from.command}, run ${from.runId}): ${to.reason ?? ''}`,
  })
}

/** Who took this run's lease over, from the audit log (the row itself may be gone). */
async function findTakeover(store: StateStore, name: string, runId: string): Promise<LeaseInfo | undefined> {
  const rows = await store.db
    .selectFrom(store.t('audit'))
    .select(['args'])
    .where('command', '=', 'lock-takeover')
    .where('service', '=', lockService(name))
    .orderBy('id', 'desc')
    .limit(50)
    .execute()
  for (const r of rows) {
    try {
      const a = JSON.parse(String(r.args)) as {lock?: string; from?: {runId?: string}; to?: LeaseInfo}
      if (a.lock === name && a.from?.runId === runId && a.to) return a.to
    } catch {
      // not one of ours
    }
  }
  return undefined
}

/** The leases this process holds, per state store, by lock name and run id. */
const held = new WeakMap<StateStore, Map<string, HeldLease>>()

function handle(h: HeldLease, stolenFrom: LeaseInfo | undefined): Lease {
  let released = false
  return {
    info: h.info,
    stolenFrom,
    signal: h.controller.signal,
    get lost() {
      return h.lost
    },
    get confirmedAt() {
      return h.confirmedAt
    },
    check() {
      if (h.lost) throw h.lost
    },
    async confirm() {
      if (!released) await h.renew()
      if (h.lost) throw h.lost
    },
    async release() {
      if (released) return
      released = true
      await h.release()
    },
  }
}

/**
 * Takes a lease lock: the service's (a mutating command) or another name such
 * as `relayLockName(service)`. A live lease held by another run refuses with
 * who holds it and since when; an expired lease (a crashed holder) is taken
 * over, and so is one of the same run id (a re-run after a crash); `steal`
 * takes over a live one. The lease is renewed every `renewMs` (default
 * min(ttl/3, 5 s)), each renewal conditional on still holding it; the holder
 * learns of a takeover through `Lease.signal`. Within one process, calls for
 * the same name and run id share one lease (released with the last handle).
 */
export async function acquireLease(
  store: StateStore,
  service: string,
  opts: {runId: string; command: string; ttlMs?: number; renewMs?: number; steal?: boolean; reason?: string},
): Promise<Lease> {
  const mine = held.get(store) ?? new Map<string, HeldLease>()
  held.set(store, mine)
  const id = `${service}\u0000${opts.runId}`
  const shared = mine.get(id)
  if (shared && !shared.lost) {
    shared.refs++
    return handle(shared, undefined)
  }
  const ttl = opts.ttlMs ?? 60_000
  const holder = `${operatorName()}@${hostName()} pid ${process.pid}`
  const row = {service, holder, run_id: opts.runId, command: opts.command, acquired_at: nowIso(), expires_at: new Date(Date.now() + ttl).toISOString(), reason: opts.reason ?? null}
  let stolenFrom: LeaseInfo | undefined
  for (let attempt = 0; attempt < 3; attempt++) {
    const cur = await currentLease(store, service)
    if (!cur) {
      try {
        await store.db.insertInto(store.t('locks')).values(row).execute()
        break
      } catch {
        if (attempt === 2) throw new UserError(`Could not take the lock of ${describeLock(service)}: it changed hands while trying.`, {code: 'E_LOCKED'})
        continue // someone inserted first: look again
      }
    }
    const live = new Date(cur.expiresAt).getTime() > Date.now() && !holderIsGone(cur.holder)
    // the same run id: this run again (a re-run after a crash takes its own lease back)
    const own = cur.runId === opts.runId
    if (live && !own && !opts.steal) {
      throw new UserError(
        `${service.startsWith('relay:') ? `The relay of service ${service.slice('relay:'.length)} is running: its lock is held` : `Service ${service} is locked`} by ${cur.holder} (strangler ${cur.command}, run ${cur.runId}) since ${cur.acquiredAt}; the lease expires at ${cur.expiresAt} unless renewed.`,
        {
          code: 'E_LOCKED',
          hint: service.startsWith('relay:')
            ? 'Only one relay per service may run. Stop that relay first, or take over with --steal --reason "why" (audited; the other relay stops).'
            : 'Wait for that command to finish, or take over with --steal --reason "why" (audited).',
        },
      )
    }
    if (live && !own && opts.steal && !opts.reason) {
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
      stolenFrom = live && !own ? cur : undefined
      break
    }
    if (attempt === 2) throw new UserError(`Could not take the lock of ${describeLock(service)}: it changed hands while trying.`, {code: 'E_LOCKED'})
  }
  if (stolenFrom) await auditTakeover(store, stolenFrom, toInfo(row)).catch(() => undefined)
  const renewMs = Math.max(100, opts.renewMs ?? Math.min(5000, Math.floor(ttl / 3)))
  const h: HeldLease = new HeldLease(store, toInfo(row), ttl, renewMs, () => {
    if (mine.get(id) === h) mine.delete(id)
  })
  mine.set(id, h)
  return handle(h, stolenFrom)
}
