import type {CaptureSpec} from '../engine.js'
import {boundedName} from '../names.js'
import type {TableRef} from '../types.js'

interface Quoter {
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
}

/** A string literal (trigger bodies cannot take parameters; standard_conforming_strings). */
function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
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
 * Change capture on a source table; the changed keys go to the outbox in the
 * writer's own transaction. INSERT and DELETE: statement triggers with
 * transition tables, one INSERT … SELECT per statement rather than one INSERT
 * per row (a 500-row INSERT loses about half as much; a single-row one the
 * same). UPDATE: a row trigger, which measured cheaper for the single-row
 * updates applications mostly run than the statement form (two transition
 * tables and an anti-join to find the keys that changed). See BENCHMARKS.md,
 * capture overhead.
 *
 * - A key change writes a delete of the old key and an upsert of the new, in
 *   one two-row INSERT (ids in that order).
 * - Key values are rendered with `to_json(v) #>> '{}'`: ISO 8601 whatever the
 *   writer's DateStyle (`::text` would follow it), timestamptz with its offset.
 * - SECURITY DEFINER with a fixed search_path: the application's own database
 *   user needs no privilege on the outbox, so capture never fails its writes.
 * - CREATE OR REPLACE TRIGGER (PostgreSQL 14+) replaces a trigger atomically:
 *   re-installing never leaves a moment in which writes go uncaptured. The row
 *   trigger of earlier versions (`_trg`, `_fn`) is dropped after the new
 *   triggers are in place, and by `remove`.
 */
