import type {Engine} from '../engines/engine.js'
import {isTransientDbError} from '../engines/errors.js'
import {keyOf} from '../engines/keys.js'
import type {KeyTuple} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {readCheckpoint} from '../state/checkpoints.js'
import {acquireLease, relayLockName, type Lease} from '../state/locks.js'
import {crashPoint} from '../util/crash-points.js'
import {UserError, errorMessage} from '../util/errors.js'
import type {Logger} from '../util/log.js'
import {silentProgress, type ProgressReporter, type ProgressTask} from '../util/progress.js'
import type {Workspace} from '../workspace.js'
import {coalesce, planApply, type Change} from './coalesce.js'
import {countDeadLetters, deadLetterFailed, dueDeadLetters, recordDeadLetter, resolveDeadLetters, resolveDeadLettersById, type DeadLetter} from './dead-letters.js'
import {isSystemicError} from './failure-kind.js'
import {resolveRelatedChanges} from './aggregate-capture.js'
import {emptyTarget} from './empty-target.js'
import {decodeOutboxKey, encodeKey, keyIdentity} from './key-codec.js'
import {serviceOutbox} from './capture.js'
import type {Outbox, OutboxLag} from './outbox.js'
import {writeRelaySample} from './relay-samples.js'
import {backoffMs, sleep, withRetry} from './retry.js'

/** How the relay runs. Every field is optional. */
export interface RelayOptions {
  /** Outbox rows per batch (default 500). */
  batchSize?: number
  /** Attempts of one database step on transient errors, the first included (default 6). */
  maxAttempts?: number
  /** Only these entities (by entity name or source table name); undefined or empty: every entity of the service. */
  entities?: string[]
  progress?: ProgressReporter
  /** Stops `drain` (between batches) and the waits between retries. */
  signal?: AbortSignal
  /** `follow`: pause when the outbox is empty, ms (default 200). */
  idleMs?: number
  /** Minimum interval between relay samples written to the state store's metrics table, ms (default 5000). */
  metricsIntervalMs?: number
  /** Interval between lag measurements while following, ms (default 1000). */
  lagIntervalMs?: number
  /** First delay before a dead letter is retried; doubles per attempt, at most an hour (default 5000). */
  deadLetterRetryMs?: number
  /** First delay of the transient-error backoff, ms (default 200). */
  retryBaseMs?: number
  /** Hooks for exporters (Prometheus) and health checks. */
  listener?: RelayListener
  log?: Logger
  /**
   * The service's relay lock (`relayLockName`), held by the caller (the relay
   * command, which refuses to start while another relay runs). Without it,
   * `drain` and `follow` take the lock themselves, see there.
   */
  lease?: Lease
  /** Shown as the command of the relay lock this relay takes (default `relay`). */
  command?: string
  /** A drain waiting for another relay gives up when that relay consumed nothing for this long, ms (default 30000). */
  stallMs?: number
  /** `follow` standing by while another relay runs: how often it tries to take over, ms (default 2000). */
  standbyPollMs?: number
}

/** What a relay run did. Counters add up over the run; lag and pending are measured at its end. */
export interface RelayTotals {
  /** Non-empty batches. */
  batches: number
  /** Outbox rows consumed. */
  changes: number
  /** Keys applied to the target: upserts + deletes. */
  applied: number
  upserts: number
  deletes: number
  /** Keys sent to (or failed again in) the dead-letter table. */
  deadLettered: number
  /** Dead letters that applied on retry (or through a later change of their key) and were resolved. */
  resolved: number
  /** Retries of database steps after transient errors. */
  retries: number
  lagSeconds: number
  pending: number
}

/** One batch, as reported to listeners (empty polls included: they prove the loop is alive). */
export interface BatchReport {
  changes: number
  applied: number
  upserts: number
  deletes: number
  deadLettered: number
  retries: number
  batchMs: number
  at: number
}

/** Observers of a running relay. */
export interface RelayListener {
  batch?(report: BatchReport): void
  lag?(lag: OutboxLag & {deadLetters: number}): void
  error?(err: unknown): void
}

/** After taking over the relay lock from a live relay: time for that relay to notice (its lease renews at most every 5 s) before this one writes. */
const TAKEOVER_GRACE_MS = 6000
/** How often a relay confirms its lock with the state store before applying a batch, at most. */
const CONFIRM_EVERY_MS = 1000

