import {Args, Flags} from '@oclif/core'
import {BaseCommand, lockFlags} from '../cli/base-command.js'
import {cliProgress} from '../cli/progress.js'
import {Relay, type RelayTotals} from '../capture/relay.js'
import {startRelayMetrics, type RelayMetricsServer} from '../capture/relay-metrics.js'
import {serviceOutbox} from '../capture/capture.js'
import {UserError, errorMessage} from '../util/errors.js'
import {getService} from '../state/services.js'
import {reverseSync} from '../phases/decommission/reverse-sync.js'
import {parseDuration} from '../cli/render.js'

export interface RelayResult extends RelayTotals {
  runId: string
  service: string
  mode: 'once' | 'follow'
  /** What stopped a run early (SIGTERM, SIGINT, --max-seconds, or `decommissioned`: the forward relay ends with the capture), or null. */
  stoppedBy: string | null
  durationMs: number
  metricsUrl: string | null
}

export default class RelayCmd extends BaseCommand<typeof RelayCmd> {
  static override summary = 'Apply captured changes from the outbox to the service store, once (drain) or continuously (--follow).'
  static override description = `Consumes the service's outbox as a queue: reads a batch of changed keys, re-reads the current monolith rows, maps them, upserts or deletes them in the service store, then removes exactly the consumed outbox rows. A crash at any point only repeats work. Changes of an entity whose backfill has not finished wait in the outbox. Keys that keep failing go to the dead-letter table and are retried with backoff.

After decommission it runs in reverse, keeping the archived monolith tables current from the service store so a rollback loses nothing.

Without --follow (--once) the relay consumes what is in the outbox when it starts, up to its highest id, and exits, however fast new changes arrive; --max-seconds bounds that. With --follow it runs until SIGTERM or SIGINT, which finish the batch in hand and exit 0 (a second signal exits at once); run it under a process manager. It runs beside the phase commands in every phase: it holds the service's relay lock, not the operator's lock of the service, so only one relay per service runs at a time (a second one is refused, exit 2) while write-through, shift and decommission go on (they wait for it to drain instead of relaying themselves). A relay whose lock is taken over (--steal) stops before its next batch and exits 2. When decommission completes, a following relay stops relaying forward; started again, it runs in reverse. --metrics-port serves Prometheus metrics on /metrics, readiness on /healthz (503 when batches fail or lag exceeds gates.maxRelayLagSeconds) and liveness on /livez.`
  static override examples = [
    {description: 'Drain the outbox of the users service once', command: '<%= config.bin %> <%= command.id %> users --once'},
    {description: 'Keep the users service in sync, with Prometheus metrics on port 9464', command: '<%= config.bin %> <%= command.id %> users --follow --metrics-port 9464'},
    {description: 'Drain with bigger batches and print the totals as JSON', command: '<%= config.bin %> <%= command.id %> users --batch-size 2000 --json'},
    {description: 'Drain for at most a minute', command: '<%= config.bin %> <%= command.id %> users --once --max-seconds 60'},
    {description: 'Take over from a relay that hangs on another host', command: '<%= config.bin %> <%= command.id %> users --follow --steal --reason "relay on host-a hangs, INC-42"'},
  ]
  static override mutating = true
  static override args = {
    service: Args.string({description: 'Service name from the plan.', required: true}),
  }
  static override flags = {
    once: Flags.boolean({summary: 'Consume what is in the outbox when it starts and exit (the default).', exclusive: ['follow']}),
    'max-seconds': Flags.integer({summary: 'With --once: exit after this many seconds even when not everything is consumed.', min: 1, exclusive: ['follow']}),
    follow: Flags.boolean({char: 'f', summary: 'Keep running until SIGTERM/SIGINT.', exclusive: ['once']}),
    'batch-size': Flags.integer({summary: 'Outbox rows per batch.', default: 500, min: 1, max: 50_000}),
    'max-attempts': Flags.integer({summary: 'Attempts of a database step on transient errors (connection lost, deadlock).', default: 6, min: 1, max: 100}),
    entity: Flags.string({summary: 'Only this entity (repeatable); default all entities of the service.', multiple: true}),
    'metrics-port': Flags.integer({summary: 'Serve Prometheus metrics and health on this port (0: any free port).', min: 0, max: 65_535}),
    'metrics-host': Flags.string({summary: 'Interface for --metrics-port (default: all interfaces).'}),
    interval: Flags.string({summary: 'After decommission (reverse relay): time between passes with --follow.', default: '5s'}),
    ...lockFlags,
  }

