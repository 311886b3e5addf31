import {writeFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {cliProgress} from '../cli/progress.js'
import {type DiffRunResult, runDiff} from '../diff/run-diff.js'
import {DIFF_FORMATS, type DiffFormat, renderDiff} from '../report/diff-render.js'
import {renderDiffTable} from '../report/diff-table.js'
import {UserError, errorMessage} from '../util/errors.js'

/** Run ids the way `--resume` recognises a value after it (it is otherwise a bare flag). */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:.*)?$/i

export default class Diff extends BaseCommand<typeof Diff> {
  static override summary = 'Compare the monolith with the service stores through the mapping; exit 0 clean, 1 differences, 2 could not run.'
  static override description = `Walks each entity's keys in chunks and compares row counts and checksums of the canonical row encoding, computed inside PostgreSQL and MySQL/MariaDB where the mapping allows (only checksums cross the network) and by streaming and hashing in the tool otherwise (MongoDB, JS transforms, floats, JSON). Mismatched chunks are bisected down to single rows; the report lists every key missing from the service, extra in it, or changed (with the changed columns, sensitive values masked).

Keys that differ while writes are landing are re-checked after the service's relay caught up, so a row in flight is not reported. Every run is recorded in the state store (the phase gates read it); an interrupted run (Ctrl-C) continues with --resume. --format junit and markdown are made for CI: the command fails the job on differences through its exit code.`
  static override examples = [
    {description: 'Compare every service', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'One entity of one service, 8 chunks at a time', command: '<%= config.bin %> <%= command.id %> orders --entity order_items --parallel 8'},
    {description: 'A quick check of 5 % of the chunks', command: '<%= config.bin %> <%= command.id %> users --sample 5'},
    {description: 'In CI: a JUnit report for the test tab, the job fails on differences', command: '<%= config.bin %> <%= command.id %> --format junit --output diff-report.xml'},
    {description: 'Continue the last interrupted run', command: '<%= config.bin %> <%= command.id %> users --resume'},
  ]
  static override args = {
    service: Args.string({description: 'Service name from the plan (default: every service).'}),
  }
  static override flags = {
    entity: Flags.string({char: 'e', summary: 'Only this entity (target or source table name); repeatable.', multiple: true}),
    sample: Flags.integer({summary: 'Compare a random PCT % of the chunks (a quick check; never passes a gate).', min: 1, max: 100, helpValue: 'PCT'}),
    resume: Flags.string({summary: 'Continue an interrupted run: the last one, or RUN.', helpValue: '[RUN]'}),
    parallel: Flags.integer({summary: 'Chunks compared at once per entity.', default: 2, min: 1, max: 64}),
    'max-keys': Flags.integer({summary: 'Differing keys listed per entity and kind (0: no limit); counts are always complete.', default: 1_000_000, min: 0}),
    format: Flags.string({summary: 'Report format.', options: [...DIFF_FORMATS], default: 'table'}),
    output: Flags.string({char: 'o', summary: 'Write the report to FILE (stdout then shows the table).', helpValue: 'FILE'}),
    streaming: Flags.boolean({summary: 'Hash both sides in the tool, even where the databases could (to cross-check push-down).'}),
    'chunk-rows': Flags.integer({summary: 'Rows per chunk (default: adaptive, about 0.5 s per chunk).', min: 1, max: 1_000_000}),
    'recheck-live': Flags.boolean({summary: 'Re-check differing keys after the relay caught up (default: when capture is installed).', allowNo: true}),
  }

  /** `--resume` takes an optional value: a bare `--resume` means the last interrupted run. */
  protected override async init(): Promise<void> {
    const i = this.argv.indexOf('--resume')
    if (i >= 0 && !RUN_ID.test(this.argv[i + 1] ?? '')) this.argv.splice(i + 1, 0, 'last')
    await super.init()
  }

  async run(): Promise<DiffRunResult> {
    const ws = await this.workspace()
    const format = this.flags.format as DiffFormat
    const controller = new AbortController()
    const onSignal = (): void => {
      if (controller.signal.aborted) process.exit(130)
      process.stderr.write('Stopping after the chunks in flight (Ctrl-C again to quit at once)...\n')
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    let result: DiffRunResult
    try {
      result = await runDiff(ws, {
        service: this.args.service,
        entities: this.flags.entity,
        samplePct: this.flags.sample,
        resume: this.flags.resume === undefined ? undefined : this.flags.resume === 'last' ? true : this.flags.resume,
        parallel: this.flags.parallel,
        maxKeys: this.flags['max-keys'],
        streaming: this.flags.streaming,
        chunkRows: this.flags['chunk-rows'],
        recheckLive: this.flags['recheck-live'],
        progress: cliProgress({quiet: this.jsonEnabled()}),
        signal: controller.signal,
      })
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    if (this.flags.output) {
      try {
        writeFileSync(this.flags.output, renderDiff(result, format))
      } catch (err) {
        throw new UserError(`Cannot write the report to ${this.flags.output}: ${errorMessage(err)}`, {code: 'E_OUTPUT'})
      }
      this.out(renderDiffTable(result))
      this.out(`\n${format} report written to ${this.flags.output}`)
    } else if (!this.jsonEnabled()) {
      process.stdout.write(renderDiff(result, format))
    }
    // after rendering: 1 when the stores differ, 2 when an entity could not be compared
    if (result.status !== 'clean') process.exitCode = result.status === 'differences' ? 1 : 2
    return result
  }
}
