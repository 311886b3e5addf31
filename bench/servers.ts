/**
 * Servers for the benches: the URLs from the environment when every server a
 * bench needs is given (STRANGLER_BENCH_<KIND>_URL, else STRANGLER_TEST_<KIND>_URL,
 * e.g. from `npx tsx scripts/servers.ts`), else the test harness starts local
 * PostgreSQL, MariaDB and FerretDB for the run (test/helpers/servers.ts) and
 * `stop()` stops them.
 */
export type BenchServerKind = 'pg' | 'mysql' | 'mongo'

/** Admin URLs of the servers a bench runs against. */
export interface BenchServers {
  readonly pg: string
  readonly mysql: string
  readonly mongo: string
  /** Stops the servers this call started (nothing for environment URLs). */
  stop(): Promise<void>
}

const ENV: Record<BenchServerKind, string> = {pg: 'PG', mysql: 'MYSQL', mongo: 'MONGO'}

/** The servers `need` names: from the environment, or started by the test harness. */
export async function benchServers(need: readonly BenchServerKind[], log: (m: string) => void): Promise<BenchServers> {
  const url = (k: BenchServerKind): string | undefined => process.env[`STRANGLER_BENCH_${ENV[k]}_URL`] ?? process.env[`STRANGLER_TEST_${ENV[k]}_URL`]
  if (need.every((k) => url(k))) return {pg: url('pg') ?? '', mysql: url('mysql') ?? '', mongo: url('mongo') ?? '', stop: async () => undefined}
  log(`no server URLs in the environment for ${need.join(', ')}: starting local servers (test harness)`)
  process.env.STRANGLER_TEST_SKIP_UNLEASH = '1'
  const {TestServers} = await import('../test/helpers/servers.js')
  const s = await TestServers.start({unleash: false, log})
  return {pg: s.info.pg, mysql: s.info.mysql, mongo: s.info.mongo, stop: () => s.stop()}
}

/** The URL with its path set to database `db`. */
export function withDb(url: string, db: string): string {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}