/** The relay lock in hand: the caller's, or taken by this relay (and released by it). */
interface HeldLock {
  lease: Lease
  owned: boolean
}

/** One key to apply: from the outbox (with the ids it consumes) or from a dead letter. */
interface KeyWork {
  readonly key: KeyTuple
  readonly identity: string
  readonly pk: string
  readonly ids: readonly string[]
  readonly deadLetter?: DeadLetter
}

interface EntityResult {
  applied: KeyWork[]
  failed: {work: KeyWork; error: string}[]
  upserts: number
  deletes: number
}

export function emptyTotals(): RelayTotals {
  return {batches: 0, changes: 0, applied: 0, upserts: 0, deletes: 0, deadLettered: 0, resolved: 0, retries: 0, lagSeconds: 0, pending: 0}
}

/**
 * The relay: consumes a service's outbox as a queue and keeps its store a live
 * copy of the monolith. Per batch: read the oldest changes by id, fold them to
 * one per key, re-read the current source rows of those keys, map them,
 * delete the keys whose row is gone and upsert the others, then delete exactly
 * the consumed outbox rows. Re-reading makes order irrelevant and every apply
 * idempotent, so a crash anywhere only repeats work. Changes of an entity whose
 * backfill has not finished wait in the outbox. Keys that keep failing go to
 * the dead-letter table (their outbox rows are removed, so they never block the
 * queue) and are retried with backoff. Only short autocommit statements run on
 * the monolith; nothing is locked across batches.
 *
 * One relay per service at a time: `drain` and `follow` hold the service's
 * relay lock (`relay:<service>`), apart from the operator's lock of the
 * service, and confirm it before applying each batch. A drain while another
 * relay holds it waits for that relay to consume the outbox instead; a follow
 * stands by until it can take over. A relay whose lock was taken over stops
 * before its next batch and throws the `LeaseLostError`.
 */
export class Relay {
  private readonly ws: Workspace
  private readonly service: string
  private readonly opts: RelayOptions
  private readonly outbox: Outbox
  private readonly log: Logger
  private readonly batchSize: number
  private readonly maxAttempts: number
  private scopeP?: Promise<ResolvedEntity[]>
  private readonly ready = new Set<string>()
  private readyCheckedAt = 0
  private signal?: AbortSignal
  private unresolved = -1
  private lastLag: OutboxLag = {lagSeconds: 0, pending: 0}
  private lastLagAt = 0
  private lastSampleAt = 0
  private since = {changes: 0, applied: 0, batches: 0, batchMs: 0, retries: 0}
  private retriesSeen = 0
  /** The relay lock while `drain` or `follow` applies batches. */
  private lock?: Lease
  /** The highest outbox id of the last non-empty batch. */
  private lastId = -1n

  constructor(ws: Workspace, service: string, opts: RelayOptions = {}) {
    ws.service(service)
    this.ws = ws
    this.service = service
    this.opts = opts
    this.outbox = serviceOutbox(ws, service)
    this.log = (opts.log ?? ws.log).child({service, component: 'relay'})
    this.batchSize = Math.max(1, Math.floor(opts.batchSize ?? 500))
    this.maxAttempts = Math.max(1, Math.floor(opts.maxAttempts ?? 6))
    this.signal = opts.signal
    this.lastSampleAt = Date.now()
  }

  /** One batch: at most `batchSize` outbox rows. Does not retry dead letters. */
  async runOnce(): Promise<RelayTotals> {
    const t = emptyTotals()
    await this.ensureCounts()
    await this.batch(t)
    await this.measure(t)
    return t
  }

