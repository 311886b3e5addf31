/**
 * A second operator: two mutating commands on one service. While one holds
 * the service's lease (`shadow --follow`), another is refused, exit 2, with
 * who holds the lock, which command and since when, and nothing changed;
 * `--steal` without `--reason` is refused; `--steal --reason` takes over, the
 * first holder notices, stops and exits 2 saying who took over, when and why,
 * and the audit log records the takeover with the reason. Operators taking
 * the lease at the same moment: exactly one gets it. (A following relay holds
 * the relay lock, not this one: see relay-lock.test.ts.)
 */
import {randomUUID} from 'node:crypto'
import {afterAll, describe, expect, it} from 'vitest'
import {acquireLease} from '../../src/state/locks.js'
import {testPassword} from '../helpers/db.js'
import {killAllCli} from './support/cli-process.js'
import {migration, type Migration} from './support/migration.js'

let m: Migration | undefined
afterAll(async () => {
  killAllCli()
  await m?.close()
})

interface AuditJson {
  records: {command: string; service: string | null; outcome: string; exitCode: number | null; detail: string | null; operator: string; runId: string}[]
}

describe('a second operator', () => {
  it('is refused while the lock is held, can take it over with --steal --reason, and the takeover is audited', async () => {
    m = await migration({monolith: 'postgres', accounts: 300, items: 10, load: {seed: 3}})
    const s = m.service
    expect((await m.cli(['init'])).code).toBe(0)
    expect((await m.cli(['shadow', s])).code).toBe(0)
    expect((await m.cli(['diff', s])).code).toBe(0)

    // operator A: shadow, following, holds the lease
    const holder = m.start(['shadow', s, '--follow'], {STRANGLER_OPERATOR: 'alice'})
    expect(await holder.waitFor(/following changes until SIGTERM/), holder.stderr()).toBe(true)

    // operator B is refused: who, which command, since when
    const refused = await m.cli(['write-through', s], {STRANGLER_OPERATOR: 'bob'})
    expect(refused.code, refused.stderr).toBe(2)
    expect(refused.stderr).toMatch(/Service acct is locked by alice@\S+ pid \d+ \(strangler shadow, run [0-9a-f-]{36}\) since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/)
    expect(refused.stderr).toMatch(/--steal --reason/)
    expect((await m.state()).phase).toBe('shadow')

    const noReason = await m.cli(['write-through', s, '--steal'], {STRANGLER_OPERATOR: 'bob'})
    expect(noReason.code).toBe(2)
    expect(noReason.stderr).toMatch(/--steal needs --reason/)
    expect((await m.state()).phase).toBe('shadow')

    // takeover, with a reason
    const stolen = await m.cli(['write-through', s, '--steal', '--reason', 'alice is on leave; relay restarted under bob'], {STRANGLER_OPERATOR: 'bob'})
    expect(stolen.code, stolen.stderr).toBe(0)
    expect(stolen.stderr).toMatch(/took over the lock of acct from alice@/)
    expect((await m.state()).phase).toBe('write-through')
    // operator A's command notices on its next renewal, stops and says why
    const a = await m.keep(holder)
    expect(a.code, a.stderr.slice(-2000)).toBe(2)
    expect(a.stderr).toMatch(/The lock on service acct was taken over by bob@\S+ pid \d+ \(strangler write-through, run [0-9a-f-]{36}\) at \S+ \(reason: alice is on leave; relay restarted under bob\); stopping\./)

    // write-through twice: nothing to change (no second transition), the relay is drained again
    const again = await m.cli(['write-through', s], {STRANGLER_OPERATOR: 'bob'})
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/Service acct: already in write-through, nothing to change/)
    const transitions = await (await m.workspace()).state.db.selectFrom((await m.workspace()).state.t('transitions')).select(['from_phase', 'to_phase']).where('service', '=', s).execute()
    expect(transitions.map((t) => `${t.from_phase}→${t.to_phase}`)).toEqual(['planned→shadow', 'shadow→write-through'])

    const audit = await m.cli(['audit', s, '--json'])
    expect(audit.code).toBe(0)
    const records = (JSON.parse(audit.stdout) as AuditJson).records
    const wt = records.filter((r) => r.command === 'write-through')
    expect(wt.map((r) => [r.operator, r.outcome, r.exitCode])).toEqual([
      ['bob', 'failed', 2],
      ['bob', 'failed', 2],
      ['bob', 'success', 0],
      ['bob', 'success', 0],
    ])
    expect(wt[0].detail).toMatch(/locked by alice@/)
    expect(wt[2].detail).toMatch(/^lock stolen from alice@\S+ pid \d+ \(run [0-9a-f-]{36}\): alice is on leave; relay restarted under bob$/)
    for (const out of m.outputs) expect(out).not.toContain(testPassword())
  })

  it('two operators taking the lease at the same moment: exactly one gets it', async () => {
    m ??= await migration({monolith: 'postgres', accounts: 300, items: 10, load: {seed: 3}})
    const ws = await m.workspace()
    await ws.state.migrate()
    for (let round = 0; round < 5; round++) {
      const service = `race${round}`
      const tries = await Promise.allSettled(
        ['erin', 'frank', 'grace'].map((who) => acquireLease(ws.state, service, {runId: randomUUID(), command: `test ${who}`})),
      )
      const won = tries.filter((t) => t.status === 'fulfilled')
      const lost = tries.filter((t): t is PromiseRejectedResult => t.status === 'rejected')
      expect(won).toHaveLength(1)
      expect(lost).toHaveLength(2)
      for (const l of lost) expect(String(l.reason)).toMatch(new RegExp(`Service ${service} is locked by .* \\(strangler test \\w+, run [0-9a-f-]{36}\\) since `))
      await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLease>>>).value.release()
    }
  })
})
