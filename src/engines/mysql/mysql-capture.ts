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

/** MySQL/MariaDB triggers cover one event each: three AFTER triggers per source table. */
export function mysqlCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
  const keyOf = (rec: 'NEW' | 'OLD'): string => `JSON_ARRAY(${spec.key.map((k) => `CAST(${rec}.${q.quoteId(k)} AS CHAR)`).join(', ')})`
  const insert = (op: 'U' | 'D', rec: 'NEW' | 'OLD'): string =>
    `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk, created_at) VALUES (${lit(spec.entity)}, '${op}', ${keyOf(rec)}, NOW(6))`
  const same = spec.key.map((k) => `OLD.${q.quoteId(k)} <=> NEW.${q.quoteId(k)}`).join(' AND ')
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
