import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {shopSizes} from '../fixtures/shop/generator.js'
import type {Engine} from '../engines/engine.js'
import {acquirePGlite} from '../engines/postgres/pglite-registry.js'
import {formatCount, parseDuration} from '../cli/render.js'
import {runDiff, type DiffRunResult} from '../diff/run-diff.js'
import {runDecommission} from '../phases/decommission/decommission.js'
import {reverseSync} from '../phases/decommission/reverse-sync.js'
import type {GateResult} from '../phases/gates.js'
import {advance} from '../phases/machine.js'
import {runShadow} from '../phases/shadow.js'
import {verifyShadow} from '../phases/shadow-verify.js'
import {runShift} from '../phases/shift.js'
import {collectReport} from '../report/collect.js'
import {renderHtml} from '../report/render-html.js'
import {recordAudit} from '../state/audit.js'
import {getService, listTransitions, PHASES, updateService} from '../state/services.js'
import {LocalToggleClient} from '../toggles/local-client.js'
import {openToggleProvider} from '../toggles/open.js'
import type {ToggleProvider} from '../toggles/provider.js'
import {GateError, UserError, errorMessage} from '../util/errors.js'
import {newRunId} from '../util/log.js'
import {silentProgress, type ProgressReporter} from '../util/progress.js'
import {Workspace} from '../workspace.js'
import {DEMO_SERVICES, DEMO_TABLES, demoPlan, demoPlanInput, demoStores, type DemoService} from './demo-plan.js'
import {DemoShop} from './demo-shop.js'
import {loadFixture} from './load-fixture.js'
import {LoadGenerator, type LoadStats} from './load-generator.js'
import {RelayKeeper} from './relay-keeper.js'
import {verifyWrites, type WriteCheck} from './verify-writes.js'

export interface DemoOptions {
  /** Users in the shop; orders and order lines follow from it (fixtures/shop). Default 100,000. */
  rows?: number
  seed?: number
  /** Keep the databases and the report in this directory (default: a temp directory; the databases are removed at the end). */
  keep?: string
  /** Row writes per second of the demo application (default 100; fewer for shops under 2,000 users, one per 20 users, at least 20). */
  writesPerSecond?: number
  /** Soak time at each shift step and before decommission (default `2s`). */
  soak?: string
  progress?: ProgressReporter
  /** One line per thing that happens. */
  narrate?: (line: string) => void
  /** Ctrl-C: stops after the step in hand. */
  signal?: AbortSignal
}

/** Time spent in one step of the walk. */
export interface DemoStep {
  step: string
  seconds: number
}

/** What `strangler demo --json` prints. */
export interface DemoResult {
  /** The final diff of every service (after the load stopped and the reverse relay caught up) found nothing. */
  diffClean: boolean
  /** Row writes the demo application issued and got acknowledged. */
  writesIssued: number
  /** Of those, the writes whose effect the final service stores hold. */
  writesFound: number
  /** Keys whose last write the final service stores do not hold. */
  lostWrites: number
  /** Every phase the services went through, in order (from the state store's transitions). */
  phasesWalked: string[]
  /** Per service, the phases it went through. */
  servicePhases: Record<string, string[]>
  reportPath: string
  /** Wall time of the whole demo. */
  seconds: number
  /** Where the databases are (removed at the end unless kept). */
  dir: string
  kept: boolean
  rows: {users: number; orders: number; orderLines: number; total: number}
  load: LoadStats
  writeCheck: WriteCheck
  finalDiff: {runId: string; rowsCompared: number; missing: number; extra: number; changed: number}
  steps: DemoStep[]
}

const DEFAULT_ROWS = 100_000

