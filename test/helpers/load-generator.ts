/**
 * A load generator for the reliability tests and the soak benchmark: an
 * application writing to a database through its own driver pool (never the
 * tool's), at a steady rate, while keeping a truth log of every acknowledged
 * write: for every key it touched, the row its last acknowledged write left,
 * or that the key was deleted. At the end the service store (and the
 * monolith) are checked against that log: nothing lost, nothing duplicated,
 * nothing resurrected.
 *
 *   const app = await appConnection(mono.url)
 *   const gen = new LoadGenerator(app, {seed: 7, writesPerSecond: 200})
 *   await gen.setup({accounts: 2000, items: 100})   // tables + seed rows, recorded as truth
 *   gen.start(); ...; await gen.stop()
 *   const check = await checkTruth(gen.truth(), await targetView(ws, 'acct'))
 *   expect(check.problems).toEqual([])
 *
 * One operation per key at a time (keys are locked while written), so the
 * last acknowledged write of a key is its final state. A write that fails
 * (a server restarting, a connection killed) has an unknown outcome: its keys
 * become `uncertain`, are never written again, and are checked against the
 * monolith instead of the log.
 *
 * Tables (created by `setup`): `accounts` (bigint key, a large `note` for
 * multi-megabyte rows) and `ItemAttrs` (a mixed-case table with a composite
 * key of a bigint and a case-sensitive text, values differing only in case).
 */
import {createHash} from 'node:crypto'
import mysql from 'mysql2/promise'
import pg from 'pg'
import {canonicalValue} from '../../src/diff/canonical.js'
import type {Engine} from '../../src/engines/engine.js'
import type {ColumnType, KeyTuple, Projection, Row, TableRef} from '../../src/engines/types.js'
import type {ResolvedEntity} from '../../src/mapping/entity-mapping.js'
import type {Workspace} from '../../src/workspace.js'

export type Dialect = 'postgres' | 'mysql'

/** The application's own connection pool: raw driver, `?` placeholders on both dialects. */
export interface AppConnection {
  readonly dialect: Dialect
  readonly url: string
  /** Runs one statement; returns the rows and the affected-row count. */
  exec(sql: string, params?: readonly unknown[]): Promise<{rows: Row[]; count: number}>
  /** One transaction on one connection; rolled back when `fn` throws. */
  tx<T>(fn: (exec: AppConnection['exec']) => Promise<T>): Promise<T>
  /** Quotes an identifier for this dialect. */
  q(name: string): string
  close(): Promise<void>
}

function pgText(sql: string): string {
  let i = 0
  return sql.replace(/\?/g, () => `$${++i}`)
}

/** Opens an application pool on a `postgres://` or `mysql://` URL. */
export async function appConnection(url: string, opts: {max?: number} = {}): Promise<AppConnection> {
  const max = opts.max ?? 8
  if (/^postgres/i.test(url)) {
    const pool = new pg.Pool({connectionString: url, max, connectionTimeoutMillis: 5_000, application_name: 'load-generator'})
    pool.on('error', () => undefined)
    // a server restart or a killed backend must not throw from an idle or checked-out client
    pool.on('connect', (c) => c.on('error', () => undefined))
    const run = (c: pg.Pool | pg.PoolClient) => async (sql: string, params: readonly unknown[] = []) => {
      const r = await c.query(pgText(sql), params as unknown[])
      return {rows: (r.rows ?? []) as Row[], count: r.rowCount ?? 0}
    }
    return {
      dialect: 'postgres',
      url,
      exec: run(pool),
      async tx(fn) {
        const c = await pool.connect()
        let broken = false
        try {
          await c.query('BEGIN')
          const out = await fn(run(c))
          await c.query('COMMIT')
          return out
        } catch (err) {
          await c.query('ROLLBACK').catch(() => (broken = true))
          throw err
        } finally {
          c.release(broken)
        }
      },
      q: (n) => `"${n.replace(/"/g, '""')}"`,
      close: () => pool.end(),
    }
  }
  const pool = mysql.createPool({uri: url.replace(/^mariadb:/i, 'mysql:'), connectionLimit: max, connectTimeout: 5_000, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, timezone: 'Z'})
  const run = (c: mysql.Pool | mysql.PoolConnection) => async (sql: string, params: readonly unknown[] = []) => {
    const [res] = await c.query(sql, params as unknown[])
    if (Array.isArray(res)) return {rows: res as Row[], count: res.length}
    return {rows: [], count: Number((res as mysql.ResultSetHeader).affectedRows ?? 0)}
  }
  return {
    dialect: 'mysql',
    url,
    exec: run(pool),
    async tx(fn) {
      const c = await pool.getConnection()
      try {
        await c.beginTransaction()
        const out = await fn(run(c))
        await c.commit()
        return out
      } catch (err) {
        await c.rollback().catch(() => undefined)
        throw err
      } finally {
        c.release()
      }
    },
    q: (n) => `\`${n.replace(/`/g, '``')}\``,
    close: () => pool.end(),
  }
}

