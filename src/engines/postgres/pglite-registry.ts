import {existsSync, mkdirSync, readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {PGliteThread, type EmbeddedPostgres} from './pglite-thread.js'
import {PG_PARSERS} from './postgres-types.js'

export type {EmbeddedPostgres, EmbeddedQueryOptions, EmbeddedResults, EmbeddedTransaction} from './pglite-thread.js'

/**
 * PGlite is one embedded PostgreSQL per data directory and per process: every
 * adapter opened on the same `pglite://` location shares one instance, closed
 * when the last user releases it. Each instance runs in its own worker thread
 * (see pglite-thread.ts), so it never blocks the event loop and several of
 * them use several cores.
 */
const open = new Map<string, {db: Promise<PGliteThread>; refs: number}>()

/** `pglite://memory/NAME` (in memory, shared by name) or `pglite:///abs/dir`, `pglite://./rel/dir`. */
export function pgliteLocation(url: string): {key: string; dataDir?: string} {
  const rest = url.replace(/^pglite:\/\//i, '')
  if (rest === '' || rest === 'memory' || rest.startsWith('memory/') || rest.startsWith('memory?')) {
    return {key: `memory:${rest.slice('memory'.length).replace(/^\//, '')}`}
  }
  const dir = resolve(rest.startsWith('/') ? rest : rest.replace(/^\.\//, './'))
  return {key: `dir:${dir}`, dataDir: dir}
}

interface Runtime {
  pgliteUrl: string
  wasmModule?: WebAssembly.Module
  initdbModule?: WebAssembly.Module
}

let runtime: Promise<Runtime> | undefined
/** A freshly initialised cluster: the first new database of the process runs initdb, the next ones start from its copy. */
let template: Promise<ArrayBuffer | undefined> | undefined

/** PGlite's module URL and its WebAssembly, compiled once for every thread of the process. */
function loadRuntime(): Promise<Runtime> {
  runtime ??= (async () => {
    const pgliteUrl = import.meta.resolve('@electric-sql/pglite')
    const compile = async (name: string): Promise<WebAssembly.Module | undefined> => {
      const file = fileURLToPath(new URL(`./${name}`, pgliteUrl))
      return existsSync(file) ? WebAssembly.compile(readFileSync(file)) : undefined
    }
    const [wasmModule, initdbModule] = await Promise.all([compile('pglite.wasm'), compile('initdb.wasm')])
    return {pgliteUrl, wasmModule, initdbModule}
  })()
  return runtime
}

const TEXT_OIDS = Object.keys(PG_PARSERS).map(Number)
const parse = (oid: number, text: string): unknown => PG_PARSERS[oid](text)

async function start(dataDir: string | undefined): Promise<PGliteThread> {
  const rt = await loadRuntime()
  if (dataDir) mkdirSync(dataDir, {recursive: true})
  const fresh = !dataDir || !existsSync(join(dataDir, 'PG_VERSION'))
  const base = {...rt, dataDir, textOids: TEXT_OIDS, parse}
  if (!fresh) return ready(new PGliteThread(base))
  if (template) {
    const t = await template
    if (t) return ready(new PGliteThread({...base, template: t}))
  }
  const thread = new PGliteThread({...base, dumpTemplate: true})
  template ??= thread.template
  return ready(thread)
}

async function ready(t: PGliteThread): Promise<PGliteThread> {
  await t.waitReady
  return t
}

/** The shared embedded PostgreSQL of a `pglite://` URL, and the function that releases this user's reference. */
export async function acquirePGlite(url: string): Promise<{db: EmbeddedPostgres; release: () => Promise<void>}> {
  const loc = pgliteLocation(url)
  let entry = open.get(loc.key)
  if (!entry) {
    const db = start(loc.dataDir)
    entry = {db, refs: 0}
    open.set(loc.key, entry)
    db.catch(() => {
      if (open.get(loc.key)?.db === db) open.delete(loc.key)
    })
  }
  entry.refs++
  const e = entry
  let released = false
  const release = async (): Promise<void> => {
    if (released) return
    released = true
    e.refs--
    if (e.refs === 0) {
      if (open.get(loc.key) === e) open.delete(loc.key)
      const db = await e.db.catch(() => undefined)
      if (db && !db.closed) await db.close()
    }
  }
  try {
    return {db: await e.db, release}
  } catch (err) {
    await release()
    throw err
  }
}
