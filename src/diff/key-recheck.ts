import type {KeyTuple} from '../engines/types.js'
import {MASK, redact} from '../util/redact.js'
import type {DiffSide} from './diff-side.js'
import type {ChangedColumn, ChangedRow} from './diff-types.js'
import {jsonDifferences} from './json-paths.js'
import type {KeyOrder} from './key-order.js'
import type {DiffColumn} from './strategy.js'

/** Differences among a set of keys, read row by row from both sides. */
export interface KeysDiff {
  missing: KeyTuple[]
  extra: KeyTuple[]
  changed: ChangedRow[]
}

/** Shown value of a column: the canonical text, masked for sensitive columns, with known secrets redacted. */
function shown(col: DiffColumn, text: string | null): string | null {
  if (text === null) return null
  return col.masked ? MASK : redact(text)
}

/** The differing places inside a JSON column (canonical JSON texts on both sides), or undefined when one side is not JSON. */
function jsonPaths(col: DiffColumn, a: string | null, b: string | null): ChangedColumn[] | undefined {
  if (a === null || b === null) return undefined
  let x: unknown
  let y: unknown
  try {
    x = JSON.parse(a)
    y = JSON.parse(b)
  } catch {
    return undefined
  }
  // parsed from canonical texts: keys already sorted, so JSON.stringify is canonical here
  const text = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v))
  return jsonDifferences(col.name, x, y, 20).map((d) => ({name: d.path, column: col.name, source: shown(col, text(d.source)), target: shown(col, text(d.target))}))
}

/**
 * Reads the rows of `keys` from both sides and compares them column by
 * column: the truth after checksums and hashes pointed at these keys, used to
 * name the changed columns, to re-check keys after the relay caught up, and to
 * verify a repair. Keys equal on both sides (or absent from both) drop out.
 */
export async function recheckKeys(source: DiffSide, target: DiffSide, order: KeyOrder, columns: readonly DiffColumn[], keys: readonly KeyTuple[]): Promise<KeysDiff> {
  const out: KeysDiff = {missing: [], extra: [], changed: []}
  if (!keys.length) return out
  const unique = new Map<string, KeyTuple>()
  for (const k of keys) unique.set(order.id(k), k)
  const list = [...unique.values()].sort((a, b) => order.compare(a, b))
  const [src, tgt] = await Promise.all([source.rows(list), target.rows(list)])
  for (const k of list) {
    const id = order.id(k)
    const s = src.get(id)
    const t = tgt.get(id)
    if (s && !t) out.missing.push(s.key)
    else if (!s && t) out.extra.push(t.key)
    else if (s && t) {
      const diff: ChangedColumn[] = []
      columns.forEach((c, i) => {
        if (s.texts[i] === t.texts[i]) return
        const inside = c.type.type === 'json' ? jsonPaths(c, s.texts[i], t.texts[i]) : undefined
        if (inside?.length) diff.push(...inside)
        else diff.push({name: c.name, source: shown(c, s.texts[i]), target: shown(c, t.texts[i])})
      })
      if (diff.length) out.changed.push({key: s.key, columns: diff})
    }
  }
  return out
}