export function pgCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  if (spec.roots) {
    const fnRef = q.quoteTable({schema: spec.table.schema, name: boundedName([spec.triggerPrefix, 'fn'])})
    return pgRootsCaptureDdl(q, spec, fnRef, boundedName([spec.triggerPrefix, 'trg']))
  }
  const table = q.quoteTable(spec.table)
  const outbox = q.quoteTable(spec.outbox)
  const named = (suffix: string): string => boundedName([spec.triggerPrefix, suffix])
  const fn = q.quoteTable({schema: spec.table.schema, name: named('sfn')})
  const keyOf = (alias: string): string => `json_build_array(${spec.key.map((k) => `to_json(${alias}.${q.quoteId(k)}) #>> '{}'`).join(', ')})::text`
  const select = (op: 'U' | 'D', rows: string): string => `INSERT INTO ${outbox} (entity, op, pk) SELECT ${lit(spec.entity)}, '${op}', ${keyOf('r')} FROM ${rows} AS r;`
  const OLD_ROWS = 'strangler_old'
  const NEW_ROWS = 'strangler_new'
  const [ti, tu, td] = ['ti', 'tu', 'td'].map((x) => q.quoteId(named(x)))
  const ufn = q.quoteTable({schema: spec.table.schema, name: named('ufn')})
  const install = [
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${select('U', NEW_ROWS)}
  ELSE
    ${select('D', OLD_ROWS)}
  END IF;
  RETURN NULL;
END
$strangler$`,
    `CREATE OR REPLACE FUNCTION ${ufn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
DECLARE
  old_pk text := ${keyOf('OLD')};
  new_pk text := ${keyOf('NEW')};
BEGIN
  IF old_pk IS DISTINCT FROM new_pk THEN
    INSERT INTO ${outbox} (entity, op, pk) VALUES (${lit(spec.entity)}, 'D', old_pk), (${lit(spec.entity)}, 'U', new_pk);
  ELSE
    INSERT INTO ${outbox} (entity, op, pk) VALUES (${lit(spec.entity)}, 'U', new_pk);
  END IF;
  RETURN NULL;
END
$strangler$`,
    `CREATE OR REPLACE TRIGGER ${ti} AFTER INSERT ON ${table} REFERENCING NEW TABLE AS ${NEW_ROWS} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
    `CREATE OR REPLACE TRIGGER ${tu} AFTER UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${ufn}()`,
    `CREATE OR REPLACE TRIGGER ${td} AFTER DELETE ON ${table} REFERENCING OLD TABLE AS ${OLD_ROWS} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
  ]
  // TRUNCATE fires no row trigger: a statement trigger tells the relay to empty the target
  const tfn = q.quoteTable({schema: spec.table.schema, name: named('tfn')})
  const ttrg = q.quoteId(named('trt'))
  install.push(
    `CREATE OR REPLACE FUNCTION ${tfn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
BEGIN
  INSERT INTO ${outbox} (entity, op, pk) VALUES (${lit(spec.entity)}, 'T', '[]');
  RETURN NULL;
END
$strangler$`,
    `CREATE OR REPLACE TRIGGER ${ttrg} AFTER TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${tfn}()`,
  )
  // the row trigger of earlier versions, once the statement triggers capture (a moment of both: changes twice, never none)
  const legacy = [`DROP TRIGGER IF EXISTS ${q.quoteId(named('trg'))} ON ${table}`, `DROP FUNCTION IF EXISTS ${q.quoteTable({schema: spec.table.schema, name: named('fn')})}()`]
  install.push(...legacy)
  const remove = [
    ...[ti, tu, td].map((t) => `DROP TRIGGER IF EXISTS ${t} ON ${table}`),
    `DROP FUNCTION IF EXISTS ${fn}()`,
    `DROP FUNCTION IF EXISTS ${ufn}()`,
    `DROP TRIGGER IF EXISTS ${ttrg} ON ${table}`,
    `DROP FUNCTION IF EXISTS ${tfn}()`,
    ...legacy,
  ]
  return {install, remove}
}

/**
 * Capture on a related table of an aggregate: every change writes the keys of
 * the roots the old and the new row belong to (an update moving a child to
 * another root re-assembles both) when the row holds them, and otherwise the
 * row's join values as an `R` change the relay resolves to roots. An update
 * that keeps them writes them once; a row without them (a NULL among them)
 * writes nothing.
 */
function pgRootsCaptureDdl(q: Quoter, spec: CaptureSpec, fnRef: string, trg: string): {install: string[]; remove: string[]} {
  const roots = spec.roots!
  // the relay joins to the roots when it consumes an R change (see RootKeyPath.relation)
  const direct = roots.direct !== undefined
  const cols = direct ? (roots.direct ?? []) : (roots.match ?? []).map(([, c]) => c)
  const head = direct ? [] : [String(roots.relation ?? 0)]
  const keyOf = (rec: 'NEW' | 'OLD'): string => {
    if (!cols.length) return 'NULL'
    const refs = cols.map((c) => `${rec}.${q.quoteId(c)}`)
    const text = `json_build_array(${[...head, ...refs.map((c) => `to_json(${c}) #>> '{}'`)].join(', ')})::text`
    return `CASE WHEN ${refs.map((c) => `${c} IS NOT NULL`).join(' AND ')} THEN ${text} END`
  }
  const insert = (pk: string, op: 'U' | 'R' | 'T' = direct ? 'U' : 'R'): string => `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk) VALUES (${lit(spec.entity)}, '${op}', ${pk});`
  const install = [
    `CREATE OR REPLACE FUNCTION ${fnRef}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
DECLARE
  old_pk text;
  new_pk text;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    old_pk := ${keyOf('OLD')};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    new_pk := ${keyOf('NEW')};
  END IF;
  IF old_pk IS NOT NULL AND old_pk IS DISTINCT FROM new_pk THEN
    ${insert('old_pk')}
  END IF;
  IF new_pk IS NOT NULL THEN
    ${insert('new_pk')}
  END IF;
  RETURN NULL;
END
$strangler$`,
    `CREATE OR REPLACE TRIGGER ${q.quoteId(trg)} AFTER INSERT OR UPDATE OR DELETE ON ${q.quoteTable(spec.table)} FOR EACH ROW EXECUTE FUNCTION ${fnRef}()`,
  ]
  // TRUNCATE fires no row trigger: a statement trigger has the relay re-assemble every root (pk `[relation]`)
  const tfn = q.quoteTable({schema: spec.table.schema, name: boundedName([spec.triggerPrefix, 'tfn'])})
  const ttrg = q.quoteId(boundedName([spec.triggerPrefix, 'trt']))
  install.push(
    `CREATE OR REPLACE FUNCTION ${tfn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strangler$
BEGIN
  ${insert(lit(`[${roots.relation ?? 0}]`), 'T')}
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
