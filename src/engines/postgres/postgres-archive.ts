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
    privilegesQuery: (ref, grantees) => ({
      text: `SELECT grantee, privilege_type AS privilege FROM information_schema.role_table_grants WHERE table_schema = $1 AND table_name = $2 AND grantee = ANY($3::text[])`,
      params: [ref.schema ?? 'public', ref.name, grantees],
    }),
  }
}
