import type {CaptureSpec} from '../engine.js'
import {boundedName} from '../names.js'
import type {ColumnType, LogicalType, TableRef} from '../types.js'

interface Quoter {
  quoteId(name: string): string
  quoteTable(ref: TableRef): string
}

/**
 * The outbox. Measured (BENCHMARKS.md, capture overhead) and kept as it is:
 * the `(entity, id)` index costs every captured row 1.5–2 µs of server CPU,
 * but without it the relay's read of the entities already backfilled
 * (`WHERE entity IN (...) ORDER BY id LIMIT n`) scans every pending change of
 * an entity still backfilling; `pk` as VARCHAR instead of TEXT measured no
 * faster. Unchanged, outboxes created by older versions serve as they are.
 */
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
 * Key types whose values are equal exactly when their texts (`CAST(x AS CHAR)`)
 * are: numbers, dates and times (not TIMESTAMP, whose text follows the
 * session time zone). The update trigger compares them as values, without
 * rendering them.
 */
const BY_VALUE: ReadonlySet<LogicalType> = new Set<LogicalType>(['boolean', 'smallint', 'integer', 'bigint', 'decimal', 'date', 'time', 'timestamp'])

/** One key column of a trigger's row. */
interface KeyColumn {
  /** The column on the trigger's row (`NEW.x`, `OLD.x`) */
  readonly col: string
  /** The text written for it (TIMESTAMP keys in UTC) */
  readonly text: string
  /** Equal exactly when the texts are (see BY_VALUE) */
  readonly byValue: boolean
}

/**
 * The key columns of a trigger's row. `types` are the columns' own types when
 * `own`, else the types of the key they hold (an aggregate's child columns:
 * rendered alike, compared as text).
 */
function keyColumns(q: Quoter, rec: 'NEW' | 'OLD', cols: readonly string[], types: readonly ColumnType[] | undefined, own = true): KeyColumn[] {
  const known = types?.length === cols.length
  return cols.map((c, i) => {
    const col = `${rec}.${q.quoteId(c)}`
    const type = known ? types[i]?.type : undefined
    // TIMESTAMP keys from their internal (UTC) value: `CAST(... AS CHAR)` would follow the writer's session time zone
    const utc = `TIMESTAMPADD(MICROSECOND, ROUND(UNIX_TIMESTAMP(${col}) * 1000000), TIMESTAMP'1970-01-01 00:00:00')`
    const text = type === 'timestamptz' ? `CAST(${utc} AS CHAR)` : `CAST(${col} AS CHAR)`
    return {col, text, byValue: own && type !== undefined && BY_VALUE.has(type)}
  })
}

/**
 * The key as the JSON array of its column texts, after `head`: `["42"]`,
 * `["7", "Abc"]`; a NULL as `null`, which the relay dead-letters rather than
 * failing the writer.
 */
function keyJson(cols: readonly KeyColumn[], head: readonly string[] = []): string {
  return `JSON_ARRAY(${[...head, ...cols.map((c) => c.text)].join(', ')})`
}

/**
 * Whether the old and the new key are the same: on the bytes of their texts,
 * not with the column's collation (under a case-insensitive collation
 * `'Abc' <=> 'abc'` is true, and the old key would linger in a case-sensitive
 * target); column by column, BY_VALUE columns as values, which is the same
 * and spares rendering both keys on every update.
 */
function sameKey(olds: readonly KeyColumn[], news: readonly KeyColumn[]): string {
  if (!olds.length) return 'TRUE'
  return olds.map((o, i) => (o.byValue ? `${o.col} <=> ${news[i].col}` : `CAST(${o.text} AS BINARY) <=> CAST(${news[i].text} AS BINARY)`)).join(' AND ')
}

/** A string literal (trigger bodies cannot take parameters). */
function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

/**
 * MySQL/MariaDB triggers cover one event each: three AFTER triggers per source table.
 *
 * What a captured row costs is measured in BENCHMARKS.md (capture overhead):
 * mostly the outbox INSERT the trigger runs per row, which MariaDB prepares
 * anew each time. So every change runs exactly one INSERT … VALUES, an update
 * that changes the key included:
 *
 * - TIMESTAMP keys (logical timestamptz) are rendered in UTC from their internal
 *   value: `CAST(... AS CHAR)` would use the writer's session time zone, and the
 *   relay (whose sessions run at +00:00) would re-read the wrong key.
 * - A key change is detected on the bytes of the key (see `sameKey`); it
 *   writes the old key's delete and the new key's upsert in one two-row INSERT
 *   (ids in that order).
 * - `created_at` is UTC (`NOW(6)` follows the writer's time zone), so lag is right;
 *   written explicitly, as outboxes of older versions default it to `NOW(6)`.
 * - Triggers run with their DEFINER's privileges: the application's user needs no
 *   privilege on the outbox.
 */
