/**
 * kill -9 of the CLI at random points of a whole migration while an
 * application writes to the monolith: the backfill (shadow), the relay, the
 * diff, the read shift, the decommission and the reverse relay after it. Each
 * crash is either a named crash point (`STRANGLER_TEST_CRASH_AT`, exit 137 with
 * no cleanup at all, hit count chosen at random) or a SIGKILL at a random
 * moment; after each, the same command runs again (itself possibly crashed
 * again) until it completes. At the end the service store and the archived
 * monolith tables hold exactly what the load generator's truth log says (no
 * lost, duplicated or resurrected row), and a final diff is clean.
 *
 * Two migrations run side by side: PostgreSQL → PostgreSQL and MariaDB →
 * PostgreSQL. The random choices come from STRANGLER_RELIABILITY_SEED (printed
 * in the test name) so a failure can be replayed. STRANGLER_SOAK=1 makes the
 * tables bigger and the crashes more numerous.
 */
import {afterAll, describe, expect, it} from 'vitest'
import {DECOMMISSION_STEPS} from '../../src/phases/decommission/decommission.js'
import {appConnection, rng} from '../helpers/load-generator.js'
import {killAllCli, type CliOutcome} from './support/cli-process.js'
import {migration, secrets, type Migration, type MonolithKind} from './support/migration.js'

const SOAK = process.env.STRANGLER_SOAK === '1'
const SEED = Number(process.env.STRANGLER_RELIABILITY_SEED ?? Math.floor(Math.random() * 1_000_000))
const SCALE = SOAK ? 5 : 1

afterAll(() => killAllCli())

type Stage = 'backfill' | 'relay' | 'diff' | 'shift' | 'decommission' | 'reverse-relay'

interface Crash {
  stage: Stage
  how: string
  code: number | null
  signal: NodeJS.Signals | null
}

const crashed = (r: CliOutcome) => r.code === 137 || r.signal === 'SIGKILL'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

class Run {
  readonly crashes: Crash[] = []
  readonly log: string[] = []
  constructor(
    readonly m: Migration,
    readonly rand: () => number,
  ) {}

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1))
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]
  }

  /** One crashed run of `args`: at a crash point (`point#n`) or killed `delay` ms after `marker` shows up. */
  async crash(stage: Stage, args: string[], how: {point: string} | {marker: RegExp; delay: number}): Promise<boolean> {
    let r: CliOutcome
    let label: string
    if ('point' in how) {
      label = how.point
      r = await this.m.cli(args, {STRANGLER_TEST_CRASH_AT: how.point})
      if (r.code === 137) expect(r.stderr).toMatch(/crash point .* reached/)
    } else {
      label = `SIGKILL ${how.delay} ms after ${how.marker.source}`
      const p = this.m.start(args)
      if (await p.waitFor(how.marker, 60_000)) {
        await sleep(how.delay)
        p.kill('SIGKILL')
      }
      r = await this.m.keep(p)
    }
    this.log.push(`${stage}: ${args.join(' ')} [${label}] → ${r.signal ?? r.code} in ${r.ms} ms`)
    if (!crashed(r)) {
      // finished before the crash point was reached: fine, but not a crash
      expect(r.code, `${args.join(' ')} ended with ${r.code}:\n${r.stderr.slice(-3000)}`).toBe(0)
      return false
    }
    this.crashes.push({stage, how: label, code: r.code, signal: r.signal})
    return true
  }

  /** The completing re-run. */
  async complete(args: string[], ok: readonly number[] = [0]): Promise<CliOutcome> {
    const r = await this.m.cli(args)
    this.log.push(`rerun: ${args.join(' ')} → ${r.signal ?? r.code} in ${r.ms} ms`)
    expect(ok, `${args.join(' ')} exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`).toContain(r.code)
    return r
  }
}

