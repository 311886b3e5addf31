import type {EmbedInput, EntityPlan, LookupInput} from '../config/schema.js'
import type {RootKeyPath} from '../engines/engine.js'
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
  return relationPaths(entity.relations ?? []).map(({relation, ancestors}) => ({table: relation.table, roots: rootKeyPath(entity, relation, ancestors)}))
}

/** The related tables of an aggregate from the plan alone, in the same order as `relationCaptures` (to remove their triggers). */
export function planRelationTables(plan: {embed?: readonly EmbedInput[]; lookup?: readonly LookupInput[]} | EntityPlan): string[] {
  return [...(plan.embed ?? []), ...(plan.lookup ?? [])].flatMap((r) => [r.table, ...planRelationTables(r)])
}