export function mysqlCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  if (spec.roots) return mysqlRootsCaptureDdl(q, spec)
  const olds = keyColumns(q, 'OLD', spec.key, spec.keyTypes)
  const news = keyColumns(q, 'NEW', spec.key, spec.keyTypes)
  const row = (op: 'U' | 'D', key: readonly KeyColumn[]): string => `(${lit(spec.entity)}, '${op}', ${keyJson(key)}, UTC_TIMESTAMP(6))`
  const insert = (...rows: string[]): string => `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk, created_at) VALUES ${rows.join(', ')}`
  const name = (suffix: string): string => q.quoteTable({schema: spec.table.schema, name: boundedName([spec.triggerPrefix, suffix], 64)})
  const table = q.quoteTable(spec.table)
  const install = [
    `DROP TRIGGER IF EXISTS ${name('ai')}`,
    `CREATE TRIGGER ${name('ai')} AFTER INSERT ON ${table} FOR EACH ROW ${insert(row('U', news))}`,
    `DROP TRIGGER IF EXISTS ${name('au')}`,
    `CREATE TRIGGER ${name('au')} AFTER UPDATE ON ${table} FOR EACH ROW BEGIN
  IF ${sameKey(olds, news)} THEN ${insert(row('U', news))};
  ELSE ${insert(row('D', olds), row('U', news))};
  END IF;
END`,
    `DROP TRIGGER IF EXISTS ${name('ad')}`,
    `CREATE TRIGGER ${name('ad')} AFTER DELETE ON ${table} FOR EACH ROW ${insert(row('D', olds))}`,
  ]
  const remove = [`DROP TRIGGER IF EXISTS ${name('ai')}`, `DROP TRIGGER IF EXISTS ${name('au')}`, `DROP TRIGGER IF EXISTS ${name('ad')}`]
  return {install, remove}
}

/**
 * Capture on a related table of an aggregate: every change writes the keys of
 * the roots the old and the new row belong to when the row holds them, and
 * otherwise the row's join values as an `R` change the relay resolves to
 * roots (no locking read in the writer's transaction). A row without them
 * (a NULL among them) writes nothing; an update that keeps them writes them
 * once. IF … INSERT … VALUES rather than INSERT … SELECT … WHERE, which costs
 * a writer's single-row statement about three times as much.
 */
function mysqlRootsCaptureDdl(q: Quoter, spec: CaptureSpec): {install: string[]; remove: string[]} {
  const roots = spec.roots!
  // the root key held by the row (typed as the root key), or the join values (types unknown: compared and written as text)
  const direct = roots.direct !== undefined
  const cols = direct ? (roots.direct ?? []) : (roots.match ?? []).map(([, c]) => c)
  const types = direct ? spec.keyTypes : undefined
  const olds = keyColumns(q, 'OLD', cols, types, false)
  const news = keyColumns(q, 'NEW', cols, types, false)
  const head = direct ? [] : [String(roots.relation ?? 0)]
  const op = direct ? 'U' : 'R'
  const row = (key: readonly KeyColumn[]): string => `(${lit(spec.entity)}, '${op}', ${keyJson(key, head)}, UTC_TIMESTAMP(6))`
  const insert = (...rows: string[]): string => `INSERT INTO ${q.quoteTable(spec.outbox)} (entity, op, pk, created_at) VALUES ${rows.join(', ')}`
  const held = (key: readonly KeyColumn[]): string => (key.length ? key.map((c) => `${c.col} IS NOT NULL`).join(' AND ') : 'FALSE')
  const name = (suffix: string): string => q.quoteTable({schema: spec.table.schema, name: boundedName([spec.triggerPrefix, suffix], 64)})
  const table = q.quoteTable(spec.table)
  const install = [
    `DROP TRIGGER IF EXISTS ${name('ai')}`,
    `CREATE TRIGGER ${name('ai')} AFTER INSERT ON ${table} FOR EACH ROW BEGIN
  IF ${held(news)} THEN ${insert(row(news))}; END IF;
END`,
    `DROP TRIGGER IF EXISTS ${name('au')}`,
    `CREATE TRIGGER ${name('au')} AFTER UPDATE ON ${table} FOR EACH ROW BEGIN
  IF ${held(olds)} AND ${held(news)} THEN
    IF ${sameKey(olds, news)} THEN ${insert(row(news))};
    ELSE ${insert(row(olds), row(news))};
    END IF;
  ELSEIF ${held(olds)} THEN ${insert(row(olds))};
  ELSEIF ${held(news)} THEN ${insert(row(news))};
  END IF;
END`,
    `DROP TRIGGER IF EXISTS ${name('ad')}`,
    `CREATE TRIGGER ${name('ad')} AFTER DELETE ON ${table} FOR EACH ROW BEGIN
  IF ${held(olds)} THEN ${insert(row(olds))}; END IF;
END`,
  ]
  const remove = [`DROP TRIGGER IF EXISTS ${name('ai')}`, `DROP TRIGGER IF EXISTS ${name('au')}`, `DROP TRIGGER IF EXISTS ${name('ad')}`]
  return {install, remove}
}