/** The generator's tables, by the names the plan uses as entity sources. */
export const LOAD_TABLES = {accounts: 'accounts', attrs: 'ItemAttrs'} as const
export type LoadTable = (typeof LOAD_TABLES)[keyof typeof LOAD_TABLES]

/** DDL of the generator's tables. MySQL's text key is `utf8mb4_bin`: keys differing only in case are distinct, as on PostgreSQL. */
export function loadSchemaDdl(dialect: Dialect): string[] {
  if (dialect === 'postgres') {
    return [
      `CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(200) NOT NULL, balance numeric(14,2) NOT NULL, note text, updated_at timestamp(3) NOT NULL)`,
      `CREATE TABLE "ItemAttrs" ("ItemId" bigint NOT NULL, "AttrName" varchar(60) NOT NULL, "Value" text, PRIMARY KEY ("ItemId", "AttrName"))`,
    ]
  }
  return [
    `CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(200) NOT NULL, balance decimal(14,2) NOT NULL, note longtext, updated_at datetime(3) NOT NULL) ENGINE=InnoDB`,
    'CREATE TABLE `ItemAttrs` (`ItemId` bigint NOT NULL, `AttrName` varchar(60) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, `Value` text, PRIMARY KEY (`ItemId`, `AttrName`)) ENGINE=InnoDB',
  ]
}

const KEYS: Record<LoadTable, readonly string[]> = {accounts: ['id'], ItemAttrs: ['ItemId', 'AttrName']}
const COLUMNS: Record<LoadTable, readonly string[]> = {accounts: ['id', 'email', 'balance', 'note', 'updated_at'], ItemAttrs: ['ItemId', 'AttrName', 'Value']}
/** Attribute names of an item: several differ only in case or by a trailing space. */
const ATTR_NAMES = ['Color', 'color', 'COLOR', 'Size', 'size ', 'Weight', 'wéight', 'Ünïcode ✓', 'tab\there', 'x']

/** What the log expects one key to hold at the end. */
export interface TruthEntry {
  readonly table: LoadTable
  /** Key values as text (bigint keys as decimal strings). */
  readonly key: readonly string[]
  /** The row the last acknowledged write left (every column), or null: deleted. */
  row: Row | null
  /** Acknowledged writes of this key. */
  writes: number
  /** A write of this key failed: its outcome is unknown; checked against the monolith instead. */
  uncertain: boolean
}

/** A frozen copy of the log. */
export interface TruthLog {
  readonly entries: readonly TruthEntry[]
  /** Acknowledged row writes (the seed included). */
  readonly writes: number
}

export type LoadOp = 'insert' | 'update' | 'hot' | 'delete' | 'reinsert' | 'rekey' | 'attr-insert' | 'attr-update' | 'attr-delete' | 'tx' | 'large'

/** Default operation mix (weights). */
export const DEFAULT_MIX: Readonly<Record<LoadOp, number>> = {
  insert: 12,
  update: 30,
  hot: 10,
  delete: 6,
  reinsert: 4,
  rekey: 4,
  'attr-insert': 10,
  'attr-update': 12,
  'attr-delete': 5,
  tx: 7,
  large: 0,
}

