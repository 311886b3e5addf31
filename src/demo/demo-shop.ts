import type {Engine} from '../engines/engine.js'
import type {ColumnType, KeyTuple, Row} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {castValue} from '../mapping/cast.js'
import {createRouter} from '../sdk/router.js'
import type {PhaseView, Router, RouterStats} from '../sdk/types.js'
import {getService} from '../state/services.js'
import type {StateStore} from '../state/state-store.js'
import type {ToggleClient, ToggleContext} from '../toggles/provider.js'
import type {Workspace} from '../workspace.js'
import {DEMO_SERVICES, type DemoService} from './demo-plan.js'

/** The demo shop's entities, by their service-side (target) name. */
export const SHOP_ENTITIES = ['users', 'orders', 'order_lines'] as const
export type ShopEntity = (typeof SHOP_ENTITIES)[number]

/** A row as the service stores it (target column names). */
export type ServiceRow = Row

/** `decimal(12,2)`, `varchar(255)`, `bigint`: a column type as the SDK's `fieldTypes` take it. */
function typeSpec(c: ColumnType): string {
  if (c.precision === undefined) return c.type
  return `${c.type}(${c.precision}${c.scale === undefined ? '' : `,${c.scale}`})`
}

interface EntityWiring {
  service: DemoService
  /** Resolved once, before any table is archived: the application's own monolith table. */
  entity: ResolvedEntity
  /** Source columns with their types, for monolith inserts. */
  sourceColumns: (ColumnType & {name: string})[]
}

export interface DemoShopOptions {
  /** Evaluates the read toggles (the local provider's client). */
  toggles: ToggleClient
  /** How often the services' phases are re-read (default 200 ms). */
  phasePollMs?: number
  /** Share of monolith reads shadow-compared (default 0.5). */
  shadowSampleRate?: number
}

/**
 * The demo's application: a tiny shop backend that reads and writes users,
 * orders and order lines through the SDK, one router per service, exactly as
 * an application under migration would. Each call names both ways to do it,
 * the legacy monolith table and the service store, and the router picks by
 * the service's phase and read toggle: shadow-compared monolith reads,
 * monolith-first writes mirrored to the service in the background, reads
 * shifted per user, service-first writes after the cut-over, and finally the
 * service alone.
 *
 * Rows go in and come out in the service's shape (target column names); the
 * monolith side maps them with the plan, as the relay does.
 */
export class DemoShop {
  private readonly routers: Record<DemoService, Router>
  private readonly phases: PhaseWatcher

  private constructor(
    private readonly ws: Workspace,
    private readonly wiring: Record<ShopEntity, EntityWiring>,
    private readonly targets: Record<DemoService, Engine>,
    private readonly opts: DemoShopOptions,
  ) {
    this.phases = new PhaseWatcher(ws.state, opts.phasePollMs ?? 200)
    this.routers = {users: this.makeRouter('users'), orders: this.makeRouter('orders')}
  }

  private makeRouter(service: DemoService): Router {
    const {ws, wiring, opts} = this
    const fieldTypes: Record<string, Record<string, string>> = {}
    for (const name of SHOP_ENTITIES) {
      const w = wiring[name]
      if (w.service !== service) continue
      fieldTypes[name] = Object.fromEntries(w.entity.targetSpec.columns.map((c) => [c.name, typeSpec(c)]))
    }
    return createRouter({
      service,
      toggles: opts.toggles,
      state: ws.state,
      plan: ws.plan,
      phase: () => this.phases.current(service),
      shadowSampleRate: opts.shadowSampleRate ?? 0.5,
      shadowTimeoutMs: 2000,
      serviceTimeoutMs: 5000,
      serviceWriteTimeoutMs: 10_000,
      flushMs: 500,
      fieldTypes,
      log: ws.log.child({component: 'demo-shop'}),
    })
  }

