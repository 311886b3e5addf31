import {formatCents, formatMicros, Rng} from '../fixtures/shop/generator.js'
import {keyToString} from '../engines/keys.js'
import type {KeyTuple, Row} from '../engines/types.js'
import {errorMessage} from '../util/errors.js'
import {silentProgress, type ProgressReporter, type ProgressTask} from '../util/progress.js'
import type {DemoShop, ServiceRow, ShopEntity} from './demo-shop.js'

/** What the generator expects one key to hold at the end: the row (or the columns it set), or nothing. */
export interface TruthEntry {
  entity: ShopEntity
  key: KeyTuple
  /** Acknowledged writes of this key, in order. */
  writes: number
  /** `null`: deleted. Otherwise the service-side columns the writes set (all of them after an insert). */
  expected: ServiceRow | null
  /** A write of this key failed: its outcome is unknown, so the key is not verified. */
  uncertain: boolean
}

export interface LoadGeneratorOptions {
  shop: DemoShop
  /** Rows the fixture loaded: ids 1..users and 1..orders exist at the start. */
  users: number
  orders: number
  seed: number
  /** Target row writes per second (all services together); default 120. */
  writesPerSecond?: number
  /** Reads per write; default 1. */
  readsPerWrite?: number
  /** Operations in flight at once; default 8. */
  concurrency?: number
  progress?: ProgressReporter
}

export interface LoadStats {
  writes: number
  reads: number
  writeErrors: number
  readErrors: number
  byKind: Record<string, number>
  seconds: number
  writesPerSecond: number
  lastError?: string
}

type Op = 'user.insert' | 'user.update' | 'user.delete' | 'user.read' | 'order.insert' | 'order.update' | 'order.delete' | 'line.update' | 'order.read'

/** Operation mix: weights of writes and reads (reads are scaled by readsPerWrite). */
const WRITE_OPS: [Op, number][] = [
  ['user.update', 30],
  ['user.insert', 8],
  ['user.delete', 3],
  ['order.insert', 10],
  ['order.update', 25],
  ['line.update', 12],
  ['order.delete', 3],
]
const READ_OPS: [Op, number][] = [
  ['user.read', 1],
  ['order.read', 1],
]
/** Row writes of one operation, on average (an order with its 1–3 lines). */
const ROWS_PER_OP: Partial<Record<Op, number>> = {'order.insert': 3, 'order.delete': 3}

const FIRST = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances', 'Edsger', 'Radia', 'Zoë', 'Søren', '美咲']
const LAST = ['Lovelace', 'Hopper', 'Torvalds', 'Liskov', 'Thompson', 'Hamilton', 'Ritchie', 'Allen', 'Dijkstra', 'Perlman', 'Müller', "O'Brien"]
const STATUSES = ['paid', 'shipped', 'delivered', 'cancelled', 'refunded']
const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'SE']

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * The demo's traffic: a steady stream of inserts, updates and deletes of
 * users, orders and order lines, plus reads with the user id as the sticky
 * toggle context, all through the demo shop (the SDK). It keeps its own log
 * of every acknowledged write, the truth against which the final service
 * stores are checked: for every key it touched, what the last write left.
 *
 * One operation per key at a time (a key's writes are acknowledged in the
 * order they were made), so the last acknowledged write is the final state.
 */
export class LoadGenerator {
  private readonly shop: DemoShop
  private readonly rng: Rng
  private readonly opts: Required<Omit<LoadGeneratorOptions, 'shop' | 'progress'>>
  private readonly truth = new Map<string, TruthEntry>()
  private readonly locked = new Set<string>()
  private readonly deleted = {users: new Set<number>(), orders: new Set<number>()}
  /** Orders this generator inserted, with their line count (only these are deleted, lines first). */
  private readonly ownOrders = new Map<number, number>()
  private nextUser: number
  private nextOrder: number
  private clock = 0
  private running = false
  private workers: Promise<void>[] = []
  private startedAt = 0
  private stoppedAt = 0
  private issuedOps = 0
  private readonly stats_ = {
    writes: 0,
    reads: 0,
    writeErrors: 0,
    readErrors: 0,
    byKind: {} as Record<string, number>,
    lastError: undefined as string | undefined,
  }
  private task: ProgressTask | undefined
  private readonly progress: ProgressReporter

