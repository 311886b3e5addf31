/**
 * kill -9 of `strangler shadow` during the backfill, at named crash points
 * (STRANGLER_TEST_CRASH_AT: after a chunk is written but before its
 * checkpoint, and after the checkpoint) and by SIGKILL at an arbitrary moment;
 * every re-run continues from the checkpoints. After each crash at most one
 * chunk per worker is in the target without a checkpoint (the only rows a
 * re-run copies again), the re-run copies exactly the rows after the
 * checkpoints, and the end result is identical to the monolith with no
 * duplicates.
 */
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {captureInstalled} from '../../src/capture/capture.js'
import {configSchema, type PlanInput} from '../../src/config/schema.js'
import {canonicalRow} from '../../src/diff/canonical.js'
import {keyToString} from '../../src/engines/keys.js'
import type {Row} from '../../src/engines/types.js'
import {listCheckpoints} from '../../src/state/checkpoints.js'
import {getService} from '../../src/state/services.js'
import {Workspace} from '../../src/workspace.js'
import {DEV_BIN, planDir, runCli, type CliResult} from '../helpers/cli.js'
import {freshMysql, freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'
import {appDb, type AppDb} from './relay-setup.js'

const SERVICE = 'crm'
const PARALLEL = 2
const CHUNK = 100
const ACCOUNTS = 2500
const ATTRS = 150 * 4

let source: FreshDatabase
let target: FreshDatabase
let app: AppDb
let ws: Workspace
let dir: string

const STEAL = ['--steal', '--reason', 'test: the previous run was killed']
const RUN = ['shadow', SERVICE, '--json', '--parallel', String(PARALLEL), '--chunk-rows', String(CHUNK)]

beforeAll(async () => {
  source = await freshMysql('crashsrc')
  target = await freshPg('crashtgt')
  app = await appDb(source.url)
  await app.exec(`CREATE TABLE accounts (id bigint PRIMARY KEY, email varchar(100) NOT NULL, balance decimal(12,2) NOT NULL, prefs JSON NULL, avatar BLOB NULL) ENGINE=InnoDB`)
  await app.exec(`CREATE TABLE attrs (product_id bigint NOT NULL, name varchar(50) NOT NULL, value text, PRIMARY KEY (product_id, name)) ENGINE=InnoDB`)
  for (let start = 1; start <= ACCOUNTS; start += 500) {
    const rows: unknown[] = []
    for (let id = start; id < start + 500; id++) rows.push(id, `user${id}@example.com`, (id * 1.37).toFixed(2), id % 4 ? JSON.stringify({n: id, tags: ['a', 'b']}) : null, id % 3 ? Buffer.from([id % 256, 0, 1]) : null)
    await app.exec(`INSERT INTO accounts VALUES ${Array.from({length: 500}, () => '(?, ?, ?, ?, ?)').join(', ')}`, rows)
  }
  const attrs: unknown[] = []
  for (let p = 1; p <= ATTRS / 4; p++) for (const n of ['Color', 'Size', 'Höhe', 'tab\there']) attrs.push(p, n, `v${p}`)
  await app.exec(`INSERT INTO attrs VALUES ${Array.from({length: ATTRS}, () => '(?, ?, ?)').join(', ')}`, attrs)
  const plan: PlanInput = {
    monolith: {url: source.url},
    services: {[SERVICE]: {target: {url: target.url}, isolation: 'own-server', entities: [{source: 'accounts'}, {source: 'attrs'}]}},
  }
  dir = planDir(plan)
  ws = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
  await ws.state.migrate()
})

afterAll(async () => {
  await app?.close().catch(() => undefined)
  await ws?.close().catch(() => undefined)
  await source?.drop().catch(() => undefined)
  await target?.drop().catch(() => undefined)
})

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(args, {cwd: dir, env})
}

/** Rows checkpointed (over all ranges and entities) and rows in the target. */
async function progress(): Promise<{checkpointed: number; inTarget: number}> {
  const cps = await listCheckpoints<{rowsCopied: number; ranges: {rows: number}[]}>(ws.state, SERVICE, 'backfill')
  const tgt = await ws.target(SERVICE)
  let inTarget = 0
  for (const e of await ws.entities(SERVICE)) if (await tgt.tableExists(e.target)) inTarget += await tgt.count(e.target)
  const checkpointed = cps.reduce((a, c) => a + c.state.rowsCopied, 0)
  // the entity totals are the sums of their ranges
  for (const c of cps) expect(c.state.ranges.reduce((a, r) => a + r.rows, 0)).toBe(c.state.rowsCopied)
  return {checkpointed, inTarget}
}

