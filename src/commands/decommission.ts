import {Args, Flags} from '@oclif/core'
import {BaseCommand, lockFlags} from '../cli/base-command.js'
import {confirmByTyping} from '../cli/confirm.js'
import {interruptOnSignals} from '../cli/interrupt.js'
import {cliProgress} from '../cli/progress.js'
import {table} from '../cli/render.js'
import {archiveStatements} from '../phases/decommission/archive.js'
import {purgeArchive, runDecommission} from '../phases/decommission/decommission.js'
import {UserError} from '../util/errors.js'

export default class Decommission extends BaseCommand<typeof Decommission> {
  static override summary = 'Make the service authoritative: cut writes over, drain, final diff, remove capture, archive the monolith tables, start the reverse relay.'
  static override description = `Preconditions come from the gates: reads at 100 % for the plan's soak time, a clean recent diff, the relay drained, no dead letters. Then each step is recorded and resumable if interrupted (run the command again): cut writes over to the service (write toggle), drain the relay, final diff, remove the capture triggers and outbox, archive the monolith tables (moved into the strangler_archive schema/database out of the application's reach and its grants revoked — never dropped), and catch the reverse relay up (service → archived tables) so \`strangler rollback\` stays lossless during the retention period. Keep the reverse relay running with \`strangler relay SERVICE --follow\`.

With --purge, drops the archived tables once the plan's retention period (gates.retention) has passed, and refuses earlier.`
  static override examples = [
    {description: 'See every statement it would run', command: '<%= config.bin %> <%= command.id %> users --dry-run'},
    {description: 'Decommission without the interactive confirmation (CI)', command: '<%= config.bin %> <%= command.id %> users --yes'},
    {description: 'Resume after an interruption (same command)', command: '<%= config.bin %> <%= command.id %> users --yes'},
    {description: 'Drop the archived tables after the retention period', command: '<%= config.bin %> <%= command.id %> users --purge --yes'},
  ]
  static override args = {service: Args.string({description: 'Service name from the plan.', required: true})}
  static override flags = {
    'dry-run': Flags.boolean({summary: 'Print every step and statement; change nothing.'}),
    yes: Flags.boolean({char: 'y', summary: 'Confirm archiving (or purging) without asking.'}),
    purge: Flags.boolean({summary: 'Drop the archived tables (only after the retention period).'}),
    force: Flags.boolean({summary: 'Start even when gates fail (needs --reason).'}),
    ...lockFlags,
  }
  static override mutating = true

  async run(): Promise<unknown> {
    const {service} = this.args
    const f = this.flags
    if (f.force && !f.reason) throw new UserError('--force needs --reason "why": overrides are recorded in the audit log.', {code: 'E_USAGE'})
    const ws = await this.workspace()
    ws.service(service)
    await ws.state.requireReady()
    if (!f['dry-run']) await this.lockService(service)

    if (f.purge) {
      let confirmed = f.yes
      if (!confirmed && !f['dry-run']) confirmed = await confirmByTyping(`This drops the archived monolith tables of ${service} for good.`, service)
      const r = await purgeArchive(ws, service, {dryRun: f['dry-run'], confirmed})
      this.out(`${f['dry-run'] ? 'Would drop' : 'Dropped'}: ${r.dropped.join(', ') || 'nothing'} (retention ended ${r.retentionEndedAt}).`)
      return r
    }

    let confirmed = f.yes
    if (!confirmed && !f['dry-run']) {
      const tables = (await archiveStatements(ws, service)).map((a) => `${a.table.source.schema}.${a.table.source.name}`)
      confirmed = await confirmByTyping(`Decommissioning ${service} cuts writes over to the service and archives ${tables.join(', ')}.`, service)
    }
    const {openToggleProvider} = await import('../toggles/index.js')
    const toggles = await openToggleProvider(ws)
    const progress = cliProgress({quiet: this.jsonEnabled()})
    const interrupt = interruptOnSignals()
    try {
      const r = await runDecommission(ws, service, toggles, {dryRun: f['dry-run'], confirmed, force: f.force ? f.reason : undefined, progress, signal: interrupt.signal})
      progress.close()
      if (r.gates.length) this.out(table(r.gates.map((g) => ({...g, ok: g.ok ? 'pass' : 'FAIL'})), ['gate', 'ok', 'value', 'threshold']))
      if (r.status === 'already-decommissioned') this.out(`Service ${service} is already decommissioned.`)
      for (const s of r.steps) {
        this.out(`${s.status === 'planned' ? '•' : '✔'} ${s.step}${s.status === 'done' ? '' : ` (${s.status})`}${s.detail ? `: ${s.detail}` : ''}`)
        for (const st of s.statements) this.out(`    ${st.replace(/\n/g, '\n    ')}`)
      }
      if (r.status === 'decommissioned') this.out(`Service ${service} is decommissioned. Keep the reverse relay running: strangler relay ${service} --follow`)
      return r
    } finally {
      progress.close()
      interrupt.dispose()
      await toggles.close()
    }
  }
}
