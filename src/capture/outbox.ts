import {canonicalValue} from '../diff/canonical.js'
import type {Engine, SqlCapabilities} from '../engines/engine.js'
import type {TableRef} from '../engines/types.js'
import {UserError} from '../util/errors.js'
import type {LogicalFeed} from './logical.js'

/** One row of a service's outbox. */
export interface OutboxRow {
  readonly id: string
  readonly entity: string
  /** `U` upsert, `D` delete, `R` a related table of an aggregate changed (pk: its join values; see RootKeyPath.relation), `T` the table was truncated (PostgreSQL). */
  readonly op: 'U' | 'D' | 'R' | 'T'
  readonly pk: string
  /** UTC, `YYYY-MM-DD HH:MM:SS.ffffff` */
  readonly createdAt: string
}

/** How far behind the relay is: the age of the oldest unconsumed change, and how many are waiting. */
export interface OutboxLag {
  lagSeconds: number
  pending: number
  /** Logical capture: WAL the service's replication slot keeps from being recycled, bytes. */
  retainedWalBytes?: number
}

const IN_LIST = 1000

/**
 * The outbox of one service, consumed as a queue: read the oldest rows by id,
 * apply them, delete exactly those ids. No high-water mark: a transaction that
 * took id 10 and commits after id 11 was consumed is simply read next time.
 * Every statement is a short autocommit statement; no lock outlives it.
 */
export class Outbox {
  readonly table: TableRef
  private readonly sql: SqlCapabilities
  private readonly engine: Engine
  /** Logical capture: the slot's changes are moved in before the outbox is read (the workspace's feed of the service). */
  private readonly feedOf?: () => Promise<LogicalFeed | undefined>

  constructor(monolith: Engine, table: TableRef, feed?: () => Promise<LogicalFeed | undefined>) {
    if (!monolith.sql) throw new UserError('The monolith must be PostgreSQL or MySQL/MariaDB to capture changes.', {code: 'E_CONFIG'})
    this.engine = monolith
    this.sql = monolith.sql
    this.table = table
    this.feedOf = feed
  }

  private async feed(): Promise<LogicalFeed | undefined> {
    return this.feedOf?.()
  }

  exists(): Promise<boolean> {
    return this.engine.tableExists(this.table)
  }

  private entityWhere(entities: readonly string[] | undefined, params: unknown[]): string {
    if (!entities) return ''
    const ps = entities.map((e) => (params.push(e), this.sql.param(params.length)))
    return ` WHERE ${this.sql.quoteId('entity')} IN (${ps.join(', ')})`
  }

  /** The oldest `limit` rows (by id) of these entities (all when undefined). */
  async fetch(limit: number, entities?: readonly string[]): Promise<OutboxRow[]> {
    if (entities && !entities.length) return []
    await (await this.feed())?.pump()
    const q = (c: string): string => this.sql.quoteId(c)
    const params: unknown[] = []
    const where = this.entityWhere(entities, params)
    const rows = await this.sql.query<Record<string, unknown>>(
      `SELECT ${q('id')}, ${q('entity')}, ${q('op')}, ${q('pk')}, ${q('created_at')} FROM ${this.sql.quoteTable(this.table)}${where} ORDER BY ${q('id')} LIMIT ${Math.max(1, Math.floor(limit))}`,
      params,
    )
    return rows.map((r) => ({
      id: String(r.id),
      entity: String(r.entity),
      op: opOf(String(r.op).trim()),
      pk: Buffer.isBuffer(r.pk) ? r.pk.toString('utf8') : String(r.pk),
      createdAt: String(r.created_at),
    }))
  }

  /** The highest id now in the outbox, or null when it is empty: a drain consumes up to it and stops, however fast new changes arrive. */
  async highWaterMark(): Promise<string | null> {
    // a drain consumes every change committed before it started
    await (await this.feed())?.pump({flush: true})
    const [r] = await this.sql.query<Record<string, unknown>>(`SELECT MAX(${this.sql.quoteId('id')}) AS ${this.sql.quoteId('m')} FROM ${this.sql.quoteTable(this.table)}`, [])
    return r?.m === null || r?.m === undefined ? null : String(r.m)
  }

  /** Deletes exactly these ids. */
  async remove(ids: readonly string[]): Promise<number> {
    let n = 0
    for (let i = 0; i < ids.length; i += IN_LIST) {
      const part = ids.slice(i, i + IN_LIST)
      const ps = part.map((_, j) => this.sql.param(j + 1))
      n += await this.sql.execute(`DELETE FROM ${this.sql.quoteTable(this.table)} WHERE ${this.sql.quoteId('id')} IN (${ps.join(', ')})`, part)
    }
    return n
  }

  /** Pending changes and the age of the oldest, measured against the database clock. */
  async lag(entities?: readonly string[]): Promise<OutboxLag> {
    if (entities && !entities.length) return {lagSeconds: 0, pending: 0}
    const params: unknown[] = []
    const where = this.entityWhere(entities, params)
    const [r] = await this.sql.query<Record<string, unknown>>(
      `SELECT COUNT(*) AS ${this.sql.quoteId('n')}, MIN(${this.sql.quoteId('created_at')}) AS ${this.sql.quoteId('oldest')}, CURRENT_TIMESTAMP(6) AS ${this.sql.quoteId('now')} FROM ${this.sql.quoteTable(this.table)}${where}`,
      params,
    )
    let pending = Number(r?.n ?? 0)
    let oldest = pending ? r?.oldest : undefined
    // logical capture: what the slot decoded and no feed has moved into the outbox yet is behind too
    const feed = await this.feed()
    const slot = feed ? await feed.backlog() : undefined
    if (slot?.changes) {
      pending += slot.changes
      if (slot.oldest && (oldest === null || oldest === undefined || utcMillis(slot.oldest) < utcMillis(oldest))) oldest = slot.oldest
    }
    const wal = slot ? {retainedWalBytes: slot.retainedBytes} : {}
    if (!pending || oldest === null || oldest === undefined) return {lagSeconds: 0, pending, ...wal}
    const age = utcMillis(r.now) - utcMillis(oldest)
    return {lagSeconds: Math.max(0, Math.round(age) / 1000), pending, ...wal}
  }
}

/** Milliseconds since the epoch of a UTC timestamp in the value model. */
export function utcMillis(v: unknown): number {
  if (v instanceof Date) return v.getTime()
  const text = canonicalValue(v, {type: 'timestamptz'}) ?? ''
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})$/.exec(text)
  if (!m) return Number.NaN
  const d = new Date(0)
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0)
  return d.getTime() + Number(m[7]) / 1000
}

function opOf(op: string): 'U' | 'D' | 'R' | 'T' {
  return op === 'D' || op === 'R' || op === 'T' ? op : 'U'
}
