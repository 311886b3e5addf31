import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {table} from '../cli/render.js'
import {loadPlan} from '../config/load.js'
import {inspectPlan} from '../phases/inspect.js'
import {redactUrl} from '../util/redact.js'

export default class PlanCmd extends BaseCommand<typeof PlanCmd> {
  static override summary = 'Validate the plan and explain it: services, entities, column mappings, and how each entity will be diffed.'
  static override description = `Loads and validates the plan file (errors name the exact path, e.g. services.users.entities[0].key), connects to the monolith and the service stores to resolve each mapping against the real tables, and shows which entities allow checksum push-down. With --offline, only the file is validated.`
  static override examples = [
    {description: 'Explain the plan in the working directory', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Validate a plan in CI without touching any database', command: '<%= config.bin %> <%= command.id %> --config strangler.config.yaml --offline'},
    {description: 'Machine-readable explanation', command: '<%= config.bin %> <%= command.id %> --json'},
  ]
  static override flags = {
    offline: Flags.boolean({summary: 'Only validate the file; do not connect to any database.'}),
    service: Flags.string({char: 's', summary: 'Explain only this service.'}),
  }

  async run(): Promise<unknown> {
    const {plan, file} = await loadPlan(this.flags.config)
    if (this.flags.offline) {
      const services = Object.entries(plan.services)
        .filter(([n]) => !this.flags.service || n === this.flags.service)
        .map(([name, s]) => ({
          name,
          isolation: s.isolation,
          target: redactUrl(s.target.url),
          entities: s.entities.map((e) => ({source: e.source, target: e.target ?? e.source, key: e.key ?? '(primary key)', columns: e.columns ? Object.keys(e.columns) : '(all)'})),
        }))
      this.out(`Plan ${file} is valid: ${services.length} service(s), monolith ${redactUrl(plan.monolith.url)}.`)
      for (const s of services) {
        this.out(`\nService ${s.name} (${s.isolation}) → ${s.target}`)
        this.out(table(s.entities.map((e) => ({...e, key: Array.isArray(e.key) ? e.key.join(', ') : e.key, columns: Array.isArray(e.columns) ? e.columns.join(', ') : e.columns})), ['source', 'target', 'key', 'columns']))
      }
      return {file, valid: true, offline: true, services}
    }
    const ws = await this.workspace({plan})
    if (this.flags.service) ws.service(this.flags.service)
    const inspection = await inspectPlan(ws, {connectTargets: true, service: this.flags.service})
    this.out(`Plan ${file} is valid. Monolith: ${inspection.monolith.version} (${inspection.monolith.url}).`)
    for (const s of inspection.services) {
      this.out(`\nService ${s.name} → ${s.target.version} (${s.target.url}), isolation ${s.isolation}, phase ${s.phase}`)
      this.out(`  capture: ${s.capture.method}${s.capture.method === 'logical' ? (s.capture.problem ? `, NOT READY: ${s.capture.problem}` : ' (replication slot and publication; preconditions met)') : ''}`)
      for (const e of s.entities) {
        this.out(`\n  ${e.source} → ${e.target}  key (${e.key.join(', ')})${e.filter ? `  filter: ${e.filter}` : ''}  diff: ${e.diffMode}`)
        this.out(
          table(e.columns.map((c) => ({...c, sensitive: c.sensitive ? 'masked' : ''})), ['name', 'type', 'from', 'sensitive'])
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n'),
        )
        for (const n of e.diffNotes) this.out(`    note: ${n}`)
      }
    }
    return {file, valid: true, offline: false, ...inspection}
  }
}
