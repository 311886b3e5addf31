import type {ColumnType, LogicalType} from '../types.js'

/** Maps `format_type()` output to a logical type. */
export function pgLogicalType(native: string): (ColumnType & {unsupported?: boolean}) {
  const n = native.toLowerCase().trim()
  if (n.endsWith('[]')) return {type: 'text', unsupported: true}
  let m: RegExpExecArray | null
  if (n === 'boolean') return {type: 'boolean'}
  if (n === 'smallint') return {type: 'smallint'}
  if (n === 'integer') return {type: 'integer'}
  if (n === 'bigint') return {type: 'bigint'}
  if ((m = /^numeric(?:\((\d+)(?:,(\d+))?\))?$/.exec(n))) {
    return {type: 'decimal', precision: m[1] ? Number(m[1]) : undefined, scale: m[1] ? Number(m[2] ?? 0) : undefined}
  }
  if (n === 'real') return {type: 'real'}
  if (n === 'double precision') return {type: 'double'}
  if (n === 'text' || n === 'citext' || n === 'name') return {type: 'text'}
  if ((m = /^character varying(?:\((\d+)\))?$/.exec(n))) return {type: m[1] ? 'varchar' : 'text', precision: m[1] ? Number(m[1]) : undefined}
  if ((m = /^character(?:\((\d+)\))?$/.exec(n))) return {type: 'char', precision: m[1] ? Number(m[1]) : 1}
  if (n === 'date') return {type: 'date'}
  if ((m = /^time(?:\((\d)\))? without time zone$/.exec(n))) return {type: 'time', precision: m[1] ? Number(m[1]) : 6}
  if ((m = /^timestamp(?:\((\d)\))? without time zone$/.exec(n))) return {type: 'timestamp', precision: m[1] ? Number(m[1]) : 6}
  if ((m = /^timestamp(?:\((\d)\))? with time zone$/.exec(n))) return {type: 'timestamptz', precision: m[1] ? Number(m[1]) : 6}
  if (n === 'json' || n === 'jsonb') return {type: 'json'}
  if (n === 'uuid') return {type: 'uuid'}
  if (n === 'bytea') return {type: 'binary'}
  return {type: 'text', unsupported: true}
}

/** The PostgreSQL type the tool creates for a logical type. */
export function pgNativeType(t: ColumnType): string {
  const p = t.precision
  const map: Record<LogicalType, string> = {
    boolean: 'boolean',
    smallint: 'smallint',
    integer: 'integer',
    bigint: 'bigint',
    decimal: p ? `numeric(${p},${t.scale ?? 0})` : 'numeric',
    real: 'real',
    double: 'double precision',
    text: 'text',
    varchar: p ? `varchar(${p})` : 'text',
    char: `char(${p ?? 1})`,
    date: 'date',
    time: `time(${p ?? 6})`,
    timestamp: `timestamp(${p ?? 6})`,
    timestamptz: `timestamptz(${p ?? 6})`,
    json: 'jsonb',
    uuid: 'uuid',
    binary: 'bytea',
  }
  return map[t.type]
}

const identity = (v: string): string => v

/**
 * Text parsers that keep values exact (the value model): int8 and numeric as
 * strings, timestamps and dates as their text, timestamptz in UTC without the
 * zone suffix (sessions run with TimeZone=UTC).
 */
export const PG_PARSERS: Record<number, (v: string) => unknown> = {
  20: identity, // int8
  1700: identity, // numeric
  1082: identity, // date
  1083: identity, // time
  1114: identity, // timestamp
  1184: (v) => v.replace(/\+00(?::00)?$/, ''), // timestamptz at UTC
  2950: (v) => v.toLowerCase(), // uuid
}
