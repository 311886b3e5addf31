import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {table} from '../cli/render.js'
import {listAudit, type AuditRecord} from '../state/audit.js'

export default class Audit extends BaseCommand<typeof Audit> {
  static override summary = 'Show the audit log: who ran which command, when, with which arguments (secrets redacted), and how it ended.'
  static override examples = [
    {description: 'The whole log', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'The last 20 records of one service, as JSON', command: '<%= config.bin %> <%= command.id %> users --limit 20 --json'},
  ]
  static override args = {service: Args.string({description: 'Only records of this service.'})}
  static override flags = {limit: Flags.integer({summary: 'Only the most recent N records.', min: 1})}

  async run(): Promise<{records: AuditRecord[]}> {
    const ws = await this.workspace()
    await ws.state.requireReady()
    if (this.args.service) ws.service(this.args.service)
    const records = await listAudit(ws.state, {service: this.args.service, limit: this.flags.limit})
    this.out(
      table(
        records.map((r) => ({
          at: r.at.replace('T', ' ').slice(0, 19),
          operator: `${r.operator}@${r.host}`,
          command: r.command,
          service: r.service ?? '',
          outcome: r.outcome,
          exit: r.exitCode ?? '',
          took: r.durationMs === null ? '' : `${(r.durationMs / 1000).toFixed(1)} s`,
          detail: (r.detail ?? '').split('\n')[0].slice(0, 80),
        })),
        ['at', 'operator', 'command', 'service', 'outcome', {key: 'exit', label: 'exit', align: 'right'}, {key: 'took', label: 'took', align: 'right'}, 'detail'],
      ),
    )
    return {records}
  }
}
