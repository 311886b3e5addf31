import {relationPaths} from '../../mapping/aggregate.js'
import type {TableRef} from '../../engines/types.js'
import type {ResolvedEntity} from '../../mapping/entity-mapping.js'
import {getService, updateService} from '../../state/services.js'
import {errorMessage, UserError, withContext} from '../../util/errors.js'
import type {Workspace} from '../../workspace.js'

/** One monolith table of a decommissioned service, and where it went. */
export interface ArchivedTable {
  index: number
  entity: string
  source: TableRef
  archive: TableRef
  archived: boolean
  /** The application's privileges on the table before they were revoked (restored on rollback). */
  grants: {grantee: string; privilege: string}[]
}

export interface ArchiveInfo {
  tables: ArchivedTable[]
  archivedAt?: string
  restoredAt?: string
}

/**
 * `strangler_archive.<table>` (PostgreSQL) or `<database>_strangler_archive.<table>`
 * (MySQL): a schema or database of its own, on which the application has no grants.
 */
export function archiveRef(ws: Workspace, source: TableRef): TableRef {
  return {schema: ws.monolith.sql!.archive.schemaName(ws.plan.state.prefix), name: source.name}
}

export async function archiveInfo(ws: Workspace, service: string): Promise<ArchiveInfo> {
  const s = await getService(ws.state, service)
  return (s.info.archive as ArchiveInfo | undefined) ?? {tables: []}
}

async function saveArchive(ws: Workspace, service: string, info: ArchiveInfo): Promise<void> {
  await updateService(ws.state, service, {info: {archive: info}})
  ws.invalidate(service)
}

/** Refuses to archive a table that another, not decommissioned, service still reads. */
export async function checkShared(ws: Workspace, service: string, entities: readonly ResolvedEntity[]): Promise<void> {
  const mine = new Set(entities.map((e) => `${e.source.schema}.${e.source.name}`))
  for (const other of ws.serviceNames()) {
    if (other === service) continue
    if ((await getService(ws.state, other)).phase === 'decommissioned') continue
    for (const e of await ws.entities(other)) {
      // an aggregate of the other service reads its related tables too
      const reads = [e.source, ...relationPaths(e.relations ?? []).map((p) => p.relation.table)]
      const shared = reads.find((t) => mine.has(`${t.schema}.${t.name}`))
      if (shared) {
        throw new UserError(`Cannot archive ${shared.name}: service ${other} also reads it${shared === e.source ? '' : ` (assembled into its ${e.name})`}.`, {
          code: 'E_SHARED_TABLE',
          hint: `Decommission ${other} first, or give ${service} its own copy of the table.`,
        })
      }
    }
  }
}

/** A table privilege of an application user. */
export interface TableGrant {
  grantee: string
  privilege: string
}

function label(ref: TableRef): string {
  return ref.schema ? `${ref.schema}.${ref.name}` : ref.name
}

/** The tool's own monolith user, as the plan's URL names it (for hints). */
function toolUser(ws: Workspace): string {
  try {
    return decodeURIComponent(new URL(ws.plan.monolith.url).username) || 'the monolith user'
  } catch {
    return 'the monolith user'
  }
}

/** The plan's spelling of a grantee the engine reports (MySQL reports `'user'@'host'`). */
function planGrantee(users: readonly string[], grantee: string): string | undefined {
  return users.find((u) => grantee === u || grantee.includes(`'${u.split('@')[0]}'`))
}

/**
 * The table privileges the plan's application users hold on `ref`, read from
 * the engine's grant tables. When the tool's user may not read them, the
 * grants can be neither revoked nor verified: a `UserError` saying which
 * grant it needs, before anything changes.
 */
export async function tablePrivileges(ws: Workspace, service: string, ref: TableRef): Promise<TableGrant[]> {
  const users = ws.plan.monolith.appUsers
  if (!users.length) return []
  const sql = ws.monolith.sql!
  const q = sql.archive.privilegesQuery(ref, users)
  try {
    return (await sql.query<{grantee: unknown; privilege: unknown}>(q.text, q.params)).map((g) => ({grantee: String(g.grantee), privilege: String(g.privilege)}))
  } catch (err) {
    if (!(err instanceof UserError) || err.code !== 'E_PRIVILEGE') throw withContext(err, `reading the application users' grants on ${label(ref)}`)
    const who = toolUser(ws)
    throw new UserError(`Cannot check which privileges the application users (${users.join(', ')}) hold on ${label(ref)}: ${errorMessage(err)}`, {
      code: 'E_PRIVILEGE',
      cause: err,
      hint:
        `Decommission revokes the application's table grants and verifies that they are gone; for that ${who} must read other users' grants: ` +
        `on MySQL/MariaDB \`GRANT SELECT ON mysql.tables_priv TO '${who}'@'%'\` (with its host; information_schema shows a user only its own grants without it). ` +
        `Then run \`strangler decommission ${service} --yes\` again: it resumes at the archive step.`,
    })
  }
}

/**
 * The statements that archive the service's monolith tables: revoke the
 * application's grants, then rename to the archive name (never drop).
 */
export async function archiveStatements(ws: Workspace, service: string): Promise<{table: ArchivedTable; statements: string[]}[]> {
  const sql = ws.monolith.sql!
  const entities = await ws.entities(service)
  const out: {table: ArchivedTable; statements: string[]}[] = []
  for (const e of entities) {
    const archive = archiveRef(ws, e.source)
    const users = ws.plan.monolith.appUsers
    const grants = await tablePrivileges(ws, service, e.source)
    // revoke only what is granted on the table itself (MySQL refuses to revoke a grant that does not exist)
    const holders = users.filter((u) => grants.some((g) => planGrantee([u], g.grantee)))
    const statements = [sql.archive.ensureSchema(archive.schema!), ...holders.map((u) => sql.archive.revoke(e.source, u)), ...sql.archive.move(e.source, archive)]
    out.push({table: {index: e.index, entity: e.name, source: e.source, archive, archived: false, grants}, statements})
  }
  return out
}