  /**
   * Consumes what is in the outbox when it starts (up to its highest id, the
   * high-water mark) and returns, however fast new changes arrive: retries
   * the due dead letters, then runs batches until a batch reaches the mark or
   * comes back empty (or `timeoutMs` passes, or the signal aborts). Holds the
   * relay lock meanwhile; while another relay holds it, waits for that relay
   * to consume up to the mark instead (taking over if it stops), and gives up
   * waiting when that relay consumed nothing for `stallMs`.
   */
  async drain(opts: {timeoutMs?: number} = {}): Promise<RelayTotals> {
    const t = emptyTotals()
    const deadline = opts.timeoutMs ? Date.now() + opts.timeoutMs : Number.POSITIVE_INFINITY
    await this.ensureCounts()
    const mark = await this.retry(() => this.outbox.highWaterMark(), 'reading the outbox high-water mark')
    const upTo = mark === null ? -1n : BigInt(mark)
    const held = await this.lockOrWait(upTo, deadline)
    if (!held) {
      await this.measure(t)
      return t
    }
    this.lock = held.lease
    try {
      await this.retryDeadLetters(t)
      const start = await this.lag()
      const task = (this.opts.progress ?? silentProgress).task(`relay ${this.service}`, start.pending, 'changes')
      try {
        while (!this.signal?.aborted && Date.now() < deadline) {
          const n = await this.batch(t, task)
          await this.tick(t, false)
          if (n === 0 || this.lastId >= upTo) break
        }
        await this.tick(t, true)
      } finally {
        task.stop(`${t.applied} applied, ${t.deadLettered} dead-lettered, lag ${t.lagSeconds.toFixed(1)} s`)
      }
    } finally {
      this.lock = undefined
      if (held.owned) await held.lease.release().catch((err) => this.log.warn(`could not release the relay lock: ${errorMessage(err)}`))
    }
    held.lease.check()
    return t
  }

  /**
   * Runs until the signal aborts: batches back to back while there is work,
   * a short pause when the outbox is empty, due dead letters every second, lag
   * and metrics on their intervals. Errors (a server restarting, a missing
   * table) are logged and retried with backoff; the loop never exits on them.
   * On abort the batch in hand is finished first. Holds the relay lock: while
   * another relay holds it, stands by (applying nothing) and takes over when
   * that relay stops; when the lock is taken over, stops before the next
   * batch and throws the `LeaseLostError`.
   */
  async follow(signal: AbortSignal): Promise<RelayTotals> {
    const stop = this.opts.signal ? AbortSignal.any([signal, this.opts.signal]) : signal
    this.signal = stop
    const t = emptyTotals()
    const idle = this.opts.idleMs ?? 200
    let failures = 0
    let nextDeadLetters = 0
    // a plan that names unknown entities fails now rather than being retried forever
    await this.scope()
    const held = await this.lockOrStandBy(stop)
    if (!held) {
      this.signal = this.opts.signal
      return t
    }
    const lease = held.lease
    const run = AbortSignal.any([stop, lease.signal])
    this.signal = run
    this.lock = lease
    const task = (this.opts.progress ?? silentProgress).task(`relay ${this.service}`, 0, 'changes')
    try {
      if (lease.stolenFrom?.service === relayLockName(this.service)) {
        this.log.info(`took over the relay lock from ${lease.stolenFrom.holder}; waiting ${TAKEOVER_GRACE_MS / 1000} s for that relay to stop`)
        // the lag is reported meanwhile (health and metrics see the backlog), nothing is written
        await this.ensureCounts()
        this.opts.listener?.lag?.({...(await this.lag()), deadLetters: Math.max(0, this.unresolved)})
        await sleep(TAKEOVER_GRACE_MS, run)
      }
      while (!run.aborted) {
        try {
          await this.ensureCounts()
          if (Date.now() >= nextDeadLetters) {
            await this.retryDeadLetters(t)
            nextDeadLetters = Date.now() + 1000
          }
          const n = await this.batch(t, task)
          await this.tick(t, false, task)
          failures = 0
          if (n === 0) await sleep(idle, run)
        } catch (err) {
          if (run.aborted || lease.lost) break
          failures++
          const delay = backoffMs(failures, 500, 30_000)
          this.log.error(`relay pass failed (${failures} in a row), retrying in ${delay} ms: ${errorMessage(err)}`)
          this.opts.listener?.error?.(err)
          await sleep(delay, run)
        }
      }
      // a relay whose lock was taken over writes nothing more, not even its metrics
      if (!lease.lost) await this.tick(t, true, task).catch((err) => this.log.warn(`could not record the final relay metrics: ${errorMessage(err)}`))
    } finally {
      task.stop(`${t.applied} applied, ${t.deadLettered} dead-lettered`)
      this.signal = this.opts.signal
      this.lock = undefined
      if (held.owned) await lease.release().catch((err) => this.log.warn(`could not release the relay lock: ${errorMessage(err)}`))
    }
    lease.check()
    return t
  }

