import {canonicalValue} from '../diff/canonical.js'
import type {Engine} from '../engines/engine.js'
import {keyOf, keyToString} from '../engines/keys.js'
import type {ColumnType, Row} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import type {TruthEntry} from './load-generator.js'
import type {ShopEntity} from './demo-shop.js'

/** One key whose final state is not what its last write left. */
export interface LostWrite {
  entity: ShopEntity
  key: string
  /** `missing`: the row is gone; `resurrected`: a deleted row is there; `changed`: these columns differ. */
  kind: 'missing' | 'resurrected' | 'changed'
  columns: string[]
}

export interface WriteCheck {
  /** Row writes the application issued and got acknowledged. */
  writesIssued: number
  /** Of those, the writes whose key holds exactly what its writes left (a key's writes count together). */
  writesFound: number
  /** Keys whose last write is not what the store holds. */
  lostWrites: number
  keysChecked: number
  /** Keys left out because one of their writes failed (its outcome is unknown). */
  uncertainKeys: number
  examples: LostWrite[]
}

const CHUNK = 500

/**
 * Checks the load generator's truth log against the final service stores:
 * every key it wrote is read back, and the columns its writes set must hold
 * the last values written (compared in the diff's canonical encoding), a
 * deleted key must be absent, an inserted one present.
 */
export async function verifyWrites(
  entries: readonly TruthEntry[],
  stores: (entity: ShopEntity) => {entity: ResolvedEntity; target: Engine},
): Promise<WriteCheck> {
  const out: WriteCheck = {writesIssued: 0, writesFound: 0, lostWrites: 0, keysChecked: 0, uncertainKeys: 0, examples: []}
  const byEntity = new Map<ShopEntity, TruthEntry[]>()
  for (const t of entries) {
    out.writesIssued += t.writes
    if (t.uncertain) {
      out.uncertainKeys++
      continue
    }
    if (!t.writes) continue
    const list = byEntity.get(t.entity) ?? []
    list.push(t)
    byEntity.set(t.entity, list)
  }
  for (const [name, list] of byEntity) {
    const {entity: e, target} = stores(name)
    const types = new Map<string, ColumnType>(e.targetSpec.columns.map((c) => [c.name, {type: c.type, precision: c.precision, scale: c.scale}]))
    for (let i = 0; i < list.length; i += CHUNK) {
      const part = list.slice(i, i + CHUNK)
      const rows = await target.readByKeys({
        table: e.target,
        key: e.targetKey,
        keyTypes: e.sourceKeyTypes,
        columns: e.targetProjections,
        keys: part.map((t) => t.key),
      })
      const found = new Map<string, Row>(rows.map((r) => [keyToString(keyOf(r, e.targetKey)), r]))
      for (const t of part) {
        out.keysChecked++
        const k = keyToString(t.key)
        const row = found.get(k)
        let lost: LostWrite | undefined
        if (t.expected === null) {
          if (row) lost = {entity: name, key: k, kind: 'resurrected', columns: []}
        } else if (!row) {
          lost = {entity: name, key: k, kind: 'missing', columns: []}
        } else {
          const columns = Object.keys(t.expected).filter((c) => {
            const type = types.get(c)
            return !type || canonicalValue(t.expected![c], type) !== canonicalValue(row[c], type)
          })
          if (columns.length) lost = {entity: name, key: k, kind: 'changed', columns}
        }
        if (lost) {
          out.lostWrites++
          if (out.examples.length < 10) out.examples.push(lost)
        } else {
          out.writesFound += t.writes
        }
      }
    }
  }
  return out
}
