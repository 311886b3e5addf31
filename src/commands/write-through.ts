import {Args, Flags} from '@oclif/core'
import {BaseCommand, lockFlags} from '../cli/base-command.js'
import {interruptOnSignals} from '../cli/interrupt.js'
import {cliProgress} from '../cli/progress.js'
import {table} from '../cli/render.js'
import {advance, requireCapture} from '../phases/machine.js'
import {UserError} from '../util/errors.js'

export default class WriteThrough extends BaseCommand<typeof WriteThrough> {
  static override summary = 'Enter write-through: the monolith stays authoritative, writes also reach the service, the relay reconciles.'
  static override description = `Checks the gates for leaving shadow (backfill done, relay lag, shadow mismatch rate over enough samples, a recent clean diff) and that change capture (outbox and triggers) is still installed on the monolith, and moves the service to write-through. Applications using the SDK then write the monolith first and the service asynchronously; failed service writes go to the dead-letter table and never fail the caller. The relay keeps running as the reconciler and retries dead letters: this command drains it once, or keeps it running with --follow.`
  static override examples = [
    {description: 'Enter write-through when the gates pass', command: '<%= config.bin %> <%= command.id %> users'},
    {description: 'Enter and keep the relay running as the reconciler', command: '<%= config.bin %> <%= command.id %> users --follow'},
    {description: 'Override a failing gate (recorded in the audit log)', command: '<%= config.bin %> <%= command.id %> users --force --reason "mismatches are a known timezone display issue, ticket OPS-12"'},
  ]
  static override args = {service: Args.string({description: 'Service name from the plan.', required: true})}
  static override flags = {
    force: Flags.boolean({summary: 'Enter even when gates fail (needs --reason).'}),
    ...lockFlags,
    follow: Flags.boolean({summary: 'Keep the relay running after the transition (until SIGTERM).'}),
  }
  static override mutating = true

  async run(): Promise<unknown> {
    const {service} = this.args
    if (this.flags.force && !this.flags.reason) throw new UserError('--force needs --reason "why": overrides are recorded in the audit log.', {code: 'E_USAGE'})
    const ws = await this.workspace()
    ws.service(service)
    await this.lockService(service)
    const res = await advance(ws, service, 'write-through', {force: this.flags.force ? this.flags.reason : undefined})
    // already in write-through: the relay is drained below, from an outbox that must still be there
    if (res.from === res.to) await requireCapture(ws, service, `drain the relay of ${service}`)
    this.out(`Service ${service}: ${res.from === res.to ? `already in ${res.to}, nothing to change; draining the relay` : `${res.from} → ${res.to}`}${res.forced ? ' (gates overridden)' : ''}`)
    if (res.gates.length) this.out(table(res.gates.map((g) => ({...g, ok: g.ok ? 'pass' : 'FAIL'})), ['gate', 'ok', 'value', 'threshold']))
    const {Relay} = await import('../capture/relay.js')
    const progress = cliProgress({quiet: this.jsonEnabled()})
    const interrupt = interruptOnSignals()
    try {
      const relay = new Relay(ws, service, {progress, signal: interrupt.signal})
      const totals = this.flags.follow ? await relay.follow(interrupt.signal) : await relay.drain()
      this.out(`Relay: ${totals.applied} change(s) applied, lag ${totals.lagSeconds.toFixed(1)} s, ${totals.deadLettered} dead-lettered.`)
      return {...res, relay: totals}
    } finally {
      progress.close()
      interrupt.dispose()
    }
  }
}