  /** Age of the oldest unconsumed change of the relay's entities, and how many wait (including entities still backfilling). */
  async lag(): Promise<{lagSeconds: number; pending: number}> {
    const scope = await this.scope()
    const lag = await this.retry(() => this.outbox.lag(scope.map((e) => e.name)), 'measuring the outbox')
    this.lastLag = lag
    this.lastLagAt = Date.now()
    return {...lag}
  }

  // ---------------------------------------------------------------------------

  /** The caller's relay lock, or this relay's own; undefined while another relay holds it (the holder's message in `busy`). */
  private async takeLock(): Promise<HeldLock | {busy: string}> {
    if (this.opts.lease) return {lease: this.opts.lease, owned: false}
    try {
      const lease = await this.retry(
        () => acquireLease(this.ws.state, relayLockName(this.service), {runId: this.ws.runId, command: this.opts.command ?? 'relay'}),
        'taking the relay lock',
      )
      return {lease, owned: true}
    } catch (err) {
      if (err instanceof UserError && err.code === 'E_LOCKED') return {busy: err.message}
      throw err
    }
  }

  /**
   * The relay lock for a drain; or, while another relay holds it, waiting for
   * that relay to consume the outbox up to `upTo` (undefined: nothing left to
   * do), taking the lock as soon as the other relay lets go of it.
   */
  private async lockOrWait(upTo: bigint, deadline: number): Promise<HeldLock | undefined> {
    let announced = false
    let oldest: string | undefined
    let progressAt = Date.now()
    for (;;) {
      const got = await this.takeLock()
      if ('lease' in got) return got
      const scope = await this.scope()
      const ready = await this.readyEntities(scope)
      const [first] = await this.retry(() => this.outbox.fetch(1, ready.map((e) => e.name)), 'reading the outbox')
      if (!first || BigInt(first.id) > upTo) return undefined
      if (!announced) {
        this.log.info(`${got.busy.replace(/;.*$/, '')}: waiting for it to consume the outbox up to id ${upTo}`)
        announced = true
      }
      if (first.id !== oldest) {
        oldest = first.id
        progressAt = Date.now()
      }
      const stallMs = this.opts.stallMs ?? 30_000
      if (Date.now() - progressAt >= stallMs) {
        this.log.warn(`the running relay consumed nothing for ${Math.round(stallMs / 1000)} s (oldest waiting change id ${first.id}); not waiting longer. ${got.busy}`)
        return undefined
      }
      if (this.signal?.aborted || Date.now() >= deadline) return undefined
      await sleep(250, this.signal)
    }
  }

  /** The relay lock for `follow`; while another relay holds it, stands by and retries. Undefined when stopped meanwhile. */
  private async lockOrStandBy(stop: AbortSignal): Promise<HeldLock | undefined> {
    let announced = false
    while (!stop.aborted) {
      try {
        const got = await this.takeLock()
        if ('lease' in got) {
          if (announced) this.log.info(`the other relay of ${this.service} stopped; this relay takes over`)
          return got
        }
        if (!announced) this.log.info(`${got.busy.replace(/;.*$/, '')}: standing by until it stops`)
        announced = true
      } catch (err) {
        this.log.warn(`cannot take the relay lock (${errorMessage(err)}); retrying`)
      }
      await sleep(this.opts.standbyPollMs ?? 2000, stop)
    }
    return undefined
  }

  /** Before a batch writes anything: the relay lock must still be ours (confirmed with the state store at most every second). */
  private async confirmLock(): Promise<void> {
    const lease = this.lock
    if (!lease) return
    lease.check()
    if (Date.now() - lease.confirmedAt >= CONFIRM_EVERY_MS) await this.retry(() => lease.confirm(), 'confirming the relay lock')
  }

  private retry<T>(fn: () => Promise<T>, what: string): Promise<T> {
    return withRetry(fn, {
      maxAttempts: this.maxAttempts,
      baseMs: this.opts.retryBaseMs ?? 200,
      maxMs: 10_000,
      signal: this.signal,
      onRetry: (attempt, err, delay) => {
        this.retriesSeen++
        this.since.retries++
        this.log.warn(`${what} failed (${errorMessage(err)}); retry ${attempt}/${this.maxAttempts - 1} in ${delay} ms`)
      },
    })
  }

