/**
 * Lenient readers for state-store values: JSON documents written by other
 * components (whose fields may grow or be missing), and column values as the
 * drivers return them (bigint as text, booleans as 0/1 on MySQL, times as text).
 */

/** Parses a JSON column; anything unparsable becomes `{raw: text}` so nothing is lost. */
export function parseDoc(v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (typeof v !== 'string') return v
  try {
    return JSON.parse(v) as unknown
  } catch {
    return {raw: v}
  }
}

/** A JSON column as an object (`{}` for null, arrays and scalars are wrapped in `{value}`). */
export function parseObject(v: unknown): Record<string, unknown> {
  const d = parseDoc(v)
  if (d === null) return {}
  if (typeof d === 'object' && !Array.isArray(d)) return d as Record<string, unknown>
  return {value: d}
}

/** A finite number, or null. Numeric strings (bigint columns) count. */
export function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
  return null
}

/** A number, 0 when missing. */
export function num0(v: unknown): number {
  return num(v) ?? 0
}

/** A string, or null for null/undefined; other values are JSON-encoded. */
export function str(v: unknown): string | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v)
  return JSON.stringify(v)
}

/** Booleans as PostgreSQL (true/false) and MySQL (1/0) return them. */
export function bool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't' || v === 'true' || v === 1n
}

/**
 * ISO-8601 UTC text for a time column: ISO text is kept as written,
 * `YYYY-MM-DD HH:MM:SS[.f]` (UTC) and Dates are converted; anything else is kept.
 */
export function isoTime(v: unknown): string {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v.toISOString()
  const s = String(v ?? '')
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(s)) return s
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(s)
  if (m) {
    const d = new Date(`${m[1]}T${m[2]}${m[3] ? (m[3] === 'Z' ? 'Z' : m[3].length === 3 ? `${m[3]}:00` : m[3]) : 'Z'}`)
    if (!Number.isNaN(d.getTime())) return d.toISOString()
  }
  return s
}

/** An ISO time or null. */
export function isoTimeOrNull(v: unknown): string | null {
  return v === null || v === undefined || v === '' ? null : isoTime(v)
}

/** Milliseconds between two ISO times, or null. */
export function durationMs(from: string | null, to: string | null): number | null {
  if (!from || !to) return null
  const a = Date.parse(from)
  const b = Date.parse(to)
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, b - a) : null
}

/** The fields of `o` not in `known`, or undefined when there are none. */
export function otherOf(o: Record<string, unknown>, known: readonly string[]): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {}
  let any = false
  for (const [k, v] of Object.entries(o)) {
    if (known.includes(k)) continue
    out[k] = v
    any = true
  }
  return any ? out : undefined
}

/** Adds `other` (unknown fields) to a value only when there are some (keeps the JSON free of empty objects). */
export function withOther<T extends object>(value: T, other: Record<string, unknown> | undefined): T {
  return other ? {...value, other} : value
}

/** At most `max` items: evenly spaced picks, each the item of its bucket that `weight` ranks highest; first and last kept. */
export function thin<T>(items: readonly T[], max: number, weight: (x: T) => number = () => 0): T[] {
  if (items.length <= max) return [...items]
  if (max <= 2) return items.length ? [items[0], items[items.length - 1]].slice(0, Math.max(0, max)) : []
  const out: T[] = [items[0]]
  const inner = items.length - 2
  const buckets = max - 2
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * inner) / buckets)
    const to = 1 + Math.floor(((b + 1) * inner) / buckets)
    let best = items[from]
    for (let i = from + 1; i < to; i++) if (weight(items[i]) > weight(best)) best = items[i]
    out.push(best)
  }
  out.push(items[items.length - 1])
  return out
}