/**
 * Checks, after the archive, that the application users hold no table
 * privilege left on the service's archived tables: under the archive name,
 * nor under the old name (MySQL keeps table grants with a name, and gives
 * them back to whatever table takes it). A revoke can leave grants in place
 * without an error (PostgreSQL revokes only what the revoking role granted);
 * anything left fails the archive step with what is still granted and the
 * statements that take it away. The step stays resumable: a re-run checks again.
 */
export async function verifyRevoked(ws: Workspace, service: string, info: ArchiveInfo): Promise<void> {
  const users = ws.plan.monolith.appUsers
  if (!users.length) return
  const sql = ws.monolith.sql!
  const left: {ref: TableRef; grantee: string; privileges: string[]}[] = []
  for (const t of info.tables) {
    if (!t.archived) continue
    for (const ref of [t.archive, t.source]) {
      const by = new Map<string, string[]>()
      for (const g of await tablePrivileges(ws, service, ref)) by.set(g.grantee, [...(by.get(g.grantee) ?? []), g.privilege])
      for (const [grantee, privileges] of by) left.push({ref, grantee, privileges})
    }
  }
  if (!left.length) return
  const fixes = [...new Set(left.map((l) => sql.archive.revoke(l.ref, planGrantee(users, l.grantee) ?? l.grantee)))]
  throw new UserError(
    `The application users still hold privileges on the archived monolith tables of ${service} after the revoke: ${left.map((l) => `${l.grantee} has ${l.privileges.join(', ')} on ${label(l.ref)}`).join('; ')}.`,
    {
      code: 'E_REVOKE',
      hint:
        `${toolUser(ws)} could not take them away: revoking needs GRANT OPTION on the table (MySQL/MariaDB), or being the role that granted it (PostgreSQL; or, as the table's owner, \`REVOKE GRANT OPTION FOR ... FROM <that role> CASCADE\`). ` +
        `Revoke them with such a user: ${fixes.join('; ')}; then run \`strangler decommission ${service} --yes\` again: it resumes at the archive step and checks again.`,
    },
  )
}

/**
 * Archives every table of the service (resumable: tables already archived
 * are skipped), then verifies that the application users lost their grants.
 */
export async function archiveTables(ws: Workspace, service: string, onStatement: (s: string) => void = () => undefined): Promise<ArchiveInfo> {
  let info = await archiveInfo(ws, service)
  if (!info.tables.length || !info.tables.every((t) => t.archived)) info = await archiveRemaining(ws, service, info, onStatement)
  await verifyRevoked(ws, service, info)
  if (!info.archivedAt) {
    info.archivedAt = new Date().toISOString()
    await saveArchive(ws, service, info)
  }
  return info
}

async function archiveRemaining(ws: Workspace, service: string, existing: ArchiveInfo, onStatement: (s: string) => void): Promise<ArchiveInfo> {
  const entities = await ws.entities(service)
  await checkShared(ws, service, entities)
  const plan = await archiveStatements(ws, service)
  // a fresh record: archivedAt (the start of the retention period) is set once the grants are verified
  const info: ArchiveInfo = {tables: plan.map((p) => existing.tables.find((t) => t.index === p.table.index) ?? p.table)}
  // the grants are recorded before the first revoke, so a rollback restores them whatever happens next
  await saveArchive(ws, service, info)
  const sql = ws.monolith.sql!
  for (const p of plan) {
    const t = info.tables.find((x) => x.index === p.table.index)!
    if (t.archived) continue
    if (!(await ws.monolith.tableExists(t.source)) && (await ws.monolith.tableExists(t.archive))) {
      t.archived = true // renamed before an interruption
    } else {
      for (const stmt of p.statements) {
        onStatement(stmt)
        await sql.execute(stmt)
      }
      t.archived = true
    }
    await saveArchive(ws, service, info)
  }
  return info
}

/** Renames archived tables back and restores the application's grants (rollback after decommission). */
export async function restoreTables(ws: Workspace, service: string, onStatement: (s: string) => void = () => undefined): Promise<ArchiveInfo> {
  const info = await archiveInfo(ws, service)
  const sql = ws.monolith.sql!
  for (const t of info.tables) {
    if (!t.archived) continue
    if (await ws.monolith.tableExists(t.archive)) {
      const stmts = [...sql.archive.move(t.archive, t.source), ...regrants(ws, t)]
      for (const s of stmts) {
        onStatement(s)
        await sql.execute(s)
      }
    }
    t.archived = false
    await saveArchive(ws, service, info)
  }
  info.restoredAt = new Date().toISOString()
  await saveArchive(ws, service, info)
  return info
}

function regrants(ws: Workspace, t: ArchivedTable): string[] {
  const sql = ws.monolith.sql!
  const by = new Map<string, string[]>()
  for (const g of t.grants) by.set(g.grantee, [...(by.get(g.grantee) ?? []), g.privilege])
  const users = ws.plan.monolith.appUsers
  return [...by.entries()].map(([grantee, privs]) => {
    // MySQL reports grantees as 'user'@'host'; give the plan's spelling back to the DDL builder
    const plain = planGrantee(users, grantee) ?? grantee
    return sql.archive.grant(t.source, plain, privs)
  })
}
