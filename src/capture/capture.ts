import type {CaptureSpec, SqlCapabilities} from '../engines/engine.js'
import {boundedName, parseTableName} from '../engines/names.js'
import type {TableRef} from '../engines/types.js'
import {targetRefFor} from '../mapping/entity-mapping.js'
import {UserError} from '../util/errors.js'
import {planRelationTables, relationCaptures, relationTriggerPrefix} from './aggregate-capture.js'
import type {Workspace} from '../workspace.js'
import {checkLogicalCapture, installLogical, LogicalFeed, logicalInstalled, logicalNames, logicalStatements, removeLogical, slotExists, type LogicalNames} from './logical.js'
import {Outbox, type OutboxLag} from './outbox.js'
import {latestRelaySample} from './relay-samples.js'

/**
 * Change capture on the monolith: one outbox table per service and, on every
 * source table of the service, AFTER INSERT/UPDATE/DELETE row triggers that
 * write the changed key to the outbox in the writer's own transaction. The
 * engines generate the DDL (`captureDdl`, `outboxDdl`); this module decides
 * names, runs it, and checks what is installed.
 */

/** Longest trigger-name prefix: leaves room for the engines' `_trg`, `_fn`, `_ai`… suffixes within 63 characters. */
const PREFIX_MAX = 55

function sqlOf(ws: Workspace): SqlCapabilities {
  if (!ws.monolith.sql) throw new UserError('Change capture needs a PostgreSQL or MySQL/MariaDB monolith.', {code: 'E_CONFIG'})
  return ws.monolith.sql
}

/** How the service's changes are captured: the service's `capture`, else the monolith's. */
export function captureMethod(ws: Workspace, service: string): 'triggers' | 'logical' {
  return ws.service(service).capture ?? ws.plan.monolith.capture ?? 'triggers'
}

const namesCache = new WeakMap<Workspace, Map<string, LogicalNames>>()

/** The service's replication slot and publication (logical capture). */
export async function serviceLogicalNames(ws: Workspace, service: string): Promise<LogicalNames> {
  const cache = namesCache.get(ws) ?? new Map<string, LogicalNames>()
  namesCache.set(ws, cache)
  const hit = cache.get(service)
  if (hit) return hit
  const [r] = await sqlOf(ws).query<{db: string}>(`SELECT current_database() AS db`)
  const names = logicalNames(ws.plan.state.prefix, service, String(r?.db ?? ''), ws.monolith.defaultSchema)
  cache.set(service, names)
  return names
}

/** Root specs (their tables go to the publication under logical capture) and related specs (always triggers). */
function splitSpecs(specs: readonly CaptureSpec[]): {roots: CaptureSpec[]; related: CaptureSpec[]} {
  return {roots: specs.filter((s) => !s.roots), related: specs.filter((s) => s.roots)}
}

const feeds = new WeakMap<Workspace, Map<string, Promise<LogicalFeed>>>()

/**
 * The feed from the service's slot to its outbox, under logical capture: one
 * per workspace and service (a slot streams to one connection at a time),
 * closed with the workspace.
 */
export async function logicalFeed(ws: Workspace, service: string): Promise<LogicalFeed | undefined> {
  if (captureMethod(ws, service) !== 'logical') return undefined
  let mine = feeds.get(ws)
  if (!mine) {
    const created = new Map<string, Promise<LogicalFeed>>()
    mine = created
    feeds.set(ws, created)
    ws.onClose(async () => {
      for (const f of created.values()) await (await f.catch(() => undefined))?.close()
    })
  }
  let feed = mine.get(service)
  if (!feed) {
    feed = newFeed(ws, service)
    mine.set(service, feed)
    feed.catch(() => mine.delete(service))
  }
  return feed
}

async function newFeed(ws: Workspace, service: string): Promise<LogicalFeed> {
  const {roots} = splitSpecs(await captureSpecs(ws, service))
  return new LogicalFeed(ws.monolith, ws.plan.monolith.url, await serviceLogicalNames(ws, service), ws.outbox(service), roots)
}

/** Closes this workspace's feed of the service, if one streams (before its slot is dropped). */
async function closeFeed(ws: Workspace, service: string): Promise<void> {
  const f = feeds.get(ws)?.get(service)
  feeds.get(ws)?.delete(service)
  await (await f?.catch(() => undefined))?.close()
}

