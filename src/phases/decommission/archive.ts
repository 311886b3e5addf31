import type {TableRef} from '../../engines/types.js'
import type {ResolvedEntity} from '../../mapping/entity-mapping.js'
import {getService, updateService} from '../../state/services.js'
import {UserError} from '../../util/errors.js'
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
async function checkShared(ws: Workspace, service: string, entities: readonly ResolvedEntity[]): Promise<void> {
  const mine = new Set(entities.map((e) => `${e.source.schema}.${e.source.name}`))
  for (const other of ws.serviceNames()) {
    if (other === service) continue
    if ((await getService(ws.state, other)).phase === 'decommissioned') continue
    for (const e of await ws.entities(other)) {
      if (mine.has(`${e.source.schema}.${e.source.name}`)) {
        throw new UserError(`Cannot archive ${e.source.name}: service ${other} also reads it.`, {
          code: 'E_SHARED_TABLE',
          hint: `Decommission ${other} first, or give ${service} its own copy of the table.`,
        })
      }
    }
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
    let grants: {grantee: string; privilege: string}[] = []
    if (users.length) {
      const q = sql.archive.privilegesQuery(e.source, users)
      grants = (await sql.query<{grantee: string; privilege: string}>(q.text, q.params)).map((g) => ({grantee: String(g.grantee), privilege: String(g.privilege)}))
    }
    // revoke only what is granted on the table itself (MySQL refuses to revoke a grant that does not exist)
    const holders = users.filter((u) => grants.some((g) => g.grantee === u || g.grantee.includes(`'${u.split('@')[0]}'`)))
    const statements = [sql.archive.ensureSchema(archive.schema!), ...holders.map((u) => sql.archive.revoke(e.source, u)), ...sql.archive.move(e.source, archive)]
    out.push({table: {index: e.index, entity: e.name, source: e.source, archive, archived: false, grants}, statements})
  }
  return out
}

/** Archives every table of the service (resumable: tables already archived are skipped). */
export async function archiveTables(ws: Workspace, service: string, onStatement: (s: string) => void = () => undefined): Promise<ArchiveInfo> {
  const existing = await archiveInfo(ws, service)
  if (existing.tables.length && existing.tables.every((t) => t.archived)) return existing
  const entities = await ws.entities(service)
  await checkShared(ws, service, entities)
  const plan = await archiveStatements(ws, service)
  const info: ArchiveInfo = {tables: plan.map((p) => existing.tables.find((t) => t.index === p.table.index) ?? p.table)}
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
  info.archivedAt = new Date().toISOString()
  await saveArchive(ws, service, info)
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
    const plain = users.find((u) => grantee.includes(`'${u.split('@')[0]}'`)) ?? grantee
    return sql.archive.grant(t.source, plain, privs)
  })
}
