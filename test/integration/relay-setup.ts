/**
 * Shared set-up of the relay tests: a monolith with two source tables, a
 * service store, a workspace with the control plane migrated, capture
 * installed and the backfill marked done (the relay copies everything from
 * the outbox), and helpers to write like an application and to compare both
 * sides completely through the engines.
 */
import {randomUUID} from 'node:crypto'
import mysql from 'mysql2/promise'
import pg from 'pg'
import {installCapture} from '../../src/capture/capture.js'
import {configSchema, type PlanInput} from '../../src/config/schema.js'
import {canonicalRow} from '../../src/diff/canonical.js'
import type {Engine} from '../../src/engines/engine.js'
import {keyToString} from '../../src/engines/keys.js'
import type {Row, TargetTableSpec} from '../../src/engines/types.js'
import type {ResolvedEntity} from '../../src/mapping/entity-mapping.js'
import {writeCheckpoint} from '../../src/state/checkpoints.js'
import {Workspace} from '../../src/workspace.js'
import {freshMongo, freshMysql, freshPg, type FreshDatabase} from '../helpers/db.js'

/** Monolith-target pairs; `pgl-pg` is PostgreSQL → PostgreSQL with logical capture (a replication slot instead of triggers). */
export type Pair = 'pg-pg' | 'pgl-pg' | 'my-pg' | 'my-mongo'
export const SERVICE = 'acct'

/** The application's own connection: raw driver, its own pool, never the tool's. */
export interface AppDb {
  readonly dialect: 'postgres' | 'mysql'
  /** Runs statements with `?` placeholders (rewritten to $n for PostgreSQL). */
  exec(sql: string, params?: unknown[]): Promise<Row[]>
  /** One transaction on one connection. */
  tx<T>(fn: (exec: (sql: string, params?: unknown[]) => Promise<Row[]>) => Promise<T>): Promise<T>
  /** A dedicated connection held open (for interleaving transactions by hand). */
  connection(): Promise<{exec: (sql: string, params?: unknown[]) => Promise<Row[]>; close: () => Promise<void>}>
  close(): Promise<void>
}

function pgText(sql: string): string {
  let i = 0
  return sql.replace(/\?/g, () => `$${++i}`)
}

export async function appDb(url: string): Promise<AppDb> {
  if (/^postgres/.test(url)) {
    const pool = new pg.Pool({connectionString: url, max: 8})
    pool.on('error', () => undefined)
    const run = (c: pg.Pool | pg.PoolClient) => async (sql: string, params: unknown[] = []) => (await c.query(pgText(sql), params)).rows as Row[]
    return {
      dialect: 'postgres',
      exec: run(pool),
      async tx(fn) {
        const c = await pool.connect()
        try {
          await c.query('BEGIN')
          const out = await fn(run(c))
          await c.query('COMMIT')
          return out
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined)
          throw err
        } finally {
          c.release()
        }
      },
      async connection() {
        const c = await pool.connect()
        return {exec: run(c), close: async () => c.release()}
      },
      close: () => pool.end(),
    }
  }
  const pool = mysql.createPool({uri: url, connectionLimit: 8, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true})
  const run = (c: mysql.Pool | mysql.PoolConnection) => async (sql: string, params: unknown[] = []) => {
    const [rows] = await c.query(sql, params)
    return (Array.isArray(rows) ? rows : []) as Row[]
  }
  return {
    dialect: 'mysql',
    exec: run(pool),
    async tx(fn) {
      const c = await pool.getConnection()
      try {
        await c.beginTransaction()
        const out = await fn(run(c))
        await c.commit()
        return out
      } catch (err) {
        await c.rollback().catch(() => undefined)
        throw err
      } finally {
        c.release()
      }
    },
    async connection() {
      const c = await pool.getConnection()
      return {exec: run(c), close: async () => c.release()}
    },
    close: () => pool.end(),
  }
}

