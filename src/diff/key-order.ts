import type {ColumnType, KeyTuple} from '../engines/types.js'
import {canonicalValue} from './canonical.js'

/**
 * The one key order the diff uses on both sides: integers and decimals
 * numerically, everything else by the UTF-8 bytes of its canonical text (what
 * `order: 'bytewise'` asks of every engine). Keys are identified by their
 * canonical texts, so `42`, `'42'` and a MongoDB Int32 42 are the same key.
 */
export interface KeyOrder {
  compare(a: KeyTuple, b: KeyTuple): number
  /** A stable identity for maps and sets. */
  id(key: KeyTuple): string
}

function isNumeric(t: ColumnType): boolean {
  return ['smallint', 'integer', 'bigint', 'decimal', 'real', 'double'].includes(t.type)
}

/** Compares two canonical decimal texts (`-12.5`, `0.001`, `NaN`, `Infinity`). */
export function compareDecimalText(a: string, b: string): number {
  if (a === b) return 0
  const special = (s: string): number | undefined => (s === '-Infinity' ? -Infinity : s === 'Infinity' ? Infinity : s === 'NaN' ? NaN : undefined)
  const sa = special(a)
  const sb = special(b)
  if (sa !== undefined || sb !== undefined) {
    // PostgreSQL sorts NaN above everything
    const x = sa ?? 0
    const y = sb ?? 0
    if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1
    if (Number.isNaN(y)) return -1
    if (sa !== undefined && sb !== undefined) return x < y ? -1 : x > y ? 1 : 0
    if (sa !== undefined) return sa < 0 ? -1 : 1
    return sb! < 0 ? 1 : -1
  }
  const parse = (s: string): {neg: boolean; int: string; frac: string} => {
    const neg = s.startsWith('-')
    const body = neg ? s.slice(1) : s
    const [int, frac = ''] = body.split('.')
    return {neg, int: int.replace(/^0+(?=\d)/, ''), frac: frac.replace(/0+$/, '')}
  }
  const x = parse(a)
  const y = parse(b)
  const zero = (d: {int: string; frac: string}): boolean => /^0*$/.test(d.int) && d.frac === ''
  if (zero(x) && zero(y)) return 0
  if (x.neg !== y.neg) return zero(x) ? (y.neg ? 1 : -1) : zero(y) ? (x.neg ? -1 : 1) : x.neg ? -1 : 1
  let c = x.int.length !== y.int.length ? x.int.length - y.int.length : x.int < y.int ? -1 : x.int > y.int ? 1 : 0
  if (c === 0) {
    const n = Math.max(x.frac.length, y.frac.length)
    const fx = x.frac.padEnd(n, '0')
    const fy = y.frac.padEnd(n, '0')
    c = fx < fy ? -1 : fx > fy ? 1 : 0
  }
  const sign = c < 0 ? -1 : c > 0 ? 1 : 0
  return x.neg ? -sign : sign
}

function compareBytes(a: string, b: string): number {
  if (a === b) return 0
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** The key order for key columns of these logical types. */
export function keyOrder(types: readonly ColumnType[]): KeyOrder {
  const canon = (key: KeyTuple): string[] =>
    key.map((v, i) => {
      const t = types[i] ?? {type: 'text'}
      const s = canonicalValue(v, t)
      return s ?? ''
    })
  const fn = types.map((t) => (isNumeric(t) ? compareDecimalText : compareBytes))
  return {
    compare(a, b) {
      const x = canon(a)
      const y = canon(b)
      for (let i = 0; i < x.length; i++) {
        const c = fn[i](x[i], y[i])
        if (c !== 0) return c
      }
      return 0
    },
    id(key) {
      const c = canon(key)
      return c.length === 1 ? c[0] : JSON.stringify(c)
    },
  }
}
