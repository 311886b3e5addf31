import {canonicalJson, canonicalValue, CanonicalValueError, LOGICAL_TYPES, type ColumnType, type LogicalType} from '../diff/canonical.js'
import {parseTypeSpec} from '../engines/names.js'
import type {Comparator, Comparison} from './types.js'

/** Field → logical type spec (`decimal(12,2)`, `timestamp`, `json`...). */
export type FieldTypes = Readonly<Record<string, string | ColumnType>>

function toColumnType(spec: string | ColumnType): ColumnType | undefined {
  if (typeof spec !== 'string') return spec
  const t = parseTypeSpec(spec)
  return (LOGICAL_TYPES as readonly string[]).includes(t.type) ? {...t, type: t.type as LogicalType} : undefined
}

/**
 * The canonical text of one value: with a logical type, the diff's canonical
 * encoding (so `'12.50'` and `12.5` agree for a `decimal(12,2)`); without,
 * canonical JSON (sorted keys, numbers as JS numbers, `undefined` = `null`).
 */
export function canonicalText(value: unknown, type?: ColumnType): string {
  if (type) {
    try {
      const v = canonicalValue(value, type)
      return v === null ? '~' : `=${v}`
    } catch (err) {
      if (!(err instanceof CanonicalValueError)) throw err
    }
  }
  if (typeof value === 'string') return JSON.stringify(value) // canonicalJson would parse it as JSON text
  if (value instanceof Uint8Array) return `0x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
  return canonicalJson(value === undefined ? null : value)
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array)

function compareInto(a: unknown, b: unknown, types: Map<string, ColumnType>, prefix: string, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const f of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const t = types.get(f)
      if (canonicalText(a[f], t) !== canonicalText(b[f], t)) out.push(prefix ? `${prefix}.${f}` : f)
    }
    return
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${prefix}(length ${a.length} vs ${b.length})`)
    for (let i = 0; i < Math.min(a.length, b.length); i++) compareInto(a[i], b[i], types, `${prefix}[${i}]`, out)
    return
  }
  const aMissing = a === null || a === undefined
  const bMissing = b === null || b === undefined
  if (aMissing !== bMissing) {
    out.push(prefix || '(row)')
    return
  }
  if (canonicalText(a) !== canonicalText(b)) out.push(prefix || '(value)')
}

/**
 * Compares two read results field by field: objects by the union of their
 * fields, arrays element by element, anything else as canonical JSON. A row
 * present on one side only differs in `(row)`.
 */
export function compareResults(monolith: unknown, service: unknown, types: FieldTypes = {}): Comparison {
  const map = new Map<string, ColumnType>()
  for (const [f, spec] of Object.entries(types)) {
    const t = toColumnType(spec)
    if (t) map.set(f, t)
  }
  const fields: string[] = []
  compareInto(monolith, service, map, '', fields)
  return {equal: fields.length === 0, fields}
}

/** The default comparator: {@link compareResults} with per-entity field types. */
export function comparatorFor(fieldTypes: Readonly<Record<string, FieldTypes>> = {}): Comparator {
  return (entity, monolith, service) => compareResults(monolith, service, fieldTypes[entity] ?? {})
}

/** The value of a (possibly nested, `[i].field`) field path, for mismatch examples. */
export function fieldValue(root: unknown, path: string): unknown {
  if (path === '(row)' || path === '(value)') return root
  let cur: unknown = root
  for (const part of path.match(/\[\d+\]|[^.[\]]+/g) ?? []) {
    if (cur === null || cur === undefined) return undefined
    if (part.startsWith('[')) {
      const i = Number(part.slice(1, -1))
      cur = Array.isArray(cur) ? cur[i] : undefined
    } else if (part.startsWith('(')) {
      return Array.isArray(cur) ? cur.length : undefined
    } else {
      cur = (cur as Record<string, unknown>)[part]
    }
  }
  return cur
}
