import type {ArchiveDdl} from '../engine.js'
import {boundedName} from '../names.js'
import type {TableRef} from '../types.js'

interface Quoter {
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
}

/** `user` or `user@host` → `'user'@'host'` (host `%` by default), quoted as string literals. */
export function mysqlGrantee(grantee: string): string {
  const at = grantee.lastIndexOf('@')
  const user = at > 0 ? grantee.slice(0, at) : grantee
  const host = at > 0 ? grantee.slice(at + 1) : '%'
  const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
  return `${lit(user)}@${lit(host)}`
}

/**
 * Table moves and grants on MySQL/MariaDB. A table moved into another
 * database leaves database-level grants behind; table-level grants stay with
 * the old name, so the archive revokes them before the move and the restore
 * grants them again after moving back.
 */
export function mysqlArchiveDdl(q: Quoter, database: string): ArchiveDdl {
  return {
    schemaName: (prefix) => boundedName([database, `${prefix}archive`], 64),
    ensureSchema: (name) => `CREATE DATABASE IF NOT EXISTS ${q.quoteId(name)} CHARACTER SET utf8mb4`,
    move: (from, to) => [`RENAME TABLE ${q.quoteTable({schema: from.schema ?? database, name: from.name})} TO ${q.quoteTable({schema: to.schema ?? database, name: to.name})}`],
    grant: (ref, grantee, privileges) => `GRANT ${privileges.join(', ')} ON ${q.quoteTable({schema: ref.schema ?? database, name: ref.name})} TO ${mysqlGrantee(grantee)}`,
    revoke: (ref, grantee) => `REVOKE ALL PRIVILEGES ON ${q.quoteTable({schema: ref.schema ?? database, name: ref.name})} FROM ${mysqlGrantee(grantee)}`,
    privilegesQuery: (ref, grantees) => ({
      text: `SELECT GRANTEE AS grantee, PRIVILEGE_TYPE AS privilege FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND GRANTEE IN (${grantees.map(() => '?').join(', ') || "''"})`,
      params: [ref.schema ?? database, ref.name, ...grantees.map((g) => mysqlGrantee(g))],
    }),
  }
}
