import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {cliProgress} from '../cli/progress.js'
import {table} from '../cli/render.js'
import {type RepairResult, runRepair} from '../diff/repair.js'
import {columnChange, keyText} from '../report/diff-text.js'

export default class Repair extends BaseCommand<typeof Repair> {
  static override summary = 'Re-copy exactly the keys a diff found differing from the monolith to the service store, then re-check them.'
  static override description = `Reads the differing keys of a diff run (default: the service's last finished run) from the state store. Keys the monolith has are re-read, mapped and upserted into the service store; keys it does not have are deleted from the service store. The monolith is authoritative until the service is decommissioned. Afterwards the keys are compared again and whatever still differs is listed (exit 1). --dry-run shows what would change and writes nothing.`
  static override examples = [
    {description: 'Repair what the last diff of the users service found', command: '<%= config.bin %> <%= command.id %> users'},
    {description: 'See what a repair would do', command: '<%= config.bin %> <%= command.id %> users --dry-run'},
    {description: 'Repair one entity from a given diff run', command: '<%= config.bin %> <%= command.id %> orders --entity order_items --from-diff 3f2a9c1e-0b6d-4e53-9a1f-5c7d2e8b4a10'},
  ]
  static override mutating = true
  static override args = {
    service: Args.string({description: 'Service name from the plan.', required: true}),
  }
  static override flags = {
    entity: Flags.string({char: 'e', summary: 'Only this entity; repeatable.', multiple: true}),
    'from-diff': Flags.string({summary: "The diff run whose keys to repair (default: the service's last finished run).", helpValue: 'RUN'}),
    'dry-run': Flags.boolean({summary: 'Show what would change; write nothing.'}),
  }

  async run(): Promise<RepairResult> {
    const service = this.args.service
    const ws = await this.workspace()
    ws.service(service)
    if (!this.flags['dry-run']) await this.lockService(service, {reason: 'repair'})
    else this.setAuditService(service)
    const r = await runRepair(ws, {
      service,
      entities: this.flags.entity,
      fromDiff: this.flags['from-diff'],
      dryRun: this.flags['dry-run'],
      progress: cliProgress({quiet: this.jsonEnabled()}),
    })
    if (r.status === 'nothing-to-repair') {
      this.out(`Diff run ${r.fromDiff} found no differences in ${service}: nothing to repair.`)
      return r
    }
    this.out(`${r.dryRun ? 'Dry run: would repair' : 'Repaired'} ${service} from diff run ${r.fromDiff}:`)
    this.out(
      table(
        r.entities.map((e) => ({
          entity: e.entity,
          keys: e.keys,
          upserts: e.upserts,
          deletes: e.deletes,
          remaining: e.remaining.missing.length + e.remaining.extra.length + e.remaining.changed.length,
        })),
        ['entity', {key: 'keys', label: 'keys', align: 'right'}, {key: 'upserts', label: r.dryRun ? 'would re-copy' : 're-copied', align: 'right'}, {key: 'deletes', label: r.dryRun ? 'would delete' : 'deleted', align: 'right'}, {key: 'remaining', label: r.dryRun ? 'differ now' : 'still differ', align: 'right'}],
      ),
    )
    if (!r.dryRun) {
      for (const e of r.entities) {
        const m = e.remaining
        if (m.missing.length) this.out(`  ${e.entity}: still missing ${m.missing.map(keyText).join(', ')}`)
        if (m.extra.length) this.out(`  ${e.entity}: still extra ${m.extra.map(keyText).join(', ')}`)
        for (const c of m.changed) this.out(`  ${e.entity}: ${keyText(c.key)} still differs: ${c.columns.map(columnChange).join('; ')}`)
      }
      if (r.status === 'still-differs') {
        this.out('\nSome keys still differ (written again while repairing?): run `strangler diff` to see the current state.')
        process.exitCode = 1
      } else {
        this.out(`\nAll ${r.totals.keys} keys now match. Run \`strangler diff ${service}\` for a fresh full comparison (the gates need one).`)
      }
    }
    return r
  }
}
