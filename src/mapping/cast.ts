import type {ColumnType} from '../engines/types.js'

const INT_TYPES = new Set(['smallint', 'integer', 'bigint'])
const TEXT_TYPES = new Set(['text', 'varchar', 'char'])

/**
 * Converts a value of the value model from one logical type to another, the
 * way `CAST(x AS target)` would in SQL. Throws on values that cannot convert
 * (the relay sends such rows to the dead-letter table with the message).
 */
export function castValue(v: unknown, from: ColumnType, to: ColumnType): unknown {
  if (v === null || v === undefined) return null
  if (from.type === to.type && from.precision === to.precision && from.scale === to.scale) return v
  switch (to.type) {
    case 'smallint':
    case 'integer': {
      const n = typeof v === 'boolean' ? (v ? 1 : 0) : Number(roundHalfAway(String(v), 0))
      if (!Number.isSafeInteger(n)) throw new Error(`cannot cast ${JSON.stringify(v)} to ${to.type}`)
      return n
    }
    case 'bigint': {
      if (typeof v === 'boolean') return v ? '1' : '0'
      const s = roundHalfAway(String(v), 0)
      if (!/^-?\d+$/.test(s)) throw new Error(`cannot cast ${JSON.stringify(v)} to bigint`)
      return BigInt(s).toString()
    }
    case 'decimal': {
      const s = typeof v === 'number' ? numberToPlain(v) : String(v)
      if (!/^-?\d+(\.\d+)?$/.test(s)) throw new Error(`cannot cast ${JSON.stringify(v)} to decimal`)
      return to.scale === undefined ? s : roundHalfAway(s, to.scale)
    }
    case 'real':
    case 'double':
      return Number(v)
    case 'boolean':
      if (typeof v === 'boolean') return v
      if (typeof v === 'number') return v !== 0
      return /^(t|true|1|y|yes|on)$/i.test(String(v).trim())
    case 'text':
    case 'varchar':
    case 'char': {
      let s: string
      if (Buffer.isBuffer(v)) s = v.toString('utf8')
      else if (from.type === 'json') s = JSON.stringify(v)
      else if (typeof v === 'boolean') s = v ? 'true' : 'false'
      else s = String(v)
      if (to.type !== 'text' && to.precision && [...s].length > to.precision) s = [...s].slice(0, to.precision).join('')
      return s
    }
    case 'date':
      return String(v).slice(0, 10)
    case 'timestamp':
    case 'timestamptz': {
      const s = String(v).replace('T', ' ').replace(/Z$|[+-]00(:?00)?$/, '')
      const full = /^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s} 00:00:00` : s
      if (to.precision === undefined) return full
      const m = /^(.{19})(?:\.(\d+))?$/.exec(full)
      if (!m) return full
      const frac = (m[2] ?? '').slice(0, to.precision)
      return frac ? `${m[1]}.${frac}` : m[1]
    }
    case 'time':
      return String(v)
    case 'json':
      return typeof v === 'string' && !TEXT_TYPES.has(from.type) ? JSON.parse(v) : typeof v === 'string' ? JSON.parse(v) : v
    case 'uuid':
      return String(v).toLowerCase()
    case 'binary':
      return Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8')
  }
}

function numberToPlain(n: number): string {
  if (Number.isInteger(n)) return BigInt(n).toString()
  return n.toFixed(20).replace(/0+$/, '').replace(/\.$/, '')
}

/** Rounds a decimal string half away from zero to `scale` digits (as PostgreSQL and MySQL do). */
export function roundHalfAway(s: string, scale: number): string {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(s.trim())
  if (!m) {
    const n = Number(s)
    if (!Number.isFinite(n)) throw new Error(`not a number: ${JSON.stringify(s)}`)
    return roundHalfAway(numberToPlain(n), scale)
  }
  const neg = m[1] === '-'
  const int = m[2] || '0'
  const frac = m[3] ?? ''
  const padded = frac.padEnd(scale + 1, '0')
  let digits = BigInt(int + padded.slice(0, scale))
  if (Number(padded[scale] ?? '0') >= 5) digits += 1n
  let out = digits.toString().padStart(scale + 1, '0')
  if (scale > 0) out = `${out.slice(0, -scale)}.${out.slice(-scale)}`
  const isZero = /^[0.]*$/.test(out)
  return neg && !isZero ? `-${out}` : out
}

export function isIntegerType(t: ColumnType): boolean {
  return INT_TYPES.has(t.type)
}

export function isTextType(t: ColumnType): boolean {
  return TEXT_TYPES.has(t.type)
}
