/**
 * The one canonical row encoding shared by every engine.
 *
 * Every value is first turned into a *canonical text* (or `null`) that depends only on
 * the logical value and its logical type, never on the engine or driver that produced
 * it. A row is then the concatenation, per column, of `~` for NULL or
 * `<utf8 byte length>:<text>` otherwise. The length prefix needs no separator or
 * escaping, keeps NULL, '' and the text 'NULL' apart, and is trivially decodable
 * (see {@link decodeRow}), which makes the encoding injective on tuples.
 *
 * The same encoding is built in SQL by `sql-hash.ts` so PostgreSQL and MySQL/MariaDB can
 * hash rows in the database; the two implementations are kept byte-identical by the
 * golden test `test/integration/golden-hash.test.ts`.
 *
 * Canonical text per logical type:
 *
 * | type | canonical text |
 * |---|---|
 * | boolean | `1` / `0` |
 * | smallint, integer, bigint | base 10, no leading zeros or `+`, `-0` → `0`, exact (BigInt). A value with a fraction keeps it (trimmed), so it shows up as a difference instead of aborting the run. |
 * | decimal(p,s) | exact decimal arithmetic; with a scale: rounded half away from zero to `s` digits and printed with exactly `s` fraction digits (`-0.00` → `0.00`); without: trailing fraction zeros trimmed (`1.500` → `1.5`, `-0` → `0`). `NaN`, `Infinity`, `-Infinity`. |
 * | double | JS `String(Number(x))` (shortest round-trip), `-0` → `0`, `NaN`, `Infinity`, `-Infinity` |
 * | real | the shortest decimal that round-trips through float32, printed like a JS number (so PG `real` and MySQL `FLOAT` agree). Adapters must read MySQL/MariaDB `FLOAT` exactly: the text protocol prints it with 6 significant digits (16777217 → `16777200`); select `CAST(col AS DOUBLE)` or use the binary protocol. |
 * | text, varchar | the exact string (never trimmed) |
 * | char(n) | the string without trailing U+0020 spaces (PostgreSQL `bpchar` and MySQL `CHAR` disagree about padding; both treat it as insignificant) |
 * | date | `YYYY-MM-DD` (in UTC when the input carries a zone), `infinity` / `-infinity`; ` BC` suffix for BC dates |
 * | time | `HH:MM:SS.ffffff` (hours may be negative or > 24 for MySQL `TIME`) |
 * | timestamp, timestamptz | `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, fraction truncated (not rounded) to the comparison precision then padded to 6 digits. The precision (also for time) is `timestampPrecision` (default 6), never taken from `ColumnType.precision`: the diff passes the lower precision of the two sides (3 against MongoDB dates). `infinity`/`-infinity`, ` BC` suffix. |
 * | json | `JSON.stringify` semantics without whitespace, object keys sorted by Unicode code point (= UTF-8 byte order), numbers as JS numbers (`1.0` → `1`, `1e2` → `100`) |
 * | uuid | lower-case `8-4-4-4-12`; a value that is not 32 hex digits (after dropping `-{}`) is kept as given |
 * | binary | lower-case hex |
 *
 * Known limitations (documented, deliberate):
 * - JSON numbers are compared as IEEE doubles: integers beyond 2^53 and decimals with
 *   more than 17 significant digits lose precision in `JSON.parse` on one side and can
 *   therefore not be compared exactly. Duplicate object keys keep the last one.
 * - A JS *string* handed in for a json column is parsed as JSON text when it parses;
 *   otherwise it is the JSON string scalar. A string scalar whose content is itself
 *   valid JSON text (`"123"`) is therefore indistinguishable from that JSON value.
 * - Strings containing lone UTF-16 surrogates are encoded as U+FFFD (like every UTF-8
 *   encoder), so two such strings may encode alike.
 */

import type {ColumnType, LogicalType} from '../engines/types.js'

export type {ColumnType, LogicalType}
export {LOGICAL_TYPES} from '../engines/types.js'

