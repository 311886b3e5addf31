import {readdirSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import type {Kysely} from 'kysely'
import {Migrator, type Migration, type MigrationProvider} from 'kysely/migration'
import {connectEngine} from '../engines/connect.js'
import type {Engine, SqlCapabilities} from '../engines/engine.js'
import {UserError} from '../util/errors.js'

/** The folder holding the control-plane migrations (`migrations/` at the package root). */
export function migrationsDir(): string {
  // src/state/ or dist/state/ → package root
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations')
}

class FolderMigrations implements MigrationProvider {
  constructor(
    private readonly dir: string,
    private readonly ctx: {prefix: string; dialect: 'postgres' | 'mysql'},
  ) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {}
    for (const f of readdirSync(this.dir).filter((f) => /^\d+_.*\.js$/.test(f)).sort()) {
      const mod = (await import(pathToFileURL(join(this.dir, f)).href)) as {
        up: (db: Kysely<any>, ctx: unknown) => Promise<void>
        down?: (db: Kysely<any>, ctx: unknown) => Promise<void>
      }
      out[f.replace(/\.js$/, '')] = {
        up: (db) => mod.up(db, this.ctx),
        down: mod.down ? (db) => mod.down!(db, this.ctx) : undefined,
      }
    }
    return out
  }
}

export interface MigrationReport {
  applied: string[]
  alreadyApplied: string[]
}

/**
 * The control plane: phases, transitions, audit log, checkpoints, locks, diff
 * runs, metrics, dead letters, shadow samples, local toggles and gate
 * evaluations, in tables prefixed `strangler_` inside the monolith (default)
 * or a separate database. Works on PostgreSQL, PGlite and MySQL/MariaDB.
 */
export class StateStore {
  readonly prefix: string
  readonly engine: Engine
  readonly sql: SqlCapabilities
  private readonly owned: boolean

  private constructor(engine: Engine, prefix: string, owned: boolean) {
    if (!engine.sql) {
      throw new UserError(`The state store needs PostgreSQL or MySQL/MariaDB, not ${engine.kind}.`, {
        hint: 'Set state.url in the plan to a PostgreSQL or MySQL database.',
        code: 'E_CONFIG',
      })
    }
    this.engine = engine
    this.sql = engine.sql
    this.prefix = prefix
    this.owned = owned
  }

  /** Uses an already open engine (the monolith's, by default). */
  static on(engine: Engine, prefix = 'strangler_'): StateStore {
    return new StateStore(engine, prefix, false)
  }

  static async open(url: string, prefix = 'strangler_', schema?: string): Promise<StateStore> {
    return new StateStore(await connectEngine(url, {schema}), prefix, true)
  }

  get db(): Kysely<any> {
    return this.sql.db
  }

  /** Prefixed table name. */
  t(name: string): string {
    return `${this.prefix}${name}`
  }

  private migrator(): Migrator {
    return new Migrator({
      db: this.db,
      provider: new FolderMigrations(migrationsDir(), {prefix: this.prefix, dialect: this.sql.dialect}),
      migrationTableName: this.t('migrations'),
      migrationLockTableName: this.t('migrations_lock'),
    })
  }

  /** Applies pending migrations; idempotent. */
  async migrate(): Promise<MigrationReport> {
    const m = this.migrator()
    const before = await m.getMigrations()
    const already = before.filter((x) => x.executedAt).map((x) => x.name)
    const {error, results} = await m.migrateToLatest()
    if (error) {
      const e = error as Error
      throw new UserError(`Could not apply the control-plane migrations: ${e.message}`, {
        code: 'E_MIGRATE',
        hint: 'The user needs CREATE privileges on the state database (see SECURITY.md).',
        cause: e,
      })
    }
    this.ready = !error
    return {applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName), alreadyApplied: already}
  }

  private ready = false

  /** True when every migration has been applied (remembered once true). */
  async isReady(): Promise<boolean> {
    if (this.ready) return true
    try {
      const ms = await this.migrator().getMigrations()
      this.ready = ms.every((m) => m.executedAt)
      return this.ready
    } catch {
      return false
    }
  }

  /** Fails with a clear message when `strangler init` has not run. */
  async requireReady(): Promise<void> {
    if (!(await this.isReady())) {
      throw new UserError('The control-plane tables are missing or out of date.', {
        code: 'E_NOT_INITIALISED',
        hint: 'Run `strangler init` first.',
      })
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.engine.close()
  }
}

export function nowIso(): string {
  return new Date().toISOString()
}