/**
 * `strangler demo`: the whole migration on one machine, no server, no plan
 * file. Builds the shop in embedded PGlite databases (monolith, users store,
 * orders store), starts the demo shop application (the SDK) with a load
 * generator writing to it, and walks the users and orders services through
 * shadow (backfill, capture, relay), shadow verify, diff, write-through, shift
 * 10 → 50 → 100 % and decommission, with the relay running beside the
 * application all along. Then it stops the load, lets the reverse relay catch
 * up, runs a final diff, checks every write the application made against the
 * service stores, and writes the HTML report.
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now()
  const progress = opts.progress ?? silentProgress
  const say = opts.narrate ?? ((m: string) => progress.note(m))
  const rows = opts.rows ?? DEFAULT_ROWS
  const seed = opts.seed ?? 1
  if (!Number.isInteger(rows) || rows < 100) throw new UserError(`--rows must be a whole number of at least 100, got ${rows}.`, {code: 'E_USAGE'})
  const soak = opts.soak ?? '2s'
  if (!/^\d+(ms|s|m|h)$/.test(soak)) throw new UserError(`--soak ${soak}: not a duration like 2s or 1m.`, {code: 'E_USAGE'})
  const soakMs = parseDuration(soak)

  const dir = prepareDir(opts.keep)
  const stores = demoStores(dir)
  const gates = {soak, minShadowSamples: 50}
  const plan = demoPlan(stores, gates)
  // kept runs get the plan beside the databases, so every strangler command works on them afterwards
  if (opts.keep) writeFileSync(join(dir, 'strangler.config.json'), `${JSON.stringify(demoPlanInput(stores, gates), null, 2)}\n`)
  const steps: DemoStep[] = []
  const runId = newRunId()
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    if (opts.signal?.aborted)
      throw new UserError(`The demo was interrupted before ${name}.`, {
        code: 'E_INTERRUPTED',
        exitCode: 130,
        hint: opts.keep ? `The databases are kept in ${dir}.` : undefined,
      })
    const t0 = performance.now()
    try {
      return await fn()
    } finally {
      steps.push({step: name, seconds: round((performance.now() - t0) / 1000)})
    }
  }

  say(`strangler demo: ${formatCount(rows)} users in embedded PostgreSQL (PGlite) under ${dir}`)
  // the three embedded databases start at once, each in its own thread (the first one initialises a cluster, the others copy it)
  const t0 = performance.now()
  const releases = await Promise.all(Object.values(stores).map(async (url) => (await acquirePGlite(url)).release))
  let ws: Workspace
  try {
    ws = await Workspace.open(plan, {runId})
  } catch (err) {
    for (const r of releases) await r()
    throw err
  }
  steps.push({step: 'start the databases', seconds: round((performance.now() - t0) / 1000)})
  let toggles: LocalToggleClient | undefined
  let provider: ToggleProvider | undefined
  let shop: DemoShop | undefined
  let load: LoadGenerator | undefined
  const keeper = new RelayKeeper(ws)
  const targets = new Map<DemoService, Engine>()
  const reportPath = join(dir, 'strangler-demo-report.html')
  const writeReport = async (): Promise<void> => {
    const data = await collectReport(ws.state, {services: [...DEMO_SERVICES]})
    writeFileSync(reportPath, renderHtml(data))
  }
  try {
    // 1. The monolith and the control plane (what `strangler init` does).
    const loaded = await step('load the shop', async () => {
      for (const s of DEMO_SERVICES) {
        const t = await ws.target(s)
        await t.info()
        targets.set(s, t)
      }
      return loadFixture(ws.monolith, stores.monolith, {users: rows, seed, tables: DEMO_TABLES, progress})
    })
    say(
      `Monolith loaded: ${Object.entries(loaded.tables)
        .map(([t, n]) => `${t} ${formatCount(n)}`)
        .join(', ')} rows in ${loaded.seconds.toFixed(1)} s.`,
    )
    await step('init', async () => {
      const m = await ws.state.migrate()
      await recordAudit(ws.state, {
        runId,
        command: 'demo',
        args: {rows, seed},
        outcome: 'success',
        detail: `control plane created (${m.applied.length} migration(s))`,
      })
    })
    say(`Control plane created in the monolith (tables ${plan.state.prefix}*). Services: users → ${stores.users}, orders → ${stores.orders}.`)

    // 2. The application and its traffic.
    toggles = await LocalToggleClient.open(ws.state, {pollMs: 200, log: ws.log})
    provider = await openToggleProvider(ws)
    shop = await DemoShop.open(ws, {toggles})
    const writesPerSecond = opts.writesPerSecond ?? Math.min(100, Math.max(20, Math.round(rows / 20)))
    load = new LoadGenerator({shop, users: rows, orders: shopSizes(rows).orders, seed, writesPerSecond, progress})
    load.start()
    say(`Demo shop started: reads and writes users, orders and order lines through the SDK (${writesPerSecond} row writes/s, reads sticky per user id).`)

    // 3. Shadow: capture, backfill, relay. The relay follows from the moment capture is in place
    //    (it applies only entities already backfilled), as `strangler relay --follow` beside
    //    `strangler shadow --detach` would: under steady writes the backfill pauses while the relay lags.
    //    Both services at once: each backfill writes its own service store (its own thread) while
    //    the monolith serves both.
    const shadow = async (s: DemoService): Promise<string[]> => {
      const lines: string[] = []
      const hooked: ProgressReporter = {
        task: (label, total, unit) => {
          keeper.start(s) // the first backfill task: capture is installed
          return progress.task(label, total, unit)
        },
        note: (m) => progress.note(m),
        close: () => undefined,
      }
      const r = await runShadow(ws, s, {parallel: 2, chunkRows: 10_000, detach: true, progress: hooked, signal: opts.signal})
      lines.push(`▶ shadow ${s}:`)
      for (const e of r.entities) {
        lines.push(`  ${e.source} → ${e.target}: ${formatCount(e.rowsCopied)} rows in ${e.seconds.toFixed(1)} s (${formatCount(e.rowsPerSecond)} rows/s)`)
      }
      for (const w of r.warnings) lines.push(`  warning: ${w}`)
      if (r.backfill?.aborted) throw new UserError(`The backfill of ${s} was interrupted.`, {code: 'E_INTERRUPTED', exitCode: 130})
      keeper.start(s)
      const t = await keeper.drain(s)
      await updateService(ws.state, s, {step: null})
      const applied = formatCount(keeper.applied(s))
      lines.push(`  relay caught up: ${applied} change(s) applied since capture started, lag ${t.lagSeconds.toFixed(1)} s; it keeps following`)
      return lines
    }
    await step('shadow', async () => {
      say(`\n▶ shadow ${DEMO_SERVICES.join(' and ')}: create the service tables, install change capture, backfill while the relays follow`)
      for (const lines of await allOf(DEMO_SERVICES.map((s) => shadow(s)))) for (const l of lines) say(l)
    })

    // 4. Shadow verify: sampled keys read both ways and compared.
    for (const s of DEMO_SERVICES) {
      await step(`shadow verify ${s}`, async () => {
        const r = await keeper.exclusive(s, () => verifyShadow(ws, s, {sample: 200, progress}))
        say(
          `▶ shadow verify ${s}: ${r.entities.map((e) => `${e.name} ${e.mismatches}/${e.sampled} differ${e.settledByRelay ? ` (${e.settledByRelay} settled by the relay)` : ''}`).join(', ')}`,
        )
        // the write-through gate judges the rate (a key written again between the relay's catch-up and the re-check can still differ)
        for (const e of r.entities)
          for (const m of e.examples.slice(0, 3)) say(`  ${e.name} ${m.key}: ${m.kind}${m.columns.length ? ` (${m.columns.join(', ')})` : ''}`)
      })
    }

    // 5. Diff, under live writes (differences are re-checked after the relay caught up).
    for (const s of DEMO_SERVICES) {
      await step(`diff ${s}`, async () => {
        const d = await diff(ws, keeper, s, progress, opts.signal)
        say(`▶ diff ${s}: ${describeDiff(d)}`)
        if (d.status !== 'clean')
          throw new GateError(`The diff of ${s} is not clean (run ${d.runId}).`, {
            hint: `Keep the databases with --keep DIR and run \`strangler diff ${s}\` there.`,
          })
      })
    }

    // 6. Write-through: the gates for leaving shadow, then the SDK writes both sides.
    for (const s of DEMO_SERVICES) {
      await step(`write-through ${s}`, async () => {
        const r = await advance(ws, s, 'write-through')
        say(`▶ write-through ${s}: gates ${gateLine(r.gates)}; the application now writes the monolith first, then the service`)
      })
    }
    await pause(500, opts.signal)

    // 7. Shift reads 10 → 50 → 100 % (both services at once), gates before each step and during each soak.
    await step('shift', async () => {
      say(`\n▶ shift users and orders: reads 10 → 50 → 100 % on the services (soak ${soak} per step, gates checked every 0.5 s)`)
      const results = await Promise.all(
        DEMO_SERVICES.map((s) => runShift(ws, s, provider!, {steps: [10, 50, 100], soakMs, checkEveryMs: 500, progress, signal: opts.signal})),
      )
      for (const r of results) {
        say(`  ${r.service}: ${r.steps.map((x) => `${x.pct} % ${x.status}`).join(' → ')}`)
        if (r.status === 'interrupted') throw new UserError(`The demo was interrupted while shifting ${r.service}.`, {code: 'E_INTERRUPTED', exitCode: 130})
        if (r.status !== 'completed') throw new GateError(`Shifting ${r.service} stopped: ${r.status}.${r.reason ? `\n${r.reason}` : ''}`)
      }
      const st = shop!.stats()
      say(
        `  reads so far: users ${formatCount(st.users.reads.service)} from the service, ${formatCount(st.users.reads.monolith)} from the monolith; orders ${formatCount(st.orders.reads.service)} / ${formatCount(st.orders.reads.monolith)}`,
      )
    })

    // 8. Decommission, one service at a time, under load.
    for (const s of DEMO_SERVICES) {
      await step(`decommission ${s}`, () => decommission(ws, s, {load: load!, keeper, provider: provider!, progress, say, signal: opts.signal}))
    }
    await pause(1000, opts.signal)

    // 9. Stop the load; the reverse relays catch the archived tables up (both services at once); final diff.
    await step('stop the load', async () => {
      await load!.stop()
      await shop!.close()
      await keeper.stopAll()
    })
    const ls = load.stats()
    say(
      `\n▶ load stopped: ${formatCount(ls.writes)} row writes and ${formatCount(ls.reads)} reads in ${ls.seconds.toFixed(1)} s (${ls.writesPerSecond.toFixed(0)} writes/s), ${ls.writeErrors} write error(s), ${ls.readErrors} read error(s)${ls.lastError ? ` (last: ${ls.lastError})` : ''}`,
    )
    await step('reverse relay', async () => {
      const done = await allOf(DEMO_SERVICES.map((s) => reverseSync(ws, s, {progress, signal: opts.signal})))
      for (const [i, r] of done.entries()) {
        say(`  reverse relay ${DEMO_SERVICES[i]}: archive caught up (${r.totals.upserts} upserted, ${r.totals.deletes} deleted)`)
      }
    })
    const finalDiff = await step('final diff', () => runDiff(ws, {progress, signal: opts.signal, recheckLive: false}))
    say(`▶ final diff: ${describeDiff(finalDiff)}`)

    // 10. The application's own log against the service stores.
    const check = await step('verify writes', () =>
      verifyWrites(load!.entries(), (name) => {
        const e = shop!.entity(name)
        return {entity: e, target: targets.get(e.service as DemoService)!}
      }),
    )
    say(
      `▶ writes: ${formatCount(check.writesIssued)} issued, ${formatCount(check.writesFound)} found in the service stores, ${check.lostWrites} lost (${formatCount(check.keysChecked)} keys checked${check.uncertainKeys ? `, ${check.uncertainKeys} with a failed write left out` : ''})`,
    )
    for (const x of check.examples) say(`  lost: ${x.entity} ${x.key} ${x.kind}${x.columns.length ? ` (${x.columns.join(', ')})` : ''}`)

    // 11. The report.
    await step('report', writeReport)

    const transitions = await listTransitions(ws.state)
    const servicePhases: Record<string, string[]> = {}
    for (const s of DEMO_SERVICES) {
      const mine = transitions.filter((t) => t.service === s)
      servicePhases[s] = mine.length ? [mine[0].fromPhase, ...mine.map((t) => t.toPhase)] : [(await getService(ws.state, s)).phase]
    }
    const walked = new Set(Object.values(servicePhases).flat())
    const phasesWalked = PHASES.filter((p) => walked.has(p))

    const result: DemoResult = {
      diffClean: finalDiff.status === 'clean',
      writesIssued: check.writesIssued,
      writesFound: check.writesFound,
      lostWrites: check.lostWrites,
      phasesWalked,
      servicePhases,
      reportPath,
      seconds: round((performance.now() - started) / 1000),
      dir,
      kept: Boolean(opts.keep),
      rows: {users: loaded.tables.users ?? 0, orders: loaded.tables.orders ?? 0, orderLines: loaded.tables.order_items ?? 0, total: loaded.rows},
      load: ls,
      writeCheck: check,
      finalDiff: {runId: finalDiff.runId, ...finalDiff.totals},
      steps,
    }
    return result
  } catch (err) {
    // what happened up to the failure is in the state store: the report shows it
    const written = await writeReport().then(
      () => true,
      () => false,
    )
    if (!written || !(err instanceof UserError)) throw err
    throw new UserError(err.message, {
      code: err.code,
      exitCode: err.exitCode,
      hint: `${err.hint ? `${err.hint} ` : ''}The report of the walk so far: ${reportPath}`,
      cause: err,
    })
  } finally {
    await load?.stop().catch(() => undefined)
    await shop?.close().catch(() => undefined)
    await keeper.stopAll().catch(() => undefined)
    await toggles?.close()
    await provider?.close().catch(() => undefined)
    await ws.close()
    for (const r of releases) await r()
    if (!opts.keep) for (const name of ['monolith', 'users', 'orders']) rmSync(join(dir, name), {recursive: true, force: true})
  }
}

const round = (x: number): number => Math.round(x * 10) / 10

/** Like `Promise.all`, but waits for every promise before it throws the first failure (nothing is left running behind the demo's back). */
async function allOf<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const done = await Promise.allSettled(promises)
  for (const d of done) if (d.status === 'rejected') throw d.reason
  return done.map((d) => (d as PromiseFulfilledResult<T>).value)
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal?.aborted) return res()
    const t = setTimeout(res, ms)
    signal?.addEventListener('abort', () => (clearTimeout(t), res()), {once: true})
  })
}

