import type {Engine} from '../engines/engine.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'

/**
 * Deletes every row of an entity's target table or collection, by key, a page
 * at a time (no TRUNCATE: the service's own users may hold no such privilege,
 * and it works the same on every engine). Used by `shadow --abort` and by the
 * relay when the monolith table was truncated.
 */
export async function emptyTarget(target: Engine, e: ResolvedEntity): Promise<number> {
  const keyCols = e.targetKey.map((k, i) => ({name: k, column: k, type: e.sourceKeyTypes[i]}))
  let n = 0
  for (;;) {
    const rows = await target.readRange({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, columns: keyCols, limit: 5000})
    if (!rows.length) return n
    n += await target.deleteKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, keys: rows.map((r) => e.targetKey.map((k) => r[k]))})
  }
}
