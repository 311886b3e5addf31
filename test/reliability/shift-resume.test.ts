/**
 * Issue #8 (C): `shift --steps 10,50,100` killed with SIGKILL during the soak
 * at 50 % and run again resumes: 10 % is skipped (reads never go back down),
 * the soak of 50 % continues from the start recorded in the state store, and
 * the walk goes on to 100 %. A walk never lowers reads; only `--to N` below the
 * current percentage does, and the audit log records it. PostgreSQL, local toggles.
 */
import pg from 'pg'
import {afterAll, describe, expect, it} from 'vitest'
import {planDir} from '../helpers/cli.js'
import {freshPg, type FreshDatabase} from '../helpers/db.js'
import {killAllCli, runCliProcess, startCli, type CliOutcome} from './support/cli-process.js'
import {TEST_GATES} from './support/migration.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  killAllCli()
  for (const c of cleanups.reverse()) await c().catch(() => undefined)
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface ShiftStep {
  pct: number
  status: string
  reason?: string
}

describe('shift resumes after kill -9 and never lowers reads by itself', () => {
  it('re-running the same --steps skips the steps below, continues the soak and reaches 100 %', async () => {
    const [mono, target]: FreshDatabase[] = await Promise.all([freshPg('shr_mono'), freshPg('shr_tgt')])
    const admin = new pg.Client({connectionString: mono.url})
    await admin.connect()
    cleanups.push(async () => {
      await admin.end()
      await Promise.all([mono.drop(), target.drop()])
    })
    await admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)`)
    await admin.query(`INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 300) g`)
    const dir = planDir({monolith: {url: '${MONO}'}, gates: TEST_GATES, services: {crm: {target: {url: '${TGT}'}, entities: [{source: 'users'}]}}})
    const env = {MONO: mono.url, TGT: target.url}
    const cli = async (args: string[], code = 0): Promise<CliOutcome> => {
      const r = await runCliProcess(args, {cwd: dir, env})
      expect(r.code, `${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(code)
      return r
    }
    for (const args of [['init'], ['shadow', 'crm'], ['diff', 'crm'], ['write-through', 'crm']]) await cli(args)

    const service = async () => {
      const r = (await admin.query(`SELECT read_pct, info FROM strangler_services WHERE name = 'crm'`)).rows[0] as {read_pct: number; info: string}
      return {readPct: Number(r.read_pct), shift: (JSON.parse(r.info) as {shift?: {pct: number; soakStartedAt: string; previous: number} | null}).shift}
    }
    const readToggles = async (afterId: number) =>
      (await admin.query(`SELECT id, value FROM strangler_metrics WHERE service = 'crm' AND kind = 'toggle' AND id > $1 ORDER BY id`, [afterId])).rows
        .map((r: {value: string}) => JSON.parse(r.value) as {toggle: string; pct: number})
        .filter((v) => v.toggle === 'strangler.crm.reads')
        .map((v) => v.pct)
    const lastMetric = async () => Number((await admin.query(`SELECT coalesce(max(id), 0) AS n FROM strangler_metrics`)).rows[0].n)

    // 1. the walk, killed with SIGKILL during the soak at 50 %
    const walk = ['shift', 'crm', '--steps', '10,50,100', '--soak', '3s', '--check-every', '300ms']
    const first = startCli(walk, {cwd: dir, env})
    expect(await first.waitFor(/reads → 50 % on the service/, 60_000), first.stderr()).toBe(true)
    for (let i = 0; i < 100 && (await service()).readPct !== 50; i++) await sleep(100)
    await sleep(800) // inside the soak of 50 %
    first.kill('SIGKILL')
    const killed = await first.done
    expect(killed.signal).toBe('SIGKILL')
    const before = await service()
    expect(before.readPct).toBe(50)
    expect(before.shift).toMatchObject({pct: 50, previous: 10})
    const mark = await lastMetric()

    // 2. the same command again: resumes
    const again = await cli([...walk, '--json'])
    const res = JSON.parse(again.stdout) as {status: string; from: number; final: number; steps: ShiftStep[]}
    expect(res).toMatchObject({status: 'completed', from: 50, final: 100})
    expect(res.steps.map((s) => `${s.pct} ${s.status}`)).toEqual(['10 skipped', '50 done', '100 done'])
    expect(res.steps[0].reason).toMatch(/reads are at 50 % already/)
    // the toggle never went below 50 % on the way
    const seen = await readToggles(mark)
    expect(seen.length).toBeGreaterThan(0)
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(50)
    expect(seen.at(-1)).toBe(100)
    expect((await service()).readPct).toBe(100)

    // the human output says the soak continued from the recorded start (not a fresh one)
    await admin.query(`UPDATE strangler_services SET read_pct = 50, info = $1 WHERE name = 'crm'`, [JSON.stringify({...JSON.parse((await admin.query(`SELECT info FROM strangler_services WHERE name = 'crm'`)).rows[0].info), shift: before.shift})])
    await admin.query(`UPDATE strangler_toggles SET pct = 50 WHERE name = 'strangler.crm.reads'`)
    const human = await cli(walk)
    expect(human.stderr).toContain(`reads stay at 50 % on the service (soak continues from ${before.shift!.soakStartedAt})`)
    expect(human.stdout).toMatch(/ 10 %\s+skipped/)
    expect(human.stderr).not.toMatch(/reads → 10 %/)

    // 3. a walk at 100 % changes nothing below it
    const mark2 = await lastMetric()
    const idle = JSON.parse((await cli(['shift', 'crm', '--steps', '10,50', '--soak', '0s', '--json'])).stdout) as {final: number; steps: ShiftStep[]}
    expect(idle.final).toBe(100)
    expect(idle.steps.map((s) => s.status)).toEqual(['skipped', 'skipped'])
    expect(await readToggles(mark2)).toEqual([])

    // 4. --to below the current percentage lowers reads, and the audit log says so
    const lowered = JSON.parse((await cli(['shift', 'crm', '--to', '20', '--json'])).stdout) as {final: number; steps: ShiftStep[]}
    expect(lowered.final).toBe(20)
    expect((await service()).readPct).toBe(20)
    expect(await readToggles(mark2)).toEqual([20])
    const audit = (await admin.query(`SELECT command, detail FROM strangler_audit WHERE service = 'crm' AND detail LIKE 'reads lowered%'`)).rows
    expect(audit).toEqual([{command: 'shift', detail: 'reads lowered from 100 % to 20 % on the service (--to 20)'}])
  })
})
