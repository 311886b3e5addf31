import {MongoClient, type AnyBulkWriteOperation, type Db, type Document, type Filter} from 'mongodb'
import type {Engine, KeysRead, WriteBatch} from '../engine.js'
import {translateDbError} from '../errors.js'
import {keyToString} from '../keys.js'
import type {ColumnType, KeyTuple, RangeRead, Row, ServerInfo, TableInfo, TableRef, TargetTableSpec} from '../types.js'
import {UserError} from '../../util/errors.js'
import {redactUrl} from '../../util/redact.js'
import {checkFieldNames, FERRET_SCAN_KEYS, insertFirst, replaceEach, type DocumentSink} from './document-writes.js'
import {fromBson, toBson as toBsonWith, type BsonOptions} from './mongodb-values.js'

export interface MongoEngineOptions {
  url: string
  database?: string
}

/**
 * MongoDB (and MongoDB-wire servers such as FerretDB) as a service store.
 * A row becomes a document whose fields are the target columns; `_id` is the
 * key value (or a sub-document of the key columns for composite keys).
 */
export class MongoEngine implements Engine {
  readonly kind = 'mongodb' as const
  readonly displayUrl: string
  readonly database: string
  readonly defaultSchema: string | undefined = undefined
  /** BSON dates hold milliseconds. */
  readonly maxTimestampPrecision = 3
  private readonly client: MongoClient
  private connected?: Promise<MongoClient>
  private infoCache?: ServerInfo
  private bson: BsonOptions = {decimals: 'decimal128'}
  /**
   * Statements per write command. FerretDB v1 (PostgreSQL handler) holds one
   * pool connection per statement that updates an existing document until the
   * command ends, and deadlocks once a command has more statements than its
   * pool (50) has connections; stay well below on FerretDB.
   */
  private writeBatch = 100_000
  /** FerretDB v1: no lookup by `_id` uses an index (see document-writes.ts); writes insert first. */
  private ferret = false

  static async open(opts: MongoEngineOptions): Promise<MongoEngine> {
    return new MongoEngine(opts)
  }