const SCHEMA = {
  postgres: [
    `CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100), balance numeric(12,2) NOT NULL DEFAULT 0, updated_at timestamp(3), active boolean NOT NULL DEFAULT true)`,
    `CREATE TABLE attrs (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name))`,
  ],
  mysql: [
    `CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL, name varchar(100), balance decimal(12,2) NOT NULL DEFAULT 0, updated_at datetime(3), active tinyint(1) NOT NULL DEFAULT 1) ENGINE=InnoDB`,
    // the database default collation (utf8mb4_general_ci): case-insensitive, trailing spaces ignored
    `CREATE TABLE attrs (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name)) ENGINE=InnoDB`,
  ],
}

export interface FixtureOptions {
  /** Replaces the entity list of the service (default: accounts and attrs, all columns). */
  entities?: PlanInput['services'][string]['entities']
  /** Adjusts a target table before it is created (e.g. a NOT NULL the source does not have). */
  targetSpec?: (spec: TargetTableSpec, entity: ResolvedEntity) => TargetTableSpec
  /** Mark the backfill done (default true). */
  backfillDone?: boolean
  /** Extra DDL on the monolith before the workspace opens. */
  extraDdl?: string[]
}

export interface RelayFixture {
  readonly pair: Pair
  readonly ws: Workspace
  readonly app: AppDb
  readonly source: FreshDatabase
  readonly target: FreshDatabase
  readonly plan: PlanInput
  readonly outboxName: string
  targetEngine(): Promise<Engine>
  outboxCount(): Promise<number>
  /** Every row of every entity, mapped (source) or as stored (target), as canonical texts keyed by key: they must be equal. */
  snapshot(): Promise<{source: Map<string, string>; target: Map<string, string>}>
  close(): Promise<void>
}

export async function relayFixture(pair: Pair, opts: FixtureOptions = {}): Promise<RelayFixture> {
  const source = pair === 'pg-pg' || pair === 'pgl-pg' ? await freshPg('relsrc') : await freshMysql('relsrc')
  const target = pair === 'my-mongo' ? await freshMongo('reltgt') : await freshPg('reltgt')
  const app = await appDb(source.url)
  for (const ddl of [...SCHEMA[app.dialect], ...(opts.extraDdl ?? [])]) await app.exec(ddl)
  const plan: PlanInput = {
    monolith: pair === 'pgl-pg' ? {url: source.url, capture: 'logical'} : {url: source.url},
    services: {
      [SERVICE]: {
        target: {url: target.url},
        isolation: 'own-server',
        entities: opts.entities ?? [{source: 'accounts'}, {source: 'attrs'}],
      },
    },
  }
  const ws = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
  try {
    await ws.state.migrate()
    const tgt = await ws.target(SERVICE)
    for (const e of await ws.entities(SERVICE)) {
      await tgt.createTarget(opts.targetSpec ? opts.targetSpec(e.targetSpec, e) : e.targetSpec)
      if (opts.backfillDone !== false) await writeCheckpoint(ws.state, SERVICE, e.name, 'backfill', {done: true})
    }
    await installCapture(ws, SERVICE)
  } catch (err) {
    await ws.close()
    throw err
  }
  const outbox = ws.outbox(SERVICE)
  const sql = ws.monolith.sql!
  return {
    pair,
    ws,
    app,
    source,
    target,
    plan,
    outboxName: outbox.name,
    targetEngine: () => ws.target(SERVICE),
    async outboxCount() {
      const [r] = await sql.query<{n: unknown}>(`SELECT COUNT(*) AS n FROM ${sql.quoteTable(outbox)}`)
      return Number(r.n)
    },
    async snapshot() {
      const tgt = await ws.target(SERVICE)
      const src = new Map<string, string>()
      const dst = new Map<string, string>()
      for (const e of await ws.entities(SERVICE)) {
        const types = e.targetSpec.columns
        const enc = (r: Row) => JSON.stringify(canonicalRow(types.map((c) => r[c.name]), types, {timestampPrecision: types.map(() => 3)}))
        for (const r of await ws.monolith.readRange({table: e.source, key: e.sourceKey, columns: e.projections, filter: e.filter, keyTypes: e.sourceKeyTypes})) {
          const m = e.mapRow(r)
          src.set(`${e.name}:${keyToString(e.targetKey.map((k) => m[k]))}`, enc(m))
        }
        for (const r of await tgt.readRange({table: e.target, key: e.targetKey, columns: e.targetProjections, keyTypes: e.sourceKeyTypes})) {
          dst.set(`${e.name}:${keyToString(e.targetKey.map((k) => r[k]))}`, enc(r))
        }
      }
      return {source: src, target: dst}
    },
    async close() {
      await app.close().catch(() => undefined)
      await ws.close().catch(() => undefined)
      await source.drop().catch(() => undefined)
      await target.drop().catch(() => undefined)
    },
  }
}