  private async scope(): Promise<ResolvedEntity[]> {
    if (!this.scopeP) {
      this.scopeP = this.resolveScope()
      this.scopeP.catch(() => (this.scopeP = undefined))
    }
    return this.scopeP
  }

  private async resolveScope(): Promise<ResolvedEntity[]> {
    const all = await this.ws.entities(this.service)
    if (!this.opts.entities?.length) return all
    return this.opts.entities.map((name) => {
      const e = all.find((x) => x.name === name || x.source.name === name)
      if (!e) {
        throw new UserError(`Service ${this.service} has no entity "${name}".`, {code: 'E_UNKNOWN_ENTITY', hint: `Entities: ${all.map((x) => x.name).join(', ')}.`})
      }
      return e
    })
  }

  /** Entities whose backfill is done; the others' changes wait in the outbox. Re-checked at most every 2 s. */
  private async readyEntities(scope: readonly ResolvedEntity[]): Promise<ResolvedEntity[]> {
    if (this.ready.size < scope.length && Date.now() - this.readyCheckedAt >= 2000) {
      for (const e of scope) {
        if (this.ready.has(e.name)) continue
        const cp = await this.retry(() => readCheckpoint<{done?: boolean}>(this.ws.state, this.service, e.name, 'backfill'), 'reading the backfill checkpoint')
        if (cp?.done === true) this.ready.add(e.name)
      }
      this.readyCheckedAt = Date.now()
    }
    return scope.filter((e) => this.ready.has(e.name))
  }

  private async ensureCounts(): Promise<void> {
    if (this.unresolved < 0) this.unresolved = await this.retry(() => countDeadLetters(this.ws.state, this.service, 'relay'), 'counting dead letters')
  }

  private async target(): Promise<Engine> {
    return this.ws.target(this.service)
  }

  private async batch(t: RelayTotals, task?: ProgressTask): Promise<number> {
    const started = performance.now()
    const retriesBefore = this.retriesSeen
    const scope = await this.scope()
    const ready = await this.readyEntities(scope)
    let rows = await this.retry(() => this.outbox.fetch(this.batchSize, ready.map((e) => e.name)), 'reading the outbox')
    // a TRUNCATE is a barrier: what came before it is applied first, what came after it after the target is emptied
    const truncate = rows.findIndex((r) => r.op === 'T')
    if (truncate === 0) return this.applyTruncate(rows[0], scope, t, started)
    if (truncate > 0) rows = rows.slice(0, truncate)
    if (!rows.length) {
      this.report({changes: 0, applied: 0, upserts: 0, deletes: 0, deadLettered: 0, retries: this.retriesSeen - retriesBefore, batchMs: performance.now() - started, at: Date.now()})
      return 0
    }
    await this.confirmLock()
    this.lastId = rows.reduce((m, r) => (BigInt(r.id) > m ? BigInt(r.id) : m), -1n)
    const byName = new Map(scope.map((e) => [e.name, e]))
    const changes: Change[] = []
    const failed: {entity: ResolvedEntity; work: KeyWork; error: string}[] = []
    // an aggregate's related tables write their join values (op R): the roots they belong to, as of now
    const related = rows.some((r) => r.op === 'R') ? await this.retry(() => resolveRelatedChanges(this.ws.monolith, rows, byName), 'finding the roots of related changes') : undefined
    for (const r of rows) {
      const e = byName.get(r.entity)!
      if (r.op === 'R') {
        for (const key of related?.get(r.id) ?? []) changes.push({id: r.id, entity: r.entity, op: 'U', key})
        continue
      }
      try {
        changes.push({id: r.id, entity: r.entity, op: r.op === 'D' ? 'D' : 'U', key: decodeOutboxKey(r.pk, e.sourceKeyTypes)})
      } catch (err) {
        failed.push({entity: e, work: {key: [], identity: r.pk, pk: r.pk, ids: [r.id]}, error: errorMessage(err)})
      }
    }
    const groups = coalesce(changes, (c) => keyIdentity(c.key, byName.get(c.entity)!.sourceKeyTypes))
    const perEntity = new Map<string, KeyWork[]>()
    for (const g of groups) {
      const list = perEntity.get(g.entity) ?? []
      list.push({key: g.key, identity: g.identity, pk: encodeKey(g.key), ids: g.ids})
      perEntity.set(g.entity, list)
    }
    let upserts = 0
    let deletes = 0
    const applied: {entity: ResolvedEntity; works: KeyWork[]}[] = []
    for (const [name, works] of perEntity) {
      const entity = byName.get(name)!
      const res = await this.applyEntity(entity, works)
      upserts += res.upserts
      deletes += res.deletes
      applied.push({entity, works: res.applied})
      for (const f of res.failed) failed.push({entity, ...f})
    }
    await this.deadLetter(failed)
    crashPoint('relay:after-apply')
    await this.retry(() => this.outbox.remove(rows.map((r) => r.id)), 'removing consumed outbox rows')
    crashPoint('relay:after-cleanup')
    if (this.unresolved > 0) {
      for (const a of applied) {
        if (!a.works.length) continue
        const n = await this.retry(() => resolveDeadLetters(this.ws.state, this.service, a.entity.name, a.works.map((w) => w.pk)), 'resolving dead letters')
        this.unresolved = Math.max(0, this.unresolved - n)
        t.resolved += n
      }
    }
    const report: BatchReport = {
      changes: rows.length,
      applied: upserts + deletes,
      upserts,
      deletes,
      deadLettered: failed.length,
      retries: this.retriesSeen - retriesBefore,
      batchMs: performance.now() - started,
      at: Date.now(),
    }
    t.batches++
    t.changes += report.changes
    t.applied += report.applied
    t.upserts += upserts
    t.deletes += deletes
    t.deadLettered += failed.length
    t.retries += report.retries
    this.report(report)
    task?.increment(rows.length, {extra: `lag ${this.lastLag.lagSeconds.toFixed(1)} s`})
    return rows.length
  }

