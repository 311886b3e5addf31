/**
 * One service being migrated, for the reliability tests: a fresh monolith
 * (PostgreSQL or MariaDB) seeded by the load generator, a fresh service store,
 * a plan file whose URLs come from the environment (`${MONO}`, `${TGT}`), the
 * CLI run against it (every output kept, to grep for secrets), and a
 * workspace of the test's own to inspect the state store and the stores.
 */
import {randomUUID} from 'node:crypto'
import pg from 'pg'
import {rmSync} from 'node:fs'
import {validatePlan} from '../../../src/config/load.js'
import {getService, type ServiceState} from '../../../src/state/services.js'
import {Workspace} from '../../../src/workspace.js'
import {planDir} from '../../helpers/cli.js'
import {freshMongo, freshMysql, freshPg, testPassword, type FreshDatabase} from '../../helpers/db.js'
import {appConnection, checkTruth, LoadGenerator, sourceView, targetView, type AppConnection, type LoadGeneratorOptions, type TruthCheck} from '../../helpers/load-generator.js'
import {runCliProcess, startCli, type CliOutcome, type CliProcess} from './cli-process.js'

export type MonolithKind = 'postgres' | 'mysql'
export type TargetKind = 'postgres' | 'mongodb'

export interface MigrationOptions {
  monolith: MonolithKind
  target?: TargetKind
  service?: string
  accounts: number
  items: number
  load: LoadGeneratorOptions
  /** Extra gates (merged over permissive test gates). */
  gates?: Record<string, unknown>
  /** Extra plan fields on the monolith (appUsers). */
  monolithExtra?: Record<string, unknown>
  /** More DDL on the monolith (tables of `extraEntities`), run after the generator's tables. */
  extraDdl?: string[]
  /** More entities of the service, after accounts and ItemAttrs. */
  extraEntities?: Record<string, unknown>[]
}

export interface Migration {
  readonly service: string
  readonly mono: FreshDatabase
  readonly target: FreshDatabase
  readonly dir: string
  readonly env: Record<string, string>
  readonly app: AppConnection
  readonly gen: LoadGenerator
  /** Every stdout and stderr the CLI wrote in this fixture. */
  readonly outputs: string[]
  /** Runs `strangler ARGS --log-format json` to the end. */
  cli(args: readonly string[], extraEnv?: Record<string, string>): Promise<CliOutcome>
  /** Starts it (to be killed). */
  start(args: readonly string[], extraEnv?: Record<string, string>): CliProcess
  /** Keeps a started process's output once it ended. */
  keep(p: CliProcess): Promise<CliOutcome>
  workspace(): Promise<Workspace>
  state(): Promise<ServiceState>
  /** The service store against the truth log (uncertain keys against the monolith). */
  checkService(): Promise<TruthCheck>
  /** The monolith (or archived) tables against the truth log. */
  checkMonolith(): Promise<TruthCheck>
  close(): Promise<void>
}

/** Gates that let a test walk the phases quickly: no shadow samples needed, a 1 s soak, lag is not a gate. */
export const TEST_GATES = {minShadowSamples: 0, soak: '1s', maxRelayLagSeconds: 3600, maxDiffAgeMinutes: 60}

export async function migration(opts: MigrationOptions): Promise<Migration> {
  const service = opts.service ?? 'acct'
  const mono = opts.monolith === 'postgres' ? await freshPg('rel_mono') : await freshMysql('rel_mono')
  const target = opts.target === 'mongodb' ? await freshMongo('rel_tgt') : await freshPg('rel_tgt')
  // the harness runs PostgreSQL with synchronous_commit=off (fast, but a crash loses the last commits);
  // crash tests need a server that keeps what it acknowledged: per database, commits are synchronous again
  for (const db of [mono, target]) if (/^postgres/.test(db.url)) await durable(db)
  const app = await appConnection(mono.url)
  const gen = new LoadGenerator(app, opts.load)
  await gen.setup({accounts: opts.accounts, items: opts.items})
  for (const ddl of opts.extraDdl ?? []) await app.exec(ddl)
  const plan = {
    monolith: {url: '${MONO}', ...(opts.monolithExtra ?? {})},
    gates: {...TEST_GATES, ...(opts.gates ?? {})},
    services: {[service]: {target: {url: '${TGT}'}, entities: [{source: 'accounts'}, {source: 'ItemAttrs'}, ...(opts.extraEntities ?? [])]}},
  }
  const dir = planDir(plan)
  const env = {MONO: mono.url, TGT: target.url}
  const outputs: string[] = []
  let ws: Workspace | undefined
  const withFlags = (args: readonly string[]) => [...args, '--log-format', 'json']
  const m: Migration = {
    service,
    mono,
    target,
    dir,
    env,
    app,
    gen,
    outputs,
    async cli(args, extraEnv = {}) {
      const r = await runCliProcess(withFlags(args), {cwd: dir, env: {...env, ...extraEnv}})
      outputs.push(r.stdout, r.stderr)
      return r
    },
    start(args, extraEnv = {}) {
      return startCli(withFlags(args), {cwd: dir, env: {...env, ...extraEnv}})
    },
    async keep(p) {
      const r = await p.done
      outputs.push(r.stdout, r.stderr)
      return r
    },
    async workspace() {
      ws ??= await Workspace.open(validatePlan(plan, 'plan', {...process.env, ...env}), {runId: randomUUID()})
      return ws
    },
    async state() {
      return getService((await m.workspace()).state, service)
    },
    async checkService() {
      const w = await m.workspace()
      return checkTruth(gen.truth(), await targetView(w, service), await sourceView(w, service))
    },
    async checkMonolith() {
      const w = await m.workspace()
      return checkTruth(gen.truth(), await sourceView(w, service))
    },
    async close() {
      if (gen.isRunning) await gen.stop()
      await app.close().catch(() => undefined)
      await ws?.close().catch(() => undefined)
      await mono.drop().catch(() => undefined)
      await target.drop().catch(() => undefined)
      rmSync(dir, {recursive: true, force: true})
    },
  }
  return m
}

async function durable(db: FreshDatabase): Promise<void> {
  const c = new pg.Client({connectionString: db.url})
  await c.connect()
  try {
    await c.query(`ALTER DATABASE "${db.name}" SET synchronous_commit = on`)
  } finally {
    await c.end()
  }
}

/** Every secret the outputs must not contain. */
export function secrets(): string[] {
  return [testPassword()]
}