async function backfill(run: Run, n: number): Promise<void> {
  const s = run.m.service
  const args = ['shadow', s, '--chunk-rows', '100', '--parallel', '2', '--max-rows-per-second', String(1500 * SCALE)]
  for (let i = 0; i < n; i++) {
    const how = run.pick(['after-chunk-write', 'after-checkpoint', 'kill'] as const)
    if (how === 'kill') await run.crash('backfill', args, {marker: /(creating|using) \S+ on /, delay: run.int(150, 900)})
    else await run.crash('backfill', args, {point: `backfill:${how}#${run.int(1, 6)}`})
  }
  await run.complete(args)
  const st = await run.m.state()
  expect(st.phase).toBe('shadow')
}

async function relay(run: Run, n: number): Promise<void> {
  const s = run.m.service
  const args = ['relay', s, '--follow', '--batch-size', '20', '--metrics-port', '0', '--metrics-host', '127.0.0.1']
  for (let i = 0; i < n; i++) {
    const how = run.pick(['after-apply', 'after-cleanup', 'kill'] as const)
    if (how === 'kill') await run.crash('relay', args, {marker: /metrics on http/, delay: run.int(100, 1500)})
    else await run.crash('relay', args, {point: `relay:${how}#${run.int(1, 8)}`})
  }
  // the same command, run to a clean stop: SIGTERM finishes the batch in hand and exits 0
  const p = run.m.start(args)
  expect(await p.waitFor(/metrics on http/)).toBe(true)
  await sleep(1500)
  p.kill('SIGTERM')
  const r = await run.m.keep(p)
  run.log.push(`rerun: ${args.join(' ')} → ${r.code}`)
  expect(r.code, r.stderr.slice(-3000)).toBe(0)
}

async function diff(run: Run, n: number): Promise<void> {
  const s = run.m.service
  const base = ['diff', s, '--chunk-rows', '150', '--parallel', '1', '--format', 'json']
  for (let i = 0; i < n; i++) {
    await run.crash('diff', i === 0 ? base : [...base, '--resume'], {point: `diff:after-chunk#${run.int(1, 12)}`})
  }
  // under load a key written at the moment it is compared may still differ: 0 or 1, never 2
  await run.complete([...base, '--resume'], [0, 1])
}

async function writeThrough(run: Run): Promise<void> {
  const s = run.m.service
  await run.m.gen.pause()
  await run.complete(['relay', s, '--once'])
  // the service store is exactly the truth while the application pauses
  const check = await run.m.checkService()
  expect(check.problems, run.log.join('\n')).toEqual([])
  await run.complete(['diff', s])
  await run.complete(['write-through', s])
  run.m.gen.resume()
}

async function shift(run: Run, n: number): Promise<void> {
  const s = run.m.service
  const args = ['shift', s, '--steps', '20,50,100', '--soak', '1200ms', '--check-every', '300ms']
  for (let i = 0; i < n; i++) {
    const how = run.pick(['after-rollout', 'kill'] as const)
    if (how === 'kill') await run.crash('shift', args, {marker: /reads → \d+ % on the service/, delay: run.int(100, 2000)})
    else await run.crash('shift', args, {point: `shift:after-rollout#${run.int(1, 3)}`})
  }
  await run.complete(args)
  const st = await run.m.state()
  expect(st).toMatchObject({phase: 'shift', readPct: 100})
}

async function decommission(run: Run, n: number): Promise<void> {
  const s = run.m.service
  const args = ['decommission', s, '--yes']
  // writes move to the service at the cut-over: the application stops writing to the monolith first
  await run.m.gen.pause()
  // the decommission gate wants the relay drained (an operator stops `relay --follow` and drains once)
  await run.complete(['relay', s, '--once'])
  const kill = run.rand() < 0.5
  if (kill) await run.crash('decommission', args, {marker: /cutover-writes/, delay: run.int(0, 120)})
  // crash points only at steps still to do (the kill may have landed after some)
  const done = ((await run.m.state()).info.decommission as {done?: string[]} | undefined)?.done ?? []
  const left: string[] = DECOMMISSION_STEPS.filter((x) => !done.includes(x))
  const steps: string[] = []
  for (let i = 0; i < n - (kill ? 1 : 0) && left.length; i++) steps.push(left.splice(Math.floor(run.rand() * left.length), 1)[0])
  const order = (x: string) => DECOMMISSION_STEPS.findIndex((d) => d === x)
  steps.sort((a, b) => order(a) - order(b))
  for (const step of steps) await run.crash('decommission', args, {point: `decommission:after-${step}`})
  await run.complete(args)
  expect((await run.m.state()).phase).toBe('decommissioned')
}

