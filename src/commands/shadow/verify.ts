import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base-command.js'
import {cliProgress} from '../../cli/progress.js'
import {formatCount, table} from '../../cli/render.js'
import {verifyShadow, type ShadowVerifyResult} from '../../phases/shadow-verify.js'

export default class ShadowVerify extends BaseCommand<typeof ShadowVerify> {
  static override summary = 'Compare sampled rows read through both paths (monolith mapped vs service store) and record the mismatch rate.'
  static override description = `Samples keys spread over each entity's key space, reads them from the monolith (mapped by the plan) and from the service store, and compares them with the canonical encoding the diff uses (timestamps at the lower precision of the two sides). Keys that differ are re-checked after the relay has caught up, so a change still in flight is not reported. The result goes to the state store, where the gates read the mismatch rate. Values of sensitive columns are masked.

Exit codes: 0 no mismatch, 1 mismatches remain, 2 could not run.`
  static override examples = [
    {description: 'Verify 1000 keys per entity', command: '<%= config.bin %> <%= command.id %> users'},
    {description: 'A bigger sample, as JSON for CI', command: '<%= config.bin %> <%= command.id %> users --sample 10000 --json'},
  ]
  static override args = {service: Args.string({description: 'Service name from the plan.', required: true})}
  static override flags = {
    sample: Flags.integer({summary: 'Keys to sample per entity.', default: 1000, min: 1}),
    entity: Flags.string({summary: 'Only this entity (repeatable).', multiple: true}),
    'no-recheck': Flags.boolean({summary: 'Report mismatches at once, without letting the relay catch up and re-checking them.'}),
  }

  async run(): Promise<ShadowVerifyResult> {
    const {service} = this.args
    const ws = await this.workspace()
    this.setAuditService(service)
    const progress = cliProgress({quiet: this.jsonEnabled()})
    let res: ShadowVerifyResult
    try {
      res = await verifyShadow(ws, service, {sample: this.flags.sample, entities: this.flags.entity, recheck: !this.flags['no-recheck'], progress})
    } finally {
      progress.close()
    }
    this.out(
      table(
        res.entities.map((e) => ({
          entity: e.name,
          sampled: formatCount(e.sampled),
          mismatches: formatCount(e.mismatches),
          rate: e.skipped ? e.skipped : `${(e.rate * 100).toFixed(2)}%`,
          errors: e.errors || '',
          settled: e.settledByRelay || '',
        })),
        ['entity', {key: 'sampled', label: 'sampled', align: 'right'}, {key: 'mismatches', label: 'mismatches', align: 'right'}, 'rate', 'errors', {key: 'settled', label: 'settled by relay'}],
      ),
    )
    for (const e of res.entities) {
      for (const m of e.examples) {
        this.out(`  ${e.name} ${m.key}: ${m.kind}${m.columns.length ? ` (${m.columns.join(', ')})` : ''}${m.error ? ` ${m.error}` : ''}`)
        if (m.kind === 'changed') for (const c of m.columns) this.out(`      ${c}: monolith ${JSON.stringify(m.monolith?.[c])}  service ${JSON.stringify(m.service?.[c])}`)
      }
    }
    const bad = res.entities.reduce((a, e) => a + e.mismatches + e.errors, 0)
    this.out(bad ? `${formatCount(bad)} of ${formatCount(res.sampled)} sampled keys differ.` : `No mismatch in ${formatCount(res.sampled)} sampled keys.`)
    if (bad) process.exitCode = 1
    return res
  }
}
