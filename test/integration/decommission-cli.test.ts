import mysql from 'mysql2/promise'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {validatePlan} from '../../src/config/load.js'
import {runDiff} from '../../src/diff/run-diff.js'
import {advance} from '../../src/phases/machine.js'
import {verifyShadow} from '../../src/phases/shadow-verify.js'
import {runShadow} from '../../src/phases/shadow.js'
import {runShift} from '../../src/phases/shift.js'
import {DECOMMISSION_STEPS} from '../../src/phases/decommission/decommission.js'
import {acquireLease} from '../../src/state/locks.js'
import {getService} from '../../src/state/services.js'
import {openToggleProvider} from '../../src/toggles/index.js'
import {Workspace} from '../../src/workspace.js'
import {planDir, runCli} from '../helpers/cli.js'
import {freshMysql, freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'

/**
 * `strangler decommission` as an operator runs it: killed (kill -9) after each
 * of its steps and run again, it resumes where it stopped and finishes; a
 * second operator is refused while the first holds the lock; --steal takes
 * over and is audited; purge is refused before the retention period.
 */
describe('decommission from the CLI', () => {
  let mono: FreshDatabase
  let svc: FreshDatabase
  let ws: Workspace
  let dir: string
  let rawPlan: Record<string, unknown>

  beforeAll(async () => {
    ;[mono, svc] = await Promise.all([freshMysql('dec_mono'), freshPg('dec_svc')])
    const c = await mysql.createConnection(mono.url)
    await c.query('CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(100) NOT NULL, balance DECIMAL(12,2) NOT NULL)')
    await c.query('INSERT INTO accounts (id, owner, balance) VALUES ?', [Array.from({length: 500}, (_, i) => [i + 1, `o${i}`, `${i}.50`])])
    await c.end()
    rawPlan = {
      monolith: {url: '${MONO}'},
      toggles: {provider: 'local', pollMs: 200},
      gates: {maxRelayLagSeconds: 60, minShadowSamples: 10, soak: '1s', retention: '7d'},
      services: {accounts: {target: {url: '${SVC}'}, entities: [{source: 'accounts'}]}},
    }
    dir = planDir(rawPlan)
    ws = await Workspace.open(validatePlan(rawPlan, 'p', {MONO: mono.url, SVC: svc.url}), {runId: 'dec-setup'})
    await ws.state.migrate()
    await runShadow(ws, 'accounts')
    await verifyShadow(ws, 'accounts', {sample: 50})
    await runDiff(ws, {service: 'accounts'})
    await advance(ws, 'accounts', 'write-through')
    const t = await openToggleProvider(ws)
    await runShift(ws, 'accounts', t, {steps: [100], soakMs: 0, checkEveryMs: 500})
    await t.close()
    await runDiff(ws, {service: 'accounts'})
    await new Promise((r) => setTimeout(r, 1100))
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([mono?.drop(), svc?.drop()])
  })

  const env = () => ({MONO: mono.url, SVC: svc.url})

  it('a second operator is refused while the lock is held; --steal takes over and is audited', async () => {
    const lease = await acquireLease(ws.state, 'accounts', {runId: 'operator-a', command: 'shift'})
    try {
      const refused = await runCli(['decommission', 'accounts', '--dry-run'], {cwd: dir, env: env()})
      expect(refused.code).toBe(0) // dry runs take no lock
      const r = await runCli(['rollback', 'accounts', '--to', '50'], {cwd: dir, env: {...env(), STRANGLER_OPERATOR: 'bob'}})
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/Service accounts is locked by .* \(strangler shift, run operator-a\) since \d{4}-/)
      expect(r.stderr).toContain('--steal')
      const noReason = await runCli(['rollback', 'accounts', '--to', '50', '--steal'], {cwd: dir, env: env()})
      expect(noReason.code).toBe(2)
      expect(noReason.stderr).toMatch(/--steal needs --reason/)
    } finally {
      await lease.release()
    }
    const lease2 = await acquireLease(ws.state, 'accounts', {runId: 'operator-a2', command: 'shift'})
    const stolen = await runCli(['shift', 'accounts', '--to', '100', '--steal', '--reason', 'alice is on holiday'], {cwd: dir, env: {...env(), STRANGLER_OPERATOR: 'bob'}})
    await lease2.release().catch(() => undefined)
    expect(stolen.code, stolen.stderr).toBe(0)
    const audit = await runCli(['audit', 'accounts', '--json'], {cwd: dir, env: env()})
    const records = JSON.parse(audit.stdout).records as {operator: string; command: string; detail: string | null; outcome: string}[]
    expect(records.some((x) => x.operator === 'bob' && x.command === 'shift' && /lock stolen from .*alice is on holiday/.test(x.detail ?? ''))).toBe(true)
    expect(records.some((x) => x.operator === 'bob' && x.command === 'rollback' && x.outcome === 'failed')).toBe(true)
  })

  it('dry run prints every statement and changes nothing', async () => {
    const r = await runCli(['decommission', 'accounts', '--dry-run', '--json'], {cwd: dir, env: env()})
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.status).toBe('dry-run')
    const stmts = out.steps.flatMap((s: {statements: string[]}) => s.statements).join('\n')
    expect(stmts).toMatch(/RENAME TABLE `[^`]+`\.`accounts` TO `[^`]+_strangler_archive`\.`accounts`/)
    expect(stmts).toMatch(/DROP TRIGGER IF EXISTS/)
    expect((await getService(ws.state, 'accounts')).phase).toBe('shift')
  })

  it('refuses to archive without --yes when not interactive, changing nothing', async () => {
    const r = await runCli(['decommission', 'accounts'], {cwd: dir, env: env()})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/needs confirmation/)
    const s = await getService(ws.state, 'accounts')
    expect([s.phase, s.writeTarget, s.step]).toEqual(['shift', 'monolith', null])
  })

  it('killed after each step, it resumes and finishes', async () => {
    const seen: string[] = []
    for (const step of DECOMMISSION_STEPS) {
      const r = await runCli(['decommission', 'accounts', '--yes'], {cwd: dir, env: {...env(), STRANGLER_TEST_CRASH_AT: `decommission:after-${step}`}})
      expect(r.code, `${step}: ${r.stderr}`).toBe(137)
      expect(r.stderr).not.toContain(testPassword())
      const s = await getService(ws.state, 'accounts')
      seen.push(s.step ?? 'done')
    }
    // each run did exactly one more step, then died; the last one died after the last step
    expect(seen).toEqual([...DECOMMISSION_STEPS.slice(1).map((s) => `decommission:${s}`), 'done'])
    const last = await runCli(['decommission', 'accounts', '--yes', '--json'], {cwd: dir, env: env()})
    expect(last.code, last.stderr).toBe(0)
    expect(JSON.parse(last.stdout).status).toBe('already-decommissioned')
    const s = await getService(ws.state, 'accounts')
    expect([s.phase, s.step, s.writeTarget]).toEqual(['decommissioned', null, 'service'])
    const diff = await runCli(['diff', 'accounts', '--json'], {cwd: dir, env: env()})
    expect(diff.code, diff.stdout + diff.stderr).toBe(0)
  })

  it('purge is refused before the retention period ends', async () => {
    const r = await runCli(['decommission', 'accounts', '--purge', '--yes'], {cwd: dir, env: env()})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/Refusing to purge accounts: the retention period \(7d\) ends at \d{4}-/)
    const c = await mysql.createConnection(mono.url)
    const [rows] = await c.query(`SELECT COUNT(*) AS n FROM \`${mono.name}_strangler_archive\`.accounts`)
    await c.end()
    expect(Number((rows as {n: number}[])[0].n)).toBe(500)
  })
})