  async run(): Promise<RelayResult> {
    const service = this.args.service
    const started = Date.now()
    const ws = await this.workspace()
    ws.service(service)
    const lease = await this.lockRelay(service)
    const lost = this.lockSignal()
    const phase = await getService(ws.state, service)
    const outbox = serviceOutbox(ws, service)
    const hasOutbox = await outbox.exists()
    // after the write cut-over the relay runs in reverse, once decommission has removed the capture (until then its drain needs this relay)
    if (phase.phase === 'decommissioned' || (phase.writeTarget === 'service' && !hasOutbox)) return this.reverse(service, started, lost)
    if (!hasOutbox) {
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
    const maxSeconds = this.flags['max-seconds']
    const deadline = maxSeconds === undefined ? undefined : setTimeout(() => ((stoppedBy = '--max-seconds'), controller.abort()), maxSeconds * 1000)
    // a following relay ends when decommission has removed the capture: the outbox is gone, the reverse relay takes over
    const watch =
      mode === 'follow'
        ? setInterval(() => {
            getService(ws.state, service)
              .then((s) => {
                if (s.phase !== 'decommissioned' || controller.signal.aborted) return
                stoppedBy = 'decommissioned'
                this.logger.warn(`service ${service} was decommissioned: the forward relay stops; run \`strangler relay ${service} --follow\` again for the reverse relay`, {service})
                controller.abort()
              })
              .catch(() => undefined)
          }, 5000)
        : undefined

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
        signal: AbortSignal.any([controller.signal, lost]),
        listener: metrics?.listener,
        log: this.logger,
        lease,
      })
      totals = mode === 'follow' ? await relay.follow(controller.signal) : await relay.drain()
    } finally {
      if (deadline) clearTimeout(deadline)
      if (watch) clearInterval(watch)
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
  private async reverse(service: string, started: number, lost: AbortSignal): Promise<RelayResult> {
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
    const stop = AbortSignal.any([controller.signal, lost])
    const totals: RelayTotals = {batches: 0, changes: 0, applied: 0, upserts: 0, deletes: 0, deadLettered: 0, resolved: 0, retries: 0, lagSeconds: 0, pending: 0}
    let waiting = false
    try {
      do {
        // a decommission still under way (archive, its own reverse sync) goes first
        const step = (await getService(ws.state, service)).step
        if (step?.startsWith('decommission:') && this.flags.follow) {
          if (!waiting) this.logger.info(`decommission of ${service} is under way (${step}); the reverse relay waits for it`, {service})
          waiting = true
          await this.pause(intervalMs, stop)
          continue
        }
        waiting = false
        if (stop.aborted) break
        const r = await reverseSync(ws, service, {signal: stop})
        totals.batches++
        totals.upserts += r.totals.upserts
        totals.deletes += r.totals.deletes
        totals.applied += r.totals.upserts + r.totals.deletes
        totals.changes += r.totals.upserts + r.totals.deletes
        if (r.totals.upserts + r.totals.deletes) this.logger.info(`reverse relay: ${r.totals.upserts} upserted, ${r.totals.deletes} deleted in the archive`, {service})
        if (!this.flags.follow) break
        await this.pause(intervalMs, stop)
      } while (!stop.aborted)
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
    // the relay lock was taken over: stop here, exit 2
    if (lost.aborted) throw lost.reason
    this.out(`Reverse relay ${service} (service → archived monolith tables): ${totals.batches} pass(es), ${totals.upserts} upserted, ${totals.deletes} deleted.`)
    return {runId: this.runId, service, mode: this.flags.follow ? 'follow' : 'once', ...totals, stoppedBy, durationMs: Date.now() - started, metricsUrl: null}
  }

  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((res) => {
      if (signal.aborted) return res()
      const t = setTimeout(res, ms)
      signal.addEventListener('abort', () => (clearTimeout(t), res()), {once: true})
    })
  }
}
