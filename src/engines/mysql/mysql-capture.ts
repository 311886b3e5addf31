import type {CaptureSpec} from '../engine.js'
import {boundedName} from '../names.js'
import type {TableRef} from '../types.js'

interface Quoter {
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
}

export function mysqlOutboxDdl(q: Quoter, outbox: TableRef): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${q.quoteTable(outbox)} (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  entity VARCHAR(128) NOT NULL,
  op CHAR(1) NOT NULL,
  pk TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ${q.quoteId('entity_idx')} (entity, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  ]
}

/**
 * MySQL/MariaDB triggers cover one event each: three AFTER triggers per source table.
 *
 * - TIMESTAMP keys (logical timestamptz) are rendered in UTC from their internal
 *   value: `CAST(... AS CHAR)` would use the writer's session time zone, and the
 *   relay (whose sessions run at +00:00) would re-read the wrong key.
 * - A key change is detected on the bytes of the key, not with the column's
 *   collation: under a case-insensitive collation `'Abc' <=> 'abc'` is true, and
 *   the old key would linger in a case-sensitive target.
 * - `created_at` is UTC (`NOW(6)` follows the writer's time zone), so lag is right.
 * - Triggers run with their DEFINER's privileges: the application's user needs no
 *   privilege on the outbox.
 */
export function mysqlCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
  const keyText = (rec: 'NEW' | 'OLD', k: string, i: number): string => {
    const col = `${rec}.${q.quoteId(k)}`
    return spec.keyTypes?.[i]?.type === 'timestamptz'
      ? `CAST(TIMESTAMPADD(MICROSECOND, ROUND(UNIX_TIMESTAMP(${col}) * 1000000), TIMESTAMP'1970-01-01 00:00:00') AS CHAR)`
      : `CAST(${col} AS CHAR)`
  }
  if (spec.roots) return mysqlRootsCaptureDdl(q, spec)
  const keyOf = (rec: 'NEW' | 'OLD'): string => `JSON_ARRAY(${spec.key.map((k, i) => keyText(rec, k, i)).join(', ')})`
  const insert = (op: 'U' | 'D', rec: 'NEW' | 'OLD'): string =>
    `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk, created_at) VALUES (${lit(spec.entity)}, '${op}', ${keyOf(rec)}, UTC_TIMESTAMP(6))`
  const same = `CAST(${keyOf('OLD')} AS BINARY) <=> CAST(${keyOf('NEW')} AS BINARY)`
  const name = (suffix: string): string => q.quoteTable({schema: spec.table.schema, name: boundedName([spec.triggerPrefix, suffix], 64)})
  const table = q.quoteTable(spec.table)
  const install = [
    `DROP TRIGGER IF EXISTS ${name('ai')}`,
    `CREATE TRIGGER ${name('ai')} AFTER INSERT ON ${table} FOR EACH ROW ${insert('U', 'NEW')}`,
    `DROP TRIGGER IF EXISTS ${name('au')}`,
    `CREATE TRIGGER ${name('au')} AFTER UPDATE ON ${table} FOR EACH ROW BEGIN
  IF NOT (${same}) THEN ${insert('D', 'OLD')}; END IF;
  ${insert('U', 'NEW')};
END`,
    `DROP TRIGGER IF EXISTS ${name('ad')}`,
    `CREATE TRIGGER ${name('ad')} AFTER DELETE ON ${table} FOR EACH ROW ${insert('D', 'OLD')}`,
  ]
  const remove = [`DROP TRIGGER IF EXISTS ${name('ai')}`, `DROP TRIGGER IF EXISTS ${name('au')}`, `DROP TRIGGER IF EXISTS ${name('ad')}`]
  return {install, remove}
}

/**
 * Capture on a related table of an aggregate: every change writes the keys of
 * the roots the old and the new row belong to when the row holds them, and
 * otherwise the row's join values as an `R` change the relay resolves to
 * roots (no locking read in the writer's transaction).
 */
function mysqlRootsCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  const roots = spec.roots!
  const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
  const keyText = (col: string, i: number): string =>
    spec.keyTypes?.[i]?.type === 'timestamptz'
      ? `CAST(TIMESTAMPADD(MICROSECOND, ROUND(UNIX_TIMESTAMP(${col}) * 1000000), TIMESTAMP'1970-01-01 00:00:00') AS CHAR)`
      : `CAST(${col} AS CHAR)`
  const keyExpr = (cols: string[]): string => `JSON_ARRAY(${cols.map((c, i) => keyText(c, i)).join(', ')})`
  const insert = (rec: 'NEW' | 'OLD'): string => {
    const head = `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk, created_at) `
    if (roots.direct) {
      const cols = roots.direct.map((c) => `${rec}.${q.quoteId(c)}`)
      return `${head}SELECT ${lit(spec.entity)}, 'U', ${keyExpr(cols)}, UTC_TIMESTAMP(6) FROM DUAL WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')}`
    }
    // the relay joins to the roots when it consumes the change (see RootKeyPath.relation)
    const cols = (roots.match ?? []).map(([, c]) => `${rec}.${q.quoteId(c)}`)
    return `${head}SELECT ${lit(spec.entity)}, 'R', JSON_ARRAY(${roots.relation ?? 0}, ${cols.map((c) => `CAST(${c} AS CHAR)`).join(', ')}), UTC_TIMESTAMP(6) FROM DUAL WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')}`
  }
  const name = (suffix: string): string => q.quoteTable({schema: spec.table.schema, name: boundedName([spec.triggerPrefix, suffix], 64)})
  const table = q.quoteTable(spec.table)
  const install = [
    `DROP TRIGGER IF EXISTS ${name('ai')}`,
    `CREATE TRIGGER ${name('ai')} AFTER INSERT ON ${table} FOR EACH ROW ${insert('NEW')}`,
    `DROP TRIGGER IF EXISTS ${name('au')}`,
    `CREATE TRIGGER ${name('au')} AFTER UPDATE ON ${table} FOR EACH ROW BEGIN
  ${insert('OLD')};
  ${insert('NEW')};
END`,
    `DROP TRIGGER IF EXISTS ${name('ad')}`,
    `CREATE TRIGGER ${name('ad')} AFTER DELETE ON ${table} FOR EACH ROW ${insert('OLD')}`,
  ]
  const remove = [`DROP TRIGGER IF EXISTS ${name('ai')}`, `DROP TRIGGER IF EXISTS ${name('au')}`, `DROP TRIGGER IF EXISTS ${name('ad')}`]
  return {install, remove}
}