/** After a kill: the rows written without a checkpoint are at most one chunk per worker. */
async function expectAtMostOneChunkPerWorkerAtRisk(): Promise<number> {
  const p = await progress()
  expect(p.inTarget).toBeGreaterThanOrEqual(p.checkpointed)
  expect(p.inTarget - p.checkpointed).toBeLessThanOrEqual(PARALLEL * CHUNK)
  return p.checkpointed
}

async function snapshot(): Promise<{source: string[]; target: string[]}> {
  const tgt = await ws.target(SERVICE)
  const src: string[] = []
  const dst: string[] = []
  for (const e of await ws.entities(SERVICE)) {
    const types = e.targetSpec.columns
    const enc = (r: Row) => `${e.name}:${keyToString(e.targetKey.map((k) => r[k]))}=${JSON.stringify(canonicalRow(types.map((c) => r[c.name]), types))}`
    for (const r of await ws.monolith.readRange({table: e.source, key: e.sourceKey, columns: e.projections, keyTypes: e.sourceKeyTypes})) src.push(enc(e.mapRow(r)))
    for (const r of await tgt.readRange({table: e.target, key: e.targetKey, columns: e.targetProjections, keyTypes: e.sourceKeyTypes})) dst.push(enc(r))
  }
  return {source: src.sort(), target: dst.sort()}
}

describe('kill -9 during the backfill', () => {
  it('resumes from the checkpoints after every crash and ends identical, without duplicates', async () => {
    // 1. killed right after a chunk was written, before its checkpoint
    const r1 = await cli(RUN, {STRANGLER_TEST_CRASH_AT: 'backfill:after-chunk-write#4'})
    expect(r1.code, r1.stderr).toBe(137)
    expect(r1.stderr).toMatch(/crash point backfill:after-chunk-write/)
    expect(r1.stdout + r1.stderr).not.toContain(testPassword())
    expect((await getService(ws.state, SERVICE)).phase).toBe('shadow')
    expect(await captureInstalled(ws, SERVICE)).toBe(true)
    const c1 = await expectAtMostOneChunkPerWorkerAtRisk()
    expect(c1).toBeGreaterThan(0)
    expect((await progress()).inTarget).toBeGreaterThan(c1) // the crashed chunk is there, uncheckpointed

    // 2. the re-run (taking over the dead run's lock) is killed right after a checkpoint
    const r2 = await cli([...RUN, ...STEAL], {STRANGLER_TEST_CRASH_AT: 'backfill:after-checkpoint#3'})
    expect(r2.code, r2.stderr).toBe(137)
    const c2 = await expectAtMostOneChunkPerWorkerAtRisk()
    expect(c2).toBeGreaterThan(c1)

    // 3. SIGKILL at an arbitrary moment of a throttled run
    const child = spawn(process.execPath, [DEV_BIN, ...RUN, ...STEAL, '--max-rows-per-second', '600'], {cwd: dir, stdio: ['ignore', 'pipe', 'pipe']})
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('close', (_code, signal) => res(signal)))
    const deadline = Date.now() + 60_000
    while ((await progress()).checkpointed < c2 + 400) {
      if (Date.now() > deadline) throw new Error('the throttled run made no progress')
      await new Promise((r) => setTimeout(r, 100))
    }
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
    const c3 = await expectAtMostOneChunkPerWorkerAtRisk()
    expect(c3).toBeGreaterThanOrEqual(c2 + 400)
    expect(c3).toBeLessThan(ACCOUNTS + ATTRS)

    // 4. the last run finishes: it copies exactly the rows after the checkpoints
    const r4 = await cli([...RUN, ...STEAL])
    expect(r4.code, r4.stderr).toBe(0)
    const out = JSON.parse(r4.stdout) as {phase: string; entities: {name: string; rowsCopied: number; rowsTotal: number; resumed: boolean; done: boolean}[]}
    expect(out.phase).toBe('shadow')
    expect(out.entities.every((e) => e.done && e.resumed)).toBe(true)
    expect(out.entities.reduce((a, e) => a + e.rowsCopied, 0)).toBe(ACCOUNTS + ATTRS - c3)
    expect(Object.fromEntries(out.entities.map((e) => [e.name, e.rowsTotal]))).toEqual({accounts: ACCOUNTS, attrs: ATTRS})

    const tgt = await ws.target(SERVICE)
    expect(await tgt.count((await ws.entity(SERVICE, 'accounts')).target)).toBe(ACCOUNTS)
    expect(await tgt.count((await ws.entity(SERVICE, 'attrs')).target)).toBe(ATTRS)
    const {source: s, target: t} = await snapshot()
    expect(t).toEqual(s)
    expect(new Set(t).size).toBe(t.length)
    const cps = await listCheckpoints<{done: boolean; runs: number}>(ws.state, SERVICE, 'backfill')
    expect(cps.every((c) => c.state.done)).toBe(true)
    expect(Math.max(...cps.map((c) => c.state.runs))).toBeGreaterThanOrEqual(3)
  })
})