export interface CanonicalOptions {
  /** Fraction digits (0–6) kept for timestamp/timestamptz/time values; default 6. Use the lower precision of the two sides. */
  timestampPrecision?: number
}

export interface EncodeRowOptions {
  /** Per column (same index as `types`): fraction digits kept for time/timestamp columns; default 6. */
  timestampPrecision?: (number | undefined)[]
}

/** Raised for a value that cannot be read as its logical type (e.g. `'abc'` for an integer). */
export class CanonicalValueError extends TypeError {
  constructor(message: string) {
    super(message)
    this.name = 'CanonicalValueError'
  }
}

export const NULL_MARK = '~'

// ---------------------------------------------------------------------------
// numbers

interface ExactDecimal {
  neg: boolean
  /** all significant digits as an integer */
  digits: bigint
  /** value = (neg ? -1 : 1) * digits * 10^-scale ; scale may be negative */
  scale: number
}

type Special = 'NaN' | 'Infinity' | '-Infinity'

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

function special(s: string): Special | undefined {
  switch (s.toLowerCase()) {
    case 'nan':
    case '+nan':
    case '-nan':
      return 'NaN'
    case 'infinity':
    case '+infinity':
    case 'inf':
    case '+inf':
      return 'Infinity'
    case '-infinity':
    case '-inf':
      return '-Infinity'
    default:
      return undefined
  }
}

/** Turns a number-like value (number, bigint, numeric string, Long/Decimal128/Int32/Double…) into a string. */
function numericText(value: unknown, what: string): string {
  switch (typeof value) {
    case 'string':
      return value.trim()
    case 'number':
      if (Number.isNaN(value)) return 'NaN'
      if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity'
      // String() of integral numbers ≥ 1e21 uses exponent form; the parser handles it.
      return Object.is(value, -0) ? '0' : String(value)
    case 'bigint':
      return value.toString()
    case 'boolean':
      return value ? '1' : '0'
    case 'object': {
      if (value === null) break
      // MongoDB Int32/Double expose valueOf() → number; Long/Decimal128 a faithful toString().
      const v = (value as {valueOf(): unknown}).valueOf()
      if (typeof v === 'number' || typeof v === 'bigint') return numericText(v, what)
      const s = String(value)
      if (s !== '[object Object]') return s.trim()
      break
    }
    default:
      break
  }
  throw new CanonicalValueError(`cannot read ${describe(value)} as ${what}`)
}

function parseExact(text: string, what: string): ExactDecimal | Special {
  const sp = special(text)
  if (sp) return sp
  const m = DECIMAL_RE.exec(text)
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
    throw new CanonicalValueError(`cannot read ${JSON.stringify(text)} as ${what}`)
  }
  const intPart = m[2]
  const frac = m[3] ?? ''
  const exp = m[4] === undefined ? 0 : Number(m[4])
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 100_000) {
    throw new CanonicalValueError(`exponent out of range in ${JSON.stringify(text)} (${what})`)
  }
  const all = (intPart + frac).replace(/^0+/, '')
  const digits = all === '' ? 0n : BigInt(all)
  return {neg: m[1] === '-' && digits !== 0n, digits, scale: frac.length - exp}
}

const POW10: bigint[] = []
function pow10(n: number): bigint {
  if (n < 64) {
    let p = POW10[n]
    if (p === undefined) {
      p = 10n ** BigInt(n)
      POW10[n] = p
    }
    return p
  }
  return 10n ** BigInt(n)
}

/** Rounds half away from zero to `scale` fraction digits (what PG/MySQL do on insert and in ROUND). */
function rescale(d: ExactDecimal, scale: number): ExactDecimal {
  if (d.scale === scale) return d
  if (d.scale < scale) return {neg: d.neg, digits: d.digits * pow10(scale - d.scale), scale}
  const div = pow10(d.scale - scale)
  let q = d.digits / div
  const r = d.digits % div
  if (r * 2n >= div) q += 1n
  return {neg: d.neg && q !== 0n, digits: q, scale}
}

