import type {KeyTuple, Row} from '../engines/types.js'

/** One captured change as the relay reads it from the outbox. */
export interface Change<K = KeyTuple> {
  readonly id: string
  readonly entity: string
  readonly op: 'U' | 'D'
  readonly key: K
}

/** All changes of one key in a batch, folded into one: the last operation and every outbox id it stands for. */
export interface CoalescedChange<K = KeyTuple> {
  readonly entity: string
  readonly key: K
  /** Identity of the key within its entity (see `keyIdentity`). */
  readonly identity: string
  /** The operation of the last change in the batch (a hint: the relay re-reads the source to decide). */
  readonly op: 'U' | 'D'
  readonly ids: readonly string[]
}

/**
 * Folds a batch of changes to one entry per (entity, key), in order of first
 * appearance. Order inside the batch is irrelevant to the result the relay
 * applies, because it re-reads the current source row of each key.
 */
export function coalesce<K>(changes: readonly Change<K>[], identity: (c: Change<K>) => string): CoalescedChange<K>[] {
  const byKey = new Map<string, {entity: string; key: K; identity: string; op: 'U' | 'D'; ids: string[]}>()
  for (const c of changes) {
    const id = identity(c)
    const slot = `${c.entity}\u0000${id}`
    const cur = byKey.get(slot)
    if (cur) {
      cur.op = c.op
      cur.key = c.key
      cur.ids.push(c.id)
    } else {
      byKey.set(slot, {entity: c.entity, key: c.key, identity: id, op: c.op, ids: [c.id]})
    }
  }
  return [...byKey.values()]
}

/** What to do in the target for a set of keys, given the source rows re-read for them. */
export interface ApplyPlan<K = KeyTuple> {
  /** Keys whose source row is gone (or no longer passes the entity's filter). */
  readonly deletes: K[]
  /** Current source rows, one per key (including rows found through a case- or pad-insensitive match). */
  readonly upserts: Row[]
}

/**
 * Decides, from a re-read of the source, which keys to upsert and which to
 * delete. A requested key counts as present only when a row with exactly that
 * key (by identity) came back: under a case-insensitive collation, asking for
 * 'Abc' can return the row 'abc', and then 'Abc' must still be deleted in the
 * target. Apply deletes before upserts, so a target with the same collation
 * ends right too.
 */
export function planApply<K>(requested: readonly {identity: string; key: K}[], rows: readonly Row[], rowIdentity: (row: Row) => string): ApplyPlan<K> {
  const present = new Map<string, Row>()
  for (const r of rows) present.set(rowIdentity(r), r)
  const deletes: K[] = []
  const seen = new Set<string>()
  for (const q of requested) {
    if (seen.has(q.identity)) continue
    seen.add(q.identity)
    if (!present.has(q.identity)) deletes.push(q.key)
  }
  return {deletes, upserts: [...present.values()]}
}
