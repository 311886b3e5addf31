/**
 * What the capture benchmarks share: a scratch database on the given server,
 * the application's own connection pool (raw drivers, not the tool's), and
 * rows for the fixture's `users` table.
 */
import {randomUUID} from 'node:crypto'
import mysql from 'mysql2/promise'
import pg from 'pg'
import {schemaStatements} from '../src/fixtures/shop/load.js'

export type BenchEngine = 'postgres' | 'mysql'

export function defaultUrl(engine: BenchEngine): string | undefined {
  return engine === 'postgres'
    ? (process.env.STRANGLER_BENCH_PG_URL ?? process.env.STRANGLER_TEST_PG_URL)
    : (process.env.STRANGLER_BENCH_MYSQL_URL ?? process.env.STRANGLER_TEST_MYSQL_URL)
}

export function withDb(url: string, db: string): string {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

/** Creates a fresh database next to `url`'s; `drop()` removes it. */
export async function scratchDb(engine: BenchEngine, url: string, prefix: string): Promise<{url: string; name: string; drop: () => Promise<void>}> {
  const name = `${prefix}_${process.pid}_${randomUUID().slice(0, 6)}`
  if (engine === 'postgres') {
    const admin = withDb(url, 'postgres')
    const run = async (sql: string) => {
      const c = new pg.Client({connectionString: admin})
      await c.connect()
      try {
        await c.query(sql)
      } finally {
        await c.end()
      }
    }
    await run(`CREATE DATABASE "${name}"`)
    return {url: withDb(url, name), name, drop: () => run(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)}
  }
  const admin = withDb(url, '')
  const run = async (sql: string) => {
    const c = await mysql.createConnection({uri: admin})
    try {
      await c.query(sql)
    } finally {
      await c.end()
    }
  }
  await run(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`)
  return {url: withDb(url, name), name, drop: () => run(`DROP DATABASE IF EXISTS \`${name}\``)}
}

/** The application's connection pool: `?` placeholders on both engines. */
export interface App {
  exec(sql: string, params?: unknown[]): Promise<unknown[]>
  close(): Promise<void>
}

export function appPool(engine: BenchEngine, url: string, size: number): App {
  if (engine === 'postgres') {
    const pool = new pg.Pool({connectionString: url, max: size})
    pool.on('error', () => undefined)
    return {
      async exec(sql, params = []) {
        let i = 0
        return (await pool.query(sql.replace(/\?/g, () => `$${++i}`), params)).rows
      },
      close: () => pool.end(),
    }
  }
  const pool = mysql.createPool({uri: url, connectionLimit: size})
  return {
    async exec(sql, params = []) {
      const [rows] = await pool.query(sql, params)
      return Array.isArray(rows) ? rows : []
    },
    close: () => pool.end(),
  }
}

/** Recreates the fixture's `users` table (and its indexes). */
export async function createUsers(engine: BenchEngine, app: App): Promise<void> {
  const ddl = schemaStatements(engine, {tables: ['users']})
  for (const s of [...ddl.drop, ...ddl.create, ...ddl.indexes]) await app.exec(s)
}

export const USER_COLUMNS = ['id', 'email', 'full_name', 'password_hash', 'created_at', 'updated_at', 'is_active', 'country', 'loyalty_points', 'balance', 'preferences', 'external_id']

/** A plausible `users` row, as parameters in USER_COLUMNS order. */
export function userParams(id: number): unknown[] {
  return [
    id,
    `user${id}@example.com`,
    `User Number ${id}`,
    `$2b$10$${'x'.repeat(53)}`,
    '2024-01-02 03:04:05.123456',
    null,
    id % 3 !== 0,
    'DE',
    id % 1000,
    `${id % 100000}.${String(id % 100).padStart(2, '0')}`,
    JSON.stringify({lang: 'en', tz: 'Europe/Berlin', n: id % 7}),
    randomUUID(),
  ]
}

export function insertSql(rows: number): string {
  const one = `(${USER_COLUMNS.map(() => '?').join(', ')})`
  return `INSERT INTO users (${USER_COLUMNS.join(', ')}) VALUES ${Array.from({length: rows}, () => one).join(', ')}`
}

/** Runs `total` tasks with `concurrency` workers; returns seconds taken. */
export async function timed(total: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({length: concurrency}, async () => {
      for (let i = next++; i < total; i = next++) await task(i)
    }),
  )
  return (performance.now() - started) / 1000
}

export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}