  constructor(opts: LoadGeneratorOptions) {
    this.shop = opts.shop
    this.opts = {
      users: opts.users,
      orders: opts.orders,
      seed: opts.seed,
      writesPerSecond: opts.writesPerSecond ?? 120,
      readsPerWrite: opts.readsPerWrite ?? 1,
      concurrency: opts.concurrency ?? 8,
    }
    this.progress = opts.progress ?? silentProgress
    this.rng = new Rng((opts.seed * 2654435761) >>> 0 || 1)
    this.nextUser = opts.users + 1
    this.nextOrder = opts.orders + 1
  }

  /** Starts the workers. */
  start(): void {
    if (this.running) return
    this.running = true
    this.startedAt = performance.now()
    this.task = this.progress.task('app writes', 0, 'writes')
    for (let i = 0; i < this.opts.concurrency; i++) this.workers.push(this.worker())
  }

  /** Stops issuing operations and waits for those in flight. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    await Promise.all(this.workers)
    this.workers = []
    this.stoppedAt = performance.now()
    this.task?.stop(`${this.stats_.writes} writes, ${this.stats_.reads} reads, ${this.stats_.writeErrors + this.stats_.readErrors} errors`)
  }

  stats(): LoadStats {
    const end = this.running || !this.stoppedAt ? performance.now() : this.stoppedAt
    const seconds = this.startedAt ? (end - this.startedAt) / 1000 : 0
    return {
      writes: this.stats_.writes,
      reads: this.stats_.reads,
      writeErrors: this.stats_.writeErrors,
      readErrors: this.stats_.readErrors,
      byKind: {...this.stats_.byKind},
      seconds,
      writesPerSecond: seconds > 0 ? this.stats_.writes / seconds : 0,
      lastError: this.stats_.lastError,
    }
  }

  /** The truth log: one entry per key written. */
  entries(): TruthEntry[] {
    return [...this.truth.values()]
  }

  // ---------------------------------------------------------------------------

  private async worker(): Promise<void> {
    while (this.running) {
      // pace: operations spread evenly at the rate that gives the target row writes per second
      const due = this.startedAt + (this.issuedOps / this.opsPerSecond()) * 1000
      this.issuedOps++
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      if (!this.running) break
      const op = this.pick()
      try {
        await this.run(op)
      } catch (err) {
        if (op.endsWith('.read')) this.stats_.readErrors++
        else this.stats_.writeErrors++
        this.stats_.lastError = `${op}: ${errorMessage(err)}`
      }
    }
  }

  /** Operations per second for the target row writes per second (order inserts and deletes write several rows). */
  private opsPerSecond(): number {
    const weight = WRITE_OPS.reduce((a, [, w]) => a + w, 0)
    const rows = WRITE_OPS.reduce((a, [op, w]) => a + w * (ROWS_PER_OP[op] ?? 1), 0)
    return this.opts.writesPerSecond * (weight / rows) * (1 + this.opts.readsPerWrite)
  }

  private pick(): Op {
    const reads = this.opts.readsPerWrite
    const wTotal = WRITE_OPS.reduce((a, [, w]) => a + w, 0)
    const total = wTotal * (1 + reads)
    let x = this.rng.next() * total
    for (const [op, w] of WRITE_OPS) if ((x -= w) < 0) return op
    for (const [op, w] of READ_OPS) if ((x -= (w * wTotal * reads) / READ_OPS.length) < 0) return op
    return 'user.read'
  }

  /** A fresh timestamp, unique per write (microseconds from now, never repeating). */
  private now(): string {
    this.clock = Math.max(this.clock + 1, Date.now() * 1000)
    return formatMicros(this.clock)
  }

