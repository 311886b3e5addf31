import {mkdirSync} from 'node:fs'
import {resolve} from 'node:path'
import type {PGlite} from '@electric-sql/pglite'
import {PG_PARSERS} from './postgres-types.js'

/**
 * PGlite is one embedded PostgreSQL per data directory and per process: every
 * adapter opened on the same `pglite://` location shares one instance, closed
 * when the last user releases it.
 */
const open = new Map<string, {db: Promise<PGlite>; refs: number}>()

/** `pglite://memory/NAME` (in memory, shared by name) or `pglite:///abs/dir`, `pglite://./rel/dir`. */
export function pgliteLocation(url: string): {key: string; dataDir?: string} {
  const rest = url.replace(/^pglite:\/\//i, '')
  if (rest === '' || rest === 'memory' || rest.startsWith('memory/') || rest.startsWith('memory?')) {
    return {key: `memory:${rest.slice('memory'.length).replace(/^\//, '')}`}
  }
  const dir = resolve(rest.startsWith('/') ? rest : rest.replace(/^\.\//, './'))
  return {key: `dir:${dir}`, dataDir: dir}
}

export async function acquirePGlite(url: string): Promise<{db: PGlite; release: () => Promise<void>}> {
  const loc = pgliteLocation(url)
  let entry = open.get(loc.key)
  if (!entry) {
    const db = (async () => {
      const {PGlite} = await import('@electric-sql/pglite')
      if (loc.dataDir) mkdirSync(loc.dataDir, {recursive: true})
      const parsers: Record<number, (v: string) => unknown> = {}
      for (const [oid, fn] of Object.entries(PG_PARSERS)) parsers[Number(oid)] = fn
      const pg = new PGlite({dataDir: loc.dataDir, parsers, relaxedDurability: true})
      await pg.waitReady
      await pg.exec(`SET TIME ZONE 'UTC'`)
      return pg
    })()
    entry = {db, refs: 0}
    open.set(loc.key, entry)
  }
  entry.refs++
  const e = entry
  let released = false
  return {
    db: await e.db,
    release: async () => {
      if (released) return
      released = true
      e.refs--
      if (e.refs === 0) {
        open.delete(loc.key)
        const db = await e.db
        if (!db.closed) await db.close()
      }
    },
  }
}
