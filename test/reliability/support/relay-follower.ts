/**
 * `strangler relay SERVICE --follow` as a child process with its Prometheus
 * endpoint: the fault tests watch its counters while they break the servers
 * under it, then stop it with SIGTERM.
 */
import {expect} from 'vitest'
import type {CliOutcome, CliProcess} from './cli-process.js'
import type {Migration} from './migration.js'

export interface RelayFollower {
  readonly process: CliProcess
  /** Sum of a metric's samples (all label sets); undefined while the endpoint does not answer. */
  metric(name: string): Promise<number | undefined>
  /** Resolves once the relay has consumed every change (pending 0) after `sinceConsumed` changes at least. */
  caughtUp(opts?: {timeoutMs?: number; minConsumed?: number}): Promise<void>
  /** SIGTERM: finishes the batch in hand and exits 0. */
  stop(): Promise<CliOutcome>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function followRelay(m: Migration, extraArgs: string[] = [], extraEnv: Record<string, string> = {}): Promise<RelayFollower> {
  const p = m.start(['relay', m.service, '--follow', '--metrics-port', '0', '--metrics-host', '127.0.0.1', ...extraArgs], extraEnv)
  expect(await p.waitFor(/metrics on http:\/\/127\.0\.0\.1:\d+/, 60_000), p.stderr()).toBe(true)
  const port = /metrics on http:\/\/127\.0\.0\.1:(\d+)/.exec(p.stderr())![1]
  const metric = async (name: string): Promise<number | undefined> => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, {signal: AbortSignal.timeout(2000)})).text()
      let sum = 0
      for (const line of text.split('\n')) {
        if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
      }
      return sum
    } catch {
      return undefined
    }
  }
  return {
    process: p,
    metric,
    async caughtUp(opts = {}) {
      const deadline = Date.now() + (opts.timeoutMs ?? 90_000)
      // the pending gauge is measured about once a second: a 0 measured just before the last writes landed
      // is not caught up, so it must hold for 2.5 s
      let zeroSince: number | undefined
      for (;;) {
        if (p.exited()) throw new Error(`the relay exited:\n${p.stderr().slice(-3000)}`)
        const [pending, consumed] = [await metric('strangler_relay_pending_changes'), await metric('strangler_relay_outbox_changes_total')]
        if (pending === 0 && (consumed ?? 0) >= (opts.minConsumed ?? 0)) zeroSince ??= Date.now()
        else zeroSince = undefined
        if (zeroSince !== undefined && Date.now() - zeroSince >= 2500) return
        if (Date.now() > deadline) throw new Error(`the relay did not catch up (pending ${pending}, consumed ${consumed}):\n${p.stderr().slice(-3000)}`)
        await sleep(250)
      }
    },
    async stop() {
      p.kill('SIGTERM')
      return m.keep(p)
    },
  }
}
