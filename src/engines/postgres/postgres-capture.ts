import type {CaptureSpec} from '../engine.js'
import {boundedName} from '../names.js'
import type {TableRef} from '../types.js'

interface Quoter {
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
}

/** The outbox: one row per captured change, consumed by the relay as a queue. */
export function pgOutboxDdl(q: Quoter, outbox: TableRef): string[] {
  const idx = q.quoteId(boundedName([outbox.name, 'entity_idx']))
  return [
    `CREATE TABLE IF NOT EXISTS ${q.quoteTable(outbox)} (
  id bigserial PRIMARY KEY,
  entity text NOT NULL,
  op char(1) NOT NULL,
  pk text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`,
    `CREATE INDEX IF NOT EXISTS ${idx} ON ${q.quoteTable(outbox)} (entity, id)`,
  ]
}

/**
 * One plpgsql function and one AFTER INSERT OR UPDATE OR DELETE row trigger per
 * source table. The changed key goes to the outbox in the writer's own
 * transaction; a key change writes a delete of the old key and an upsert of the new.
 */
export function pgCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  const fn = boundedName([spec.triggerPrefix, 'fn'])
  const trg = boundedName([spec.triggerPrefix, 'trg'])
  const fnRef = q.quoteTable({schema: spec.table.schema, name: fn})
  const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`
  const keyOf = (rec: 'NEW' | 'OLD'): string => `json_build_array(${spec.key.map((k) => `${rec}.${q.quoteId(k)}::text`).join(', ')})::text`
  const insert = (op: 'U' | 'D', rec: 'NEW' | 'OLD'): string =>
    `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk) VALUES (${lit(spec.entity)}, '${op}', ${keyOf(rec)});`
  const keyChanged = spec.key.map((k) => `OLD.${q.quoteId(k)} IS DISTINCT FROM NEW.${q.quoteId(k)}`).join(' OR ')
  const install = [
    `CREATE OR REPLACE FUNCTION ${fnRef}() RETURNS trigger LANGUAGE plpgsql AS $strangler$
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${insert('U', 'NEW')}
  ELSIF TG_OP = 'UPDATE' THEN
    IF ${keyChanged} THEN
      ${insert('D', 'OLD')}
    END IF;
    ${insert('U', 'NEW')}
  ELSE
    ${insert('D', 'OLD')}
  END IF;
  RETURN NULL;
END
$strangler$`,
    `DROP TRIGGER IF EXISTS ${q.quoteId(trg)} ON ${q.quoteTable(spec.table)}`,
    `CREATE TRIGGER ${q.quoteId(trg)} AFTER INSERT OR UPDATE OR DELETE ON ${q.quoteTable(spec.table)} FOR EACH ROW EXECUTE FUNCTION ${fnRef}()`,
  ]
  const remove = [`DROP TRIGGER IF EXISTS ${q.quoteId(trg)} ON ${q.quoteTable(spec.table)}`, `DROP FUNCTION IF EXISTS ${fnRef}()`]
  return {install, remove}
}