/** Sorted entries, for readable diffs in failed assertions. */
export function entries(m: Map<string, string>): [string, string][] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const NAMES = ['Color', 'color', 'COLOR', 'Size', 'size', 'size ', 'Weight', 'wéight']

/**
 * An application writing concurrently: inserts, updates, deletes and key
 * changes on both tables, in small transactions; conflicts and deadlocks are
 * rolled back like an application would. Returns the number of committed transactions.
 */
export async function appWorkload(app: AppDb, opts: {workers: number; txPerWorker: number; seed: number; idRange?: number}): Promise<number> {
  const idRange = opts.idRange ?? 400
  let committed = 0
  const worker = async (w: number) => {
    const rand = rng(opts.seed * 1000 + w)
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]
    const id = () => 1 + Math.floor(rand() * idRange)
    const ts = () => `2024-0${1 + Math.floor(rand() * 9)}-1${Math.floor(rand() * 9)} 1${Math.floor(rand() * 9)}:3${Math.floor(rand() * 9)}:00.${String(Math.floor(rand() * 1000)).padStart(3, '0')}`
    const upsertIgnore = app.dialect === 'postgres' ? 'ON CONFLICT DO NOTHING' : ''
    const insertVerb = app.dialect === 'postgres' ? 'INSERT' : 'INSERT IGNORE'
    for (let i = 0; i < opts.txPerWorker; i++) {
      const steps = 1 + Math.floor(rand() * 3)
      try {
        await app.tx(async (exec) => {
          for (let s = 0; s < steps; s++) {
            const r = rand()
            if (r < 0.3) {
              const k = id()
              await exec(`${insertVerb} INTO accounts (id, email, name, balance, updated_at, active) VALUES (?, ?, ?, ?, ?, ?) ${upsertIgnore}`, [
                k,
                `u${k}-${w}-${i}@example.com`,
                rand() < 0.2 ? null : `name ${w}/${i}`,
                (rand() * 10000).toFixed(2),
                rand() < 0.1 ? null : ts(),
                rand() < 0.5,
              ])
            } else if (r < 0.5) {
              await exec(`UPDATE accounts SET name = ?, balance = balance + 1.25, updated_at = ?, active = ? WHERE id = ?`, [`upd ${w}/${i}`, ts(), rand() < 0.5, id()])
            } else if (r < 0.6) {
              await exec(`DELETE FROM accounts WHERE id = ?`, [id()])
            } else if (r < 0.7) {
              // a key change
              await exec(`UPDATE accounts SET id = ? WHERE id = ?`, [idRange + id(), id()])
            } else if (r < 0.85) {
              await exec(`${insertVerb} INTO attrs (product_id, name, value) VALUES (?, ?, ?) ${upsertIgnore}`, [1 + Math.floor(rand() * 20), pick(NAMES), `v${w}/${i}`])
            } else if (r < 0.93) {
              // renames inside the key, including case-only and trailing-space changes
              await exec(`UPDATE attrs SET name = ? WHERE product_id = ? AND name = ?`, [pick(NAMES), 1 + Math.floor(rand() * 20), pick(NAMES)])
            } else {
              await exec(`DELETE FROM attrs WHERE product_id = ?`, [1 + Math.floor(rand() * 20)])
            }
          }
        })
        committed++
      } catch (err) {
        const msg = String((err as Error).message)
        if (!/duplicate|unique|deadlock|Deadlock|lock wait|could not serialize/i.test(msg)) throw err
      }
    }
  }
  await Promise.all(Array.from({length: opts.workers}, (_, w) => worker(w)))
  return committed
}
