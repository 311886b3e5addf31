import type {KeyTuple} from './types.js'

/**
 * Key order shared by every engine's bytewise mode: numbers (and integer
 * strings of numeric key columns) numerically, text by UTF-8 bytes, binary by
 * bytes; NULL never appears in keys. Tuples compare column by column.
 */
export function compareKeyValues(a: unknown, b: unknown): number {
  if (a === b) return 0
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'bigint' || typeof b === 'bigint' || (isIntLike(a) && isIntLike(b) && (typeof a === 'number' || typeof b === 'number'))) {
    const x = BigInt(a as string | number | bigint)
    const y = BigInt(b as string | number | bigint)
    return x < y ? -1 : x > y ? 1 : 0
  }
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return Buffer.compare(a, b)
  const sa = String(a)
  const sb = String(b)
  return Buffer.compare(Buffer.from(sa, 'utf8'), Buffer.from(sb, 'utf8'))
}

function isIntLike(v: unknown): boolean {
  return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v))
}

/** Compares two key tuples; `numeric[i]` marks columns compared as integers even when given as strings. */
export function compareKeys(a: KeyTuple, b: KeyTuple, numeric?: readonly boolean[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = numeric?.[i] ? compareBig(a[i], b[i]) : compareKeyValues(a[i], b[i])
    if (c !== 0) return c
  }
  return 0
}

function compareBig(a: unknown, b: unknown): number {
  const x = BigInt(a as string | number | bigint)
  const y = BigInt(b as string | number | bigint)
  return x < y ? -1 : x > y ? 1 : 0
}

/** A stable string form of a key tuple, for maps and reports: `42` or `(7,'abc')`. */
export function keyToString(key: KeyTuple): string {
  const one = (v: unknown): string => {
    if (v === null || v === undefined) return 'NULL'
    if (typeof v === 'number' || typeof v === 'bigint') return String(v)
    if (Buffer.isBuffer(v)) return `0x${v.toString('hex')}`
    const s = String(v)
    return /^-?\d+$/.test(s) ? s : `'${s.replace(/'/g, "''")}'`
  }
  return key.length === 1 ? one(key[0]) : `(${key.map(one).join(',')})`
}

/** The key tuple of a row. */
export function keyOf(row: Record<string, unknown>, key: readonly string[]): KeyTuple {
  return key.map((k) => row[k])
}
