import type {EmbedInput, EntityPlan, LookupInput} from '../config/schema.js'
import type {Engine} from '../engines/engine.js'
import {compareKeyValues} from '../engines/keys.js'
import {parseTableName} from '../engines/names.js'
import type {ColumnType, KeyTuple, Projection, Row, TableInfo, TableRef} from '../engines/types.js'
import {UserError} from '../util/errors.js'
import {type ResolvedColumn, columnOf, projectionsFor, resolveColumns, rowMapper} from './entity-mapping.js'

/**
 * Aggregates: one service row or document assembled from several monolith
 * tables. The root table is the entity's `source`; `embed` adds one-to-many
 * children (an array in a declared order, or a sub-document keyed by a
 * column), `lookup` copies in the fields of a many-to-one parent. Relations
 * nest. Rows are assembled a batch at a time: one query per related table for
 * the whole batch of parents (never one per root), recursively.
 */

/** A related table resolved against the monolith. */
export interface ResolvedRelation {
  readonly kind: 'embed' | 'lookup'
  /** Plan path, for messages: `services.catalog.entities[1].embed[0]`. */
  readonly path: string
  /** Field of the parent holding it (embed, lookup with `as`); absent for a lookup merged into the parent. */
  readonly field?: string
  readonly table: TableRef
  readonly info: TableInfo
  /** Join columns of the parent, paired in order with `columns` of this table. */
  readonly parentColumns: readonly string[]
  readonly columns: readonly string[]
  readonly joinTypes: readonly ColumnType[]
  /** This table's mapped fields. */
  readonly mapped: readonly ResolvedColumn[]
  /** What to read from this table: mapped columns, join columns, order, and the join columns of nested relations. */
  readonly projections: readonly Projection[]
  /** Array order of embedded children (ends with the primary key, so ties never depend on the read). */
  readonly orderBy: readonly string[]
  readonly orderTypes: readonly ColumnType[]
  readonly keyBy?: string
  readonly value?: string
  readonly children: readonly ResolvedRelation[]
  mapRow(row: Row): Row
}

/** Relations declared on an entity or on a relation. */
interface RelationsPlan {
  readonly embed?: readonly EmbedInput[]
  readonly lookup?: readonly LookupInput[]
}

export function isAggregate(entity: EntityPlan): boolean {
  return Boolean(entity.embed?.length || entity.lookup?.length)
}

