import {createHash} from 'node:crypto'

/**
 * Builds an identifier from parts that fits `max` characters (63 for
 * PostgreSQL, 64 for MySQL); long names keep a readable head and a short hash
 * so two different long names never collide.
 */
export function boundedName(parts: readonly string[], max = 63): string {
  const name = parts.filter(Boolean).join('_')
  if (name.length <= max) return name
  const h = createHash('sha1').update(name).digest('hex').slice(0, 8)
  return `${name.slice(0, max - 9)}_${h}`
}

/** Parses `schema.table` or `table`. */
export function parseTableName(name: string, defaultSchema?: string): {schema?: string; name: string} {
  const parts = name.split('.')
  if (parts.length === 2) return {schema: parts[0], name: parts[1]}
  return defaultSchema ? {schema: defaultSchema, name} : {name}
}

/** Parses a logical type string like `decimal(12,2)`. */
export function parseTypeSpec(spec: string): {type: string; precision?: number; scale?: number} {
  const m = /^([a-z]+)(?:\((\d+)(?:,\s*(\d+))?\))?$/.exec(spec.trim().toLowerCase())
  if (!m) return {type: spec}
  return {type: m[1], precision: m[2] === undefined ? undefined : Number(m[2]), scale: m[3] === undefined ? undefined : Number(m[3])}
}
