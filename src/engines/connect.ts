import {UserError} from '../util/errors.js'
import {redactUrl} from '../util/redact.js'
import type {Engine} from './engine.js'
import type {EngineKind} from './types.js'

export function engineKindOf(url: string): EngineKind {
  if (/^(postgres|postgresql|pglite):/i.test(url)) return 'postgres'
  if (/^(mysql|mariadb):/i.test(url)) return 'mysql'
  if (/^mongodb(\+srv)?:/i.test(url)) return 'mongodb'
  throw new UserError(`Unknown database engine in ${redactUrl(url)}.`, {
    code: 'E_CONFIG',
    hint: 'Use a postgres://, mysql://, mariadb://, mongodb:// or pglite:// URL.',
  })
}

/**
 * Opens the adapter for a connection URL. The connection itself is made lazily; `info()` checks it.
 * Each adapter (and its driver) is imported on first use, so a process holds only the drivers its plan names.
 */
export async function openEngine(url: string, opts: {schema?: string; poolSize?: number} = {}): Promise<Engine> {
  switch (engineKindOf(url)) {
    case 'postgres': {
      const {PostgresEngine} = await import('./postgres/postgres-engine.js')
      return PostgresEngine.open({url, schema: opts.schema, poolSize: opts.poolSize})
    }
    case 'mysql': {
      const {MysqlEngine} = await import('./mysql/mysql-engine.js')
      return MysqlEngine.open({url, poolSize: opts.poolSize})
    }
    case 'mongodb': {
      const {MongoEngine} = await import('./mongodb/mongodb-engine.js')
      return MongoEngine.open({url})
    }
  }
}

/** Opens and checks the connection; closes the adapter again if the check fails. */
export async function connectEngine(url: string, opts: {schema?: string; poolSize?: number} = {}): Promise<Engine> {
  const e = await openEngine(url, opts)
  try {
    await e.info()
    return e
  } catch (err) {
    await e.close().catch(() => undefined)
    throw err
  }
}
