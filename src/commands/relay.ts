import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {cliProgress} from '../cli/progress.js'
import {Relay, type RelayTotals} from '../capture/relay.js'
import {startRelayMetrics, type RelayMetricsServer} from '../capture/relay-metrics.js'
import {Outbox} from '../capture/outbox.js'
import {UserError, errorMessage} from '../util/errors.js'
import {getService} from '../state/services.js'
import {reverseSync} from '../phases/decommission/reverse-sync.js'
import {parseDuration} from '../cli/render.js'

export interface RelayResult extends RelayTotals {
  runId: string
  service: string
  mode: 'once' | 'follow'
  /** The signal that stopped a run early (SIGTERM, SIGINT), or null. */
  stoppedBy: string | null
  durationMs: number
  metricsUrl: string | null
}

export default class RelayCmd extends BaseCommand<typeof RelayCmd> {
  static override summary = 'Apply captured changes from the outbox to the service store, once (drain) or continuously (--follow).'
  static override description = `Consumes the service's outbox as a queue: reads a batch of changed keys, re-reads the current monolith rows, maps them, upserts or deletes them in the service store, then removes exactly the consumed outbox rows. A crash at any point only repeats work. Changes of an entity whose backfill has not finished wait in the outbox. Keys that keep failing go to the dead-letter table and are retried with backoff.

After decommission it runs in reverse, keeping the archived monolith tables current from the service store so a rollback loses nothing.

Without --follow the relay drains the outbox and exits. With --follow it runs until SIGTERM or SIGINT, which finish the batch in hand and exit 0 (a second signal exits at once); run it under a process manager. --metrics-port serves Prometheus metrics on /metrics, readiness on /healthz (503 when batches fail or lag exceeds gates.maxRelayLagSeconds) and liveness on /livez.`
  static override examples = [
    {description: 'Drain the outbox of the users service once', command: '<%= config.bin %> <%= command.id %> users --once'},
    {description: 'Keep the users service in sync, with Prometheus metrics on port 9464', command: '<%= config.bin %> <%= command.id %> users --follow --metrics-port 9464'},
    {description: 'Drain with bigger batches and print the totals as JSON', command: '<%= config.bin %> <%= command.id %> users --batch-size 2000 --json'},
  ]
  static override mutating = true
  static override args = {
    service: Args.string({description: 'Service name from the plan.', required: true}),
  }
  static override flags = {
    once: Flags.boolean({summary: 'Drain the outbox once and exit (the default).', exclusive: ['follow']}),
    follow: Flags.boolean({char: 'f', summary: 'Keep running until SIGTERM/SIGINT.', exclusive: ['once']}),
    'batch-size': Flags.integer({summary: 'Outbox rows per batch.', default: 500, min: 1, max: 50_000}),
    'max-attempts': Flags.integer({summary: 'Attempts of a database step on transient errors (connection lost, deadlock).', default: 6, min: 1, max: 100}),
    entity: Flags.string({summary: 'Only this entity (repeatable); default all entities of the service.', multiple: true}),
    'metrics-port': Flags.integer({summary: 'Serve Prometheus metrics and health on this port (0: any free port).', min: 0, max: 65_535}),
    'metrics-host': Flags.string({summary: 'Interface for --metrics-port (default: all interfaces).'}),
    interval: Flags.string({summary: 'After decommission (reverse relay): time between passes with --follow.', default: '5s'}),
  }

