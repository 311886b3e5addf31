/**
 * The relay lock (issue #8, defects A, B and E), with the CLI as child
 * processes on a real PostgreSQL monolith under load:
 * - B: a following relay holds the service's relay lock, not the operator's
 *   lock of the service: `write-through`, `shift` and `decommission` run
 *   beside it (their drains wait for it rather than relaying themselves); a
 *   second relay for the service is refused, exit 2, naming the holder; the
 *   relay ends by itself once decommission has removed the capture.
 * - A: a relay whose lock is taken over with `--steal --reason` notices, stops
 *   with who took it over, when and why, exits 2, and the audit log says so;
 *   the new relay loses nothing.
 * - E: `relay --once` under a constant stream of writes returns, exit 0,
 *   having applied what was in the outbox when it started.
 */
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {testPassword} from '../helpers/db.js'
import {killAllCli} from './support/cli-process.js'
import {migration, type Migration} from './support/migration.js'
import {followRelay} from './support/relay-follower.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let fixtures: Migration[] = []
afterEach(async () => {
  killAllCli()
  for (const m of fixtures) await m.close()
  fixtures = []
})
afterAll(() => killAllCli())

async function shadowed(opts: {writesPerSecond?: number; concurrency?: number} = {}): Promise<Migration> {
  const m = await migration({monolith: 'postgres', accounts: 300, items: 20, load: {seed: 8, writesPerSecond: opts.writesPerSecond ?? 150, concurrency: opts.concurrency ?? 4}})
  fixtures.push(m)
  expect((await m.cli(['init'])).code).toBe(0)
  const shadow = await m.cli(['shadow', m.service])
  expect(shadow.code, shadow.stderr).toBe(0)
  return m
}

interface AuditJson {
  records: {command: string; outcome: string; exitCode: number | null; detail: string | null; operator: string; runId: string}[]
}