  /** Wires the shop to the workspace's monolith and service stores. Call before any service is decommissioned. */
  static async open(ws: Workspace, opts: DemoShopOptions): Promise<DemoShop> {
    const wiring = {} as Record<ShopEntity, EntityWiring>
    const targets = {} as Record<DemoService, Engine>
    for (const service of DEMO_SERVICES) {
      targets[service] = await ws.target(service)
      for (const entity of await ws.entities(service)) {
        if (!(SHOP_ENTITIES as readonly string[]).includes(entity.name)) continue
        wiring[entity.name as ShopEntity] = {
          service,
          entity,
          sourceColumns: entity.sourceInfo.columns.map((c) => ({name: c.name, type: c.type, precision: c.precision, scale: c.scale})),
        }
      }
    }
    for (const name of SHOP_ENTITIES) if (!wiring[name]) throw new Error(`the demo plan has no entity ${name}`)
    return new DemoShop(ws, wiring, targets, opts)
  }

  entity(name: ShopEntity): ResolvedEntity {
    return this.wiring[name].entity
  }

  /** Counters of each service's router since the shop opened. */
  stats(): Record<DemoService, RouterStats> {
    return {users: this.routers.users.stats(), orders: this.routers.orders.stats()}
  }

  /** Maps a full monolith row to the service's shape (what the row should look like there). */
  toService(name: ShopEntity, sourceRow: Row): ServiceRow {
    return this.wiring[name].entity.mapRow(sourceRow)
  }

  /** Maps monolith column values to the service's column names (for a partial update). */
  patchToService(name: ShopEntity, patch: Row): ServiceRow {
    const out: Row = {}
    for (const c of this.wiring[name].entity.columns) {
      if (c.source.kind !== 'column' || !(c.source.column in patch)) continue
      const v = patch[c.source.column]
      out[c.name] = c.source.cast ? castValue(v, c.source.from, c) : (v ?? null)
    }
    return out
  }

  // ---------------------------------------------------------------------------
  // reads

  /** One row by key, in the service's shape, or null. */
  async read(name: ShopEntity, key: KeyTuple, ctx: ToggleContext): Promise<ServiceRow | null> {
    return this.routers[this.wiring[name].service].read<ServiceRow | null>(
      name,
      [...(key as (string | number)[])],
      {monolith: () => this.readMonolith(name, key), service: () => this.readService(name, key)},
      ctx,
    )
  }

  private async readMonolith(name: ShopEntity, key: KeyTuple): Promise<ServiceRow | null> {
    const e = this.wiring[name].entity
    const [row] = await this.ws.monolith.readByKeys({
      table: e.source,
      key: e.sourceKey,
      keyTypes: e.sourceKeyTypes,
      columns: e.projections,
      keys: [key],
      filter: e.filter,
    })
    return row ? e.mapRow(row) : null
  }

  private async readService(name: ShopEntity, key: KeyTuple): Promise<ServiceRow | null> {
    const w = this.wiring[name]
    const e = w.entity
    const [row] = await this.targets[w.service].readByKeys({
      table: e.target,
      key: e.targetKey,
      keyTypes: e.sourceKeyTypes,
      columns: e.targetProjections,
      keys: [key],
    })
    return row ?? null
  }

  // ---------------------------------------------------------------------------
  // writes: the monolith returns the row as it now is (mapped), the service stores exactly that

