import type {ColumnMappingInput, EntityPlan, ServicePlan} from '../config/schema.js'
import type {Engine} from '../engines/engine.js'
import {boundedName, parseTableName, parseTypeSpec} from '../engines/names.js'
import type {ColumnInfo, ColumnType, LogicalType, Projection, Row, TableInfo, TableRef, TargetColumn, TargetTableSpec} from '../engines/types.js'
import {UserError} from '../util/errors.js'
import {type ResolvedRelation, attachRelations, isAggregate, joinColumns, relationColumns, resolveRelations} from './aggregate.js'
import {castValue} from './cast.js'

/** How one target column gets its value. */
export type ColumnSource =
  | {readonly kind: 'column'; readonly column: string; readonly from: ColumnType; readonly cast: boolean}
  | {readonly kind: 'const'; readonly value: string | number | boolean | null}
  | {readonly kind: 'sql'; readonly sql: string; readonly uses: readonly string[]}
  | {readonly kind: 'js'; readonly fn: (row: Row) => unknown; readonly uses: readonly string[]}
  /** An aggregate's field filled from a related table (embedded children, a looked-up parent): see src/mapping/aggregate.ts. */
  | {readonly kind: 'relation'; readonly relation: 'embed' | 'lookup'; readonly table: TableRef}

export interface ResolvedColumn extends TargetColumn {
  readonly source: ColumnSource
  readonly sensitive: boolean
}

/**
 * An entity of a service with its mapping resolved against the source table:
 * what to read from the monolith, how to turn a source row into a target row,
 * and the target table to create. Built once per run by `resolveEntity`.
 */
export interface ResolvedEntity {
  readonly service: string
  /** Entity id, unique within the service: the target table's name. */
  readonly name: string
  readonly index: number
  readonly source: TableRef
  readonly target: TableRef
  readonly sourceInfo: TableInfo
  readonly sourceKey: readonly string[]
  readonly sourceKeyTypes: readonly ColumnType[]
  /** Target column names of the key, in key order. */
  readonly targetKey: readonly string[]
  readonly columns: readonly ResolvedColumn[]
  readonly filter?: string
  /** Source projections: the source columns the mapping reads, and SQL expressions. */
  readonly projections: readonly Projection[]
  /** Target columns as projections (for reading the target). */
  readonly targetProjections: readonly Projection[]
  readonly targetSpec: TargetTableSpec
  /** True when every column can be computed by the source engine (no JS transforms). */
  readonly sqlExpressible: boolean
  /** Maps a source row (as read with `projections`) to a target row (for an aggregate: without its related fields; use `materialise`). */
  mapRow(row: Row): Row
  /**
   * Maps source rows (as read with `projections`) to complete target rows, in
   * the same order: `mapRow` for a plain entity; for an aggregate also the
   * embedded children and looked-up parents, read in one query per related
   * table for the whole batch.
   */
  materialise(rows: readonly Row[]): Promise<Row[]>
  /** Set for aggregates: the related tables assembled into each row. */
  readonly relations?: readonly ResolvedRelation[]
  /**
   * Source columns a target row determines (plain or cast column mappings), with
   * their source types: what the reverse relay writes back into the monolith.
   */
  readonly reverseColumns: readonly (ColumnType & {name: string; nullable: boolean})[]
  /** Maps a target row back to those source columns (the reverse relay after decommission). */
  unmapRow(row: Row): Row
}

const SQL_PREFIX = '__sql_'

export function targetRefFor(service: string, svc: ServicePlan, entity: EntityPlan, monolithSchema?: string): TableRef {
  const name = entity.target ?? entity.source.split('.').pop()!
  const parsed = parseTableName(name)
  if (svc.isolation === 'private-tables') {
    const prefix = svc.target.tablePrefix ?? `${service}_`
    return {schema: parsed.schema ?? svc.target.schema ?? monolithSchema, name: boundedName([`${prefix}${parsed.name}`])}
  }
  return {schema: parsed.schema ?? svc.target.schema, name: parsed.name}
}

