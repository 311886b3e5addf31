import type {Plan, RelationInput, ServicePlan} from './config/schema.js'
import {connectEngine} from './engines/connect.js'
import type {Engine} from './engines/engine.js'
import {parseTableName} from './engines/names.js'
import type {TableRef} from './engines/types.js'
import {resolveEntity, type ResolvedEntity} from './mapping/entity-mapping.js'
import {getService} from './state/services.js'
import {StateStore} from './state/state-store.js'
import {UserError, withContext} from './util/errors.js'
import {logger, type Logger} from './util/log.js'

/**
 * Everything one command run works with: the plan, the monolith, the state
 * store, the service stores (opened on first use) and resolved entities.
 * Commands open one, hand it to a phase or a check, and close it.
 */
export class Workspace {
  readonly plan: Plan
  readonly runId: string
  readonly monolith: Engine
  readonly state: StateStore
  readonly log: Logger
  private readonly targets = new Map<string, Promise<Engine>>()
  private readonly resolved = new Map<string, Promise<ResolvedEntity[]>>()
  private readonly extraEngines: Engine[] = []

  private constructor(plan: Plan, runId: string, monolith: Engine, state: StateStore, extra: Engine[]) {
    this.plan = plan
    this.runId = runId
    this.monolith = monolith
    this.state = state
    this.log = logger()
    this.extraEngines = extra
  }

  /** Connects to the monolith and the state store (the monolith unless `state.url` is set). */
  static async open(plan: Plan, opts: {runId: string; poolSize?: number}): Promise<Workspace> {
    const monolith = await connectEngine(plan.monolith.url, {schema: plan.monolith.schema, poolSize: opts.poolSize})
    if (!monolith.sql) {
      await monolith.close()
      throw new UserError('monolith.url: the monolith must be PostgreSQL or MySQL/MariaDB; MongoDB is supported as a service store only.', {code: 'E_CONFIG'})
    }
    try {
      let state: StateStore
      const extra: Engine[] = []
      if (plan.state.url && plan.state.url !== plan.monolith.url) {
        state = await StateStore.open(plan.state.url, plan.state.prefix, plan.state.schema)
        extra.push(state.engine)
      } else {
        state = StateStore.on(monolith, plan.state.prefix)
      }
      return new Workspace(plan, opts.runId, monolith, state, extra)
    } catch (err) {
      await monolith.close().catch(() => undefined)
      throw err
    }
  }

  service(name: string): ServicePlan {
    const svc = this.plan.services[name]
    if (!svc) {
      throw new UserError(`Unknown service "${name}".`, {
        code: 'E_UNKNOWN_SERVICE',
        hint: `The plan defines: ${Object.keys(this.plan.services).join(', ')}.`,
      })
    }
    return svc
  }

  serviceNames(): string[] {
    return Object.keys(this.plan.services)
  }

  /** The service's store, connected on first use (shared with the monolith when the URL is the same). */
  target(name: string): Promise<Engine> {
    const svc = this.service(name)
    if (svc.target.url === this.plan.monolith.url) return Promise.resolve(this.monolith)
    let p = this.targets.get(name)
    if (!p) {
      const shared = [...this.targets.entries()].find(([n]) => this.plan.services[n]?.target.url === svc.target.url)
      p = shared ? shared[1] : connectEngine(svc.target.url, {schema: svc.target.schema}).catch((err) => {
        this.targets.delete(name)
        throw withContext(err, `services.${name}.target.url`)
      })
      this.targets.set(name, p)
    }
    return p
  }

  /**
   * The service's entities with mappings resolved against the monolith. After
   * decommission the source tables live under their archive names; entities
   * then resolve against the archive, so the reverse relay, diff and rollback
   * work on it unchanged.
   */
  entities(name: string): Promise<ResolvedEntity[]> {
    const svc = this.service(name)
    let p = this.resolved.get(name)
    if (!p) {
      p = (async () => {
        const archived = await this.archivedSources(name)
        const text = (a: TableRef): string => (a.schema ? `${a.schema}.${a.name}` : a.name)
        // an aggregate may read a table another entity of the service owns (a lookup of categories): it moved too
        const moved = new Map<string, string>()
        for (const [i, a] of archived) moved.set(text(parseTableName(svc.entities[i].source, this.monolith.defaultSchema)), text(a))
        const relocate = <R extends RelationInput>(r: R): R => ({
          ...r,
          table: moved.get(text(parseTableName(r.table, this.monolith.defaultSchema))) ?? r.table,
          embed: r.embed?.map(relocate),
          lookup: r.lookup?.map(relocate),
        })
        return Promise.all(
          svc.entities.map((e, i) => {
            const a = archived.get(i)
            const plan = moved.size && (e.embed || e.lookup) ? {...e, embed: e.embed?.map(relocate), lookup: e.lookup?.map(relocate)} : e
            return resolveEntity(name, svc, a ? {...plan, source: text(a)} : plan, i, this.monolith)
          }),
        )
      })()
      p.catch(() => this.resolved.delete(name))
      this.resolved.set(name, p)
    }
    return p
  }

  /** Forgets resolved entities (after tables were archived or restored). */
  invalidate(name: string): void {
    this.resolved.delete(name)
  }

  private async archivedSources(name: string): Promise<Map<number, TableRef>> {
    const out = new Map<number, TableRef>()
    if (!(await this.state.isReady())) return out
    const s = await getService(this.state, name)
    const archive = s.info.archive as {tables?: {index: number; archive: TableRef; archived: boolean}[]} | undefined
    for (const t of archive?.tables ?? []) if (t.archived) out.set(t.index, t.archive)
    return out
  }

  async entity(service: string, name: string): Promise<ResolvedEntity> {
    const all = await this.entities(service)
    const e = all.find((x) => x.name === name || x.source.name === name)
    if (!e) {
      throw new UserError(`Service ${service} has no entity "${name}".`, {code: 'E_UNKNOWN_ENTITY', hint: `Entities: ${all.map((x) => x.name).join(', ')}.`})
    }
    return e
  }

  /** The outbox table of a service, next to its source tables in the monolith. */
  outbox(service: string): TableRef {
    return {schema: this.monolith.defaultSchema, name: `${this.plan.state.prefix}outbox_${service}`.slice(0, 63)}
  }

  private readonly closers: (() => Promise<void>)[] = []

  /** Runs `fn` when the workspace closes, before its connections (e.g. a replication stream). */
  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn)
  }

  async close(): Promise<void> {
    for (const fn of this.closers.splice(0)) await fn().catch(() => undefined)
    const engines = new Set<Engine>()
    for (const p of this.targets.values()) {
      try {
        engines.add(await p)
      } catch {
        // failed connections have nothing to close
      }
    }
    engines.delete(this.monolith)
    for (const e of [...engines, ...this.extraEngines]) await e.close().catch(() => undefined)
    await this.monolith.close().catch(() => undefined)
  }
}
