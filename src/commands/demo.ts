import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {interruptOnSignals} from '../cli/interrupt.js'
import {cliProgress} from '../cli/progress.js'
import {formatCount, table} from '../cli/render.js'
import {runDemo, type DemoResult} from '../demo/run-demo.js'

export default class Demo extends BaseCommand<typeof Demo> {
  static override summary = 'Walk a demo shop through every phase in embedded PostgreSQL (PGlite): no server, no plan file.'
  static override description = `Builds the demo shop (fixtures/shop: users, orders, order lines) in an embedded PGlite monolith, with a users and an orders service store beside it, starts a small shop application that reads and writes through the SDK while a load generator keeps writing (inserts, updates, deletes), and walks both services through every phase: shadow (change capture, backfill, relay catch-up), shadow verify, diff, write-through, shift 10 → 50 → 100 % on the local toggle provider, and decommission (writes cut over, final diff, capture removed, monolith tables archived, reverse relay).

Then it stops the load, lets the reverse relay catch up, runs a final diff, checks every write the application made against the service stores, and writes an HTML report. Exit code 0 when the final diff is clean and no write was lost, 1 otherwise.

The databases go to a temporary directory and are removed at the end (the report stays there); with --keep DIR the databases, the report and the demo's plan (strangler.config.json) stay in DIR, where every strangler command works on them (cd DIR && strangler status).`
  static override examples = [
    {description: 'The whole walk with 100,000 users (800,000 rows; about a minute on two idle cores)', command: '<%= config.bin %> <%= command.id %>'},
    {
      description: 'A half-minute run, keeping the databases, the plan and the report',
      command: '<%= config.bin %> <%= command.id %> --rows 10000 --keep ./demo',
    },
    {description: 'For CI: the final numbers as JSON', command: '<%= config.bin %> <%= command.id %> --rows 2000 --json'},
  ]
  static override flags = {
    rows: Flags.integer({summary: 'Users in the shop (orders are twice as many, order lines 2.5 per order).', default: 100_000, min: 100}),
    keep: Flags.string({summary: 'Keep the databases and the report in this (new or empty) directory.', helpValue: 'DIR'}),
    seed: Flags.integer({summary: 'Seed of the generated data and of the load.', default: 1}),
    'writes-per-second': Flags.integer({
      summary: 'Row writes per second of the demo application (default 100; one per 20 users in smaller shops).',
      min: 1,
      max: 2000,
    }),
    soak: Flags.string({summary: 'Soak time at each shift step and before decommission (e.g. 2s, 1m).', default: '2s'}),
  }

  async run(): Promise<DemoResult> {
    const f = this.flags
    const progress = cliProgress({quiet: this.jsonEnabled()})
    const interrupt = interruptOnSignals()
    let res: DemoResult
    try {
      res = await runDemo({
        rows: f.rows,
        keep: f.keep,
        seed: f.seed,
        writesPerSecond: f['writes-per-second'],
        soak: f.soak,
        progress,
        signal: interrupt.signal,
      })
    } finally {
      progress.close()
      interrupt.dispose()
    }
    const ok = res.diffClean && res.lostWrites === 0 && res.writesIssued === res.writesFound
    this.out('')
    this.out(
      table(
        res.steps.map((s) => ({step: s.step, seconds: s.seconds.toFixed(1)})),
        ['step', {key: 'seconds', label: 's', align: 'right'}],
      ),
    )
    this.out('')
    this.out(
      `Phases walked: ${Object.entries(res.servicePhases)
        .map(([s, p]) => `${s} ${p.join(' → ')}`)
        .join('; ')}`,
    )
    this.out(
      `Final diff: ${res.diffClean ? 'clean' : 'DIFFERENCES'} (${formatCount(res.finalDiff.rowsCompared)} rows compared; ${res.finalDiff.missing} missing, ${res.finalDiff.extra} extra, ${res.finalDiff.changed} changed)`,
    )
    this.out(`Writes: ${formatCount(res.writesIssued)} issued, ${formatCount(res.writesFound)} found, ${res.lostWrites} lost`)
    this.out(`Report: ${res.reportPath}`)
    if (res.kept) this.out(`Databases kept in ${res.dir}`)
    this.out(`${ok ? 'Clean diff and zero lost writes' : 'NOT CLEAN'} in ${res.seconds.toFixed(1)} s.`)
    if (!ok) process.exitCode = 1
    return res
  }
}