function typeFromSpec(spec: string): ColumnType {
  const t = parseTypeSpec(spec)
  return {type: t.type as LogicalType, precision: t.precision, scale: t.scale}
}

function constType(v: string | number | boolean | null): ColumnType {
  if (typeof v === 'boolean') return {type: 'boolean'}
  if (typeof v === 'number') return Number.isInteger(v) ? {type: Math.abs(v) < 2 ** 31 ? 'integer' : 'bigint'} : {type: 'double'}
  return {type: 'text'}
}

/**
 * Resolves an entity's mapping against its introspected source table. Errors
 * name the plan path (`services.users.entities[0].columns.email`), and say how
 * to fix them.
 */
export async function resolveEntity(
  service: string,
  svc: ServicePlan,
  entity: EntityPlan,
  index: number,
  monolith: Engine,
): Promise<ResolvedEntity> {
  const path = `services.${service}.entities[${index}]`
  const source = parseTableName(entity.source, monolith.defaultSchema)
  let info: TableInfo
  try {
    info = await monolith.introspect(source)
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${path}.source: ${err.message}`, {hint: err.hint, code: err.code})
    throw err
  }
  const base = resolveWithInfo(service, svc, entity, index, info, monolith.defaultSchema)
  return isAggregate(entity) ? withRelations(base, entity, path, monolith) : base
}

/** An entity with embedded children and looked-up parents: the relation fields, their capture, and `materialise` assembling them. */
async function withRelations(base: ResolvedEntity, entity: EntityPlan, path: string, monolith: Engine): Promise<ResolvedEntity> {
  const relations = await resolveRelations(path, entity, base.sourceInfo, monolith, new Set(base.columns.map((c) => c.name)))
  const extra = relationColumns(relations)
  const columns = [...base.columns, ...extra]
  const projections = [...base.projections]
  for (const c of joinColumns(relations)) {
    if (!projections.some((p) => p.name === c)) projections.push({name: c, column: c, type: pick(columnOf(base.sourceInfo, c, path))})
  }
  const targetColumns: TargetColumn[] = columns.map((c) => ({name: c.name, type: c.type, precision: c.precision, scale: c.scale, nullable: c.nullable}))
  return {
    ...base,
    columns,
    projections,
    targetProjections: columns.map((c) => ({name: c.name, column: c.name, type: pick(c)})),
    targetSpec: {...base.targetSpec, columns: targetColumns},
    sqlExpressible: false,
    relations,
    materialise: async (rows) => {
      const out = rows.map(base.mapRow)
      await attachRelations(monolith, relations, rows, out)
      return out
    },
  }
}

/** Same as `resolveEntity`, from an already introspected table. */
export function resolveWithInfo(service: string, svc: ServicePlan, entity: EntityPlan, index: number, info: TableInfo, monolithSchema?: string): ResolvedEntity {
  const path = `services.${service}.entities[${index}]`
  const byName = new Map(info.columns.map((c) => [c.name, c]))
  const tableLabel = `${info.ref.schema ? info.ref.schema + '.' : ''}${info.ref.name}`
  const need = (col: string, where: string): ColumnInfo => columnOf(info, col, where)

  const sourceKey = entity.key ?? [...info.primaryKey]
  if (!sourceKey.length) {
    throw new UserError(`${path}: table ${tableLabel} has no primary key and the plan names no key.`, {
      code: 'E_NO_KEY',
      hint: `Add a primary key to ${tableLabel}, or set key: ["col", ...] on the entity to a unique, non-null column set.`,
    })
  }
  const keyCols = sourceKey.map((k) => need(k, `${path}.key`))
  for (const k of keyCols) {
    if (k.unsupported || k.type === 'json' || k.type === 'real' || k.type === 'double' || k.type === 'binary') {
      throw new UserError(`${path}.key: column "${k.name}" of type ${k.nativeType} cannot be a key.`, {
        code: 'E_UNSUPPORTED_TYPE',
        hint: 'Keys must be integers, decimals, text, uuids, dates or timestamps.',
      })
    }
  }

  const {columns} = resolveColumns(path, info, entity)

  // Every key column must reach the target unchanged (rename only), so keys line up on both sides.
  const targetKey = sourceKey.map((k) => {
    const t = columns.find((c) => c.source.kind === 'column' && c.source.column === k && !c.source.cast)
    if (!t) {
      throw new UserError(`${path}.columns: key column "${k}" must be mapped to a target column unchanged (a plain rename).`, {
        code: 'E_CONFIG',
        hint: `Add ${k}: "${k}" to the columns of the entity.`,
      })
    }
    return t.name
  })

  const projections = projectionsFor(info, sourceKey, columns)

  const target = targetRefFor(service, svc, entity, monolithSchema)
  const targetColumns: TargetColumn[] = columns.map((c) => ({name: c.name, type: c.type, precision: c.precision, scale: c.scale, nullable: c.nullable}))
  const mapRow = rowMapper(columns)

  const reverse = columns
    .filter((c): c is ResolvedColumn & {source: Extract<ColumnSource, {kind: 'column'}>} => c.source.kind === 'column')
    .filter((c, i, all) => all.findIndex((x) => x.source.column === c.source.column) === i)
  const reverseColumns = reverse.map((c) => ({name: c.source.column, ...c.source.from, nullable: byName.get(c.source.column)?.nullable ?? true}))
  const unmapRow = (row: Row): Row => {
    const out: Row = {}
    for (const c of reverse) out[c.source.column] = c.source.cast ? castValue(row[c.name], c, c.source.from) : (row[c.name] ?? null)
    return out
  }

  return {
    service,
    name: target.name,
    index,
    source: info.ref,
    target,
    sourceInfo: info,
    sourceKey,
    sourceKeyTypes: keyCols.map(pick),
    targetKey,
    columns,
    filter: entity.filter,
    projections,
    targetProjections: columns.map((c) => ({name: c.name, column: c.name, type: pick(c)})),
    targetSpec: {ref: target, columns: targetColumns, key: targetKey},
    sqlExpressible: columns.every((c) => c.source.kind !== 'js'),
    mapRow,
    materialise: async (rows) => rows.map(mapRow),
    reverseColumns,
    unmapRow,
  }
}

/** What maps a table's columns: an entity, or a related table of an aggregate. */
export interface ColumnsPlan {
  readonly columns?: Record<string, ColumnMappingInput>
  readonly exclude?: readonly string[]
  readonly sensitive?: readonly string[]
}

/** Looks a column of the table up, or throws a UserError naming the plan path and the columns there are. */
export function columnOf(info: TableInfo, col: string, where: string): ColumnInfo {
  const c = info.columns.find((x) => x.name === col)
  if (!c) {
    const label = `${info.ref.schema ? info.ref.schema + '.' : ''}${info.ref.name}`
    throw new UserError(`${where}: column "${col}" does not exist in ${label} (columns: ${info.columns.map((x) => x.name).join(', ')}).`, {code: 'E_CONFIG'})
  }
  return c
}

/** Resolves a column mapping (renames, casts, constants, SQL expressions, JS transforms) against the table. */
export function resolveColumns(path: string, info: TableInfo, plan: ColumnsPlan, opts: {defaultExclude?: readonly string[]} = {}): {columns: ResolvedColumn[]} {
  const need = (col: string, where: string): ColumnInfo => columnOf(info, col, where)
  const sensitive = new Set(plan.sensitive ?? [])
  const columns: ResolvedColumn[] = []
  const mappings: [string, unknown][] = plan.columns
    ? Object.entries(plan.columns)
    : info.columns.filter((c) => !(plan.exclude ?? opts.defaultExclude ?? []).includes(c.name)).map((c) => [c.name, c.name])
  for (const ex of plan.exclude ?? []) need(ex, `${path}.exclude`)

  for (const [name, m] of mappings) {
    const where = `${path}.columns.${name}`
    if (typeof m === 'string' || (m && typeof m === 'object' && 'from' in m)) {
      const from = typeof m === 'string' ? m : (m as {from: string}).from
      const castSpec = typeof m === 'string' ? undefined : (m as {cast?: string}).cast
      const col = need(from, where)
      if (col.unsupported && !castSpec) {
        throw new UserError(`${where}: column "${from}" has unsupported type ${col.nativeType}.`, {
          code: 'E_UNSUPPORTED_TYPE',
          hint: `Exclude it, or map it with an SQL expression: { sql: "CAST(${from} AS TEXT)", type: "text" }.`,
        })
      }
      const type = castSpec ? typeFromSpec(castSpec) : pick(col)
      columns.push({name, ...type, nullable: col.nullable, source: {kind: 'column', column: from, from: pick(col), cast: Boolean(castSpec)}, sensitive: sensitive.has(name)})
    } else if (m && typeof m === 'object' && 'const' in m) {
      const c = m as {const: string | number | boolean | null; type?: string}
      const type = c.type ? typeFromSpec(c.type) : constType(c.const)
      columns.push({name, ...type, nullable: c.const === null, source: {kind: 'const', value: c.const}, sensitive: sensitive.has(name)})
    } else if (m && typeof m === 'object' && 'sql' in m) {
      const c = m as {sql: string; type: string; uses?: string[]}
      for (const u of c.uses ?? []) need(u, `${where}.uses`)
      columns.push({name, ...typeFromSpec(c.type), nullable: true, source: {kind: 'sql', sql: c.sql, uses: c.uses ?? []}, sensitive: sensitive.has(name)})
    } else if (m && typeof m === 'object' && 'js' in m) {
      const c = m as {js: (row: Row) => unknown; type: string; uses?: string[]}
      for (const u of c.uses ?? []) need(u, `${where}.uses`)
      columns.push({name, ...typeFromSpec(c.type), nullable: true, source: {kind: 'js', fn: c.js, uses: c.uses ?? info.columns.map((x) => x.name)}, sensitive: sensitive.has(name)})
    }
  }

  return {columns}
}

/** Source projections for a key and mapped columns: plain columns once each, SQL expressions under their own names. */
export function projectionsFor(info: TableInfo, key: readonly string[], columns: readonly ResolvedColumn[], extra: readonly string[] = []): Projection[] {
  const byName = new Map(info.columns.map((c) => [c.name, c]))
  const projections: Projection[] = []
  const seen = new Set<string>()
  const addCol = (c: string): void => {
    if (seen.has(c)) return
    seen.add(c)
    const ci = byName.get(c)
    projections.push({name: c, column: c, type: ci ? pick(ci) : undefined})
  }
  for (const k of key) addCol(k)
  for (const c of columns) {
    if (c.source.kind === 'column') addCol(c.source.column)
    else if (c.source.kind === 'js') c.source.uses.forEach(addCol)
    else if (c.source.kind === 'sql') projections.push({name: `${SQL_PREFIX}${c.name}`, sql: c.source.sql, type: c})
  }
  for (const c of extra) addCol(c)
  return projections
}

/** Maps a source row read with `projectionsFor` to the mapped columns (relation fields are left to `materialise`). */
export function rowMapper(columns: readonly ResolvedColumn[]): (row: Row) => Row {
  const plans = columns.map((c) => c.source)
  return (row: Row): Row => {
    const out: Row = {}
    for (let i = 0; i < columns.length; i++) {
      const c = columns[i]
      const s = plans[i]
      switch (s.kind) {
        case 'column':
          out[c.name] = s.cast ? castValue(row[s.column], s.from, c) : (row[s.column] ?? null)
          break
        case 'const':
          out[c.name] = s.value
          break
        case 'sql':
          out[c.name] = row[`${SQL_PREFIX}${c.name}`] ?? null
          break
        case 'js':
          out[c.name] = s.fn(row) ?? null
          break
        case 'relation':
          break
      }
    }
    return out
  }
}

function pick(c: ColumnType): ColumnType {
  return c.precision === undefined && c.scale === undefined ? {type: c.type} : c.scale === undefined ? {type: c.type, precision: c.precision} : {type: c.type, precision: c.precision, scale: c.scale}
}

/** The key of a source row in target terms. */
export function sqlProjectionName(column: string): string {
  return `${SQL_PREFIX}${column}`
}