/** A temp directory, or `keep` (created; refused when not empty). */
function prepareDir(keep: string | undefined): string {
  if (!keep) return mkdtempSync(join(tmpdir(), 'strangler-demo-'))
  const dir = resolve(keep)
  if (existsSync(dir) && readdirSync(dir).length) {
    throw new UserError(`--keep ${keep}: the directory is not empty.`, {
      code: 'E_USAGE',
      hint: 'Give a new or empty directory; the demo creates its databases and the report there.',
    })
  }
  mkdirSync(dir, {recursive: true})
  return dir
}

/** A diff whose live re-check drains the service's relay through the keeper (never a second relay beside the follower). */
function diff(ws: Workspace, keeper: RelayKeeper, service: DemoService, progress: ProgressReporter, signal?: AbortSignal): Promise<DiffRunResult> {
  return runDiff(ws, {
    service,
    progress,
    signal,
    catchUp: async (s) => {
      await keeper.drain(s)
      return true
    },
  })
}

function describeDiff(d: DiffRunResult): string {
  const t = d.totals
  return `${d.status} — ${formatCount(t.rowsCompared)} rows compared, ${t.missing} missing, ${t.extra} extra, ${t.changed} changed (run ${d.runId.slice(0, 8)})`
}

function gateLine(gates: readonly GateResult[]): string {
  return gates.map((g) => `${g.gate} ${g.ok ? '✔' : '✘'} ${g.value}`).join(', ') || 'none'
}

