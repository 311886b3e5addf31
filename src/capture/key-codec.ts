import {canonicalValue} from '../diff/canonical.js'
import type {ColumnType, KeyTuple} from '../engines/types.js'

/**
 * Keys between the outbox and the engines. The triggers write a key as a JSON
 * array of its column values rendered as text (`["42"]`, `["7","Abc"]`,
 * `["2024-01-01T12:00:00.5+01:00"]`); the relay turns them back into the
 * value model to query the monolith and write the target, and compares keys by
 * their canonical text (the diff's encoding), so that `12.5` and `12.50`, or a
 * timestamp with and without its zone, are the same key.
 */

/** Parses an outbox `pk` into a key tuple of the value model. Throws a descriptive error on malformed keys. */
export function decodeOutboxKey(pk: string, types: readonly ColumnType[]): KeyTuple {
  let parsed: unknown
  try {
    parsed = JSON.parse(pk)
  } catch {
    throw new Error(`outbox key ${truncate(pk)} is not JSON`)
  }
  if (!Array.isArray(parsed) || parsed.length !== types.length) {
    throw new Error(`outbox key ${truncate(pk)} does not have the ${types.length} key column(s) of the entity`)
  }
  return parsed.map((v, i) => keyValue(v, types[i]))
}

/** One key value in the value model: integers as numbers, bigint and decimal as strings, timestamps in UTC. */
export function keyValue(v: unknown, type: ColumnType): unknown {
  if (v === null || v === undefined) throw new Error('a key column is NULL')
  const canon = canonicalValue(v, type)
  if (canon === null) throw new Error('a key column is NULL')
  switch (type.type) {
    case 'smallint':
    case 'integer': {
      const n = Number(canon)
      if (!Number.isSafeInteger(n)) throw new Error(`key value ${truncate(String(v))} is not an ${type.type}`)
      return n
    }
    case 'bigint':
      if (!/^-?\d+$/.test(canon)) throw new Error(`key value ${truncate(String(v))} is not a bigint`)
      return canon
    case 'decimal':
      return canon
    case 'boolean':
      return canon === '1'
    case 'text':
    case 'varchar':
      return typeof v === 'string' ? v : canon
    case 'char':
      return typeof v === 'string' ? v : canon
    default:
      // date, time, timestamp(tz) in UTC, uuid lower-case
      return canon
  }
}

/** The identity of a key: equal for the same logical key whatever its rendering. */
export function keyIdentity(key: KeyTuple, types: readonly ColumnType[]): string {
  return JSON.stringify(key.map((v, i) => canonicalValue(v, types[i])))
}

/** How a key is stored in the dead-letter table: the JSON array of its value-model values. */
export function encodeKey(key: KeyTuple): string {
  return JSON.stringify(key)
}

function truncate(s: string, max = 120): string {
  return s.length > max ? `${s.slice(0, max)}…` : s
}