  /** Inserts a full monolith-shaped row (ids chosen by the caller). */
  async insert(name: ShopEntity, sourceRow: Row, ctx: ToggleContext = {}): Promise<void> {
    const w = this.wiring[name]
    const e = w.entity
    const key = e.sourceKey.map((k) => sourceRow[k]) as KeyTuple
    await this.write(
      name,
      key,
      ctx,
      async () => {
        await this.ws.monolith.upsert({table: e.source, key: e.sourceKey, columns: w.sourceColumns, rows: [sourceRow]})
      },
      async () => {
        await this.targets[w.service].upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows: [e.mapRow(sourceRow)]})
      },
    )
  }

  /** Sets some monolith columns of one row. */
  async update(name: ShopEntity, key: KeyTuple, patch: Row, ctx: ToggleContext = {}): Promise<void> {
    const w = this.wiring[name]
    const e = w.entity
    await this.write(
      name,
      key,
      ctx,
      async () => {
        const sql = this.ws.monolith.sql!
        const params: unknown[] = []
        const set = Object.entries(patch).map(([c, v]) => (params.push(v), `${sql.quoteId(c)} = ${sql.param(params.length)}`))
        const where = e.sourceKey.map((k, i) => (params.push(key[i]), `${sql.quoteId(k)} = ${sql.param(params.length)}`))
        const n = await sql.execute(`UPDATE ${sql.quoteTable(e.source)} SET ${set.join(', ')} WHERE ${where.join(' AND ')}`, params)
        if (n !== 1) throw new Error(`update of ${name} ${JSON.stringify(key)}: ${n} rows changed`)
      },
      async () => {
        // after the cut-over: the service is authoritative; read, change, write back (one writer per key)
        const target = this.targets[w.service]
        const [row] = await target.readByKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, columns: e.targetProjections, keys: [key]})
        if (!row) throw new Error(`update of ${name} ${JSON.stringify(key)}: no such row in the service`)
        await target.upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows: [{...row, ...this.patchToService(name, patch)}]})
      },
    )
  }

  async delete(name: ShopEntity, key: KeyTuple, ctx: ToggleContext = {}): Promise<void> {
    const w = this.wiring[name]
    const e = w.entity
    await this.write(
      name,
      key,
      ctx,
      async () => {
        await this.ws.monolith.deleteKeys({table: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, keys: [key]})
      },
      async () => {
        await this.targets[w.service].deleteKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, keys: [key]})
      },
    )
  }

  /**
   * One write through the router. While the monolith is authoritative its
   * write runs first and the row is re-read (mapped by the plan, as the relay
   * would) for the router's background service write. Once writes are cut
   * over, `direct` applies the change to the service, and until the service
   * is decommissioned the router lets the monolith follow in the background.
   */
  private async write(name: ShopEntity, key: KeyTuple, ctx: ToggleContext, monolith: () => Promise<void>, direct: () => Promise<void>): Promise<void> {
    const w = this.wiring[name]
    const e = w.entity
    const target = this.targets[w.service]
    await this.routers[w.service].write<ServiceRow | null>(
      name,
      [...(key as (string | number)[])],
      {
        monolith: async () => {
          await monolith()
          return this.readMonolith(name, key)
        },
        service: async (row) => {
          if (row === undefined) {
            await direct()
            return null
          }
          if (row === null) await target.deleteKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, keys: [key]})
          else await target.upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows: [row]})
          return row
        },
      },
      ctx,
    )
  }

  /** Waits for the routers' background work, publishes what they buffered, stops them. */
  async close(): Promise<void> {
    await Promise.all(DEMO_SERVICES.map((s) => this.routers[s].close()))
    this.phases.close()
  }
}

/**
 * The phase each router applies, from the state store (polled), with one
 * choice of this application: shadow reads start when the backfill is done.
 * While rows are still being copied, the service store is incomplete by
 * design, and comparing reads against it would only count rows not copied
 * yet as mismatches (and fail the shadow-mismatch gate for nothing).
 */
class PhaseWatcher {
  private views = new Map<DemoService, PhaseView>()
  private loading?: Promise<void>
  private timer?: NodeJS.Timeout

  constructor(
    private readonly state: StateStore,
    private readonly pollMs: number,
  ) {}

  async current(service: DemoService): Promise<PhaseView> {
    if (!this.timer) {
      await this.load()
      if (!this.timer) {
        this.timer = setInterval(() => void this.load().catch(() => undefined), this.pollMs)
        this.timer.unref()
      }
    }
    return this.views.get(service) ?? {phase: 'planned', writeTarget: 'monolith'}
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      try {
        for (const service of DEMO_SERVICES) {
          const s = await getService(this.state, service)
          const backfilling = s.phase === 'shadow' && (s.step ?? '').startsWith('shadow:backfill')
          this.views.set(service, {phase: backfilling ? 'planned' : s.phase, writeTarget: s.phase === 'decommissioned' ? 'service' : s.writeTarget})
        }
      } finally {
        this.loading = undefined
      }
    })()
    return this.loading
  }

  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}