  async run(): Promise<RelayResult> {
    const service = this.args.service
    const started = Date.now()
    const ws = await this.workspace()
    ws.service(service)
    await this.lockService(service)
    const phase = await getService(ws.state, service)
    if (phase.phase === 'decommissioned' || phase.writeTarget === 'service') return this.reverse(service, started)
    const outbox = new Outbox(ws.monolith, ws.outbox(service))
    if (!(await outbox.exists())) {
      throw new UserError(`Service ${service} has no outbox: change capture is not installed.`, {
        code: 'E_NO_CAPTURE',
        hint: `Run \`strangler shadow ${service}\` first: it installs capture, backfills, and starts the relay.`,
      })
    }

    const mode = this.flags.follow ? 'follow' : 'once'
    const controller = new AbortController()
    let stoppedBy: string | null = null
    const onSignal = (sig: NodeJS.Signals): void => {
      if (controller.signal.aborted) {
        process.stderr.write(`${sig} again: exiting now; the outbox keeps whatever was not consumed\n`)
        process.exit(130)
      }
      stoppedBy = sig
      this.logger.info(`${sig} received: finishing the batch in hand`, {service})
      controller.abort()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)

    const progress = cliProgress({quiet: this.jsonEnabled()})
    let metrics: RelayMetricsServer | undefined
    let totals: RelayTotals
    try {
      if (this.flags['metrics-port'] !== undefined) {
        try {
          metrics = await startRelayMetrics({
            service,
            port: this.flags['metrics-port'],
            host: this.flags['metrics-host'],
            maxLagSeconds: ws.plan.gates.maxRelayLagSeconds,
          })
        } catch (err) {
          throw new UserError(`Cannot serve metrics on port ${this.flags['metrics-port']}: ${errorMessage(err)}.`, {
            code: 'E_METRICS_PORT',
            hint: 'Pick a free port with --metrics-port, or 0 for any free port.',
          })
        }
        this.logger.info(`metrics on ${metrics.url}/metrics, health on ${metrics.url}/healthz`, {service})
      }
      const relay = new Relay(ws, service, {
        batchSize: this.flags['batch-size'],
        maxAttempts: this.flags['max-attempts'],
        entities: this.flags.entity,
        progress,
        signal: controller.signal,
        listener: metrics?.listener,
        log: this.logger,
      })
      totals = mode === 'follow' ? await relay.follow(controller.signal) : await relay.drain()
    } finally {
      progress.close()
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      await metrics?.close()
    }

    const result: RelayResult = {runId: this.runId, service, mode, ...totals, stoppedBy, durationMs: Date.now() - started, metricsUrl: metrics ? `${metrics.url}/metrics` : null}
    this.out(
      `Relay ${service}: ${totals.changes} change(s) consumed in ${totals.batches} batch(es); ${totals.upserts} upserted, ${totals.deletes} deleted` +
        `${totals.deadLettered ? `, ${totals.deadLettered} dead-lettered` : ''}${totals.resolved ? `, ${totals.resolved} dead letter(s) resolved` : ''}` +
        `${totals.retries ? `, ${totals.retries} retries` : ''}.`,
    )
    this.out(`Outbox: ${totals.pending} pending, lag ${totals.lagSeconds.toFixed(1)} s${stoppedBy ? ` (stopped by ${stoppedBy})` : ''}.`)
    return result
  }

  /**
   * After the write cut-over the relay runs the other way: each pass brings the
   * archived monolith tables up to date with the service store (a diff, then
   * exactly the differing keys written back), so a rollback loses nothing.
   */
  private async reverse(service: string, started: number): Promise<RelayResult> {
    const ws = await this.workspace()
    let intervalMs: number
    try {
      intervalMs = parseDuration(this.flags.interval)
    } catch (err) {
      throw new UserError(`--interval: ${errorMessage(err)}`, {code: 'E_USAGE'})
    }
    const controller = new AbortController()
    let stoppedBy: string | null = null
    const onSignal = (sig: NodeJS.Signals): void => {
      stoppedBy = sig
      controller.abort()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    const totals: RelayTotals = {batches: 0, changes: 0, applied: 0, upserts: 0, deletes: 0, deadLettered: 0, resolved: 0, retries: 0, lagSeconds: 0, pending: 0}
    try {
      do {
        const r = await reverseSync(ws, service, {signal: controller.signal})
        totals.batches++
        totals.upserts += r.totals.upserts
        totals.deletes += r.totals.deletes
        totals.applied += r.totals.upserts + r.totals.deletes
        totals.changes += r.totals.upserts + r.totals.deletes
        if (r.totals.upserts + r.totals.deletes) this.logger.info(`reverse relay: ${r.totals.upserts} upserted, ${r.totals.deletes} deleted in the archive`, {service})
        if (!this.flags.follow) break
        await new Promise<void>((res) => {
          const t = setTimeout(res, intervalMs)
          controller.signal.addEventListener('abort', () => (clearTimeout(t), res()), {once: true})
        })
      } while (!controller.signal.aborted)
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
    this.out(`Reverse relay ${service} (service → archived monolith tables): ${totals.batches} pass(es), ${totals.upserts} upserted, ${totals.deletes} deleted.`)
    return {runId: this.runId, service, mode: this.flags.follow ? 'follow' : 'once', ...totals, stoppedBy, durationMs: Date.now() - started, metricsUrl: null}
  }
}
