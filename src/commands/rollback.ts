import {Args, Flags} from '@oclif/core'
import {BaseCommand, lockFlags} from '../cli/base-command.js'
import {cliProgress} from '../cli/progress.js'
import {runRollback} from '../phases/decommission/rollback.js'
import {validatePct} from '../phases/shift.js'

export default class Rollback extends BaseCommand<typeof Rollback> {
  static override summary = 'Move a service one phase back, from any phase before purge, and check the result with a diff.'
  static override description = `shift → a lower read percentage, or 0 (back to write-through); write-through → shadow; shadow → planned (removes the triggers, outbox and target tables shadow created); decommissioned → shift at 100 % (the reverse relay catches up, the monolith tables come back from the archive with their grants, capture is reinstalled and writes return to the monolith). --reads-only moves reads back and leaves writes where they are. Each rollback runs a diff before it reports success; differences exit 1. Actions are reported once done; when the toggle provider fails (Unleash unreachable, a wrong token) the rollback stops before the state store records the change, says which provider failed, and the same command retries.`
  static override examples = [
    {description: 'Reads back to the monolith (shift → write-through)', command: '<%= config.bin %> <%= command.id %> orders'},
    {description: 'Lower the read share to 10 %', command: '<%= config.bin %> <%= command.id %> orders --to 10'},
    {description: 'Undo a decommission, reads only (writes stay on the service)', command: '<%= config.bin %> <%= command.id %> orders --reads-only'},
    {description: 'See what it would do', command: '<%= config.bin %> <%= command.id %> orders --dry-run'},
  ]
  static override args = {service: Args.string({description: 'Service name from the plan.', required: true})}
  static override flags = {
    to: Flags.string({summary: 'From shift (or with --reads-only): the read percentage to go back to (default 0).'}),
    'reads-only': Flags.boolean({summary: 'Move reads back; leave writes where they are.'}),
    'dry-run': Flags.boolean({summary: 'Print the actions; change nothing.'}),
    ...lockFlags,
  }
  static override mutating = true

  async run(): Promise<unknown> {
    const {service} = this.args
    const toPct = this.flags.to === undefined ? undefined : validatePct(this.flags.to, '--to')
    const ws = await this.workspace()
    ws.service(service)
    await ws.state.requireReady()
    if (!this.flags['dry-run']) await this.lockService(service)
    const {openToggleProvider} = await import('../toggles/index.js')
    const toggles = await openToggleProvider(ws)
    const progress = cliProgress({quiet: this.jsonEnabled()})
    try {
      const r = await runRollback(ws, service, toggles, {toPct, readsOnly: this.flags['reads-only'], dryRun: this.flags['dry-run'], progress})
      progress.close()
      for (const a of r.actions) this.out(`${r.dryRun ? '•' : '✔'} ${a}`)
      this.out(`Service ${service}: ${r.from} → ${r.to} (reads ${r.readPct} % on the service, writes to the ${r.writeTarget})${r.dryRun ? ' — dry run, nothing changed' : ''}.`)
      if (r.diff) {
        this.out(`Diff ${r.diff.runId}: ${r.diff.status} (missing ${r.diff.totals.missing}, extra ${r.diff.totals.extra}, changed ${r.diff.totals.changed}).`)
        if (r.diff.status !== 'clean') process.exitCode = 1
      }
      return r
    } finally {
      progress.close()
      await toggles.close()
    }
  }
}