  /** The monolith table of an entity was truncated: empty its target, then consume the change. */
  /**
   * A TRUNCATE captured on the monolith (PostgreSQL). Of the entity's own
   * table (pk `[]`): the target is emptied. Of a related table of an aggregate
   * (pk `[relation]`): every root is re-assembled, a page of root keys at a
   * time, as the relay applies any change (roots the table no longer
   * contributes to lose those parts).
   */
  private async applyTruncate(row: {id: string; entity: string; pk: string}, scope: readonly ResolvedEntity[], t: RelayTotals, started: number): Promise<number> {
    await this.confirmLock()
    this.lastId = BigInt(row.id)
    const entity = scope.find((e) => e.name === row.entity)!
    const target = await this.target()
    let upserts = 0
    let deletes = 0
    let failed = 0
    if (relatedTruncate(row.pk)) {
      this.log.warn(`a table of the ${entity.name} aggregate was truncated in the monolith: re-assembling every document of ${entity.target.name}`)
      const keyCols = entity.sourceKey.map((k, i) => ({name: k, column: k, type: entity.sourceKeyTypes[i]}))
      let after: KeyTuple | undefined
      for (;;) {
        const page = await this.retry(
          () => this.ws.monolith.readRange({table: entity.source, key: entity.sourceKey, keyTypes: entity.sourceKeyTypes, columns: keyCols, filter: entity.filter, after, limit: this.batchSize}),
          `reading the keys of ${entity.source.name}`,
        )
        if (!page.length) break
        await this.confirmLock()
        const works = page.map((r): KeyWork => {
          const key = keyOf(r, entity.sourceKey)
          return {key, identity: keyIdentity(key, entity.sourceKeyTypes), pk: encodeKey(key), ids: []}
        })
        // a root that fails to apply is dead-lettered, as in any batch: the others go on
        const res = await this.applyEntity(entity, works)
        await this.deadLetter(res.failed.map((f) => ({entity, ...f})))
        upserts += res.upserts
        deletes += res.deletes
        failed += res.failed.length
        after = works.at(-1)!.key
      }
    } else {
      this.log.warn(`${entity.source.name} was truncated in the monolith: emptying ${entity.target.name}`)
      deletes = await this.retry(() => emptyTarget(target, entity), `emptying ${entity.target.name}`)
    }
    await this.retry(() => this.outbox.remove([row.id]), 'removing consumed outbox rows')
    const applied = upserts + deletes
    const report: BatchReport = {changes: 1, applied, upserts, deletes, deadLettered: failed, retries: 0, batchMs: performance.now() - started, at: Date.now()}
    t.batches++
    t.changes += 1
    t.applied += applied
    t.upserts += upserts
    t.deletes += deletes
    t.deadLettered += failed
    this.report(report)
    return 1
  }