describe('--follow', () => {
  it('keeps the relay running after the backfill until SIGTERM, then exits 0 with the totals', async () => {
    const child = spawn(process.execPath, [DEV_BIN, 'shadow', SERVICE, '--follow', '--json'], {cwd: dir, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)))
    const e = await ws.entity(SERVICE, 'accounts')
    const tgt = await ws.target(SERVICE)
    // a change made while it follows reaches the service store
    await new Promise((r) => setTimeout(r, 3000))
    await app.exec(`UPDATE accounts SET email = 'followed@example.com' WHERE id = 42`)
    const deadline = Date.now() + 30_000
    for (;;) {
      const [row] = await tgt.readByKeys({table: e.target, key: e.targetKey, columns: e.targetProjections, keys: [['42']], keyTypes: e.sourceKeyTypes})
      if (row?.email === 'followed@example.com') break
      if (Date.now() > deadline) throw new Error('the following relay did not apply the change')
      await new Promise((r) => setTimeout(r, 100))
    }
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    const out = JSON.parse(stdout) as {phase: string; relay: {applied: number}; entities: {rowsCopied: number}[]}
    expect(out.phase).toBe('shadow')
    expect(out.entities.every((x) => x.rowsCopied === 0)).toBe(true) // nothing left to copy
    expect(out.relay.applied).toBeGreaterThanOrEqual(1)
  })
})

describe('the CLI', () => {
  it('--dry-run prints the statements on stdout; a wrong phase exits 2 and changes nothing', async () => {
    const other = await freshPg('crashdry')
    try {
      const plan: PlanInput = {
        monolith: {url: source.url},
        state: {prefix: 'dry_'},
        services: {[SERVICE]: {target: {url: other.url}, entities: [{source: 'attrs'}]}},
      }
      const d = planDir(plan)
      const init = await runCli(['init', '--json'], {cwd: d})
      expect(init.code, init.stderr).toBe(0)
      const dry = await runCli(['shadow', SERVICE, '--dry-run'], {cwd: d})
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.stdout).toMatch(/Dry run/)
      expect(dry.stdout).toMatch(/CREATE TABLE IF NOT EXISTS "attrs"/)
      expect(dry.stdout).toMatch(/CREATE TRIGGER/)
      const w2 = await Workspace.open(configSchema.parse(plan), {runId: randomUUID()})
      try {
        expect(await w2.monolith.tableExists(w2.outbox(SERVICE))).toBe(false)
        expect(await (await w2.target(SERVICE)).tableExists({name: 'attrs'})).toBe(false)
        await w2.state.db.insertInto(w2.state.t('services')).values({name: SERVICE, phase: 'write-through', read_pct: 0, write_target: 'monolith', step: null, info: '{}', updated_at: new Date().toISOString()}).execute()
      } finally {
        await w2.close()
      }
      const refused = await runCli(['shadow', SERVICE, '--json'], {cwd: d})
      expect(refused.code).toBe(2)
      const err = JSON.parse(refused.stdout) as {error: {code: string; message: string}}
      expect(err.error.code).toBe('E_PHASE')
      expect(err.error.message).toMatch(/write-through/)
      const plain = await runCli(['shadow', SERVICE], {cwd: d})
      expect(plain.code).toBe(2)
      expect(plain.stderr).toMatch(/^Error: Cannot start the shadow phase/m)
      expect(plain.stderr).not.toMatch(/\n\s+at /) // no stack trace
    } finally {
      await other.drop()
    }
  })
})
