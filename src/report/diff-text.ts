import {keyToString} from '../engines/keys.js'
import type {KeyTuple} from '../engines/types.js'
import type {ChangedColumn, EntityDiffResult} from '../diff/diff-types.js'

/** Wording shared by the diff renderers. */

/** A key as operators read it: `42`, `(7,'abc')`. */
export function keyText(key: KeyTuple): string {
  return keyToString(key)
}

/** A compared value: its canonical text quoted, or NULL. */
export function valueText(v: string | null): string {
  if (v === null) return 'NULL'
  return JSON.stringify(v.length > 200 ? `${v.slice(0, 197)}...` : v)
}

/** `email "a@x" → "b@x"` for one changed column. */
export function columnChange(c: ChangedColumn): string {
  return `${c.name} ${valueText(c.source)} → ${valueText(c.target)}`
}

/** `3 missing, 1 extra, 2 changed` (or `clean`). */
export function countsText(e: {counts: {missing: number; extra: number; changed: number}}): string {
  const parts = (['missing', 'extra', 'changed'] as const).filter((k) => e.counts[k] > 0).map((k) => `${e.counts[k].toLocaleString('en-US')} ${k}`)
  return parts.length ? parts.join(', ') : 'clean'
}

/** Lines listing an entity's differing keys (for text, JUnit and Markdown code blocks). */
export function differenceLines(e: EntityDiffResult): string[] {
  const out: string[] = []
  if (e.error) out.push(`error: ${e.error}`)
  const more = (listed: number, total: number) => (total > listed ? ` (first ${listed.toLocaleString('en-US')} listed)` : '')
  if (e.counts.missing) out.push(`missing in target (${e.counts.missing.toLocaleString('en-US')})${more(e.missing.length, e.counts.missing)}: ${e.missing.map(keyText).join(', ')}`)
  if (e.counts.extra) out.push(`extra in target (${e.counts.extra.toLocaleString('en-US')})${more(e.extra.length, e.counts.extra)}: ${e.extra.map(keyText).join(', ')}`)
  if (e.counts.changed) {
    out.push(`changed (${e.counts.changed.toLocaleString('en-US')})${more(e.changed.length, e.counts.changed)}:`)
    for (const c of e.changed) out.push(`  ${keyText(c.key)}: ${c.columns.map(columnChange).join('; ')}`)
  }
  if (e.resolvedLive) out.push(`(${e.resolvedLive} key${e.resolvedLive === 1 ? '' : 's'} written during the run matched after the relay caught up)`)
  return out
}
