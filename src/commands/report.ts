import {mkdirSync, writeFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {collectReport} from '../report/collect.js'
import {extensionOf, formatOfPath, REPORT_FORMATS, renderReport, type ReportFormat} from '../report/render.js'
import type {ServiceReport} from '../report/report-data.js'
import {UserError} from '../util/errors.js'

/** What `strangler report --json` prints. */
export interface ReportResult {
  /** Absolute path of the written report; absent when it went to stdout. */
  reportPath?: string
  format: ReportFormat
  services: {name: string; phase: string; ok: boolean; problems: string[]}[]
}

/** True when the state store holds anything about the service. */
function hasHistory(s: ServiceReport): boolean {
  return Boolean(
    s.updatedAt ||
      s.transitions.length ||
      s.toggles.totalPoints ||
      s.toggles.current.length ||
      s.relay.totalPoints ||
      s.backfill.total ||
      s.diff.totalRuns ||
      s.shadow.totalPoints ||
      s.deadLetters.items.length ||
      s.gates.total ||
      s.auditTotal,
  )
}

export default class Report extends BaseCommand<typeof Report> {
  static override summary = 'Write a report of every service from the state store: phase timeline, toggle rollout, relay lag, backfill, diffs, shadow reads, dead letters, gates, audit log.'
  static override description = `Reads only the state store (a brand-new one too) and renders one of three formats: html, one self-contained file that opens offline (inline CSS, JavaScript, charts and data); markdown, short tables for a CI step summary (>> $GITHUB_STEP_SUMMARY); json, the stable, versioned data (reportVersion 1, documented in docs/report-json.md).

The format is --format, else the extension of --output (.html or .htm, .md or .markdown, .json; json for any other name), else html. Without --output, an HTML report is written to ./strangler-report-<UTC time>.html and its path printed, while Markdown and JSON go to stdout; --output - writes any format to stdout. With --json the report always goes to a file (the default name when --output is not given) and the command prints {reportPath, format, services}.

The exit code is 0 whatever the report says: use \`strangler diff\` or the phase gates to fail a job.`
  static override examples = [
    {description: 'An HTML report of every service in ./strangler-report-<time>.html', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'One service, into a chosen file', command: '<%= config.bin %> <%= command.id %> users --output reports/users.html'},
    {description: 'GitHub Actions step summary', command: '<%= config.bin %> <%= command.id %> --format markdown >> "$GITHUB_STEP_SUMMARY"'},
    {description: 'The JSON data for a dashboard', command: '<%= config.bin %> <%= command.id %> --format json --output report.json'},
  ]
  static override args = {
    service: Args.string({description: 'Service name (default: every service of the plan and every service the state store knows).'}),
  }
  static override flags = {
    format: Flags.string({char: 'f', summary: 'Report format (default: from the --output extension, else html).', options: [...REPORT_FORMATS]}),
    output: Flags.string({char: 'o', summary: 'File to write (directories are created); - for stdout.'}),
  }

  async run(): Promise<ReportResult> {
    const ws = await this.workspace()
    const output = this.flags.output
    const format = (this.flags.format as ReportFormat | undefined) ?? (output && output !== '-' ? (formatOfPath(output) ?? 'json') : 'html')
    const service = this.args.service
    const planned = ws.serviceNames()

    const data = await collectReport(ws.state, service ? {service} : {services: planned})
    if (service && !planned.includes(service) && !data.services.some(hasHistory)) {
      throw new UserError(`Unknown service "${service}": it is not in the plan and the state store has nothing about it.`, {
        code: 'E_UNKNOWN_SERVICE',
        hint: `The plan defines: ${planned.join(', ')}.`,
      })
    }
    const text = renderReport(data, format)
    const services = data.services.map((s) => ({name: s.name, phase: s.phase, ok: s.status.ok, problems: s.status.problems}))

    const toStdout = !this.jsonEnabled() && (output === '-' || (!output && format !== 'html'))
    if (toStdout) {
      process.stdout.write(text)
      return {format, services}
    }
    const file = resolve(output && output !== '-' ? output : `strangler-report-${data.generatedAt.replace(/[-:]/g, '').replace(/\.\d+/, '')}.${extensionOf(format)}`)
    try {
      mkdirSync(dirname(file), {recursive: true})
      writeFileSync(file, text)
    } catch (err) {
      throw new UserError(`Cannot write the report to ${file}: ${(err as Error).message}`, {code: 'E_OUTPUT', hint: 'Choose a writable path with --output.'})
    }
    this.out(`Wrote the ${format} report of ${services.length} service${services.length === 1 ? '' : 's'} to ${file}`)
    return {reportPath: file, format, services}
  }
}