export interface LoadGeneratorOptions {
  seed: number
  /** Operations per second over all workers; 0: as fast as they go. Default 200. */
  writesPerSecond?: number
  /** Operations in flight at once (default 4). */
  concurrency?: number
  /** Weights of the operations (merged over `DEFAULT_MIX`). */
  mix?: Partial<Record<LoadOp, number>>
  /** Account ids 1..hotKeys take the `hot` updates and are never deleted or re-keyed (default 5). */
  hotKeys?: number
  /** Size range of `large` notes, bytes (default 2–5 MB); they go to a handful of accounts. */
  largeBytes?: readonly [number, number]
  /** `tx`: how long a multi-key transaction stays open before it commits, ms (default up to 30): commits land out of order. */
  txHoldMs?: number
}

export interface LoadStats {
  ops: number
  /** Acknowledged row writes, the seed excluded. */
  writes: number
  errors: number
  byOp: Record<string, number>
  seconds: number
  opsPerSecond: number
  lastError?: string
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0')
}

/** A pool of ids with O(1) random pick and removal. */
class IdPool {
  private readonly ids: number[] = []
  private readonly at = new Map<number, number>()
  add(id: number): void {
    if (this.at.has(id)) return
    this.at.set(id, this.ids.length)
    this.ids.push(id)
  }
  remove(id: number): void {
    const i = this.at.get(id)
    if (i === undefined) return
    const last = this.ids.pop()!
    if (last !== id) {
      this.ids[i] = last
      this.at.set(last, i)
    }
    this.at.delete(id)
  }
  has(id: number): boolean {
    return this.at.has(id)
  }
  pick(rand: () => number): number | undefined {
    return this.ids.length ? this.ids[Math.floor(rand() * this.ids.length)] : undefined
  }
  get size(): number {
    return this.ids.length
  }
}

/** The application: see the file comment. */
export class LoadGenerator {
  private app: AppConnection
  private readonly rand: () => number
  private readonly opts: Required<Omit<LoadGeneratorOptions, 'mix'>> & {mix: Record<LoadOp, number>}
  private readonly truthMap = new Map<string, TruthEntry>()
  private readonly locked = new Set<string>()
  private readonly live = new IdPool()
  private readonly dead = new IdPool()
  private readonly items = new Map<number, Set<string>>()
  private nextId = 1
  private itemCount = 0
  private clock = Date.UTC(2025, 0, 1)
  private running = false
  private paused = false
  private workers: Promise<void>[] = []
  private startedAt = 0
  private stoppedAt = 0
  private issued = 0
  private seedWrites = 0
  private readonly stats_ = {ops: 0, writes: 0, errors: 0, byOp: {} as Record<string, number>, lastError: undefined as string | undefined}

  constructor(app: AppConnection, opts: LoadGeneratorOptions) {
    this.app = app
    this.rand = rng(opts.seed)
    this.opts = {
      seed: opts.seed,
      writesPerSecond: opts.writesPerSecond ?? 200,
      concurrency: opts.concurrency ?? 4,
      hotKeys: opts.hotKeys ?? 5,
      largeBytes: opts.largeBytes ?? [2_000_000, 5_000_000],
      txHoldMs: opts.txHoldMs ?? 30,
      mix: {...DEFAULT_MIX, ...(opts.mix ?? {})},
    }
  }