function trimScale(d: ExactDecimal): ExactDecimal {
  if (d.scale < 0) return rescale(d, 0)
  let {digits, scale} = d
  while (scale > 0 && digits % 10n === 0n) {
    digits /= 10n
    scale--
  }
  return {neg: d.neg && digits !== 0n, digits, scale}
}

function formatExact(d: ExactDecimal): string {
  if (d.scale < 0) d = rescale(d, 0)
  let s = d.digits.toString()
  if (d.scale > 0) {
    if (s.length <= d.scale) s = '0'.repeat(d.scale - s.length + 1) + s
    s = `${s.slice(0, s.length - d.scale)}.${s.slice(s.length - d.scale)}`
  }
  return d.neg && d.digits !== 0n ? `-${s}` : s
}

function canonicalInteger(value: unknown): string {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value).toString()
  if (typeof value === 'bigint') return value.toString()
  const text = numericText(value, 'an integer')
  if (FAST_INT_RE.test(text)) return text
  const d = parseExact(text, 'an integer')
  return typeof d === 'string' ? d : formatExact(trimScale(d))
}

// already canonical at a scale: no leading zeros, exactly `scale` fraction digits, not a negative zero
const FAST_DEC_RE = /^-?(?:0|[1-9]\d*)\.(\d+)$/
const FAST_INT_RE = /^-?[1-9]\d*$|^0$/

function canonicalDecimal(value: unknown, scale: number | undefined): string {
  if (typeof value === 'string' && scale !== undefined) {
    const f = FAST_DEC_RE.exec(value)
    if (f && f[1].length === scale && !(value.charCodeAt(0) === 45 && /^-0\.0*$/.test(value))) return value
    if (scale === 0 && FAST_INT_RE.test(value)) return value
  }
  const text = numericText(value, 'a decimal')
  const d = parseExact(text, 'a decimal')
  if (typeof d === 'string') return d
  if (scale === undefined || !Number.isInteger(scale)) return formatExact(trimScale(d))
  const r = rescale(d, scale)
  return scale < 0 ? formatExact(rescale(r, 0)) : formatExact(r)
}

function toFloat(value: unknown, what: string): number {
  if (typeof value === 'number') return value
  const text = numericText(value, what)
  const sp = special(text)
  if (sp) return sp === 'NaN' ? Number.NaN : sp === 'Infinity' ? Infinity : -Infinity
  if (!DECIMAL_RE.test(text) || text === '' || text === '+' || text === '-') {
    throw new CanonicalValueError(`cannot read ${JSON.stringify(text)} as ${what}`)
  }
  return Number(text)
}

function floatText(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return 'Infinity'
  if (n === -Infinity) return '-Infinity'
  if (n === 0) return '0'
  return String(n)
}

/** Shortest decimal (printed like a JS number) that reads back as the same float32. */
function float32Text(n: number): string {
  const f = Math.fround(n)
  if (!Number.isFinite(f) || f === 0) return floatText(f)
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(f.toPrecision(p))
    if (Math.fround(candidate) === f) return floatText(candidate)
  }
  return floatText(f)
}

function canonicalBoolean(value: unknown): string {
  switch (typeof value) {
    case 'boolean':
      return value ? '1' : '0'
    case 'number':
      if (Number.isNaN(value)) break
      return value !== 0 ? '1' : '0'
    case 'bigint':
      return value !== 0n ? '1' : '0'
    case 'string':
      switch (value.trim().toLowerCase()) {
        case 't': case 'true': case 'y': case 'yes': case 'on': case '1':
          return '1'
        case 'f': case 'false': case 'n': case 'no': case 'off': case '0':
          return '0'
        default:
          if (/^[+-]?\d+$/.test(value.trim())) return BigInt(value.trim()) !== 0n ? '1' : '0'
      }
      break
    case 'object': {
      if (value === null) break
      const bytes = asBytes(value)
      if (bytes) return bytes.some((b) => b !== 0) ? '1' : '0' // MySQL BIT(1)
      const v = (value as {valueOf(): unknown}).valueOf()
      if (v !== value) return canonicalBoolean(v)
      break
    }
    default:
      break
  }
  throw new CanonicalValueError(`cannot read ${describe(value)} as a boolean`)
}

