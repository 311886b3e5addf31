/**
 * `strangler relay` as a child process: kill -9 between the apply and the
 * outbox cleanup (through the STRANGLER_TEST_CRASH_AT hook) and a re-run that
 * ends identical with no duplicates; `--follow` with `--metrics-port`, served
 * Prometheus metrics and health, and SIGTERM finishing cleanly with exit 0.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, describe, expect, it} from 'vitest'
import {listRelaySamples} from '../../src/capture/relay-samples.js'
import {freePort} from '../helpers/servers.js'
import {testPassword} from '../helpers/db.js'
import {entries, relayFixture, SERVICE, type RelayFixture} from './relay-setup.js'

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..')

let cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined)
  cleanup = []
})

async function setup(pair: Parameters<typeof relayFixture>[0]): Promise<{f: RelayFixture; planFile: string}> {
  const f = await relayFixture(pair)
  cleanup.push(() => f.close())
  const dir = mkdtempSync(join(tmpdir(), 'strangler-relay-cli-'))
  cleanup.push(async () => rmSync(dir, {recursive: true, force: true}))
  const planFile = join(dir, 'strangler.config.json')
  writeFileSync(planFile, JSON.stringify(f.plan, null, 2))
  return {f, planFile}
}

interface Run {
  child: ChildProcess
  done: Promise<{code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string}>
  stderr: () => string
}

function cli(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', '--disable-warning=ExperimentalWarning', 'bin/dev.js', ...args], {
    cwd: ROOT,
    env: {...process.env, STRANGLER_TEST_CRASH_AT: '', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const done = new Promise<{code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string}>((res) =>
    child.on('exit', (code, signal) => setTimeout(() => res({code, signal, stdout, stderr}), 50)),
  )
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return {child, done, stderr: () => stderr}
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('strangler relay (CLI)', () => {
  it('crashes between apply and outbox cleanup, then a re-run ends identical without duplicates (MariaDB → PostgreSQL)', async () => {
    const {f, planFile} = await setup('my-pg')
    const rows = Array.from({length: 300}, (_, i) => `(${i + 1}, 'u${i + 1}@x', 'n${i + 1}', ${i}.25)`)
    await f.app.exec(`INSERT INTO accounts (id, email, name, balance) VALUES ${rows.join(', ')}`)
    await f.app.exec(`INSERT INTO attrs (product_id, name, value) VALUES (1, 'Color', 'red'), (1, 'Size', 'L'), (2, 'Color', 'blue')`)
    expect(await f.outboxCount()).toBe(303)
    const runId = randomUUID()

    const crashed = await cli(['relay', SERVICE, '--once', '--config', planFile, '--batch-size', '1000', '--json'], {
      STRANGLER_TEST_CRASH_AT: 'relay:after-apply',
      STRANGLER_RUN_ID: runId,
    }).done
    expect(crashed.code, crashed.stderr).toBe(137)
    expect(crashed.stderr).toMatch(/crash point relay:after-apply/)
    // applied, but not cleaned up
    let snap = await f.snapshot()
    expect(snap.target.size).toBe(303)
    expect(entries(snap.target)).toEqual(entries(snap.source))
    expect(await f.outboxCount()).toBe(303)

    // more writes land while the relay is down
    await f.app.exec(`UPDATE accounts SET name = 'changed' WHERE id <= 10`)
    await f.app.exec(`DELETE FROM accounts WHERE id > 290`)
    await f.app.exec(`UPDATE accounts SET id = 1000 WHERE id = 20`)

    // the re-run (same run id: the crashed run's lease is still live) repeats the batch and goes on
    const rerun = await cli(['relay', SERVICE, '--once', '--config', planFile, '--json'], {STRANGLER_RUN_ID: runId}).done
    expect(rerun.code, rerun.stderr).toBe(0)
    const result = JSON.parse(rerun.stdout) as {changes: number; deletes: number; pending: number; mode: string}
    expect(result).toMatchObject({mode: 'once', pending: 0})
    expect(result.changes).toBe(303 + 10 + 10 + 2)
    expect(await f.outboxCount()).toBe(0)
    snap = await f.snapshot()
    expect(snap.source.size).toBe(303 - 10)
    expect(entries(snap.target)).toEqual(entries(snap.source))
    const [{n}] = await (await f.targetEngine()).sql!.query<{n: string}>(`SELECT COUNT(*) AS n FROM accounts`)
    expect(Number(n)).toBe(290)
    expect(rerun.stdout + rerun.stderr).not.toContain(testPassword())
  })

  it('logical capture: crashes between writing the outbox and advancing the slot, then a re-run loses nothing (PostgreSQL → PostgreSQL)', async () => {
    const {f, planFile} = await setup('pgl-pg')
    const rows = Array.from({length: 300}, (_, i) => `(${i + 1}, 'u${i + 1}@x', 'n${i + 1}', ${i}.25)`)
    await f.app.exec(`INSERT INTO accounts (id, email, name, balance) VALUES ${rows.join(', ')}`)
    await f.app.exec(`INSERT INTO attrs (product_id, name, value) VALUES (1, 'Color', 'red'), (1, 'Size', 'L'), (2, 'Color', 'blue')`)
    const slotPosition = async () => {
      const [r] = await f.ws.monolith.sql!.query<{lsn: string}>(`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE database = current_database()`)
      return r.lsn
    }
    const before = await slotPosition()

    const crashed = await cli(['relay', SERVICE, '--once', '--config', planFile, '--json'], {STRANGLER_TEST_CRASH_AT: 'logical:after-outbox'}).done
    expect(crashed.code, crashed.stderr).toBe(137)
    expect(crashed.stderr).toMatch(/crash point logical:after-outbox/)
    // the changes are in the outbox, and still in the slot: it was not advanced
    expect(await f.outboxCount()).toBe(303)
    expect(await slotPosition()).toBe(before)

    await f.app.exec(`UPDATE accounts SET name = 'changed' WHERE id <= 10`)
    await f.app.exec(`DELETE FROM accounts WHERE id > 290`)
    await f.app.exec(`UPDATE accounts SET id = 1000 WHERE id = 20`)

    const rerun = await cli(['relay', SERVICE, '--once', '--config', planFile, '--json'], {STRANGLER_RUN_ID: randomUUID()}).done
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(JSON.parse(rerun.stdout)).toMatchObject({mode: 'once', pending: 0, deadLettered: 0})
    expect(await f.outboxCount()).toBe(0)
    expect(await slotPosition()).not.toBe(before)
    const snap = await f.snapshot()
    expect(snap.source.size).toBe(303 - 10)
    expect(entries(snap.target)).toEqual(entries(snap.source))
    const [{n}] = await (await f.targetEngine()).sql!.query<{n: string}>(`SELECT COUNT(*) AS n FROM accounts`)
    expect(Number(n)).toBe(290)
  })

  it('--follow serves metrics and health, applies changes, and exits 0 on SIGTERM (PostgreSQL → PostgreSQL)', async () => {
    const {f, planFile} = await setup('pg-pg')
    const port = await freePort()
    const run = cli(['relay', SERVICE, '--follow', '--config', planFile, '--metrics-port', String(port), '--metrics-host', '127.0.0.1', '--json'])
    const base = `http://127.0.0.1:${port}`
    const health = await waitFor('the health endpoint', async () => {
      const res = await fetch(`${base}/healthz`)
      return res.status === 200 ? ((await res.json()) as {status: string; lagSeconds: number | null}) : undefined
    })
    expect(health.status).toBe('ok')

    const rows = Array.from({length: 50}, (_, i) => `(${i + 1}, 'u${i + 1}@x')`)
    await f.app.exec(`INSERT INTO accounts (id, email) VALUES ${rows.join(', ')}`)
    await f.app.exec(`DELETE FROM accounts WHERE id <= 5`)
    const metrics = await waitFor('55 consumed changes in the metrics', async () => {
      const text = await (await fetch(`${base}/metrics`)).text()
      return /strangler_relay_outbox_changes_total\{service="acct"\} 55\b/.test(text) ? text : undefined
    })
    expect(metrics).toMatch(/strangler_relay_changes_applied_total\{op="upsert",service="acct"\} \d+/)
    expect(metrics).toMatch(/strangler_relay_changes_applied_total\{op="delete",service="acct"\} \d+/)
    expect(metrics).toMatch(/strangler_relay_batch_duration_seconds_count\{service="acct"\} [1-9]/)
    expect(metrics).toMatch(/strangler_relay_lag_seconds\{service="acct"\} /)
    expect(metrics).toMatch(/strangler_relay_dead_letters\{service="acct"\} 0/)
    expect(metrics).toMatch(/strangler_relay_retries_total\{service="acct"\} 0/)
    expect((await fetch(`${base}/livez`)).status).toBe(200)
    expect((await fetch(`${base}/nope`)).status).toBe(404)

    run.child.kill('SIGTERM')
    const out = await run.done
    expect(out.code, out.stderr).toBe(0)
    const result = JSON.parse(out.stdout) as {mode: string; stoppedBy: string; changes: number; upserts: number; deletes: number}
    expect(result).toMatchObject({mode: 'follow', stoppedBy: 'SIGTERM', changes: 55})
    await expect(fetch(`${base}/healthz`)).rejects.toThrow()
    const snap = await f.snapshot()
    expect(snap.source.size).toBe(45)
    expect(entries(snap.target)).toEqual(entries(snap.source))
    expect((await listRelaySamples(f.ws.state, SERVICE)).length).toBeGreaterThan(0)
  })

  it('refuses a service without capture, naming the command that installs it', async () => {
    const {f, planFile} = await setup('pg-pg')
    await f.app.exec(`DROP TABLE strangler_outbox_acct CASCADE`)
    const out = await cli(['relay', SERVICE, '--config', planFile]).done
    expect(out.code).toBe(2)
    expect(out.stderr).toMatch(/no outbox.*\n.*strangler shadow acct/s)
  })
})
