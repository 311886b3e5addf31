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
 *
 * - Key values are rendered with `to_json(v) #>> '{}'`: ISO 8601 whatever the
 *   writer's DateStyle (`::text` would follow it), timestamptz with its offset.
 * - SECURITY DEFINER with a fixed search_path: the application's own database
 *   user needs no privilege on the outbox, so capture never fails its writes.
 * - CREATE OR REPLACE TRIGGER (PostgreSQL 14+) replaces a trigger atomically:
 *   re-installing never leaves a moment in which writes go uncaptured.
 */
export function pgCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  const fn = boundedName([spec.triggerPrefix, 'fn'])
  const trg = boundedName([spec.triggerPrefix, 'trg'])
  const fnRef = q.quoteTable({schema: spec.table.schema, name: fn})
  const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`
  const keyOf = (rec: 'NEW' | 'OLD'): string => `json_build_array(${spec.key.map((k) => `to_json(${rec}.${q.quoteId(k)}) #>> '{}'`).join(', ')})::text`
  const insert = (op: 'U' | 'D' | 'T', pk: string): string => `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk) VALUES (${lit(spec.entity)}, '${op}', ${pk});`
  if (spec.roots) return pgRootsCaptureDdl(q, spec, fnRef, trg)
  const install = [
    `CREATE OR REPLACE FUNCTION ${fnRef}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
DECLARE
  old_pk text;
  new_pk text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${insert('U', keyOf('NEW'))}
  ELSIF TG_OP = 'UPDATE' THEN
    old_pk := ${keyOf('OLD')};
    new_pk := ${keyOf('NEW')};
    IF old_pk IS DISTINCT FROM new_pk THEN
      ${insert('D', 'old_pk')}
    END IF;
    ${insert('U', 'new_pk')}
  ELSE
    ${insert('D', keyOf('OLD'))}
  END IF;
  RETURN NULL;
END
$strangler$`,
    `CREATE OR REPLACE TRIGGER ${q.quoteId(trg)} AFTER INSERT OR UPDATE OR DELETE ON ${q.quoteTable(spec.table)} FOR EACH ROW EXECUTE FUNCTION ${fnRef}()`,
  ]
  // TRUNCATE fires no row trigger: a statement trigger tells the relay to empty the target
  const tfn = q.quoteTable({schema: spec.table.schema, name: boundedName([spec.triggerPrefix, 'tfn'])})
  const ttrg = q.quoteId(boundedName([spec.triggerPrefix, 'trt']))
  install.push(
    `CREATE OR REPLACE FUNCTION ${tfn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
BEGIN
  ${insert('T', "'[]'")}
  RETURN NULL;
END
$strangler$`,
    `CREATE OR REPLACE TRIGGER ${ttrg} AFTER TRUNCATE ON ${q.quoteTable(spec.table)} FOR EACH STATEMENT EXECUTE FUNCTION ${tfn}()`,
  )
  const remove = [
    `DROP TRIGGER IF EXISTS ${q.quoteId(trg)} ON ${q.quoteTable(spec.table)}`,
    `DROP FUNCTION IF EXISTS ${fnRef}()`,
    `DROP TRIGGER IF EXISTS ${ttrg} ON ${q.quoteTable(spec.table)}`,
    `DROP FUNCTION IF EXISTS ${tfn}()`,
  ]
  return {install, remove}
}

/**
 * Capture on a related table of an aggregate: every change writes the keys of
 * the roots the old and the new row belong to (an update moving a child to
 * another root re-assembles both) when the row holds them, and otherwise the
 * row's join values as an `R` change the relay resolves to roots.
 */
function pgRootsCaptureDdl(q: Quoter, spec: CaptureSpec, fnRef: string, trg: string): {install: string[]; remove: string[]} {
  const roots = spec.roots!
  const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`
  const keyExpr = (cols: string[]): string => `json_build_array(${cols.map((c) => `to_json(${c}) #>> '{}'`).join(', ')})::text`
  const insert = (rec: 'NEW' | 'OLD'): string => {
    const head = `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk) `
    if (roots.direct) {
      const cols = roots.direct.map((c) => `${rec}.${q.quoteId(c)}`)
      return `${head}SELECT ${lit(spec.entity)}, 'U', ${keyExpr(cols)} WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')};`
    }
    // the relay joins to the roots when it consumes the change (see RootKeyPath.relation)
    const cols = (roots.match ?? []).map(([, c]) => `${rec}.${q.quoteId(c)}`)
    return `${head}SELECT ${lit(spec.entity)}, 'R', json_build_array(${roots.relation ?? 0}, ${cols.map((c) => `to_json(${c}) #>> '{}'`).join(', ')})::text WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')};`
  }
  const install = [
    `CREATE OR REPLACE FUNCTION ${fnRef}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    ${insert('OLD')}
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    ${insert('NEW')}
  END IF;
  RETURN NULL;
END
$strangler$`,
    `CREATE OR REPLACE TRIGGER ${q.quoteId(trg)} AFTER INSERT OR UPDATE OR DELETE ON ${q.quoteTable(spec.table)} FOR EACH ROW EXECUTE FUNCTION ${fnRef}()`,
  ]
  const remove = [`DROP TRIGGER IF EXISTS ${q.quoteId(trg)} ON ${q.quoteTable(spec.table)}`, `DROP FUNCTION IF EXISTS ${fnRef}()`]
  return {install, remove}
}