  private constructor(opts: MongoEngineOptions) {
    this.displayUrl = redactUrl(opts.url)
    const u = new URL(opts.url)
    this.database = opts.database ?? (decodeURIComponent(u.pathname.replace(/^\//, '')) || 'strangler')
    this.client = new MongoClient(opts.url, {serverSelectionTimeoutMS: 10_000, connectTimeoutMS: 10_000, ignoreUndefined: true})
  }

  private async dbFor(ref?: TableRef): Promise<Db> {
    try {
      this.connected ??= this.client.connect()
      const c = await this.connected
      if (!this.infoCache) await this.describe(c)
      return c.db(ref?.schema ?? this.database)
    } catch (err) {
      this.connected = undefined
      throw translateDbError(err, this.displayUrl)
    }
  }

  async info(): Promise<ServerInfo> {
    await this.dbFor()
    return this.infoCache!
  }

  /** Reads the server's build info once; FerretDB v1 has no Decimal128, so decimals are stored as strings there. */
  private async describe(client: MongoClient): Promise<void> {
    const db = client.db(this.database)
    try {
      const bi = await db.admin().command({buildInfo: 1})
      const ferretVersion = (bi.ferretdbVersion as string | undefined) ?? (bi.ferretdb as {version?: string} | undefined)?.version
      if (ferretVersion) {
        this.bson = {decimals: 'string'}
        this.writeBatch = 32
        this.ferret = true
      }
      const ferret = ferretVersion ? `FerretDB ${ferretVersion.replace(/^v/, '')} ` : ''
      this.infoCache = {engine: 'mongodb', version: `${ferret}${ferret ? '(MongoDB ' : 'MongoDB '}${bi.version}${ferret ? ')' : ''}`.replace(/\s+/g, ' '), database: this.database, embedded: false}
    } catch (err) {
      throw translateDbError(err, this.displayUrl)
    }
  }

  async close(): Promise<void> {
    await this.client.close()
  }

  private toBson(v: unknown, t?: ColumnType): unknown {
    return toBsonWith(v, t, this.bson)
  }

  async tableExists(ref: TableRef): Promise<boolean> {
    const db = await this.dbFor(ref)
    const list = await db.listCollections({name: ref.name}, {nameOnly: true}).toArray()
    return list.length > 0
  }

  async introspect(ref: TableRef): Promise<TableInfo> {
    throw new UserError(`MongoDB collection ${ref.name} cannot be a source: MongoDB is supported as a service store only.`, {code: 'E_UNSUPPORTED'})
  }

  async count(ref: TableRef): Promise<number> {
    const db = await this.dbFor(ref)
    return db.collection(ref.name).countDocuments()
  }

  private idOf(key: readonly string[], tuple: KeyTuple, types?: readonly ColumnType[]): unknown {
    if (key.length === 1) return this.toBson(tuple[0], types?.[0])
    const o: Record<string, unknown> = {}
    key.forEach((k, i) => (o[k] = this.toBson(tuple[i], types?.[i])))
    return o
  }

  /**
   * The filter for one document by key. A composite `_id` is a sub-document,
   * which FerretDB v1 does not push down (it would fetch every document): there
   * the key fields (stored beside `_id`, same values) are matched too, and those
   * it pushes down.
   */
  private byId(key: readonly string[], id: unknown): Filter<Document> {
    if (!this.ferret || key.length === 1) return {_id: id} as Filter<Document>
    return {_id: id, ...(id as Document)} as Filter<Document>
  }

  /** The write path's view of a collection (document-writes.ts). */
  private sink(db: Db, table: TableRef, key: readonly string[]): DocumentSink {
    return {
      collection: db.collection(table.name),
      label: `${db.databaseName}.${table.name}`,
      server: this.displayUrl,
      scans: this.ferret,
      statementBatch: this.writeBatch,
      filterOf: (doc) => this.byId(key, doc._id),
      keyOf: (doc) => keyToString(key.map((k) => fromBson(doc[k]))),
    }
  }

  /** `(k1,k2) > (v1,v2)` as a filter on the key fields. */
  private tupleFilter(key: readonly string[], tuple: KeyTuple, op: '$gt' | '$lte', types?: readonly ColumnType[]): Filter<Document> {
    const vals = tuple.map((v, i) => this.toBson(v, types?.[i]))
    const strict = op === '$gt' ? '$gt' : '$lt'
    const ors: Document[] = []
    for (let i = 0; i < key.length; i++) {
      const f: Document = {}
      for (let j = 0; j < i; j++) f[key[j]] = vals[j]
      f[key[i]] = {[i === key.length - 1 ? op : strict]: vals[i]}
      ors.push(f)
    }
    return ors.length === 1 ? ors[0] : {$or: ors}
  }

  async readRange(req: RangeRead): Promise<Row[]> {
    const db = await this.dbFor(req.table)
    const conds: Filter<Document>[] = []
    if (req.after) conds.push(this.tupleFilter(req.key, req.after, '$gt', req.keyTypes))
    if (req.upTo) conds.push(this.tupleFilter(req.key, req.upTo, '$lte', req.keyTypes))
    if (req.filter) throw new UserError('Row filters apply to source tables; MongoDB is a target only.')
    const filter = conds.length === 0 ? {} : conds.length === 1 ? conds[0] : {$and: conds}
    const sort: Record<string, 1> = {}
    for (const k of req.key) sort[k] = 1
    let cur = db.collection(req.table.name).find(filter, {sort, projection: {_id: 0}})
    if (req.limit) cur = cur.limit(req.limit)
    const docs = await cur.toArray()
    return docs.map((d) => this.toRow(d, req.columns))
  }

  private toRow(d: Document, columns: readonly {name: string; type?: ColumnType}[]): Row {
    const r: Row = {}
    for (const c of columns) r[c.name] = fromBson(d[c.name], c.type)
    return r
  }

  /** On FerretDB, up to FERRET_SCAN_KEYS keys are read one by one (a pushed-down scan each, a few at a time) rather than in one `$in` pass over every document. */
  async readByKeys(req: KeysRead): Promise<Row[]> {
    if (!req.keys.length) return []
    const db = await this.dbFor(req.table)
    const coll = db.collection(req.table.name)
    const ids = req.keys.map((k) => this.idOf(req.key, k, req.keyTypes))
    try {
      if (!this.ferret || ids.length >= FERRET_SCAN_KEYS) {
        const docs = await coll.find({_id: {$in: ids}} as Filter<Document>, {projection: {_id: 0}}).toArray()
        return docs.map((d) => this.toRow(d, req.columns))
      }
      const out: Row[] = []
      for (let i = 0; i < ids.length; i += 4) {
        const found = await Promise.all(ids.slice(i, i + 4).map((id) => coll.findOne(this.byId(req.key, id), {projection: {_id: 0}})))
        for (const d of found) if (d) out.push(this.toRow(d, req.columns))
      }
      return out
    } catch (err) {
      throw translateDbError(err, this.displayUrl)
    }
  }

  /** Keys sort bytewise in MongoDB whatever `order` asks. */
  async sampleKeys(req: {table: TableRef; key: readonly string[]; keyTypes?: readonly ColumnType[]; after?: KeyTuple; step: number; order?: 'native' | 'bytewise'}): Promise<KeyTuple | undefined> {
    const db = await this.dbFor(req.table)
    const sort: Record<string, 1> = {}
    for (const k of req.key) sort[k] = 1
    const filter = req.after ? this.tupleFilter(req.key, req.after, '$gt', req.keyTypes) : {}
    const proj: Record<string, 1 | 0> = {_id: 0}
    for (const k of req.key) proj[k] = 1
    const [d] = await db.collection(req.table.name).find(filter, {sort, projection: proj}).skip(Math.max(0, req.step - 1)).limit(1).toArray()
    return d ? req.key.map((k, i) => fromBson(d[k], req.keyTypes?.[i])) : undefined
  }

  /** The batch's rows as documents: the target columns, and `_id` from the key. */
  private documents(batch: WriteBatch): Document[] {
    const types = new Map(batch.columns.map((c) => [c.name, c as ColumnType]))
    const keyTypes = batch.key.map((k) => types.get(k)) as ColumnType[]
    return batch.rows.map((r) => {
      const doc: Document = {_id: this.idOf(batch.key, batch.key.map((k) => r[k]), keyTypes)}
      for (const c of batch.columns) doc[c.name] = this.toBson(r[c.name], c)
      return doc
    })
  }

  /**
   * Replace-or-insert by `_id`. MongoDB: one replace (upsert) per row, served
   * by the `_id` index. FerretDB v1, where every lookup scans the collection:
   * insert first, replace only the rows whose key exists (still one scan each,
   * and never a moment where a reader misses the document).
   */
  async upsert(batch: WriteBatch): Promise<number> {
    if (!batch.rows.length) return 0
    const db = await this.dbFor(batch.table)
    const docs = this.documents(batch)
    const sink = this.sink(db, batch.table, batch.key)
    if (!this.ferret) return replaceEach(sink, docs)
    checkFieldNames(sink, docs)
    return insertFirst(sink, docs, 'each')
  }

  /**
   * The backfill's write: insert first, then replace only the rows whose key
   * exists. On FerretDB many existing rows are deleted in one pass and inserted
   * again (nobody reads the collection during the backfill); a few are replaced
   * one by one.
   */
  async bulkLoad(batch: WriteBatch): Promise<number> {
    if (!batch.rows.length) return 0
    const db = await this.dbFor(batch.table)
    const docs = this.documents(batch)
    const sink = this.sink(db, batch.table, batch.key)
    if (this.ferret) checkFieldNames(sink, docs)
    return insertFirst(sink, docs, 'bulk')
  }

  /** On FerretDB, up to FERRET_SCAN_KEYS keys are deleted one statement each (a pushed-down scan each) rather than in one `$in` pass over every document. */
  async deleteKeys(req: {table: TableRef; key: readonly string[]; keys: readonly KeyTuple[]; keyTypes?: readonly ColumnType[]}): Promise<number> {
    if (!req.keys.length) return 0
    const db = await this.dbFor(req.table)
    const coll = db.collection(req.table.name)
    const ids = req.keys.map((k) => this.idOf(req.key, k, req.keyTypes))
    try {
      if (!this.ferret || ids.length >= FERRET_SCAN_KEYS) return (await coll.deleteMany({_id: {$in: ids}} as Filter<Document>)).deletedCount
      const ops: AnyBulkWriteOperation<Document>[] = ids.map((id) => ({deleteOne: {filter: this.byId(req.key, id)}}))
      return (await coll.bulkWrite(ops, {ordered: false})).deletedCount
    } catch (err) {
      throw translateDbError(err, this.displayUrl)
    }
  }

  targetDdl(spec: TargetTableSpec): string[] {
    const out = [`db.createCollection(${JSON.stringify(spec.ref.name)})${spec.ref.schema ? ` in database ${spec.ref.schema}` : ''}`]
    if (spec.key.length > 1) out.push(`db.${spec.ref.name}.createIndex(${JSON.stringify(Object.fromEntries(spec.key.map((k) => [k, 1])))})`)
    return out
  }

  async createTarget(spec: TargetTableSpec): Promise<string[]> {
    const db = await this.dbFor(spec.ref)
    if (!(await this.tableExists(spec.ref))) await db.createCollection(spec.ref.name)
    if (spec.key.length > 1) await db.collection(spec.ref.name).createIndex(Object.fromEntries(spec.key.map((k) => [k, 1])))
    return this.targetDdl(spec)
  }

  async dropTarget(ref: TableRef): Promise<void> {
    const db = await this.dbFor(ref)
    if (await this.tableExists(ref)) await db.collection(ref.name).drop()
  }
}