async function reverseRelay(run: Run): Promise<void> {
  const s = run.m.service
  // the application now writes to the service store; the reverse relay keeps the archive current
  const svcApp = await appConnection(run.m.target.url)
  run.m.gen.retarget(svcApp)
  run.m.gen.resume()
  try {
    const args = ['relay', s, '--follow', '--interval', '300ms']
    await run.crash('reverse-relay', args, {marker: /reverse relay: \d+ upserted/, delay: run.int(100, 1200)})
    await sleep(500)
    await run.m.gen.stop()
    await run.complete(['relay', s, '--once'])
  } finally {
    if (run.m.gen.isRunning) await run.m.gen.stop()
    await svcApp.close()
  }
}

interface Plan {
  monolith: MonolithKind
  backfill: number
  relay: number
  diff: number
  shift: number
  decommission: number
}

// 14 + 13 crash slots, plus one reverse-relay kill each: 29 planned. A slot whose
// process finishes before its kill lands is missed (each plan tolerates 2), so
// the plans leave room above the 25 kill -9s the run must reach in all.
const PLANS: Plan[] = [
  {monolith: 'postgres', backfill: 3, relay: 4, diff: 2, shift: 2, decommission: 3},
  {monolith: 'mysql', backfill: 3, relay: 3, diff: 2, shift: 2, decommission: 3},
]

describe(`kill -9 at random points of a migration under load (seed ${SEED})`, () => {
  it.concurrent.each(PLANS.map((p, i) => ({...p, i})))(
    '$monolith → postgres: every crash resumes, nothing lost or duplicated',
    async (p) => {
      const rand = rng(SEED * 7 + p.i)
      const m = await migration({
        monolith: p.monolith,
        accounts: 3000 * SCALE,
        items: 200 * SCALE,
        load: {seed: SEED + p.i, writesPerSecond: 120, concurrency: 4, mix: {large: SOAK ? 1 : 0}},
      })
      const run = new Run(m, rand)
      try {
        expect((await m.cli(['init'])).code).toBe(0)
        m.gen.start()
        await backfill(run, p.backfill * SCALE)
        await relay(run, p.relay * SCALE)
        await diff(run, p.diff * SCALE)
        await writeThrough(run)
        await shift(run, p.shift)
        await decommission(run, p.decommission)
        await reverseRelay(run)

        const stats = m.gen.stats()
        expect(stats.writes, 'the application wrote during the migration').toBeGreaterThan(500)
        const service = await m.checkService()
        expect(service.problems, run.log.join('\n')).toEqual([])
        expect(service.keysChecked).toBeGreaterThan(3000 * SCALE)
        const archive = await m.checkMonolith()
        expect(archive.problems, run.log.join('\n')).toEqual([])
        const final = await m.cli(['diff', m.service])
        expect(final.code, final.stdout + final.stderr).toBe(0)
        expect(run.crashes.length, run.log.join('\n')).toBeGreaterThanOrEqual(p.backfill + p.relay + p.diff + p.shift + p.decommission - 2)
        for (const out of m.outputs) for (const s of secrets()) expect(out).not.toContain(s)
        crashTotal += run.crashes.length
      } finally {
        const stats = m.gen.stats()
        console.log(`[crash-points seed ${SEED}] ${p.monolith}: ${run.crashes.length} crashes, ${stats.writes} app writes, ${stats.errors} app errors\n  ${run.log.join('\n  ')}`)
        await m.close()
      }
    },
    SOAK ? 1_800_000 : 360_000,
  )

  it('crashed at least 25 times in all', () => {
    expect(crashTotal).toBeGreaterThanOrEqual(25)
  })
})

let crashTotal = 0
