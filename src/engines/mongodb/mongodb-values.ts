import {Binary, Decimal128, Double, Int32, Long} from 'mongodb'
import {JsonText} from '../json-text.js'
import type {ColumnType} from '../types.js'

export interface BsonOptions {
  /** `decimal128` (MongoDB) or `string` (servers without Decimal128, e.g. FerretDB v1). */
  decimals: 'decimal128' | 'string'
}

/** Value model → BSON, by logical type. Timestamps become Dates (millisecond precision). */
export function toBson(v: unknown, t?: ColumnType, opts: BsonOptions = {decimals: 'decimal128'}): unknown {
  if (v === null || v === undefined) return null
  // the backfill's pass-through of json columns (bulkLoad): parsed here, once
  if (v instanceof JsonText) return v.value()
  if (!t) return v
  switch (t.type) {
    case 'bigint':
      return Long.fromString(String(v))
    case 'decimal':
      return opts.decimals === 'string' ? String(v) : Decimal128.fromString(String(v))
    case 'smallint':
    case 'integer':
      return new Int32(Number(v))
    case 'real':
    case 'double':
      return new Double(Number(v))
    case 'boolean':
      return v === true || v === 1 || v === '1' || v === 't' || v === 'true'
    case 'timestamp':
    case 'timestamptz':
      return v instanceof Date ? v : new Date(`${String(v).replace(' ', 'T').replace(/(\.\d{3})\d+/, '$1')}${/[zZ]|[+-]\d\d(:?\d\d)?$/.test(String(v)) ? '' : 'Z'}`)
    case 'date':
      return v instanceof Date ? v : new Date(`${String(v)}T00:00:00Z`)
    case 'uuid':
      return String(v).toLowerCase()
    case 'binary':
      return new Binary(Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array))
    case 'json':
      return typeof v === 'string' ? JSON.parse(v) : v
    default:
      return v
  }
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0')
}

/** BSON → value model, by logical type. */
export function fromBson(v: unknown, t?: ColumnType): unknown {
  if (v === null || v === undefined) return null
  if (v instanceof Long || v instanceof Decimal128) return t?.type === 'integer' || t?.type === 'smallint' ? Number(v.toString()) : v.toString()
  if (v instanceof Int32 || v instanceof Double) return v.valueOf()
  if (v instanceof Binary) return Buffer.from(v.buffer)
  if (v instanceof Date) {
    const d = v
    const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
    if (t?.type === 'date') return date
    return `${date} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`
  }
  if (t?.type === 'bigint' && typeof v === 'number') return String(v)
  if (t?.type === 'decimal' && typeof v === 'number') return String(v)
  if (t?.type === 'json') return plain(v)
  return v
}

/** Converts an embedded document back to plain JSON values. */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  if (v instanceof Long || v instanceof Decimal128) return Number(v.toString())
  if (v instanceof Int32 || v instanceof Double) return v.valueOf()
  if (Array.isArray(v)) return v.map(plain)
  const o: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) o[k] = plain(x)
  return o
}