/** The service's outbox; under logical capture, reading it first moves what the slot decoded into it. */
export function serviceOutbox(ws: Workspace, service: string): Outbox {
  return new Outbox(ws.monolith, ws.outbox(service), captureMethod(ws, service) === 'logical' ? () => logicalFeed(ws, service) : undefined)
}

/**
 * How far behind the service's relay is, as the gates and `status` see it;
 * null when the outbox does not exist. Under logical capture, while a relay in
 * another process streams the slot, what its stream holds shows only in that
 * relay's own samples: a recent one (at most 15 s old) counts too.
 */
export async function serviceLag(ws: Workspace, service: string): Promise<OutboxLag | null> {
  const outbox = serviceOutbox(ws, service)
  if (!(await outbox.exists())) return null
  const lag = await outbox.lag()
  if (captureMethod(ws, service) !== 'logical' || lag.retainedWalBytes !== undefined) return lag
  const s = await latestRelaySample(ws.state, service)
  if (!s || Date.now() - Date.parse(s.at) > 15_000) return lag
  return {lagSeconds: Math.max(lag.lagSeconds, s.lagSeconds), pending: Math.max(lag.pending, s.pending)}
}

/** Name prefix of the triggers (and function) capturing one entity: `strangler_<service>_<entity>`. */
export function triggerPrefix(ws: Workspace, service: string, entity: string): string {
  return boundedName([`${ws.plan.state.prefix}${service}`, entity], PREFIX_MAX)
}

/** The capture spec of every entity of the service, resolved against the monolith. */
export async function captureSpecs(ws: Workspace, service: string): Promise<CaptureSpec[]> {
  const outbox = ws.outbox(service)
  return (await ws.entities(service)).flatMap((e) => {
    const prefix = triggerPrefix(ws, service, e.name)
    const root: CaptureSpec = {table: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, outbox, service, entity: e.name, triggerPrefix: prefix}
    // an aggregate's related tables: their changes re-assemble the roots they belong to
    const related = relationCaptures(e).map((r, n): CaptureSpec => ({...root, table: r.table, key: [], roots: r.roots, triggerPrefix: relationTriggerPrefix(prefix, n, PREFIX_MAX)}))
    return [root, ...related]
  })
}

/** Capture specs from the plan alone (no introspection): enough to remove triggers of tables that changed or vanished. */
function planSpecs(ws: Workspace, service: string): CaptureSpec[] {
  const svc = ws.service(service)
  const outbox = ws.outbox(service)
  return svc.entities.flatMap((e) => {
    const name = targetRefFor(service, svc, e, ws.monolith.defaultSchema).name
    const prefix = triggerPrefix(ws, service, name)
    const root: CaptureSpec = {table: parseTableName(e.source, ws.monolith.defaultSchema), key: e.key ?? [], outbox, service, entity: name, triggerPrefix: prefix}
    const related = planRelationTables(e).map((t, n): CaptureSpec => ({...root, table: parseTableName(t, ws.monolith.defaultSchema), key: [], roots: {direct: []}, triggerPrefix: relationTriggerPrefix(prefix, n, PREFIX_MAX)}))
    return [root, ...related]
  })
}

/** DDL for the service's outbox table and every entity's triggers (for --dry-run and for install). With `dropOutbox`, `remove` ends with dropping the outbox. */
export async function captureStatements(ws: Workspace, service: string, opts: {dropOutbox?: boolean} = {}): Promise<{install: string[]; remove: string[]}> {
  const sql = sqlOf(ws)
  const install = [...sql.outboxDdl(ws.outbox(service))]
  const remove: string[] = []
  const specs = await captureSpecs(ws, service)
  const logical = captureMethod(ws, service) === 'logical'
  if (logical) {
    const {roots, related} = splitSpecs(specs)
    const ddl = logicalStatements(sql, await serviceLogicalNames(ws, service), roots.map((s) => s.table))
    install.push(...ddl.install)
    // the root tables' triggers of an earlier trigger capture, once the slot captures (a moment of both: changes twice, never none)
    for (const spec of roots) install.push(...sql.captureDdl(spec).remove)
    for (const spec of related) {
      const d = sql.captureDdl(spec)
      install.push(...d.install)
      remove.push(...d.remove)
    }
    remove.push(...ddl.remove)
  } else {
    for (const spec of specs) {
      const ddl = sql.captureDdl(spec)
      install.push(...ddl.install)
      remove.push(...ddl.remove)
    }
  }
  if (opts.dropOutbox) remove.push(dropOutboxStatement(sql, ws.outbox(service)))
  return {install, remove}
}

