import type {ArchiveDdl} from '../engine.js'
import type {TableRef} from '../types.js'

interface Quoter {
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
}

/** Table moves and grants on PostgreSQL (grants follow a moved table, so they are revoked explicitly). */
export function pgArchiveDdl(q: Quoter): ArchiveDdl {
  return {
    schemaName: (prefix) => `${prefix}archive`,
    ensureSchema: (name) => `CREATE SCHEMA IF NOT EXISTS ${q.quoteId(name)}`,
    move: (from, to) => {
      const out: string[] = []
      let cur = from
      if ((to.schema ?? 'public') !== (from.schema ?? 'public')) {
        out.push(`ALTER TABLE ${q.quoteTable(cur)} SET SCHEMA ${q.quoteId(to.schema ?? 'public')}`)
        cur = {schema: to.schema ?? 'public', name: from.name}
      }
      if (to.name !== from.name) out.push(`ALTER TABLE ${q.quoteTable(cur)} RENAME TO ${q.quoteId(to.name)}`)
      return out
    },
    grant: (ref, grantee, privileges) => `GRANT ${privileges.join(', ')} ON TABLE ${q.quoteTable(ref)} TO ${q.quoteId(grantee)}`,
    revoke: (ref, grantee) => `REVOKE ALL ON TABLE ${q.quoteTable(ref)} FROM ${q.quoteId(grantee)}`,
    // From the table's ACL itself: information_schema.role_table_grants shows only grants whose grantor or
    // grantee is the current user's role, so grants made by another role holding GRANT OPTION would go unseen.
    privilegesQuery: (ref, grantees) => ({
      text:
        'SELECT DISTINCT r.rolname AS grantee, a.privilege_type AS privilege FROM pg_catalog.pg_class c ' +
        'JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a ' +
        'JOIN pg_catalog.pg_roles r ON r.oid = a.grantee WHERE n.nspname = $1 AND c.relname = $2 AND r.rolname = ANY($3::text[]) ORDER BY 1, 2',
      params: [ref.schema ?? 'public', ref.name, grantees],
    }),
  }
}