  /** Records keys that failed to apply in the dead-letter table, to be retried later. */
  private async deadLetter(failed: readonly {entity: ResolvedEntity; work: KeyWork; error: string}[]): Promise<void> {
    for (const f of failed) {
      this.log.warn(`key ${f.work.pk} of ${f.entity.name} failed; sent to the dead-letter table: ${f.error}`)
      const dl = await this.retry(
        () => recordDeadLetter(this.ws.state, {service: this.service, entity: f.entity.name, pk: f.work.pk, error: f.error}, this.deadLetterBaseMs()),
        'recording a dead letter',
      )
      if (dl.attempts === 1) this.unresolved = Math.max(0, this.unresolved) + 1
    }
  }

  private report(r: BatchReport): void {
    if (r.changes) {
      this.since.batches++
      this.since.batchMs += r.batchMs
      this.since.changes += r.changes
      this.since.applied += r.applied
    }
    this.opts.listener?.batch?.(r)
  }

  private deadLetterBaseMs(): number {
    return this.opts.deadLetterRetryMs ?? 5000
  }

  /**
   * Applies keys of one entity: the whole list at once, and when that fails
   * with a data error, key by key to find the failing ones. Transient errors
   * (after their retries) and systemic ones (missing table, privileges) are
   * thrown: the batch stops and its outbox rows stay for the next attempt.
   */
  private async applyEntity(entity: ResolvedEntity, works: KeyWork[]): Promise<EntityResult> {
    try {
      return {applied: works, failed: [], ...(await this.applyKeys(entity, works))}
    } catch (err) {
      if (isTransientDbError(err) || isSystemicError(err) || this.signal?.aborted) throw err
      if (works.length === 1) return {applied: [], failed: [{work: works[0], error: errorMessage(err)}], upserts: 0, deletes: 0}
      this.log.debug(`batch of ${works.length} keys of ${entity.name} failed (${errorMessage(err)}); applying key by key`)
    }
    const out: EntityResult = {applied: [], failed: [], upserts: 0, deletes: 0}
    for (const w of works) {
      try {
        const r = await this.applyKeys(entity, [w])
        out.applied.push(w)
        out.upserts += r.upserts
        out.deletes += r.deletes
      } catch (err) {
        if (isTransientDbError(err) || isSystemicError(err)) throw err
        out.failed.push({work: w, error: errorMessage(err)})
      }
    }
    return out
  }

  /** Re-read, map, delete the absent keys, upsert the present rows. */
  private async applyKeys(entity: ResolvedEntity, works: readonly KeyWork[]): Promise<{upserts: number; deletes: number}> {
    const keys = works.map((w) => w.key)
    const rows = await this.retry(
      () =>
        this.ws.monolith.readByKeys({
          table: entity.source,
          key: entity.sourceKey,
          columns: entity.projections,
          keys,
          filter: entity.filter,
          keyTypes: entity.sourceKeyTypes,
        }),
      `re-reading ${entity.source.name}`,
    )
    const plan = planApply(works, rows, (r) => keyIdentity(keyOf(r, entity.sourceKey), entity.sourceKeyTypes))
    const mapped = await entity.materialise(plan.upserts)
    const target = await this.target()
    if (plan.deletes.length) {
      await this.retry(
        () => target.deleteKeys({table: entity.target, key: entity.targetKey, keys: plan.deletes, keyTypes: entity.sourceKeyTypes}),
        `deleting from ${entity.target.name}`,
      )
    }
    if (mapped.length) {
      await this.retry(
        () => target.upsert({table: entity.target, key: entity.targetKey, columns: entity.targetSpec.columns, rows: mapped}),
        `writing ${entity.target.name}`,
      )
    }
    return {upserts: mapped.length, deletes: plan.deletes.length}
  }