interface DecommissionContext {
  load: LoadGenerator
  keeper: RelayKeeper
  provider: ToggleProvider
  progress: ProgressReporter
  say: (line: string) => void
  signal?: AbortSignal
}

/**
 * Decommission under load: the follower relay stops (decommission drains the
 * relay itself), then `runDecommission` cuts writes over (the application's
 * SDK writes the service first and lets the monolith follow), drains the
 * changes made before the cut-over, runs the final diff, removes capture,
 * makes the service authoritative, archives the monolith tables and catches
 * the reverse relay up. The application keeps reading and writing throughout.
 */
async function decommission(ws: Workspace, service: DemoService, c: DecommissionContext): Promise<void> {
  c.say(
    `\n▶ decommission ${service}: cut writes over, drain, final diff, remove capture, archive the monolith tables, reverse relay (the application keeps writing)`,
  )
  const before = c.load.stats().writes
  const t0 = performance.now()
  await c.keeper.stop(service)
  const hooked: ProgressReporter = {
    task: (label, total, unit) => c.progress.task(label, total, unit),
    note: (m) => c.progress.note(`  ${m}`),
    close: () => undefined,
  }
  try {
    // the demo shop re-reads the phase every 200 ms: a second is plenty for it to see each flip
    const r = await runDecommission(ws, service, c.provider, {confirmed: true, progress: hooked, signal: c.signal, settleMs: 1000})
    c.say(`  gates ${gateLine(r.gates)}`)
    for (const s of r.steps) c.say(`  ✔ ${s.step}${s.detail ? `: ${s.detail}` : ''}`)
    const writes = c.load.stats().writes - before
    c.say(
      `  ${service} is decommissioned: the service store is authoritative, ${(r.archive ?? []).map((a) => `${a.table} → ${a.archive}`).join(', ')}; ${formatCount(writes)} row writes landed during the ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
  } catch (err) {
    throw new UserError(`Decommissioning ${service} failed: ${errorMessage(err)}`, {
      code: err instanceof UserError ? err.code : 'E_DEMO',
      exitCode: err instanceof GateError ? 1 : 2,
      hint: err instanceof UserError ? err.hint : undefined,
      cause: err,
    })
  }
}
