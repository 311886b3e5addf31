import type {Engine} from '../engines/engine.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {pushDownSupport} from './sql-hash.js'

export interface DiffStrategy {
  /** `push-down`: checksums computed in both databases; `mixed`: one side in SQL; `streaming`: both sides hashed in JS. */
  mode: 'push-down' | 'mixed' | 'streaming'
  sourceInSql: boolean
  targetInSql: boolean
  /** Why a side cannot be pushed down. */
  reasons: string[]
}

/** Decides where each side's row hashes are computed. */
export function diffStrategy(entity: ResolvedEntity, monolith: Engine, target: Engine): DiffStrategy {
  const reasons: string[] = []
  const sideOk = (engine: Engine, side: 'source' | 'target'): boolean => {
    if (!engine.sql) {
      reasons.push(`${side}: ${engine.kind} computes no checksums in the database`)
      return false
    }
    let ok = true
    for (const c of entity.columns) {
      const s = pushDownSupport(engine.sql.dialect, c)
      if (!s.ok) {
        reasons.push(`${side} column ${c.name}: ${s.reason}`)
        ok = false
      }
    }
    return ok
  }
  let sourceInSql = sideOk(monolith, 'source')
  if (!entity.sqlExpressible) {
    reasons.push('source: JS column transforms run in the tool')
    sourceInSql = false
  }
  const targetInSql = sideOk(target, 'target')
  const mode = sourceInSql && targetInSql ? 'push-down' : sourceInSql || targetInSql ? 'mixed' : 'streaming'
  return {mode, sourceInSql, targetInSql, reasons: [...new Set(reasons)]}
}