// ---------------------------------------------------------------------------
// dates and times

const TS_RE =
  /^(\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?(\s+BC)?$/
const TIME_RE = /^(-?)(\d{1,}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?$/

interface Civil {
  y: number
  mo: number
  d: number
  h: number
  mi: number
  s: number
  /** fraction digits as written (may be longer than 6) */
  frac: string
  bc: boolean
}

function pad(n: number, w: number): string {
  const s = String(Math.abs(n))
  return (n < 0 ? '-' : '') + (s.length >= w ? s : '0'.repeat(w - s.length) + s)
}

// days from 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm)
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

function civilFromDays(z: number): {y: number; m: number; d: number} {
  z += 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp + (mp < 10 ? 3 : -9)
  return {y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d}
}

function shiftCivil(c: Civil, offsetSeconds: number): Civil {
  if (offsetSeconds === 0) return c
  // astronomical year numbering for the arithmetic
  const year = c.bc ? 1 - c.y : c.y
  let secs = daysFromCivil(year, c.mo, c.d) * 86400 + c.h * 3600 + c.mi * 60 + c.s - offsetSeconds
  const days = Math.floor(secs / 86400)
  secs -= days * 86400
  const {y, m, d} = civilFromDays(days)
  return {
    y: y <= 0 ? 1 - y : y,
    mo: m,
    d,
    h: Math.floor(secs / 3600),
    mi: Math.floor((secs % 3600) / 60),
    s: secs % 60,
    frac: c.frac,
    bc: y <= 0,
  }
}

function parseOffset(z: string | undefined): number {
  if (z === undefined || z === 'Z' || z === 'z') return 0
  const sign = z[0] === '-' ? -1 : 1
  const digits = z.slice(1).replace(/:/g, '')
  const h = Number(digits.slice(0, 2))
  const m = digits.length >= 4 ? Number(digits.slice(2, 4)) : 0
  const s = digits.length >= 6 ? Number(digits.slice(4, 6)) : 0
  return sign * (h * 3600 + m * 60 + s)
}

function civilFromDate(value: Date): Civil {
  const t = value.getTime()
  if (Number.isNaN(t)) throw new CanonicalValueError('invalid Date')
  const astro = value.getUTCFullYear()
  return {
    y: astro <= 0 ? 1 - astro : astro,
    mo: value.getUTCMonth() + 1,
    d: value.getUTCDate(),
    h: value.getUTCHours(),
    mi: value.getUTCMinutes(),
    s: value.getUTCSeconds(),
    frac: pad(value.getUTCMilliseconds(), 3),
    bc: astro <= 0,
  }
}

type Infinite = 'infinity' | '-infinity'

function parseTimestamp(value: unknown, what: string): Civil | Infinite {
  if (value instanceof Date) return civilFromDate(value)
  if (typeof value === 'number' && Number.isFinite(value)) return civilFromDate(new Date(value)) // epoch ms
  if (typeof value !== 'string') {
    throw new CanonicalValueError(`cannot read ${describe(value)} as ${what}`)
  }
  const text = value.trim()
  const lower = text.toLowerCase()
  if (lower === 'infinity' || lower === '+infinity') return 'infinity'
  if (lower === '-infinity') return '-infinity'
  const m = TS_RE.exec(text)
  if (!m) throw new CanonicalValueError(`cannot read ${JSON.stringify(value)} as ${what}`)
  const c: Civil = {
    y: Number(m[1]),
    mo: Number(m[2]),
    d: Number(m[3]),
    h: m[4] === undefined ? 0 : Number(m[4]),
    mi: m[5] === undefined ? 0 : Number(m[5]),
    s: m[6] === undefined ? 0 : Number(m[6]),
    frac: m[7] ?? '',
    bc: m[9] !== undefined,
  }
  return shiftCivil(c, parseOffset(m[8]))
}

function clampPrecision(p: number | undefined): number {
  if (p === undefined || !Number.isFinite(p)) return 6
  return Math.max(0, Math.min(6, Math.trunc(p)))
}

function fraction(frac: string, precision: number): string {
  return frac.slice(0, precision).padEnd(6, '0')
}

function formatDatePart(c: Civil): string {
  return `${pad(c.y, 4)}-${pad(c.mo, 2)}-${pad(c.d, 2)}`
}

// the common shapes drivers hand over: naive or UTC text, at most microseconds
const FAST_TS_RE = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(?:Z|\+00(?::?00)?)?$/

function canonicalTimestamp(value: unknown, precision: number | undefined): string {
  if (typeof value === 'string') {
    const f = FAST_TS_RE.exec(value)
    if (f) return `${f[1]} ${f[2]}.${fraction(f[3] ?? '', clampPrecision(precision))}`
  }
  const c = parseTimestamp(value, 'a timestamp')
  if (typeof c === 'string') return c
  const s = `${formatDatePart(c)} ${pad(c.h, 2)}:${pad(c.mi, 2)}:${pad(c.s, 2)}.${fraction(c.frac, clampPrecision(precision))}`
  return c.bc ? `${s} BC` : s
}

function canonicalDate(value: unknown): string {
  const c = parseTimestamp(value, 'a date')
  if (typeof c === 'string') return c
  return c.bc ? `${formatDatePart(c)} BC` : formatDatePart(c)
}

function canonicalTime(value: unknown, precision: number | undefined): string {
  if (value instanceof Date) {
    const c = civilFromDate(value)
    return `${pad(c.h, 2)}:${pad(c.mi, 2)}:${pad(c.s, 2)}.${fraction(c.frac, clampPrecision(precision))}`
  }
  if (typeof value !== 'string') throw new CanonicalValueError(`cannot read ${describe(value)} as a time`)
  const m = TIME_RE.exec(value.trim())
  if (!m) {
    // a full timestamp handed in for a time column: take its time of day
    const c = parseTimestamp(value, 'a time')
    if (typeof c === 'string') throw new CanonicalValueError(`cannot read ${JSON.stringify(value)} as a time`)
    return `${pad(c.h, 2)}:${pad(c.mi, 2)}:${pad(c.s, 2)}.${fraction(c.frac, clampPrecision(precision))}`
  }
  const hours = m[2].replace(/^0+(?=\d{2})/, '')
  return `${m[1]}${hours.length < 2 ? `0${hours}` : hours}:${m[3]}:${m[4] ?? '00'}.${fraction(m[5] ?? '', clampPrecision(precision))}`
}

// ---------------------------------------------------------------------------
// bytes, uuid, json

function asBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  if (value !== null && typeof value === 'object') {
    // MongoDB Binary / UUID: `.buffer` is a Uint8Array of the payload
    const b = (value as {buffer?: unknown}).buffer
    if (b instanceof Uint8Array) {
      const pos = (value as {position?: unknown}).position
      return typeof pos === 'number' && pos < b.length ? b.subarray(0, pos) : b
    }
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  }
  return undefined
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function canonicalBinary(value: unknown): string {
  const bytes = asBytes(value)
  if (bytes) return toHex(bytes)
  if (typeof value === 'string') {
    // PostgreSQL bytea hex output (`\x0a0b`) when a driver hands raw text
    if (/^\\x([0-9a-fA-F]{2})*$/.test(value)) return value.slice(2).toLowerCase()
    return Buffer.from(value, 'utf8').toString('hex')
  }
  throw new CanonicalValueError(`cannot read ${describe(value)} as binary`)
}

const UUID_HEX_RE = /^[0-9a-fA-F]{32}$/

/** Lower-case 8-4-4-4-12 when the text (without `-`, `{`, `}`) is 32 hex digits, else the text unchanged. */
const CANONICAL_UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function canonicalUuidText(text: string): string {
  if (CANONICAL_UUID_RE.test(text)) return text
  const h = text.replace(/[-{}]/g, '')
  if (!UUID_HEX_RE.test(h)) return text
  const l = h.toLowerCase()
  return `${l.slice(0, 8)}-${l.slice(8, 12)}-${l.slice(12, 16)}-${l.slice(16, 20)}-${l.slice(20)}`
}

function canonicalUuid(value: unknown): string {
  if (typeof value === 'string') return canonicalUuidText(value)
  const bytes = asBytes(value)
  if (bytes && bytes.length === 16) return canonicalUuidText(toHex(bytes))
  if (value !== null && typeof value === 'object') {
    const s = String(value)
    if (s !== '[object Object]') return canonicalUuidText(s)
  }
  throw new CanonicalValueError(`cannot read ${describe(value)} as a uuid`)
}

/** Orders strings by Unicode code point, which is also UTF-8 byte order. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    // UTF-16 code-unit order differs from code-point order only between surrogates and U+E000–U+FFFF
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800
    return x - y
  }
  return a.length - b.length
}

function jsonText(value: unknown, seen: Set<object>): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as {toJSON?: unknown}).toJSON === 'function') {
    value = (value as {toJSON(key: string): unknown}).toJSON('')
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      return Number.isFinite(value) ? floatText(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return value.toString()
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined
    default:
      break
  }
  if (value === null) return 'null'
  const obj = value as object
  if (seen.has(obj)) throw new CanonicalValueError('cyclic JSON value')
  seen.add(obj)
  let out: string
  if (Array.isArray(obj)) {
    out = `[${obj.map((v) => jsonText(v, seen) ?? 'null').join(',')}]`
  } else {
    // Number/String/Boolean wrapper objects, as JSON.stringify treats them
    if (obj instanceof Number || obj instanceof String || obj instanceof Boolean) {
      seen.delete(obj)
      return jsonText(obj.valueOf(), seen)
    }
    const keys = Object.keys(obj).sort(compareCodePoints)
    const parts: string[] = []
    for (const k of keys) {
      const v = jsonText((obj as Record<string, unknown>)[k], seen)
      if (v !== undefined) parts.push(`${JSON.stringify(k)}:${v}`)
    }
    out = `{${parts.join(',')}}`
  }
  seen.delete(obj)
  return out
}

/** Canonical JSON text: no whitespace, keys sorted by code point, numbers as JS numbers. */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') {
    let parsed: unknown
    try {
      parsed = JSON.parse(value)
    } catch {
      return JSON.stringify(value)
    }
    value = parsed
  } else if (value instanceof Uint8Array) {
    return canonicalJson(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'))
  }
  return jsonText(value, new Set()) ?? 'null'
}

// ---------------------------------------------------------------------------
// text

function canonicalText(value: unknown, type: LogicalType): string {
  let s: string
  if (typeof value === 'string') s = value
  else if (value instanceof Uint8Array) s = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8')
  else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') s = String(value)
  else throw new CanonicalValueError(`cannot read ${describe(value)} as ${type}`)
  return type === 'char' ? s.replace(/ +$/, '') : s
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`
  const s = typeof value === 'string' ? JSON.stringify(value) : String(value)
  return `${typeof value} ${s.length > 60 ? `${s.slice(0, 57)}...` : s}`
}

// ---------------------------------------------------------------------------
// public API

/**
 * The canonical text of one value, or `null` for SQL NULL (`null` or `undefined`).
 * Throws {@link CanonicalValueError} when the value cannot be read as the type.
 */
export function canonicalValue(value: unknown, type: ColumnType, opts?: CanonicalOptions): string | null {
  return canon(value, type, opts?.timestampPrecision)
}

function canon(value: unknown, type: ColumnType, precision: number | undefined): string | null {
  if (value === null || value === undefined) return null
  switch (type.type) {
    case 'boolean':
      return canonicalBoolean(value)
    case 'smallint':
    case 'integer':
    case 'bigint':
      return canonicalInteger(value)
    case 'decimal':
      return canonicalDecimal(value, type.scale)
    case 'double':
      return floatText(toFloat(value, 'a double'))
    case 'real':
      return float32Text(toFloat(value, 'a real'))
    case 'text':
    case 'varchar':
    case 'char':
      return canonicalText(value, type.type)
    case 'date':
      return canonicalDate(value)
    case 'time':
      return canonicalTime(value, precision)
    case 'timestamp':
    case 'timestamptz':
      return canonicalTimestamp(value, precision)
    case 'json':
      return canonicalJson(value)
    case 'uuid':
      return canonicalUuid(value)
    case 'binary':
      return canonicalBinary(value)
    default: {
      const never: never = type.type
      throw new CanonicalValueError(`unknown logical type ${String(never)}`)
    }
  }
}

/** Types whose canonical text is always ASCII (so its UTF-16 length is its byte length). */
function asciiOnly(t: LogicalType): boolean {
  return t !== 'text' && t !== 'varchar' && t !== 'char' && t !== 'json' && t !== 'uuid'
}

function checkWidth(values: readonly unknown[], types: readonly ColumnType[]): void {
  if (values.length !== types.length) {
    throw new CanonicalValueError(`row has ${values.length} values but ${types.length} column types`)
  }
}

function columnError(err: unknown, i: number): unknown {
  return err instanceof CanonicalValueError ? new CanonicalValueError(`column ${i + 1}: ${err.message}`) : err
}

/** Canonical texts of a row, column by column (for reporting which columns differ). */
export function canonicalRow(values: readonly unknown[], types: readonly ColumnType[], opts?: EncodeRowOptions): (string | null)[] {
  checkWidth(values, types)
  const precision = opts?.timestampPrecision
  const out: (string | null)[] = new Array(values.length)
  for (let i = 0; i < values.length; i++) {
    try {
      out[i] = canon(values[i], types[i], precision?.[i])
    } catch (err) {
      throw columnError(err, i)
    }
  }
  return out
}

/** Joins canonical texts into the length-prefixed row encoding. */
export function encodeCanonical(texts: readonly (string | null)[]): string {
  let out = ''
  for (const t of texts) out += t === null ? NULL_MARK : `${Buffer.byteLength(t, 'utf8')}:${t}`
  return out
}

/** The canonical encoding of a row: per column `~` for NULL, else `<utf8 byte length>:<text>`. */
export function encodeRow(values: readonly unknown[], types: readonly ColumnType[], opts?: EncodeRowOptions): string {
  checkWidth(values, types)
  const precision = opts?.timestampPrecision
  let out = ''
  for (let i = 0; i < values.length; i++) {
    let t: string | null
    try {
      t = canon(values[i], types[i], precision?.[i])
    } catch (err) {
      throw columnError(err, i)
    }
    if (t === null) out += NULL_MARK
    else out += `${asciiOnly(types[i].type) ? t.length : Buffer.byteLength(t, 'utf8')}:${t}`
  }
  return out
}

/** Splits an encoding back into its canonical texts. Throws on malformed input. */
export function decodeRow(encoded: string): (string | null)[] {
  const bytes = Buffer.from(encoded, 'utf8')
  const out: (string | null)[] = []
  let i = 0
  while (i < bytes.length) {
    if (bytes[i] === 0x7e /* ~ */) {
      out.push(null)
      i++
      continue
    }
    let j = i
    while (j < bytes.length && bytes[j] >= 0x30 && bytes[j] <= 0x39) j++
    if (j === i || j >= bytes.length || bytes[j] !== 0x3a /* : */) {
      throw new CanonicalValueError(`malformed row encoding at byte ${i}`)
    }
    const len = Number(bytes.toString('latin1', i, j))
    const start = j + 1
    if (start + len > bytes.length) throw new CanonicalValueError(`truncated row encoding at byte ${i}`)
    out.push(bytes.toString('utf8', start, start + len))
    i = start + len
  }
  return out
}
