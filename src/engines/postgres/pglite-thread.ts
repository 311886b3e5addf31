import {Worker} from 'node:worker_threads'
import type {PGliteQueryOptions, PGliteQueryResults, PGliteTransaction} from 'kysely'

/** Options of one query: the subset of PGlite's `QueryOptions` the tool uses. */
export interface EmbeddedQueryOptions {
  rowMode?: 'array' | 'object'
  /** The file `COPY … FROM '/dev/blob'` reads. */
  blob?: Blob
}

/** A query result: rows, their fields, affected rows and the file `COPY … TO '/dev/blob'` wrote. */
export type EmbeddedResults<T> = PGliteQueryResults<T>

/** A transaction of {@link EmbeddedPostgres.transaction}. */
export interface EmbeddedTransaction extends PGliteTransaction {
  exec(sql: string, options?: EmbeddedQueryOptions): Promise<EmbeddedResults<unknown>[]>
  readonly closed: boolean
}

/**
 * One embedded PostgreSQL (PGlite) as the tool uses it: what Kysely's
 * `PGliteDialect` needs, plus `exec` for scripts and COPY with a blob.
 * Queries outside a transaction wait while one is open, as in PGlite.
 */
export interface EmbeddedPostgres {
  readonly waitReady: Promise<void>
  readonly ready: boolean
  readonly closed: boolean
  query<T>(sql: string, params?: unknown[], options?: EmbeddedQueryOptions & PGliteQueryOptions): Promise<EmbeddedResults<T>>
  exec(sql: string, options?: EmbeddedQueryOptions): Promise<EmbeddedResults<unknown>[]>
  transaction<T>(callback: (tx: EmbeddedTransaction) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** How to start the PGlite of one thread. */
export interface PGliteThreadOptions {
  /** Module URL of `@electric-sql/pglite`. */
  pgliteUrl: string
  /** Data directory; in memory without. */
  dataDir?: string
  /** Compiled `pglite.wasm` / `initdb.wasm`, shared by every thread (compiled once per process). */
  wasmModule?: WebAssembly.Module
  initdbModule?: WebAssembly.Module
  /** A fresh cluster (tarball of a just-initialised data directory) to start from instead of running initdb. */
  template?: ArrayBuffer
  /** Send back a tarball of the data directory once it is ready (a template for the next fresh cluster). */
  dumpTemplate?: boolean
  /** Types whose values come back as their text (the caller parses them). */
  textOids: readonly number[]
  /** Turns those values into the value model. */
  parse: (oid: number, text: string) => unknown
}

/**
 * The worker: one PGlite, one request at a time, in the order they came.
 * CommonJS source run with `eval`, so it needs no loader in development
 * (tsx) or build step; PGlite itself is imported from the URL it is given.
 */
const WORKER_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
let db
let queue = Promise.resolve()
const plain = (e) => {
  const out = {message: String((e && e.message) || e), name: (e && e.name) || 'Error'}
  if (e && typeof e === 'object') for (const k of Object.keys(e)) {
    const v = e[k]
    if (v === undefined || typeof v === 'function' || k === 'params') continue
    try { structuredClone(v); out[k] = v } catch {}
  }
  return out
}
const withBlob = (options) => (options && options.blob ? {...options, blob: new Blob([options.blob])} : options)
async function results(r, transfer) {
  const out = {...r}
  delete out.blob
  if (r.blob) { out.blob = await r.blob.arrayBuffer(); transfer.push(out.blob) }
  return out
}
async function handle(m) {
  const transfer = []
  try {
    let result
    if (m.op === 'query') result = await results(await db.query(m.sql, m.params, withBlob(m.options)), transfer)
    else if (m.op === 'exec') result = await Promise.all((await db.exec(m.sql, withBlob(m.options))).map((r) => results(r, transfer)))
    else if (m.op === 'close') { if (!db.closed) await db.close(); result = null }
    parentPort.postMessage({id: m.id, ok: true, result}, transfer)
  } catch (e) {
    parentPort.postMessage({id: m.id, ok: false, error: plain(e)})
  }
}
;(async () => {
  try {
    const {PGlite} = await import(workerData.pgliteUrl)
    const parsers = {}
    for (const oid of workerData.textOids) parsers[oid] = (v) => v
    const opts = {dataDir: workerData.dataDir, parsers, relaxedDurability: true}
    if (workerData.wasmModule) opts.pgliteWasmModule = workerData.wasmModule
    if (workerData.initdbModule) opts.initdbWasmModule = workerData.initdbModule
    if (workerData.template) opts.loadDataDir = new Blob([workerData.template])
    db = new PGlite(opts)
    await db.waitReady
    let template
    if (workerData.dumpTemplate) template = await (await db.dumpDataDir('none')).arrayBuffer()
    await db.exec("SET TIME ZONE 'UTC'")
    parentPort.on('message', (m) => { queue = queue.then(() => handle(m)) })
    parentPort.postMessage({ready: true, template}, template ? [template] : [])
  } catch (e) {
    parentPort.postMessage({ready: false, error: plain(e)})
  }
})()
`

interface Pending {
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
}

/** A PGlite error as it crossed the thread boundary: message and fields (code, detail, …). */
function revive(e: Record<string, unknown>): Error {
  const err = new Error(String(e.message))
  Object.assign(err, e)
  return err
}

/** First-in first-out exclusive section (PGlite's transaction mutex, on this side of the thread). */
class Lock {
  private tail: Promise<void> = Promise.resolve()

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn)
    this.tail = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }
}

/**
 * PGlite in its own thread. PGlite runs PostgreSQL on the JavaScript thread
 * that calls it and answers each query in one go, so on the main thread a
 * backfill or a diff on an embedded database stops every timer, progress bar
 * and relay follower of the process until it is done, and several embedded
 * databases share one core. Here each one has a worker thread: queries are
 * messages, results come back as plain values (the types in `textOids` as
 * text, parsed on this side), the event loop stays free and the databases
 * of a process work in parallel.
 */
export class PGliteThread implements EmbeddedPostgres {
  readonly waitReady: Promise<void>
  /** A tarball of the fresh data directory, when `dumpTemplate` asked for one. */
  readonly template: Promise<ArrayBuffer | undefined>
  private readonly worker: Worker
  private readonly pending = new Map<number, Pending>()
  private readonly lock = new Lock()
  private nextId = 1
  private isReady = false
  private isClosed = false
  private failure: Error | undefined

  constructor(private readonly opts: PGliteThreadOptions) {
    const {parse: _parse, ...data} = opts
    this.worker = new Worker(WORKER_SOURCE, {eval: true, workerData: data, name: `pglite ${opts.dataDir ?? 'memory'}`})
    let readyTemplate: (t: ArrayBuffer | undefined) => void = () => undefined
    this.template = new Promise((r) => (readyTemplate = r))
    this.waitReady = new Promise<void>((resolve, reject) => {
      const onFirst = (m: {ready?: boolean; template?: ArrayBuffer; error?: Record<string, unknown>}): void => {
        if (m.ready) {
          this.isReady = true
          readyTemplate(m.template)
          this.worker.on('message', (r: {id: number; ok: boolean; result?: unknown; error?: Record<string, unknown>}) => this.settle(r))
          this.idle()
          resolve()
        } else {
          readyTemplate(undefined)
          this.fail(revive(m.error ?? {message: 'PGlite did not start'}))
          reject(this.failure)
        }
      }
      this.worker.once('message', onFirst)
      this.worker.once('error', (err) => {
        readyTemplate(undefined)
        this.fail(err)
        reject(err)
      })
    })
    this.waitReady.catch(() => undefined)
    this.worker.on('exit', () => this.fail(new Error('the PGlite thread exited')))
  }

  get ready(): boolean {
    return this.isReady && !this.isClosed
  }

  get closed(): boolean {
    return this.isClosed
  }

  query<T>(sql: string, params?: unknown[], options?: EmbeddedQueryOptions): Promise<EmbeddedResults<T>> {
    return this.lock.run(() => this.rawQuery<T>(sql, params, options))
  }

  exec(sql: string, options?: EmbeddedQueryOptions): Promise<EmbeddedResults<unknown>[]> {
    return this.lock.run(() => this.rawExec(sql, options))
  }

  /** BEGIN, the callback, COMMIT (ROLLBACK when it throws); other queries wait meanwhile. */
  transaction<T>(callback: (tx: EmbeddedTransaction) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      await this.rawExec('BEGIN')
      let closed = false
      const open = (): void => {
        if (closed) throw new Error('Transaction is closed')
      }
      const tx: EmbeddedTransaction = {
        query: async <R>(sql: string, params?: unknown[], options?: EmbeddedQueryOptions) => (open(), this.rawQuery<R>(sql, params, options)),
        exec: async (sql: string, options?: EmbeddedQueryOptions) => (open(), this.rawExec(sql, options)),
        rollback: async () => {
          open()
          await this.rawExec('ROLLBACK')
          closed = true
        },
        get closed() {
          return closed
        },
      }
      try {
        const result = await callback(tx)
        if (!closed) {
          closed = true
          const [commit] = (await this.rawExec('COMMIT')) as (EmbeddedResults<unknown> & {command?: string})[]
          if (commit?.command === 'ROLLBACK') throw Object.assign(new Error('Transaction aborted'), {code: '25P02'})
        }
        return result
      } catch (err) {
        if (!closed) {
          closed = true
          await this.rawExec('ROLLBACK').catch(() => undefined)
        }
        throw err
      }
    })
  }

  async close(): Promise<void> {
    if (this.isClosed) return
    try {
      if (!this.failure) await this.lock.run(() => this.send('close', {}))
    } finally {
      this.isClosed = true
      await this.worker.terminate()
    }
  }

  private async rawQuery<T>(sql: string, params?: unknown[], options?: EmbeddedQueryOptions): Promise<EmbeddedResults<T>> {
    const r = (await this.send('query', {sql, params: params?.map(cloneable), options: await this.wire(options)})) as EmbeddedResults<T>
    return this.parsed(r, options?.rowMode)
  }

  private async rawExec(sql: string, options?: EmbeddedQueryOptions): Promise<EmbeddedResults<unknown>[]> {
    const rs = (await this.send('exec', {sql, options: await this.wire(options)})) as EmbeddedResults<unknown>[]
    return rs.map((r) => this.parsed(r, options?.rowMode))
  }

  /** Options as they cross: the blob as an ArrayBuffer (moved, not copied). */
  private async wire(options?: EmbeddedQueryOptions): Promise<{rowMode?: string; blob?: ArrayBuffer} | undefined> {
    if (!options) return undefined
    return {rowMode: options.rowMode, blob: options.blob ? await options.blob.arrayBuffer() : undefined}
  }

  /** The values of `textOids` types turned into the value model; a returned file as a Blob again. */
  private parsed<T>(r: EmbeddedResults<T>, rowMode: 'array' | 'object' | undefined): EmbeddedResults<T> {
    const blob = (r as {blob?: unknown}).blob
    if (blob instanceof ArrayBuffer) (r as {blob?: Blob}).blob = new Blob([blob])
    if (!r.rows?.length || !r.fields?.length) return r
    const oids = new Set(this.opts.textOids)
    const cols = r.fields.map((f, i) => ({key: rowMode === 'array' ? i : f.name, oid: f.dataTypeID})).filter((c) => oids.has(c.oid))
    if (!cols.length) return r
    for (const row of r.rows as Record<string | number, unknown>[]) {
      for (const c of cols) {
        const v = row[c.key]
        if (typeof v === 'string') row[c.key] = this.opts.parse(c.oid, v)
      }
    }
    return r
  }

  private send(op: string, body: {sql?: string; params?: unknown[]; options?: {blob?: ArrayBuffer}}): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.isClosed) return Promise.reject(new Error('PGlite is closed'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject})
      this.worker.ref()
      const blob = body.options?.blob
      this.worker.postMessage({id, op, ...body}, blob ? [blob] : [])
    })
  }

  private settle(r: {id: number; ok: boolean; result?: unknown; error?: Record<string, unknown>}): void {
    const p = this.pending.get(r.id)
    if (!p) return
    this.pending.delete(r.id)
    this.idle()
    if (r.ok) p.resolve(r.result)
    else p.reject(revive(r.error ?? {message: 'unknown PGlite error'}))
  }

  /** An idle thread does not keep the process alive (a forgotten handle must not hang the exit). */
  private idle(): void {
    if (this.pending.size === 0) this.worker.unref()
  }

  private fail(err: Error): void {
    this.failure ??= err
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }
}

/** A value as it crosses: a Buffer slice of a shared pool is copied alone, not with its whole pool. */
function cloneable(v: unknown): unknown {
  if (v instanceof Uint8Array && (v.byteOffset !== 0 || v.byteLength !== v.buffer.byteLength)) return new Uint8Array(v)
  return v
}