async function introspect(monolith: Engine, table: string, where: string): Promise<TableInfo> {
  try {
    return await monolith.introspect(parseTableName(table, monolith.defaultSchema))
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${where}.table: ${err.message}`, {hint: err.hint, code: err.code})
    throw err
  }
}

/**
 * Resolves the relations of an entity (or of a relation, recursively) against
 * the monolith. `taken` holds the parent's field names: a relation's field
 * must not overwrite one.
 */
export async function resolveRelations(path: string, plan: RelationsPlan, parent: TableInfo, monolith: Engine, taken: Set<string>): Promise<ResolvedRelation[]> {
  const out: ResolvedRelation[] = []
  const all: {kind: 'embed' | 'lookup'; rel: EmbedInput | LookupInput; where: string}[] = [
    ...(plan.embed ?? []).map((rel, i) => ({kind: 'embed' as const, rel, where: `${path}.embed[${i}]`})),
    ...(plan.lookup ?? []).map((rel, i) => ({kind: 'lookup' as const, rel, where: `${path}.lookup[${i}]`})),
  ]
  for (const {kind, rel, where} of all) {
    const info = await introspect(monolith, rel.table, where)
    const parentColumns = Object.keys(rel.on)
    const columns = parentColumns.map((p) => rel.on[p])
    for (const p of parentColumns) columnOf(parent, p, `${where}.on`)
    const joinCols = columns.map((c) => columnOf(info, c, `${where}.on.${parentColumns[columns.indexOf(c)]}`))
    const field = rel.as
    if (kind === 'lookup' && !field && !rel.columns) {
      throw new UserError(`${where}: a lookup without "as" merges its fields into the parent, so it must list them in "columns".`, {
        code: 'E_CONFIG',
        hint: `Add columns: {category_name: "name"}, or as: "${info.ref.name}" to copy the row in as a sub-document.`,
      })
    }
    // children default to every column but the join back to their parent (it is the parent's key)
    const {columns: mapped} = resolveColumns(where, info, rel, {defaultExclude: kind === 'embed' ? columns : []})
    const fieldsHere = new Set(mapped.map((c) => c.name))
    const embed = kind === 'embed' ? (rel as EmbedInput) : undefined
    const pk = [...info.primaryKey]
    const orderBy = [...(embed?.orderBy ?? []), ...pk.filter((k) => !(embed?.orderBy ?? []).includes(k))]
    if (kind === 'embed' && !orderBy.length) {
      throw new UserError(`${where}: ${info.ref.name} has no primary key, so the order of the embedded array is not defined.`, {
        code: 'E_CONFIG',
        hint: 'Set orderBy: ["col", ...] to columns that order the children uniquely.',
      })
    }
    for (const c of orderBy) columnOf(info, c, `${where}.orderBy`)
    if (embed?.keyBy) {
      columnOf(info, embed.keyBy, `${where}.keyBy`)
      // two children with the same keyBy value would overwrite each other, on both sides alike: the diff could not see it
      const unique = [...columns, embed.keyBy]
      if (!pk.length || !pk.every((k) => unique.includes(k))) {
        throw new UserError(
          `${where}.keyBy: "${embed.keyBy}" with the join column(s) ${columns.join(', ')} is not a key of ${info.ref.name} (primary key: ${pk.join(', ') || 'none'}); two children with the same ${embed.keyBy} would overwrite each other in the sub-document.`,
          {code: 'E_CONFIG', hint: `Embed them as an array (drop keyBy), or key by a column that is unique among one parent's children.`},
        )
      }
    }
    if (embed?.value) columnOf(info, embed.value, `${where}.value`)
    const children = await resolveRelations(where, rel, info, monolith, fieldsHere)
    const extra = [...columns, ...orderBy, ...(embed?.keyBy ? [embed.keyBy] : []), ...(embed?.value ? [embed.value] : []), ...children.flatMap((c) => c.parentColumns)]
    const names = field ? [field] : mapped.map((c) => c.name)
    for (const n of names) {
      if (taken.has(n)) {
        throw new UserError(`${where}: field "${n}" is already a field of the parent.`, {code: 'E_CONFIG', hint: field ? 'Choose another "as".' : 'Rename the field in "columns".'})
      }
      taken.add(n)
    }
    const base = rowMapper(mapped)
    // inside a JSON field values must be JSON (binary as hex text); merged lookup fields keep their column types
    const mapRow = field ? (row: Row): Row => jsonSafe(base(row)) as Row : base
    out.push({
      kind,
      path: where,
      field,
      table: info.ref,
      info,
      parentColumns,
      columns,
      joinTypes: joinCols.map((c) => ({type: c.type})),
      mapped,
      projections: projectionsFor(info, [], mapped, extra),
      orderBy,
      orderTypes: orderBy.map((c) => ({type: columnOf(info, c, `${where}.orderBy`).type})),
      keyBy: embed?.keyBy,
      value: embed?.value,
      children,
      mapRow,
    })
  }
  return out
}

/** The parent's columns the relations join on (added to the parent's read). */
export function joinColumns(relations: readonly ResolvedRelation[]): string[] {
  return [...new Set(relations.flatMap((r) => r.parentColumns))]
}

/** The fields relations add to the parent's target: JSON fields, or a merged lookup's typed fields. */
export function relationColumns(relations: readonly ResolvedRelation[]): ResolvedColumn[] {
  const out: ResolvedColumn[] = []
  for (const r of relations) {
    const source = {kind: 'relation' as const, relation: r.kind, table: r.table}
    if (r.field) out.push({name: r.field, type: 'json', nullable: r.kind === 'lookup', source, sensitive: false})
    else for (const c of r.mapped) out.push({name: c.name, type: c.type, precision: c.precision, scale: c.scale, nullable: true, source, sensitive: c.sensitive})
  }
  return out
}

/** Identity of a join tuple: integer-valued numbers and strings alike (`int` 5 joins `bigint` '5'). */
function joinId(t: readonly unknown[]): string | undefined {
  const parts: string[] = []
  for (const v of t) {
    if (v === null || v === undefined) return undefined
    parts.push(Buffer.isBuffer(v) ? `x${v.toString('hex')}` : typeof v === 'string' ? `s${v}` : `s${String(v)}`)
  }
  return JSON.stringify(parts)
}

