import type {ArchiveDdl} from '../engine.js'
import {boundedName} from '../names.js'
import type {TableRef} from '../types.js'

interface Quoter {
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
}

/** `user` or `user@host` → its user and host (host `%` by default). */
export function splitGrantee(grantee: string): {user: string; host: string} {
  const at = grantee.lastIndexOf('@')
  return {user: at > 0 ? grantee.slice(0, at) : grantee, host: at > 0 ? grantee.slice(at + 1) : '%'}
}

/** `user` or `user@host` → `'user'@'host'` (host `%` by default), quoted as string literals. */
export function mysqlGrantee(grantee: string): string {
  const {user, host} = splitGrantee(grantee)
  const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
  return `${lit(user)}@${lit(host)}`
}

/**
 * The values of `mysql.tables_priv.Table_priv` (a SET) and their names in
 * GRANT statements. `Grant` (the grant option) is left out, as
 * information_schema.TABLE_PRIVILEGES does: by itself it gives no access.
 */
const TABLE_PRIVILEGES: readonly (readonly [string, string])[] = [
  ['Select', 'SELECT'],
  ['Insert', 'INSERT'],
  ['Update', 'UPDATE'],
  ['Delete', 'DELETE'],
  ['Create', 'CREATE'],
  ['Drop', 'DROP'],
  ['References', 'REFERENCES'],
  ['Index', 'INDEX'],
  ['Alter', 'ALTER'],
  ['Create View', 'CREATE VIEW'],
  ['Show view', 'SHOW VIEW'],
  ['Trigger', 'TRIGGER'],
  ['Delete versioning rows', 'DELETE HISTORY'],
]

/**
 * Table moves and grants on MySQL/MariaDB. A table moved into another
 * database leaves database-level grants behind; table-level grants stay with
 * the old name, so the archive revokes them before the move and the restore
 * grants them again after moving back.
 */
export function mysqlArchiveDdl(q: Quoter, database: string): ArchiveDdl {
  const names = TABLE_PRIVILEGES.map(([set, name], i) => (i === 0 ? `SELECT '${set}' AS ${q.quoteId('set_name')}, '${name}' AS ${q.quoteId('privilege')}` : `SELECT '${set}', '${name}'`)).join(' UNION ALL ')
  const col = (c: string): string => `t.${q.quoteId(c)}`
  return {
    schemaName: (prefix) => boundedName([database, `${prefix}archive`], 64),
    ensureSchema: (name) => `CREATE DATABASE IF NOT EXISTS ${q.quoteId(name)} CHARACTER SET utf8mb4`,
    move: (from, to) => [`RENAME TABLE ${q.quoteTable({schema: from.schema ?? database, name: from.name})} TO ${q.quoteTable({schema: to.schema ?? database, name: to.name})}`],
    grant: (ref, grantee, privileges) => `GRANT ${privileges.join(', ')} ON ${q.quoteTable({schema: ref.schema ?? database, name: ref.name})} TO ${mysqlGrantee(grantee)}`,
    revoke: (ref, grantee) => `REVOKE ALL PRIVILEGES ON ${q.quoteTable({schema: ref.schema ?? database, name: ref.name})} FROM ${mysqlGrantee(grantee)}`,
    // Read from mysql.tables_priv itself, not information_schema.TABLE_PRIVILEGES: the view shows a user only its
    // own grants unless it may read the whole mysql database, so a check through it finds nothing and passes.
    // Without SELECT on mysql.tables_priv this query fails instead: the grants cannot be checked, and the caller says so.
    privilegesQuery: (ref, grantees) => ({
      text:
        `SELECT CONCAT('''', ${col('User')}, '''@''', ${col('Host')}, '''') AS ${q.quoteId('grantee')}, p.${q.quoteId('privilege')} AS ${q.quoteId('privilege')} ` +
        `FROM ${q.quoteTable({schema: 'mysql', name: 'tables_priv'})} t JOIN (${names}) p ON FIND_IN_SET(p.${q.quoteId('set_name')}, ${col('Table_priv')}) > 0 ` +
        `WHERE ${col('Db')} = ? AND ${col('Table_name')} = ? AND (${grantees.map(() => `(${col('User')} = ? AND ${col('Host')} = ?)`).join(' OR ') || 'FALSE'}) ORDER BY 1, 2`,
      params: [ref.schema ?? database, ref.name, ...grantees.flatMap((g) => [splitGrantee(g).user, splitGrantee(g).host])],
    }),
  }
}