  /** Retries the due dead letters of the relay's ready entities (one batch of them). */
  private async retryDeadLetters(t: RelayTotals): Promise<void> {
    if (this.unresolved === 0) return
    const due = await this.retry(() => dueDeadLetters(this.ws.state, this.service, {limit: this.batchSize}), 'reading dead letters')
    if (!due.length) return
    await this.confirmLock()
    const scope = await this.scope()
    const ready = new Map((await this.readyEntities(scope)).map((e) => [e.name, e]))
    const perEntity = new Map<string, KeyWork[]>()
    for (const dl of due) {
      const entity = ready.get(dl.entity)
      if (!entity) continue
      let work: KeyWork
      try {
        const key = decodeOutboxKey(dl.pk, entity.sourceKeyTypes)
        work = {key, identity: keyIdentity(key, entity.sourceKeyTypes), pk: dl.pk, ids: [], deadLetter: dl}
      } catch (err) {
        await this.retry(() => deadLetterFailed(this.ws.state, dl, errorMessage(err), this.deadLetterBaseMs()), 'updating a dead letter')
        continue
      }
      const list = perEntity.get(dl.entity) ?? []
      list.push(work)
      perEntity.set(dl.entity, list)
    }
    for (const [name, works] of perEntity) {
      const res = await this.applyEntity(ready.get(name)!, works)
      const ids = res.applied.map((w) => w.deadLetter!.id)
      const n = await this.retry(() => resolveDeadLettersById(this.ws.state, ids), 'resolving dead letters')
      this.unresolved = Math.max(0, this.unresolved - n)
      t.resolved += n
      t.applied += res.upserts + res.deletes
      t.upserts += res.upserts
      t.deletes += res.deletes
      for (const f of res.failed) {
        await this.retry(() => deadLetterFailed(this.ws.state, f.work.deadLetter!, f.error, this.deadLetterBaseMs()), 'updating a dead letter')
        t.deadLettered++
      }
      if (n) this.log.info(`${n} dead letter(s) of ${name} applied on retry and resolved`)
    }
  }

  /** Lag (on its interval) and a relay sample in the state store (on its interval); both when `force`. */
  private async tick(t: RelayTotals, force: boolean, task?: ProgressTask): Promise<void> {
    const now = Date.now()
    const sampleDue = force || now - this.lastSampleAt >= (this.opts.metricsIntervalMs ?? 5000)
    if (sampleDue || now - this.lastLagAt >= (this.opts.lagIntervalMs ?? 1000)) {
      const lag = await this.lag()
      this.unresolved = await this.retry(() => countDeadLetters(this.ws.state, this.service, 'relay'), 'counting dead letters')
      this.opts.listener?.lag?.({...lag, deadLetters: this.unresolved})
      task?.setTotal(t.changes + lag.pending)
    }
    if (sampleDue) {
      const seconds = Math.max(0.001, (now - this.lastSampleAt) / 1000)
      const s = this.since
      await this.retry(
        () =>
          writeRelaySample(this.ws.state, this.service, {
            lagSeconds: this.lastLag.lagSeconds,
            pending: this.lastLag.pending,
            applied: s.applied,
            batchMs: s.batches ? Math.round((s.batchMs / s.batches) * 10) / 10 : 0,
            retries: s.retries,
            deadLetters: Math.max(0, this.unresolved),
            throughput: Math.round((s.changes / seconds) * 10) / 10,
          }),
        'writing relay metrics',
      )
      this.since = {changes: 0, applied: 0, batches: 0, batchMs: 0, retries: 0}
      this.lastSampleAt = now
    }
    t.lagSeconds = this.lastLag.lagSeconds
    t.pending = this.lastLag.pending
  }

  private async measure(t: RelayTotals): Promise<void> {
    const lag = await this.lag()
    t.lagSeconds = lag.lagSeconds
    t.pending = lag.pending
  }
}

/** Whether a TRUNCATE change came from a related table of an aggregate (pk `[relation]`), not the entity's own (`[]`). */
function relatedTruncate(pk: string): boolean {
  try {
    const v: unknown = JSON.parse(pk)
    return Array.isArray(v) && v.length > 0
  } catch {
    return false
  }
}