describe('the relay lock', () => {
  it('B: a following relay blocks no phase command; a second relay is refused naming the holder; decommission ends the relay', async () => {
    const m = await shadowed()
    const s = m.service
    const diff = await m.cli(['diff', s])
    expect(diff.code, diff.stdout + diff.stderr).toBe(0)

    const alice = await followRelay(m, ['--json'], {STRANGLER_OPERATOR: 'alice'})
    m.gen.start()

    // one relay per service: a second one is refused, exit 2, with who runs it
    const second = await m.cli(['relay', s, '--follow'], {STRANGLER_OPERATOR: 'carol'})
    expect(second.code, second.stderr).toBe(2)
    expect(second.stderr).toMatch(/The relay of service acct is running: its lock is held by alice@\S+ pid \d+ \(strangler relay, run [0-9a-f-]{36}\) since \d{4}-\d\d-\d\dT/)
    expect(second.stderr).toMatch(/Only one relay per service may run/)
    const once = await m.cli(['relay', s, '--once'], {STRANGLER_OPERATOR: 'carol'})
    expect(once.code, once.stderr).toBe(2)
    expect(once.stderr).toMatch(/its lock is held by alice@/)

    // the phase commands run beside it
    const wt = await m.cli(['write-through', s], {STRANGLER_OPERATOR: 'bob'})
    expect(wt.code, wt.stderr).toBe(0)
    expect(wt.stdout).toMatch(/Service acct: shadow → write-through/)
    expect((await m.state()).phase).toBe('write-through')
    const shift = await m.cli(['shift', s, '--to', '100'], {STRANGLER_OPERATOR: 'bob'})
    expect(shift.code, shift.stdout + shift.stderr).toBe(0)
    expect(await m.state()).toMatchObject({phase: 'shift', readPct: 100})
    expect(alice.process.exited()).toBe(false)

    // the relay kept the service store current all along
    await m.gen.stop()
    await alice.caughtUp()
    const check = await m.checkService()
    expect(check.problems).toEqual([])
    expect(check.keysChecked).toBeGreaterThan(300)

    // decommission: its drain waits for the running relay; once the capture is gone the relay stops by itself, exit 0
    await sleep(1200) // the soak gate: reads at 100 % for 1 s
    const dec = await m.cli(['decommission', s, '--yes'], {STRANGLER_OPERATOR: 'bob'})
    expect(dec.code, dec.stdout + dec.stderr).toBe(0)
    expect((await m.state()).phase).toBe('decommissioned')
    const ended = await m.keep(alice.process)
    expect(ended.code, ended.stderr.slice(-2000)).toBe(0)
    expect(JSON.parse(ended.stdout)).toMatchObject({mode: 'follow', stoppedBy: 'decommissioned'})
    expect(ended.stderr).toMatch(/service acct was decommissioned: the forward relay stops/)
    for (const out of m.outputs) expect(out).not.toContain(testPassword())
  })

  it('A: a relay whose lock is taken over stops before its next batch, exit 2, saying by whom, when and why; nothing is lost', async () => {
    const m = await shadowed()
    const s = m.service
    const alice = await followRelay(m, [], {STRANGLER_OPERATOR: 'alice'})
    m.gen.start()
    await sleep(500)

    const bob = await followRelay(m, ['--steal', '--reason', 'relay on host-a hangs, INC-42'], {STRANGLER_OPERATOR: 'bob'})
    expect(bob.process.stderr()).toMatch(/took over the lock of relay:acct from alice@/)

    // alice notices on its next renewal (every 5 s) or lock check and stops
    const a = await m.keep(alice.process)
    expect(a.code, a.stderr.slice(-2000)).toBe(2)
    expect(a.stderr).toMatch(
      /Error: The relay lock of service acct was taken over by bob@\S+ pid \d+ \(strangler relay, run [0-9a-f-]{36}\) at \d{4}-\d\d-\d\dT\S+ \(reason: relay on host-a hangs, INC-42\); stopping\./,
    )
    expect(a.stderr).not.toMatch(/\(run with --log-level debug/) // an operator's error, not a crash

    // bob's relay goes on and loses nothing
    await sleep(500)
    await m.gen.stop()
    await bob.caughtUp({minConsumed: 1})
    const check = await m.checkService()
    expect(check.problems).toEqual([])
    const b = await bob.stop()
    expect(b.code, b.stderr.slice(-2000)).toBe(0)

    const audit = await m.cli(['audit', s, '--json'])
    expect(audit.code).toBe(0)
    const relays = (JSON.parse(audit.stdout) as AuditJson).records.filter((r) => r.command === 'relay')
    const aliceRec = relays.find((r) => r.operator === 'alice')
    expect(aliceRec).toMatchObject({outcome: 'failed', exitCode: 2})
    expect(aliceRec?.detail).toMatch(/^The relay lock of service acct was taken over by bob@.* \(reason: relay on host-a hangs, INC-42\); stopping\.$/)
    expect(relays.find((r) => r.operator === 'bob')?.detail).toMatch(/^lock stolen from alice@\S+ pid \d+ \(run [0-9a-f-]{36}\): relay on host-a hangs, INC-42$/)
  })

  it('E: relay --once under a constant stream of writes returns, exit 0, with what was in the outbox when it started applied', async () => {
    // the writes outpace a relay consuming 3 changes per batch: a drain that waited for an empty outbox would never return
    const m = await shadowed({writesPerSecond: 250, concurrency: 4})
    const s = m.service
    const ws = await m.workspace()
    const tgt = (await ws.target(s)).sql!
    // keys written before the relay starts, which the load never touches
    const marks = Array.from({length: 40}, (_, i) => 9_000_000 + i)
    await m.app.exec(`INSERT INTO accounts (id, email, balance, note, updated_at) VALUES ${marks.map((id) => `(${id}, 'mark${id}@x', 1.00, NULL, '2025-01-01 00:00:00.000')`).join(', ')}`)
    m.gen.start()
    await sleep(300)
    let run
    try {
      run = await m.cli(['relay', s, '--once', '--batch-size', '3', '--json'])
    } finally {
      // the writes went on until the relay had returned
      expect(m.gen.isRunning).toBe(true)
      await m.gen.stop()
    }
    expect(run.code, run.stderr.slice(-2000)).toBe(0)
    const result = JSON.parse(run.stdout) as {mode: string; stoppedBy: string | null; changes: number; pending: number}
    expect(result).toMatchObject({mode: 'once', stoppedBy: null})
    expect(result.changes).toBeGreaterThanOrEqual(marks.length)
    const rows = await tgt.query<{id: unknown; email: string}>(`SELECT id, email FROM accounts WHERE id >= ${marks[0]} ORDER BY id`)
    expect(rows.map((r) => [Number(r.id), r.email])).toEqual(marks.map((id) => [id, `mark${id}@x`]))
    expect(m.gen.stats().writes).toBeGreaterThan(0)

    // --max-seconds bounds a drain: with a huge backlog (20,000 changes, one per batch: far more than a
    // second's work on any machine) it stops early, exit 0, saying why
    await m.app.exec(`INSERT INTO accounts (id, email, balance, note, updated_at) SELECT g, 'bulk' || g || '@x', 1.00, NULL, '2025-01-01 00:00:00.000' FROM generate_series(8000000, 8019999) AS g`)
    m.gen.start()
    await sleep(300)
    const bounded = await m.cli(['relay', s, '--once', '--batch-size', '1', '--max-seconds', '1', '--json'])
    await m.gen.stop()
    expect(bounded.code, bounded.stderr.slice(-2000)).toBe(0)
    const b = JSON.parse(bounded.stdout) as {stoppedBy: string | null; pending: number}
    expect(b.stoppedBy).toBe('--max-seconds')
    expect(b.pending).toBeGreaterThan(0)
  })
})