function dropOutboxStatement(sql: SqlCapabilities, outbox: TableRef): string {
  return `DROP TABLE IF EXISTS ${sql.quoteTable(outbox)}`
}

/**
 * Creates the outbox and installs the triggers of every entity of the service
 * (idempotent). Entities whose triggers are already complete are left alone,
 * so a re-run never drops a live trigger (on MySQL a trigger can only be
 * replaced by dropping it first, and writes in between would go uncaptured);
 * `replace` reinstalls them anyway. Returns the statements run.
 */
export async function installCapture(ws: Workspace, service: string, opts: {replace?: boolean} = {}): Promise<string[]> {
  const sql = sqlOf(ws)
  const ran: string[] = []
  const run = async (stmt: string): Promise<void> => {
    await sql.execute(stmt)
    ran.push(stmt)
  }
  const specs = await captureSpecs(ws, service)
  const logical = captureMethod(ws, service) === 'logical'
  const {roots, related} = splitSpecs(specs)
  // logical capture's preconditions, before anything (the outbox included) is created
  if (logical) await checkLogicalCapture(ws.monolith, roots, await serviceLogicalNames(ws, service))
  for (const stmt of sql.outboxDdl(ws.outbox(service))) await run(stmt)
  await probeOutbox(sql, ws.outbox(service))
  if (logical) {
    ws.log.debug(`installing logical capture (slot and publication)`, {service, component: 'capture'})
    ran.push(...(await installLogical(ws.monolith, await serviceLogicalNames(ws, service), roots)))
    // triggers of an earlier trigger capture on the root tables go once the slot captures
    for (const spec of roots) if ((await capturedEvents(sql, spec)).length) for (const stmt of sql.captureDdl(spec).remove) await run(stmt)
  }
  for (const spec of logical ? related : specs) {
    if (!opts.replace && (await triggersComplete(sql, spec))) continue
    ws.log.debug(`installing capture on ${spec.table.name}`, {service, component: 'capture', entity: spec.entity})
    for (const stmt of sql.captureDdl(spec).install) await run(stmt)
  }
  if (!logical) ran.push(...(await retireSlot(ws, service)))
  return ran
}

/**
 * Back from logical capture to triggers: once the triggers capture (they are
 * installed first), what is still in the slot goes to the outbox and the slot
 * and publication are dropped. Nothing when the service never had a slot.
 */
async function retireSlot(ws: Workspace, service: string): Promise<string[]> {
  const sql = sqlOf(ws)
  if (sql.dialect !== 'postgres' || !(await slotsVisible(ws))) return []
  const names = await serviceLogicalNames(ws, service)
  if (!(await slotExists(sql, names.slot))) return []
  await closeFeed(ws, service)
  const feed = await newFeed(ws, service)
  try {
    // the slot must be read to its end before it goes: refuse while another process streams it
    if (!(await feed.drainAll())) {
      throw new UserError(`capture: the replication slot ${names.slot} is being read by another process, so what it still holds cannot be moved to the outbox.`, {
        code: 'E_CAPTURE',
        hint: `Stop the relay of ${service} and run the command again.`,
      })
    }
  } finally {
    await feed.close()
  }
  return removeLogical(ws.monolith, names)
}

/** Whether the server has replication slots to look at (PGlite has no logical decoding). */
async function slotsVisible(ws: Workspace): Promise<boolean> {
  try {
    const [r] = await sqlOf(ws).query<{w: string}>(`SELECT current_setting('wal_level') AS w`)
    return r?.w === 'logical'
  } catch {
    return false
  }
}

/** Entity name of the probe row: not an identifier, so never an entity's. */
const PROBE_ENTITY = '(strangler probe)'

/**
 * The triggers write the outbox with the privileges of the user installing
 * them (PostgreSQL SECURITY DEFINER, MySQL trigger DEFINER), and the relay
 * reads and deletes from it as that user. Prove both before any trigger
 * exists: a trigger whose definer cannot insert would fail every application
 * write to the source table (MySQL grants nothing on a table to its creator).
 */