const NUMERIC = new Set(['smallint', 'integer', 'bigint', 'decimal', 'real', 'double'])

function compareOrder(a: readonly unknown[], b: readonly unknown[], types: readonly ColumnType[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    if (x === null || x === undefined) return -1
    if (y === null || y === undefined) return 1
    const c = NUMERIC.has(types[i]?.type) && !/^-?\d+$/.test(String(x)) ? Number(x) - Number(y) : compareKeyValues(x, y)
    if (c !== 0) return c < 0 ? -1 : 1
  }
  return 0
}

/** A mapped value as JSON inside a document: binary as `\x` hex, bigint as text; the rest is JSON already. */
export function jsonSafe(v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Date) return v.toISOString()
  if (Array.isArray(v)) return v.map(jsonSafe)
  if (typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = jsonSafe(x)
    return o
  }
  return v
}

/** Counts the monolith queries assembling issues (the benchmark's queries per root). */
export interface AssemblyStats {
  queries: number
}

/**
 * Fills the relation fields of `out[i]` (the mapped parent rows) from `raw[i]`
 * (the parent rows as read): for each relation one read of every child or
 * looked-up row of the whole batch, then the same for their relations.
 */
export async function attachRelations(monolith: Engine, relations: readonly ResolvedRelation[], raw: readonly Row[], out: Row[], stats?: AssemblyStats): Promise<void> {
  for (const rel of relations) {
    const ids: (string | undefined)[] = []
    const wanted = new Map<string, KeyTuple>()
    for (const r of raw) {
      const t = rel.parentColumns.map((c) => r[c])
      const id = joinId(t)
      ids.push(id)
      if (id !== undefined) wanted.set(id, t)
    }
    let rows: Row[] = []
    if (wanted.size) {
      if (stats) stats.queries += Math.ceil(wanted.size / Math.max(1, Math.floor(30000 / rel.columns.length)))
      rows = await monolith.readByKeys({table: rel.table, key: rel.columns, keyTypes: rel.joinTypes, columns: rel.projections, keys: [...wanted.values()]})
      // a case-insensitive collation matches more than the bytes: keep exact joins only
      rows = rows.filter((r) => wanted.has(joinId(rel.columns.map((c) => r[c])) ?? ''))
    }
    const docs = rows.map((r) => rel.mapRow(r))
    await attachRelations(monolith, rel.children, rows, docs, stats)
    const groups = new Map<string, number[]>()
    rows.forEach((r, i) => {
      const id = joinId(rel.columns.map((c) => r[c]))!
      const g = groups.get(id)
      if (g) g.push(i)
      else groups.set(id, [i])
    })
    if (rel.kind === 'embed') {
      for (const g of groups.values()) g.sort((a, b) => compareOrder(rel.orderBy.map((c) => rows[a][c]), rel.orderBy.map((c) => rows[b][c]), rel.orderTypes))
    }
    for (let i = 0; i < out.length; i++) {
      const id = ids[i]
      const g = id === undefined ? [] : (groups.get(id) ?? [])
      if (rel.kind === 'embed') {
        if (rel.keyBy) {
          const doc: Record<string, unknown> = {}
          for (const j of g) doc[String(jsonSafe(rows[j][rel.keyBy]))] = rel.value ? jsonSafe(rows[j][rel.value]) : docs[j]
          out[i][rel.field!] = doc
        } else {
          out[i][rel.field!] = g.map((j) => docs[j])
        }
      } else if (rel.field) {
        out[i][rel.field] = g.length ? docs[g[0]] : null
      } else {
        for (const c of rel.mapped) out[i][c.name] = g.length ? docs[g[0]][c.name] : null
      }
    }
  }
}

/** Every table an aggregate reads, with the path from the root (for capture): each relation and its ancestors. */
export function relationPaths(relations: readonly ResolvedRelation[], ancestors: readonly ResolvedRelation[] = []): {relation: ResolvedRelation; ancestors: readonly ResolvedRelation[]}[] {
  return relations.flatMap((r) => [{relation: r, ancestors}, ...relationPaths(r.children, [...ancestors, r])])
}
