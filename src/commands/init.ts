import {BaseCommand} from '../cli/base-command.js'
import {table} from '../cli/render.js'
import {inspectPlan, type PlanInspection} from '../phases/inspect.js'
import {recordAudit} from '../state/audit.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Connect to everything in the plan, create the control-plane tables, and report what was found.'
  static override description = `Checks every connection in the plan (monolith, state store, each service store), introspects every source table, then applies the control-plane migrations (tables prefixed strangler_ in the monolith unless state.url is set). Nothing is created when any check fails. Running it again changes nothing.`
  static override examples = [
    {description: 'Initialise with the plan in the working directory', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Use another plan and print the result as JSON', command: '<%= config.bin %> <%= command.id %> --config plans/shop.yaml --json'},
  ]

  async run(): Promise<PlanInspection & {migrations: {applied: string[]; alreadyApplied: string[]}}> {
    const ws = await this.workspace()
    // Everything is checked before anything is created.
    const inspection = await inspectPlan(ws, {connectTargets: true})
    const migrations = await ws.state.migrate()
    if (migrations.applied.length) {
      await recordAudit(ws.state, {runId: this.runId, command: 'init', args: {flags: this.flags}, outcome: 'success', detail: `applied ${migrations.applied.join(', ')}`})
    }
    const result = {...inspection, migrations}
    this.out(`Monolith: ${inspection.monolith.version} at ${inspection.monolith.url}`)
    this.out(`State:    ${migrations.applied.length ? `created (${migrations.applied.join(', ')})` : 'up to date, nothing changed'} — tables ${inspection.state.prefix}* in ${inspection.state.location}`)
    for (const s of inspection.services) {
      this.out('')
      this.out(`Service ${s.name} → ${s.target.version} at ${s.target.url} (isolation ${s.isolation}, phase ${s.phase})`)
      this.out(
        table(
          s.entities.map((e) => ({
            source: e.source,
            target: e.target,
            rows: e.estimatedRows >= 0 ? `~${e.estimatedRows}` : '?',
            key: e.key.join(', '),
            columns: e.columns.length,
            exists: e.targetExists ? 'yes' : 'no',
            diff: e.pushdown ? 'push-down' : 'streaming',
          })),
          ['source', 'target', {key: 'rows', label: 'rows', align: 'right'}, 'key', {key: 'columns', label: 'cols', align: 'right'}, {key: 'exists', label: 'target exists'}, 'diff'],
        ),
      )
    }
    return result
  }
}
