import type {Document} from 'mongodb'
import {UserError} from '../../util/errors.js'

/** A field name a server refuses, and where it is in the document (`attributes["size.eu"]`). */
export interface BadFieldName {
  readonly path: string
  readonly name: string
  readonly reason: string
}

const PLAIN = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** The diff's path notation: `a.b` for plain names, `a["size.eu"]` otherwise. */
function member(path: string, name: string): string {
  if (PLAIN.test(name) && !name.startsWith('$')) return path ? `${path}.${name}` : name
  return `${path}[${JSON.stringify(name)}]`
}

/** Plain objects only: BSON values (Long, Decimal128, Binary, Date, …) are leaves. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * The first field name in `doc` (depth first, arrays included) that FerretDB
 * v1 refuses: one containing `.` or starting with `$`. Such names come from
 * data, e.g. the keys of a sub-document built with `keyBy`.
 */
export function findBadFieldName(doc: Document): BadFieldName | undefined {
  const walk = (v: unknown, path: string): BadFieldName | undefined => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const bad = walk(v[i], `${path}[${i}]`)
        if (bad) return bad
      }
      return undefined
    }
    if (!isPlainObject(v)) return undefined
    for (const [name, x] of Object.entries(v)) {
      const at = member(path, name)
      if (name.includes('.')) return {path: at, name, reason: `contains '.'`}
      if (name.startsWith('$')) return {path: at, name, reason: `starts with '$'`}
      const bad = walk(x, at)
      if (bad) return bad
    }
    return undefined
  }
  return walk(doc, '')
}

/** Where the refused document goes and which one it is. */
export interface FieldNameContext {
  /** `database.collection` */
  readonly collection: string
  /** The document's key, as `keyToString` spells it. */
  readonly key: string
  /** The server, as the plan names it (password masked). */
  readonly server: string
}

/**
 * The operator-facing error for a field name the server refuses: which
 * collection, which document, which path and name, and the two ways out.
 * A data error of one document (code `E_FIELD_NAME`): the relay dead-letters
 * that key and applies the others.
 */
export function fieldNameError(ctx: FieldNameContext, bad: BadFieldName, cause?: unknown): UserError {
  const column = bad.path.split(/[.[]/)[0]
  return new UserError(
    `Cannot write the document with key ${ctx.key} to ${ctx.collection} on ${ctx.server}: field name ${JSON.stringify(bad.name)} at ${bad.path} ${bad.reason}, which FerretDB v1 refuses.`,
    {
      code: 'E_FIELD_NAME',
      cause,
      hint:
        `FerretDB v1 (and MongoDB before 5.0) refuses field names that contain '.' or start with '$'. ` +
        `When ${column} is an embed with keyBy, its field names are the values of the keyBy column: rename those values in the monolith, ` +
        `or embed the relation as an array (drop keyBy and value) so the names stay data. Other keys are unaffected.`,
    },
  )
}

/** True for a server's refusal of a field name (FerretDB: code 2 `invalid key`; MongoDB before 5.0: codes 52, 57). */
export function isFieldNameRefusal(err: {code?: unknown; errmsg?: unknown; message?: unknown}): boolean {
  const msg = String(err.errmsg ?? err.message ?? '')
  return /invalid key|must not contain '\.'|must not start with '\$'|\$-prefixed|dotted field|can't have \. in field names|\$ prefixed field name/i.test(msg) || err.code === 52 || err.code === 57
}