  /** Creates the tables and seeds `accounts` rows and `items` items with their attributes; all recorded in the log. */
  async setup(seed: {accounts: number; items: number; createTables?: boolean}): Promise<void> {
    if (seed.createTables !== false) for (const ddl of loadSchemaDdl(this.app.dialect)) await this.app.exec(ddl)
    const q = this.app.q
    const rows: Row[] = []
    for (let i = 0; i < seed.accounts; i++) rows.push(this.accountRow(this.nextId++))
    for (let i = 0; i < rows.length; i += 500) {
      const part = rows.slice(i, i + 500)
      await this.app.exec(`INSERT INTO accounts (id, email, balance, note, updated_at) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, part.flatMap((r) => COLUMNS.accounts.map((c) => r[c])))
    }
    for (const r of rows) {
      this.record('accounts', [String(r.id)], r)
      const id = Number(r.id)
      this.live.add(id)
    }
    const attrs: Row[] = []
    for (let item = 1; item <= seed.items; item++) {
      const names = new Set<string>()
      for (const n of ATTR_NAMES) if (this.rand() < 0.6) names.add(n)
      this.items.set(item, names)
      for (const n of names) attrs.push({ItemId: String(item), AttrName: n, Value: this.rand() < 0.15 ? null : `v${item}/${n}`})
    }
    this.itemCount = seed.items
    for (let i = 0; i < attrs.length; i += 500) {
      const part = attrs.slice(i, i + 500)
      await this.app.exec(`INSERT INTO ${q('ItemAttrs')} (${q('ItemId')}, ${q('AttrName')}, ${q('Value')}) VALUES ${part.map(() => '(?, ?, ?)').join(', ')}`, part.flatMap((r) => [r.ItemId, r.AttrName, r.Value]))
    }
    for (const r of attrs) this.record('ItemAttrs', [String(r.ItemId), String(r.AttrName)], r)
    this.seedWrites = rows.length + attrs.length
  }

  /** Writes through another connection from now on (after the write cut-over: the service store). */
  retarget(app: AppConnection): void {
    this.app = app
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.startedAt = performance.now()
    this.issued = 0
    for (let i = 0; i < this.opts.concurrency; i++) this.workers.push(this.worker())
  }

  /** Stops issuing operations and waits for those in flight. */
  async stop(): Promise<LoadStats> {
    this.running = false
    await Promise.all(this.workers)
    this.workers = []
    this.stoppedAt = performance.now()
    return this.stats()
  }

  /** Holds new operations (in-flight ones finish) until `resume`. */
  async pause(): Promise<void> {
    this.paused = true
    while (this.locked.size) await sleep(5)
  }

  resume(): void {
    this.paused = false
  }

  get isRunning(): boolean {
    return this.running
  }

  stats(): LoadStats {
    const end = this.running || !this.stoppedAt ? performance.now() : this.stoppedAt
    const seconds = this.startedAt ? (end - this.startedAt) / 1000 : 0
    return {...this.stats_, byOp: {...this.stats_.byOp}, seconds, opsPerSecond: seconds ? this.stats_.ops / seconds : 0}
  }

  /** A copy of the truth log. */
  truth(): TruthLog {
    const entries = [...this.truthMap.values()].map((e) => ({...e, row: e.row ? {...e.row} : null}))
    return {entries, writes: this.seedWrites + this.stats_.writes}
  }

  /** Live rows the log expects (uncertain keys excluded), per table. */
  expectedCounts(): Record<LoadTable, number> {
    const out: Record<LoadTable, number> = {accounts: 0, ItemAttrs: 0}
    for (const e of this.truthMap.values()) if (e.row && !e.uncertain) out[e.table]++
    return out
  }

  // ---------------------------------------------------------------------------

  private async worker(): Promise<void> {
    while (this.running) {
      if (this.paused) {
        await sleep(10)
        continue
      }
      if (this.opts.writesPerSecond > 0) {
        const due = this.startedAt + (this.issued / this.opts.writesPerSecond) * 1000
        this.issued++
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
        if (!this.running) break
        if (this.paused) continue
      }
      const op = this.pick()
      try {
        const wrote = await this.run(op)
        if (wrote) {
          this.stats_.ops++
          this.stats_.byOp[op] = (this.stats_.byOp[op] ?? 0) + 1
        }
      } catch (err) {
        this.stats_.errors++
        this.stats_.lastError = `${op}: ${(err as Error).message}`
        await sleep(20)
      }
    }
  }

  private pick(): LoadOp {
    const mix = this.opts.mix
    const total = Object.values(mix).reduce((a, b) => a + b, 0)
    let x = this.rand() * total
    for (const [op, w] of Object.entries(mix) as [LoadOp, number][]) if ((x -= w) < 0) return op
    return 'update'
  }

  private now(): string {
    this.clock += 1 + Math.floor(this.rand() * 5000)
    const d = new Date(this.clock)
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`
  }

  private accountRow(id: number, note?: string | null): Row {
    const r = this.rand
    return {
      id: String(id),
      email: `user${id}.${Math.floor(r() * 1e6)}@Example.com`,
      balance: `${r() < 0.1 ? '-' : ''}${Math.floor(r() * 1e9)}.${pad(Math.floor(r() * 100))}`,
      note: note !== undefined ? note : r() < 0.15 ? null : r() < 0.05 ? '' : `note ${id} ${r() < 0.3 ? "with 'quotes', \\ and \t tabs" : 'plain'}`,
      updated_at: this.now(),
    }
  }

  private id(table: LoadTable, key: readonly string[]): string {
    return `${table}\u0000${key.join('\u0001')}`
  }

  private record(table: LoadTable, key: readonly string[], row: Row | null): void {
    const id = this.id(table, key)
    const e = this.truthMap.get(id)
    if (e) {
      e.row = row
      e.writes++
    } else {
      this.truthMap.set(id, {table, key: [...key], row, writes: 1, uncertain: false})
    }
  }

  private markUncertain(table: LoadTable, key: readonly string[]): void {
    const id = this.id(table, key)
    const e = this.truthMap.get(id)
    if (e) e.uncertain = true
    else this.truthMap.set(id, {table, key: [...key], row: null, writes: 0, uncertain: true})
    if (table === 'accounts') {
      // never touched again: its state is whatever the monolith says
      this.live.remove(Number(key[0]))
      this.dead.remove(Number(key[0]))
    }
  }

  /** Runs `fn` with the keys locked; on failure the keys become uncertain. Returns false when a key was busy. */
  private async locked_(keys: {table: LoadTable; key: string[]}[], fn: () => Promise<void>): Promise<boolean> {
    const ids = keys.map((k) => this.id(k.table, k.key))
    if (ids.some((i) => this.locked.has(i))) return false
    for (const i of ids) this.locked.add(i)
    try {
      await fn()
      return true
    } catch (err) {
      for (const k of keys) this.markUncertain(k.table, k.key)
      throw err
    } finally {
      for (const i of ids) this.locked.delete(i)
    }
  }

  private wrote(n = 1): void {
    this.stats_.writes += n
  }

  private pickAccount(opts: {hot?: boolean; mutable?: boolean} = {}): number | undefined {
    const hot = this.opts.hotKeys
    if (opts.hot) {
      const id = 1 + Math.floor(this.rand() * hot)
      return this.live.has(id) ? id : undefined
    }
    for (let i = 0; i < 6; i++) {
      const id = this.live.pick(this.rand)
      if (id === undefined) return undefined
      if (opts.mutable && id <= hot) continue
      if (opts.mutable && id <= hot + 5) continue // the large-row accounts
      return id
    }
    return undefined
  }

  private async updateAccount(exec: AppConnection['exec'], id: number, note?: string | null): Promise<Row> {
    const row = this.accountRow(id, note)
    const cur = this.truthMap.get(this.id('accounts', [String(id)]))?.row
    if (note === undefined && cur && typeof cur.note === 'string' && cur.note.length > 100_000) row.note = cur.note // keep a large note
    const res = await exec(`UPDATE accounts SET email = ?, balance = ?, note = ?, updated_at = ? WHERE id = ?`, [row.email, row.balance, row.note, row.updated_at, String(id)])
    if (res.count !== 1 && this.app.dialect === 'postgres') throw new Error(`load generator: update of account ${id} changed ${res.count} rows`)
    return row
  }

  private async run(op: LoadOp): Promise<boolean> {
    const q = this.app.q
    const r = this.rand
    switch (op) {
      case 'insert': {
        const id = this.nextId++
        const row = this.accountRow(id)
        return this.locked_([{table: 'accounts', key: [String(id)]}], async () => {
          await this.app.exec(`INSERT INTO accounts (id, email, balance, note, updated_at) VALUES (?, ?, ?, ?, ?)`, COLUMNS.accounts.map((c) => row[c]))
          this.record('accounts', [String(id)], row)
          this.live.add(id)
          this.wrote()
        })
      }
      case 'update':
      case 'hot': {
        const id = this.pickAccount({hot: op === 'hot'})
        if (id === undefined) return false
        return this.locked_([{table: 'accounts', key: [String(id)]}], async () => {
          const row = await this.updateAccount(this.app.exec, id)
          this.record('accounts', [String(id)], row)
          this.wrote()
        })
      }
      case 'large': {
        const id = this.opts.hotKeys + 1 + Math.floor(r() * 5)
        if (!this.live.has(id)) return false
        const [lo, hi] = this.opts.largeBytes
        const size = lo + Math.floor(r() * (hi - lo))
        const stamp = `large ${id} ${Math.floor(r() * 1e9)} `
        const note = stamp + 'ab€cd\n'.repeat(Math.ceil(size / 7)).slice(0, size - stamp.length)
        return this.locked_([{table: 'accounts', key: [String(id)]}], async () => {
          const row = await this.updateAccount(this.app.exec, id, note)
          this.record('accounts', [String(id)], row)
          this.wrote()
        })
      }
      case 'delete': {
        const id = this.pickAccount({mutable: true})
        if (id === undefined) return false
        return this.locked_([{table: 'accounts', key: [String(id)]}], async () => {
          await this.app.exec(`DELETE FROM accounts WHERE id = ?`, [String(id)])
          this.record('accounts', [String(id)], null)
          this.live.remove(id)
          this.dead.add(id)
          this.wrote()
        })
      }
      case 'reinsert': {
        const id = this.dead.pick(r)
        if (id === undefined) return false
        const row = this.accountRow(id)
        return this.locked_([{table: 'accounts', key: [String(id)]}], async () => {
          await this.app.exec(`INSERT INTO accounts (id, email, balance, note, updated_at) VALUES (?, ?, ?, ?, ?)`, COLUMNS.accounts.map((c) => row[c]))
          this.record('accounts', [String(id)], row)
          this.dead.remove(id)
          this.live.add(id)
          this.wrote()
        })
      }
      case 'rekey': {
        const from = this.pickAccount({mutable: true})
        if (from === undefined) return false
        const to = this.nextId++
        return this.locked_(
          [
            {table: 'accounts', key: [String(from)]},
            {table: 'accounts', key: [String(to)]},
          ],
          async () => {
            const cur = this.truthMap.get(this.id('accounts', [String(from)]))!.row!
            await this.app.exec(`UPDATE accounts SET id = ? WHERE id = ?`, [String(to), String(from)])
            this.record('accounts', [String(from)], null)
            this.record('accounts', [String(to)], {...cur, id: String(to)})
            this.live.remove(from)
            this.dead.add(from)
            this.live.add(to)
            this.wrote(2)
          },
        )
      }
      case 'attr-insert':
      case 'attr-update':
      case 'attr-delete': {
        if (!this.itemCount) return false
        const item = op === 'attr-insert' && r() < 0.2 ? ++this.itemCount : 1 + Math.floor(r() * this.itemCount)
        const names = this.items.get(item) ?? new Set<string>()
        this.items.set(item, names)
        const pool = op === 'attr-insert' ? ATTR_NAMES.filter((n) => !names.has(n)) : [...names]
        if (!pool.length) return false
        const name = pool[Math.floor(r() * pool.length)]
        const key = [String(item), name]
        const t = q('ItemAttrs')
        return this.locked_([{table: 'ItemAttrs', key}], async () => {
          const value = r() < 0.1 ? null : `v${item}/${name}/${Math.floor(r() * 1e6)}`
          if (op === 'attr-insert') {
            await this.app.exec(`INSERT INTO ${t} (${q('ItemId')}, ${q('AttrName')}, ${q('Value')}) VALUES (?, ?, ?)`, [String(item), name, value])
            names.add(name)
            this.record('ItemAttrs', key, {ItemId: String(item), AttrName: name, Value: value})
          } else if (op === 'attr-update') {
            await this.app.exec(`UPDATE ${t} SET ${q('Value')} = ? WHERE ${q('ItemId')} = ? AND ${q('AttrName')} = ?`, [value, String(item), name])
            this.record('ItemAttrs', key, {ItemId: String(item), AttrName: name, Value: value})
          } else {
            await this.app.exec(`DELETE FROM ${t} WHERE ${q('ItemId')} = ? AND ${q('AttrName')} = ?`, [String(item), name])
            names.delete(name)
            this.record('ItemAttrs', key, null)
          }
          this.wrote()
        })
      }
      case 'tx': {
        // two or three accounts in one transaction, held open a little: its outbox ids commit after later ones
        const ids = new Set<number>()
        for (let i = 0; i < 2 + Math.floor(r() * 2); i++) {
          const id = this.pickAccount()
          if (id !== undefined) ids.add(id)
        }
        if (!ids.size) return false
        const list = [...ids]
        const hold = Math.floor(r() * this.opts.txHoldMs)
        return this.locked_(
          list.map((id) => ({table: 'accounts' as const, key: [String(id)]})),
          async () => {
            const rows = await this.app.tx(async (exec) => {
              const out: Row[] = []
              for (const id of list) out.push(await this.updateAccount(exec, id))
              if (hold) await sleep(hold)
              return out
            })
            for (const row of rows) this.record('accounts', [String(row.id)], row)
            this.wrote(rows.length)
          },
        )
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------
// checking a store against the log

/** One table of a store, as the check reads it. */
export interface StoreTable {
  ref: TableRef
  key: readonly string[]
  keyTypes: readonly ColumnType[]
  columns: readonly Projection[]
  /** Column name → logical type, for the canonical comparison. */
  types: ReadonlyMap<string, ColumnType>
  /** Maps a row as read to the generator's column names (identity when the mapping is). */
  toLog?: (row: Row) => Row
}

/** A store to check: the service store (target side) or the monolith (source side). */
export interface StoreView {
  label: string
  engine: Engine
  tables: Partial<Record<LoadTable, StoreTable>>
}

function entityFor(entities: readonly ResolvedEntity[], table: LoadTable): ResolvedEntity | undefined {
  return entities.find((e) => e.source.name === table || e.name === table)
}

function typesOf(e: ResolvedEntity): Map<string, ColumnType> {
  return new Map(e.targetSpec.columns.map((c) => [c.name, {type: c.type, precision: c.precision, scale: c.scale}]))
}

/** The service store of a service, table by table (entities whose source is a generator table). */
export async function targetView(ws: Workspace, service: string): Promise<StoreView> {
  const entities = await ws.entities(service)
  const engine = await ws.target(service)
  const tables: StoreView['tables'] = {}
  for (const t of Object.values(LOAD_TABLES)) {
    const e = entityFor(entities, t)
    if (!e) continue
    tables[t] = {ref: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, columns: e.targetProjections, types: typesOf(e)}
  }
  return {label: `service store of ${service}`, engine, tables}
}

/** The monolith tables of a service (after decommission: the archived tables). */
export async function sourceView(ws: Workspace, service: string): Promise<StoreView> {
  ws.invalidate(service)
  const entities = await ws.entities(service)
  const tables: StoreView['tables'] = {}
  for (const t of Object.values(LOAD_TABLES)) {
    const e = entityFor(entities, t)
    if (!e) continue
    tables[t] = {ref: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, columns: e.projections, types: typesOf(e), toLog: (r) => e.mapRow(r)}
  }
  return {label: `monolith tables of ${service}`, engine: ws.monolith, tables}
}

export interface TruthCheck {
  /** Keys compared with the log (certain ones). */
  keysChecked: number
  /** Uncertain keys, compared with the reference store instead (when given). */
  uncertainChecked: number
  /** Rows the store holds. */
  rows: number
  /** Live keys of the log missing from the store. */
  lost: number
  /** Deleted keys of the log present in the store. */
  resurrected: number
  /** Keys whose row differs from the log's. */
  changed: number
  /** Keys in the store the log never wrote (duplicates of re-keyed rows, strays). */
  extra: number
  /** Up to 20 readable problems; empty when the store matches. */
  problems: string[]
}

function keyId(parts: readonly unknown[]): string {
  return parts.map((p) => (Buffer.isBuffer(p) ? p.toString('hex') : String(p))).join('\u0001')
}

async function readAll(view: StoreView, t: StoreTable): Promise<Map<string, Row>> {
  const out = new Map<string, Row>()
  let after: KeyTuple | undefined
  for (;;) {
    const rows = await view.engine.readRange({table: t.ref, key: t.key, keyTypes: t.keyTypes, columns: t.columns, after, limit: 2000})
    for (const r of rows) {
      const row = t.toLog ? t.toLog(r) : r
      out.set(keyId(t.key.map((k) => r[k])), row)
    }
    if (rows.length < 2000) return out
    after = t.key.map((k) => rows[rows.length - 1][k])
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string' && v.length > 60) return `<${v.length} chars md5 ${createHash('md5').update(v).digest('hex').slice(0, 8)}>`
  return JSON.stringify(v)
}

/**
 * Compares a store with the truth log: every live key present with the row its
 * last write left (compared in the diff's canonical encoding), every deleted key
 * absent, no key the log does not know. Uncertain keys are compared with
 * `reference` (the monolith) when given.
 */
export async function checkTruth(truth: TruthLog, view: StoreView, reference?: StoreView): Promise<TruthCheck> {
  const out: TruthCheck = {keysChecked: 0, uncertainChecked: 0, rows: 0, lost: 0, resurrected: 0, changed: 0, extra: 0, problems: []}
  const problem = (s: string): void => {
    if (out.problems.length < 20) out.problems.push(s)
  }
  for (const [table, t] of Object.entries(view.tables) as [LoadTable, StoreTable][]) {
    const rows = await readAll(view, t)
    const ref = reference?.tables[table] ? await readAll(reference, reference.tables[table]!) : undefined
    out.rows += rows.size
    const known = new Set<string>()
    const compare = (expected: Row, actual: Row, what: string): void => {
      const cols = COLUMNS[table].filter((c) => {
        const type = t.types.get(c)
        return type ? canonicalValue(expected[c], type) !== canonicalValue(actual[c], type) : false
      })
      if (cols.length) {
        out.changed++
        problem(`${what}: ${cols.map((c) => `${c} is ${describe(actual[c])}, expected ${describe(expected[c])}`).join('; ')}`)
      }
    }
    for (const e of truth.entries) {
      if (e.table !== table) continue
      const id = keyId(e.key)
      known.add(id)
      const got = rows.get(id)
      const label = `${view.label}: ${table} ${JSON.stringify(e.key)}`
      if (e.uncertain) {
        if (!ref) continue
        out.uncertainChecked++
        const want = ref.get(id)
        if (want && !got) {
          out.lost++
          problem(`${label} (uncertain) is in the reference but missing`)
        } else if (!want && got) {
          out.resurrected++
          problem(`${label} (uncertain) is absent from the reference but present`)
        } else if (want && got) compare(want, got, `${label} (uncertain)`)
        continue
      }
      out.keysChecked++
      if (e.row === null) {
        if (got) {
          out.resurrected++
          problem(`${label} was deleted (after ${e.writes} writes) but is present`)
        }
      } else if (!got) {
        out.lost++
        problem(`${label} is missing (last of ${e.writes} writes lost)`)
      } else {
        compare(e.row, got, label)
      }
    }
    for (const id of rows.keys()) {
      if (known.has(id)) continue
      out.extra++
      problem(`${view.label}: ${table} holds key ${JSON.stringify(id.split('\u0001'))} that no write produced`)
    }
  }
  return out
}

/** `KEYS` of a generator table (for tests building plans). */
export function loadTableKey(table: LoadTable): readonly string[] {
  return KEYS[table]
}
