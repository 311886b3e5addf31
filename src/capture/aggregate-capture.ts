import type {EmbedInput, EntityPlan, LookupInput} from '../config/schema.js'
import type {Engine, RootKeyPath} from '../engines/engine.js'
import type {KeyTuple} from '../engines/types.js'
import {boundedName} from '../engines/names.js'
import {type ResolvedRelation, relationPaths} from '../mapping/aggregate.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'

/**
 * Capture for aggregates: a change to any table an aggregate reads must
 * re-assemble every root it belongs to. Each related table gets triggers that
 * write those roots' keys (as changes of the aggregate's entity) to the
 * outbox; this module works out how a row finds them.
 */

/**
 * The path from a related table's row up to the root keys. Walking down from
 * the root, a table joined on the whole root key holds the key itself and
 * becomes the new top of the path: children of the root write their own
 * column values (no query in the trigger), grandchildren join only their
 * parent, and a lookup joins back to the parents that point at it.
 */
export function rootKeyPath(entity: ResolvedEntity, relation: ResolvedRelation, ancestors: readonly ResolvedRelation[]): RootKeyPath {
  let tables: {table: ResolvedEntity['source']; on: (readonly [string, string])[]}[] = [{table: entity.source, on: []}]
  let key = [...entity.sourceKey]
  for (const node of [...ancestors, relation]) {
    if (tables.length === 1 && key.every((k) => node.parentColumns.includes(k))) {
      key = key.map((k) => node.columns[node.parentColumns.indexOf(k)])
      tables = [{table: node.table, on: []}]
    } else {
      tables.push({table: node.table, on: node.parentColumns.map((p, i) => [p, node.columns[i]] as const)})
    }
  }
  if (tables.length === 1) return {direct: key}
  const last = tables.pop()!
  return {tables, key, match: last.on}
}

/** Trigger-name prefix of one related table's capture: the entity's prefix with `_r<n>` (n in plan order). */
export function relationTriggerPrefix(entityPrefix: string, n: number, max: number): string {
  return boundedName([entityPrefix, `r${n}`], max)
}

/** The related tables of an aggregate with their root key paths, in plan order. */
export function relationCaptures(entity: ResolvedEntity): {table: ResolvedRelation['table']; roots: RootKeyPath}[] {
  return relationPaths(entity.relations ?? []).map(({relation, ancestors}, n) => ({table: relation.table, roots: {...rootKeyPath(entity, relation, ancestors), relation: n}}))
}

/** An `R` change's pk: `[relation index, ...join values of the changed row]`, or undefined when it is not one. */
export function decodeRelated(pk: string): {relation: number; values: string[]} | undefined {
  let v: unknown
  try {
    v = JSON.parse(pk)
  } catch {
    return undefined
  }
  if (!Array.isArray(v) || v.length < 2 || !Number.isInteger(Number(v[0]))) return undefined
  return {relation: Number(v[0]), values: v.slice(1).map((x) => String(x))}
}

/**
 * The roots that rows of a related table with these join values belong to,
 * now: one join query per thousand values. The relay calls it when it
 * consumes `R` changes, so it reads what the writer committed.
 */
export async function resolveRootKeys(monolith: Engine, entity: ResolvedEntity, relation: number, values: readonly (readonly string[])[]): Promise<KeyTuple[]> {
  const sql = monolith.sql
  const path = relationCaptures(entity)[relation]?.roots
  if (!sql || !path?.tables?.length || !path.match?.length || !values.length) return []
  const q = (n: string): string => sql.quoteId(n)
  const alias = (i: number): string => q(`t${i}`)
  const tables = path.tables
  let from = `${sql.quoteTable(tables[0].table)} ${alias(0)}`
  for (let i = 1; i < tables.length; i++) {
    from += ` JOIN ${sql.quoteTable(tables[i].table)} ${alias(i)} ON ${tables[i].on.map(([a, b]) => `${alias(i - 1)}.${q(a)} = ${alias(i)}.${q(b)}`).join(' AND ')}`
  }
  const last = alias(tables.length - 1)
  const key = path.key ?? []
  const select = key.map((k, i) => `${alias(0)}.${q(k)} AS ${q(`k${i}`)}`).join(', ')
  const lhs = `(${path.match.map(([a]) => `${last}.${q(a)}`).join(', ')})`
  const out: KeyTuple[] = []
  for (let i = 0; i < values.length; i += 1000) {
    const part = values.slice(i, i + 1000)
    const params: unknown[] = []
    const tuples = part.map((t) => `(${t.map((v) => (params.push(v), sql.param(params.length))).join(', ')})`)
    const rows = await sql.query<Record<string, unknown>>(`SELECT DISTINCT ${select} FROM ${from} WHERE ${lhs} IN (${tuples.join(', ')})`, params)
    for (const r of rows) out.push(key.map((_, j) => r[`k${j}`]))
  }
  return out
}

/** The related tables of an aggregate from the plan alone, in the same order as `relationCaptures` (to remove their triggers). */
export function planRelationTables(plan: {embed?: readonly EmbedInput[]; lookup?: readonly LookupInput[]} | EntityPlan): string[] {
  return [...(plan.embed ?? []), ...(plan.lookup ?? [])].flatMap((r) => [r.table, ...planRelationTables(r)])
}

/**
 * The root keys of every `R` change among outbox rows (by outbox id): their
 * join values resolved per entity and relation in one query each. Rows whose
 * pk is not an `R` pk resolve to no root (consumed, nothing to apply).
 */
export async function resolveRelatedChanges(monolith: Engine, rows: readonly {id: string; entity: string; op: string; pk: string}[], entities: ReadonlyMap<string, ResolvedEntity>): Promise<Map<string, KeyTuple[]>> {
  const out = new Map<string, KeyTuple[]>()
  const groups = new Map<string, {entity: ResolvedEntity; relation: number; ids: Map<string, string[]>; values: Map<string, string[]>}>()
  for (const r of rows) {
    if (r.op !== 'R') continue
    out.set(r.id, [])
    const entity = entities.get(r.entity)
    const d = decodeRelated(r.pk)
    if (!entity || !d) continue
    const slot = `${r.entity}\u0000${d.relation}`
    const g = groups.get(slot) ?? {entity, relation: d.relation, ids: new Map(), values: new Map()}
    groups.set(slot, g)
    const vid = JSON.stringify(d.values)
    g.values.set(vid, d.values)
    g.ids.set(vid, [...(g.ids.get(vid) ?? []), r.id])
  }
  for (const g of groups.values()) {
    const keys = await resolveRootKeys(monolith, g.entity, g.relation, [...g.values.values()])
    // which values led to which root is not needed: every R row of the group re-assembles every root found (coalesced by key)
    const ids = [...g.ids.values()].flat()
    for (const id of ids) out.set(id, [])
    if (keys.length) out.set(ids[0], keys)
  }
  return out
}
