import {copyValue, schemaStatements} from '../fixtures/shop/load.js'
import {generateShop, SHOP_SCHEMA, type ShopRow, type ShopTable} from '../fixtures/shop/generator.js'
import type {Engine} from '../engines/engine.js'
import {acquirePGlite} from '../engines/postgres/pglite-registry.js'
import {silentProgress, type ProgressReporter} from '../util/progress.js'

export interface FixtureLoadResult {
  /** Rows per table. */
  tables: Record<string, number>
  rows: number
  seconds: number
}

/** Rows sent per COPY statement. */
const COPY_ROWS = 20_000

function copyLine(row: ShopRow, cols: readonly string[]): string {
  let s = copyValue(row[cols[0]])
  for (let i = 1; i < cols.length; i++) s += '\t' + copyValue(row[cols[i]])
  return s + '\n'
}

/**
 * Creates the shop tables in an embedded PGlite monolith (`url`, the same
 * location `monolith` is open on, used for quoting) and loads the
 * generated rows (fixtures/shop) with PGlite's own `COPY ... FROM '/dev/blob'`
 * (it has no COPY FROM STDIN): secondary indexes after the data, identity
 * sequences moved past the loaded ids.
 */
export async function loadFixture(
  monolith: Engine,
  url: string,
  opts: {users: number; seed: number; tables: readonly ShopTable[]; progress?: ProgressReporter},
): Promise<FixtureLoadResult> {
  const sql = monolith.sql
  if (!sql) throw new Error('the demo monolith must be an SQL engine')
  const started = performance.now()
  const progress = opts.progress ?? silentProgress
  const shop = generateShop({users: opts.users, seed: opts.seed})
  const ddl = schemaStatements('postgres', {tables: opts.tables})
  const {db, release} = await acquirePGlite(url)
  const tables: Record<string, number> = {}
  try {
    await db.exec(`SET client_min_messages = 'warning'`)
    for (const s of [...ddl.drop, ...ddl.create]) await db.exec(s)
    for (const table of opts.tables) {
      const cols = SHOP_SCHEMA[table].columns.map((c) => c.name)
      const statement = `COPY ${sql.quoteId(table)} (${cols.map((c) => sql.quoteId(c)).join(', ')}) FROM '/dev/blob'`
      const task = progress.task(`load ${table}`, shop.count(table), 'rows')
      let n = 0
      // the next batch is generated here while the database (its own thread) copies the last one
      let copying: Promise<unknown> = Promise.resolve()
      for (const batch of shop.batches(table, COPY_ROWS)) {
        let text = ''
        for (const row of batch) text += copyLine(row, cols)
        await copying
        copying = db.query(statement, [], {blob: new Blob([text])}).then(() => task.increment(batch.length))
        copying.catch(() => undefined)
        n += batch.length
      }
      await copying
      task.stop()
      tables[table] = n
    }
    for (const s of ddl.indexes) await db.exec(s)
    for (const table of opts.tables) {
      const def = SHOP_SCHEMA[table]
      if (!def.identity) continue
      const key = def.key[0]
      const q = {table: sql.quoteId(table), key: sql.quoteId(key)}
      await db.query(`SELECT setval(pg_get_serial_sequence($1, $2), GREATEST(1, (SELECT COALESCE(MAX(${q.key}), 0) FROM ${q.table})))`, [q.table, key])
    }
    await db.exec('ANALYZE')
  } finally {
    await release()
  }
  const rows = Object.values(tables).reduce((a, b) => a + b, 0)
  return {tables, rows, seconds: (performance.now() - started) / 1000}
}
