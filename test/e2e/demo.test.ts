import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {runCli} from '../helpers/cli.js'

/**
 * `strangler demo` end to end, as a newcomer runs it, with a small shop: no
 * server, no plan file. Every phase is walked under a steady write load, the
 * final diff is clean and every write the demo application made is found in
 * the service stores.
 */
describe('strangler demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strangler-demo-test-'))
  const keep = join(dir, 'kept')
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('walks users and orders through every phase with a clean diff and no lost write', async () => {
    const res = await runCli(['demo', '--rows', '2000', '--soak', '1s', '--keep', keep, '--json'], {timeoutMs: 420_000})
    // about 30 s on two idle cores; the ceiling is for a machine shared with other jobs
    expect(res.code, res.stderr.slice(-3000)).toBe(0)
    expect(res.stderr).not.toMatch(/Error:/)
    const out = JSON.parse(res.stdout) as {
      diffClean: boolean
      writesIssued: number
      writesFound: number
      lostWrites: number
      phasesWalked: string[]
      servicePhases: Record<string, string[]>
      reportPath: string
      seconds: number
      load: {writeErrors: number; reads: number}
      finalDiff: {rowsCompared: number}
    }
    expect(out.diffClean).toBe(true)
    expect(out.lostWrites).toBe(0)
    expect(out.writesIssued).toBeGreaterThan(100) // the load really ran while the phases were walked
    expect(out.writesFound).toBe(out.writesIssued)
    expect(out.load.writeErrors).toBe(0)
    expect(out.load.reads).toBeGreaterThan(0)
    expect(out.phasesWalked).toEqual(['planned', 'shadow', 'write-through', 'shift', 'decommissioned'])
    for (const s of ['users', 'orders']) expect(out.servicePhases[s]).toEqual(['planned', 'shadow', 'write-through', 'shift', 'decommissioned'])
    // users 2,000 + orders 4,000 + their lines, plus what the load inserted, minus what it deleted
    expect(out.finalDiff.rowsCompared).toBeGreaterThan(15_000)
    expect(out.seconds).toBeGreaterThan(0)

    expect(out.reportPath).toBe(join(keep, 'strangler-demo-report.html'))
    expect(existsSync(out.reportPath)).toBe(true)
    const html = readFileSync(out.reportPath, 'utf8')
    expect(html).toMatch(/^<!doctype html>/i)
    expect(html).toContain('users')
    expect(html).toContain('orders')
    expect(html).toContain('decommissioned')

    // --keep leaves the databases and a plan beside them: plain commands work there
    for (const name of ['monolith', 'users', 'orders', 'strangler.config.json']) expect(existsSync(join(keep, name))).toBe(true)
    const status = await runCli(['status', '--json'], {cwd: keep})
    expect(status.code).toBe(0)
    const phases = JSON.parse(status.stdout) as {services: {name: string; phase: string}[]}
    expect(phases.services.map((s) => [s.name, s.phase])).toEqual([
      ['users', 'decommissioned'],
      ['orders', 'decommissioned'],
    ])
    // every entity, JSON columns included (users.preferences, orders.shipping_address), is checksummed in the databases
    const diff = await runCli(['diff', '--json'], {cwd: keep})
    expect(diff.code, diff.stderr.slice(-2000)).toBe(0)
    const run = JSON.parse(diff.stdout) as {status: string; services: {name: string; entities: {entity: string; mode: string}[]}[]}
    expect(run.status).toBe('clean')
    expect(run.services.flatMap((s) => s.entities.map((e) => [e.entity, e.mode]))).toEqual([
      ['users', 'push-down'],
      ['orders', 'push-down'],
      ['order_lines', 'push-down'],
    ])
  }, 480_000)

  it('refuses a --keep directory that is not empty', async () => {
    const res = await runCli(['demo', '--rows', '100', '--keep', keep], {timeoutMs: 60_000})
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/not empty/)
  }, 90_000)
})
