import {MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Document, type Filter} from 'mongodb'
import {translateDbError} from '../errors.js'
import {fieldNameError, findBadFieldName, isFieldNameRefusal, type BadFieldName} from './field-names.js'

/**
 * One collection as the write path sees it. On FerretDB v1 no filter is
 * served by the `_id` index: the PostgreSQL handler pushes `{_id: <scalar>}`
 * down as `_jsonb->'_id' @> $1`, which the btree index on `_jsonb->'_id'`
 * cannot answer (a sequential scan per lookup), and does not push down a
 * document `_id` or `$in` at all (every document is fetched and filtered in
 * Go); the SQLite handler serves only `{_id: <string>}` from its index. So
 * writes insert first (an insert only probes the unique index) and look up
 * only the documents that already exist.
 */
export interface DocumentSink {
  readonly collection: Collection<Document>
  /** `database.collection`, for messages. */
  readonly label: string
  /** The server as the plan names it (password masked). */
  readonly server: string
  /** FerretDB v1: every lookup by `_id` scans the collection. */
  readonly scans: boolean
  /** Statements per update command (FerretDB v1 holds a pool connection per updating statement until the command ends). */
  readonly statementBatch: number
  /** The filter that finds this document (its `_id`; on FerretDB also its key fields, which are pushed down). */
  filterOf(doc: Document): Filter<Document>
  /** The document's key for messages (`42`, `(7,'abc')`). */
  keyOf(doc: Document): string
}

/** Documents per insert command; the server splits them into its own transactions (FerretDB: 100). */
const INSERT_CHUNK = 1000
/**
 * From this many keys on, one pass over the whole collection (`$in`, filtered
 * by FerretDB itself) costs less than a sequential scan per key. Measured on
 * FerretDB 1.24 (PostgreSQL handler): a full pass at 20,000 aggregate
 * documents cost as much as 150 per-key scans.
 */
export const FERRET_SCAN_KEYS = 128
/** Rounds of delete-and-insert before the remaining documents are replaced one by one. */
const BULK_REPLACE_ROUNDS = 3

/** Throws the field-name error for the first document the server would refuse (FerretDB: '.' or a leading '$' in a field name). */
export function checkFieldNames(sink: DocumentSink, docs: readonly Document[]): void {
  for (const doc of docs) {
    const bad = findBadFieldName(doc)
    if (bad) throw fieldNameError({collection: sink.label, key: sink.keyOf(doc), server: sink.server}, bad)
  }
}

/**
 * Inserts the documents, then replaces the ones whose `_id` already existed:
 * `each` with one replace (upsert) per document, which readers never see
 * missing; `bulk` (where nobody reads the collection yet, the backfill) on
 * FerretDB with one delete of all of them and an insert, when there are
 * enough of them to make one pass cheaper than a scan each. Idempotent.
 */
export async function insertFirst(sink: DocumentSink, docs: readonly Document[], existing: 'each' | 'bulk'): Promise<number> {
  const dups: Document[] = []
  for (let i = 0; i < docs.length; i += INSERT_CHUNK) dups.push(...(await insertNew(sink, docs.slice(i, i + INSERT_CHUNK))))
  if (!dups.length) return docs.length
  if (existing === 'bulk' && sink.scans && dups.length >= FERRET_SCAN_KEYS) await replaceInBulk(sink, dups)
  else await replaceEach(sink, dups)
  return docs.length
}

/** Replaces (or inserts) each document by its own filter, `statementBatch` statements per command. */
export async function replaceEach(sink: DocumentSink, docs: readonly Document[]): Promise<number> {
  const ops: AnyBulkWriteOperation<Document>[] = docs.map((d) => ({replaceOne: {filter: sink.filterOf(d), replacement: d, upsert: true}}))
  let n = 0
  for (let i = 0; i < ops.length; i += sink.statementBatch) {
    const part = ops.slice(i, i + sink.statementBatch)
    try {
      const res = await sink.collection.bulkWrite(part, {ordered: false})
      n += res.upsertedCount + res.matchedCount
    } catch (err) {
      throw writeError(sink, err, docs.slice(i, i + sink.statementBatch))
    }
  }
  return n
}

/** Inserts what is new; returns the documents whose `_id` exists already. */
async function insertNew(sink: DocumentSink, docs: readonly Document[]): Promise<Document[]> {
  try {
    await sink.collection.insertMany(docs as Document[], {ordered: false})
    return []
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw translateDbError(err, sink.server)
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]
    if (!errors.length) throw translateDbError(err, sink.server)
    const dups: Document[] = []
    for (const we of errors) {
      if (we.code === 11000 && docs[we.index]) dups.push(docs[we.index])
      else throw writeError(sink, err, we.index >= 0 && we.index < docs.length ? [docs[we.index]] : docs, we)
    }
    return dups
  }
}

/** Deletes the documents in one pass and inserts them again; what another writer re-inserted in between is retried, then replaced one by one. */
async function replaceInBulk(sink: DocumentSink, docs: readonly Document[]): Promise<void> {
  let left = docs
  for (let round = 0; round < BULK_REPLACE_ROUNDS && left.length; round++) {
    try {
      await sink.collection.deleteMany({_id: {$in: left.map((d) => d._id)}} as Filter<Document>)
    } catch (err) {
      throw translateDbError(err, sink.server)
    }
    const again: Document[] = []
    for (let i = 0; i < left.length; i += INSERT_CHUNK) again.push(...(await insertNew(sink, left.slice(i, i + INSERT_CHUNK))))
    left = again
  }
  if (left.length) await replaceEach(sink, left)
}

/** A write error as the operator reads it: a refused field name names its document and path; anything else says where. */
function writeError(sink: DocumentSink, err: unknown, docs: readonly Document[], first?: {code?: unknown; errmsg?: unknown}): Error {
  const we = first ?? firstWriteError(err)
  if (we && isFieldNameRefusal(we)) {
    for (const doc of docs) {
      const bad = findBadFieldName(doc)
      if (bad) return fieldNameError({collection: sink.label, key: sink.keyOf(doc), server: sink.server}, bad, err)
    }
    const unknown: BadFieldName = {path: '?', name: '?', reason: `(${String(we.errmsg ?? '')})`}
    return fieldNameError({collection: sink.label, key: docs.length === 1 ? sink.keyOf(docs[0]) : 'unknown', server: sink.server}, unknown, err)
  }
  return translateDbError(err, sink.server)
}

function firstWriteError(err: unknown): {code?: unknown; errmsg?: unknown} | undefined {
  if (!(err instanceof MongoBulkWriteError)) return undefined
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]
  return errors[0] ?? {code: err.code, errmsg: err.message}
}