  private uuid(): string {
    const h = (n: number): string => n.toString(16).padStart(8, '0')
    const a = h(this.rng.u32())
    const b = h(((this.rng.u32() & 0xffff0fff) | 0x00004000) >>> 0)
    const c = h(((this.rng.u32() & 0x3fffffff) | 0x80000000) >>> 0)
    const d = h(this.rng.u32())
    return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`
  }

  /** A random existing id in 1..max, not deleted, not locked; undefined when none found quickly. */
  private pickId(max: number, deleted: Set<number>, lock: string): number | undefined {
    for (let i = 0; i < 8; i++) {
      const id = this.rng.int(1, Math.max(1, max))
      if (!deleted.has(id) && !this.locked.has(`${lock}:${id}`)) return id
    }
    return undefined
  }

  private async withLock(lock: string, fn: () => Promise<void>): Promise<void> {
    if (this.locked.has(lock)) return
    this.locked.add(lock)
    try {
      await fn()
    } finally {
      this.locked.delete(lock)
    }
  }

  private count(kind: string, n = 1): void {
    this.stats_.byKind[kind] = (this.stats_.byKind[kind] ?? 0) + n
    this.stats_.writes += n
    this.task?.increment(n)
  }

  /** Runs one write and records it in the truth log (or marks the key uncertain when it failed). */
  private async logged(entity: ShopEntity, key: KeyTuple, expected: ServiceRow | null, merge: boolean, kind: string, fn: () => Promise<void>): Promise<void> {
    const id = `${entity}\u0000${keyToString(key)}`
    let entry = this.truth.get(id)
    if (!entry) {
      entry = {entity, key, writes: 0, expected: merge ? {} : null, uncertain: false}
      this.truth.set(id, entry)
    }
    try {
      await fn()
    } catch (err) {
      entry.uncertain = true
      throw err
    }
    entry.writes++
    entry.expected = expected === null ? null : merge && entry.expected ? {...entry.expected, ...expected} : {...expected}
    this.count(kind)
  }

  private async run(op: Op): Promise<void> {
    const shop = this.shop
    const r = this.rng
    switch (op) {
      case 'user.read': {
        const id = r.int(1, this.nextUser - 1)
        await shop.read('users', [String(id)], {userId: String(id)})
        this.stats_.reads++
        return
      }
      case 'order.read': {
        const id = r.int(1, this.nextOrder - 1)
        await shop.read('orders', [String(id)], {userId: String(r.int(1, this.opts.users))})
        this.stats_.reads++
        return
      }
      case 'user.insert': {
        const id = this.nextUser++
        const first = r.pick(FIRST)
        const last = r.pick(LAST)
        const at = this.now()
        const row: Row = {
          id: String(id),
          email: `${first.toLowerCase()}.${id}@demo.example`,
          full_name: `${first} ${last}`,
          password_hash: `$2b$10$demo${String(id).padStart(49, '0')}`,
          created_at: at,
          updated_at: at,
          is_active: true,
          country: r.pick(COUNTRIES),
          loyalty_points: 0,
          balance: '0.00',
          preferences: {theme: r.pick(['light', 'dark']), language: 'en', signup: {source: 'demo', at}},
          avatar: r.chance(0.2) ? Buffer.from([0x89, 0, 0x5c, 0x09, r.int(0, 255)]) : null,
          external_id: this.uuid(),
        }
        await this.withLock(`user:${id}`, () =>
          this.logged('users', [String(id)], shop.toService('users', row), false, 'user.insert', () => shop.insert('users', row, {userId: String(id)})),
        )
        return
      }
      case 'user.update': {
        const id = this.pickId(this.nextUser - 1, this.deleted.users, 'user')
        if (id === undefined) return
        const patch: Row = {
          full_name: `${r.pick(FIRST)} ${r.pick(LAST)}${r.chance(0.1) ? ' ' : ''}`,
          loyalty_points: r.int(0, 1_000_000),
          balance: formatCents(r.int(-5000, 5_000_000)),
          updated_at: this.now(),
        }
        if (r.chance(0.3)) patch.country = r.pick(COUNTRIES)
        await this.withLock(`user:${id}`, () =>
          this.logged('users', [String(id)], shop.patchToService('users', patch), true, 'user.update', () =>
            shop.update('users', [String(id)], patch, {userId: String(id)}),
          ),
        )
        return
      }
      case 'user.delete': {
        const id = this.pickId(this.nextUser - 1, this.deleted.users, 'user')
        if (id === undefined) return
        await this.withLock(`user:${id}`, async () => {
          this.deleted.users.add(id)
          await this.logged('users', [String(id)], null, false, 'user.delete', () => shop.delete('users', [String(id)], {userId: String(id)}))
        })
        return
      }
      case 'order.insert': {
        const id = this.nextOrder++
        const userId = String(r.int(1, this.opts.users))
        const lines = r.int(1, 3)
        const items: Row[] = []
        let total = 0
        for (let i = 1; i <= lines; i++) {
          const cents = r.int(99, 99_999)
          const quantity = r.int(1, 5)
          total += cents * quantity
          items.push({order_id: String(id), line_no: i, product_id: String(r.int(1, 1000)), quantity, unit_price: formatCents(cents)})
        }
        const order: Row = {
          id: String(id),
          user_id: userId,
          status: 'pending',
          total: formatCents(total),
          placed_at: this.now(),
          shipping_address: {
            name: `${r.pick(FIRST)} ${r.pick(LAST)}`,
            city: r.pick(['Berlin', 'Zürich', '東京', 'São Paulo']),
            postal_code: String(r.int(1000, 99999)),
          },
        }
        await this.withLock(`order:${id}`, async () => {
          await this.logged('orders', [String(id)], shop.toService('orders', order), false, 'order.insert', () => shop.insert('orders', order, {userId}))
          for (const item of items) {
            await this.logged('order_lines', [String(id), item.line_no as number], shop.toService('order_lines', item), false, 'line.insert', () =>
              shop.insert('order_lines', item, {userId}),
            )
          }
          this.ownOrders.set(id, lines)
        })
        return
      }
      case 'order.update': {
        const id = this.pickId(this.nextOrder - 1, this.deleted.orders, 'order')
        if (id === undefined) return
        const patch: Row = {status: r.pick(STATUSES)}
        if (r.chance(0.3)) patch.total = formatCents(r.int(0, 10_000_000))
        await this.withLock(`order:${id}`, () =>
          this.logged('orders', [String(id)], shop.patchToService('orders', patch), true, 'order.update', () => shop.update('orders', [String(id)], patch)),
        )
        return
      }
      case 'line.update': {
        const id = this.pickId(this.nextOrder - 1, this.deleted.orders, 'order')
        if (id === undefined || (id > this.opts.orders && !this.ownOrders.has(id))) return // an order still being inserted
        const patch: Row = {quantity: r.int(1, 20)}
        await this.withLock(`order:${id}`, () =>
          this.logged('order_lines', [String(id), 1], shop.patchToService('order_lines', patch), true, 'line.update', () =>
            shop.update('order_lines', [String(id), 1], patch),
          ),
        )
        return
      }
      case 'order.delete': {
        const own = [...this.ownOrders.keys()]
        if (!own.length) return
        const id = own[r.int(0, own.length - 1)]
        if (this.locked.has(`order:${id}`)) return
        await this.withLock(`order:${id}`, async () => {
          const lines = this.ownOrders.get(id) ?? 0
          this.ownOrders.delete(id)
          this.deleted.orders.add(id)
          for (let i = lines; i >= 1; i--)
            await this.logged('order_lines', [String(id), i], null, false, 'line.delete', () => shop.delete('order_lines', [String(id), i]))
          await this.logged('orders', [String(id)], null, false, 'order.delete', () => shop.delete('orders', [String(id)]))
        })
        return
      }
    }
  }
}