async function probeOutbox(sql: SqlCapabilities, outbox: TableRef): Promise<void> {
  const t = sql.quoteTable(outbox)
  const q = (c: string): string => sql.quoteId(c)
  await sql.execute(`INSERT INTO ${t} (${q('entity')}, ${q('op')}, ${q('pk')}) VALUES (${sql.param(1)}, 'U', '[]')`, [PROBE_ENTITY])
  await sql.query(`SELECT ${q('id')} FROM ${t} WHERE ${q('entity')} = ${sql.param(1)}`, [PROBE_ENTITY])
  await sql.execute(`DELETE FROM ${t} WHERE ${q('entity')} = ${sql.param(1)}`, [PROBE_ENTITY])
}

/** Removes the triggers; with `dropOutbox` also drops the outbox table (and the changes still in it). Idempotent. */
export async function removeCapture(ws: Workspace, service: string, opts: {dropOutbox?: boolean} = {}): Promise<string[]> {
  const sql = sqlOf(ws)
  const ran: string[] = []
  for (const spec of planSpecs(ws, service)) {
    const tableThere = await ws.monolith.tableExists(spec.table)
    for (const stmt of sql.captureDdl(spec).remove) {
      try {
        await sql.execute(stmt)
        ran.push(stmt)
      } catch (err) {
        // a source table that is gone took its triggers with it; what is left (a function) is dropped best-effort
        if (tableThere) throw err
      }
    }
  }
  if (captureMethod(ws, service) === 'logical' || (sql.dialect === 'postgres' && (await slotsVisible(ws)))) {
    await closeFeed(ws, service)
    ran.push(...(await removeLogical(ws.monolith, await serviceLogicalNames(ws, service))))
  }
  if (opts.dropOutbox) {
    const stmt = dropOutboxStatement(sql, ws.outbox(service))
    await sql.execute(stmt)
    ran.push(stmt)
  }
  return ran
}

/** Per entity: which of INSERT, UPDATE, DELETE are captured. */
export async function captureState(ws: Workspace, service: string): Promise<{entity: string; table: TableRef; events: string[]; installed: boolean; method: 'triggers' | 'logical'}[]> {
  const sql = sqlOf(ws)
  const out = []
  const specs = await captureSpecs(ws, service)
  const published = captureMethod(ws, service) === 'logical' ? await logicalInstalled(ws.monolith, await serviceLogicalNames(ws, service), splitSpecs(specs).roots.map((s) => s.table)) : undefined
  for (const spec of specs) {
    const viaSlot = published !== undefined && !spec.roots
    const events = viaSlot ? (published.has(sql.quoteTable(spec.table)) ? ['DELETE', 'INSERT', 'TRUNCATE', 'UPDATE'] : []) : await capturedEvents(sql, spec)
    out.push({entity: spec.entity, table: spec.table, events, installed: ['INSERT', 'UPDATE', 'DELETE'].every((e) => events.includes(e)), method: viaSlot ? ('logical' as const) : ('triggers' as const)})
  }
  return out
}

/** Whether capture triggers are installed for every entity of the service (and the outbox exists). */
export async function captureInstalled(ws: Workspace, service: string): Promise<boolean> {
  if (!(await ws.monolith.tableExists(ws.outbox(service)))) return false
  return (await captureState(ws, service)).every((s) => s.installed)
}

async function triggersComplete(sql: SqlCapabilities, spec: CaptureSpec): Promise<boolean> {
  const events = await capturedEvents(sql, spec)
  return ['INSERT', 'UPDATE', 'DELETE'].every((e) => events.includes(e))
}

/** Events covered by this entity's triggers, from `information_schema.triggers` (PostgreSQL and MySQL alike). */
async function capturedEvents(sql: SqlCapabilities, spec: CaptureSpec): Promise<string[]> {
  const q = (c: string): string => sql.quoteId(c)
  const schemaCond = spec.table.schema ? ` AND ${q('event_object_schema')} = ${sql.param(2)}` : ''
  const params = spec.table.schema ? [spec.table.name, spec.table.schema] : [spec.table.name]
  const rows = await sql.query<{name: string; event: string}>(
    `SELECT ${q('trigger_name')} AS ${q('name')}, ${q('event_manipulation')} AS ${q('event')} FROM ${sql.quoteTable({schema: 'information_schema', name: 'triggers'})} WHERE ${q('event_object_table')} = ${sql.param(1)}${schemaCond}`,
    params,
  )
  const ours = (name: string): boolean => name.startsWith(spec.triggerPrefix) && /^_[a-z]+$/.test(name.slice(spec.triggerPrefix.length))
  return [...new Set(rows.filter((r) => ours(String(r.name))).map((r) => String(r.event).toUpperCase()))].sort()
}
