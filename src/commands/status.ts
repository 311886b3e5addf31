import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {table} from '../cli/render.js'
import {serviceStatus, type ServiceStatus} from '../phases/status.js'

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Show each service\'s phase and everything known about it: backfill, relay lag, dead letters, diffs, toggles, gates.'
  static override examples = [
    {description: 'All services', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'One service, as JSON for a dashboard or a CI gate', command: '<%= config.bin %> <%= command.id %> users --json'},
  ]
  static override args = {
    service: Args.string({description: 'Service name from the plan (default: all services).'}),
  }

  async run(): Promise<{runId: string; services: ServiceStatus[]}> {
    const ws = await this.workspace()
    if (this.args.service) ws.service(this.args.service)
    await ws.state.requireReady()
    const names = this.args.service ? [this.args.service] : ws.serviceNames()
    const services: ServiceStatus[] = []
    for (const n of names) services.push(await serviceStatus(ws, n))
    this.out(
      table(
        services.map((s) => ({
          service: s.name,
          phase: s.phase,
          reads: `${s.readPct}%`,
          writes: s.writeTarget,
          backfill: s.backfill.length ? `${s.backfill.filter((b) => b.done).length}/${s.backfill.length} entities` : '—',
          lag: (s.relay as {lagSeconds?: number} | undefined)?.lagSeconds !== undefined ? `${(s.relay as {lagSeconds: number}).lagSeconds.toFixed(1)} s` : '—',
          capture: captureLabel(s.relay as {capture?: string; retainedWalBytes?: number} | undefined),
          dead: (s.deadLetters as number | undefined) ?? '—',
          lock: s.lock ? `${s.lock.holder} (${s.lock.command})` : '',
          relay: s.relayLock ? `running: ${s.relayLock.holder}` : '',
        })),
        ['service', 'phase', 'reads', 'writes', 'backfill', 'capture', 'lag', {key: 'dead', label: 'dead letters'}, 'relay', 'lock'],
      ),
    )
    return {runId: this.runId, services}
  }
}

/** `triggers`, or `logical (slot holds 12.5 MB of WAL)`. */
function captureLabel(relay: {capture?: string; retainedWalBytes?: number} | undefined): string {
  if (!relay?.capture) return '—'
  if (relay.retainedWalBytes === undefined) return relay.capture
  return `${relay.capture} (slot holds ${(relay.retainedWalBytes / 1024 / 1024).toFixed(1)} MB of WAL)`
}
