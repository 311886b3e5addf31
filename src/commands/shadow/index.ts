import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base-command.js'
import {interruptOnSignals} from '../../cli/interrupt.js'
import {cliProgress} from '../../cli/progress.js'
import {formatCount, table} from '../../cli/render.js'
import {abortShadow, runShadow, type AbortShadowResult, type ShadowResult} from '../../phases/shadow.js'
import {UserError} from '../../util/errors.js'

export default class Shadow extends BaseCommand<typeof Shadow> {
  static override summary = 'Enter the shadow phase: create the service tables, install change capture, backfill, and let the relay catch up.'
  static override description = `Moves a service from planned to shadow. Creates the target tables or collections from the mapping, installs change capture on every source table BEFORE the backfill starts (triggers writing changed keys to an outbox; with capture: 'logical' on PostgreSQL, a publication and a logical replication slot instead), copies the rows in parallel keyset chunks with a checkpoint after every chunk, then runs the relay until the service store has caught up with the monolith.

Running it again on a service in shadow resumes the backfill from its checkpoints: after a crash or kill -9 at most one chunk per worker is copied again, and nothing is duplicated. --abort returns the service to planned: capture (triggers, or the replication slot and publication), outbox and the tables shadow created are removed.

The backfill pauses while the relay lag (of entities already copied) is over gates.maxRelayLagSeconds, and while the monolith runs more queries than --max-monolith-load.`
  static override examples = [
    {description: 'Shadow a service and wait for the relay to catch up', command: '<%= config.bin %> <%= command.id %> users'},
    {description: 'Show every statement it would run, change nothing', command: '<%= config.bin %> <%= command.id %> users --dry-run'},
    {description: 'Gentle backfill on a busy monolith', command: '<%= config.bin %> <%= command.id %> users --parallel 2 --max-rows-per-second 20000 --max-monolith-load 40'},
    {description: 'Backfill, then keep the relay running under a process manager', command: '<%= config.bin %> <%= command.id %> users --follow'},
    {description: 'Back to planned: remove triggers, outbox and the created tables', command: '<%= config.bin %> <%= command.id %> users --abort'},
  ]
  static override args = {service: Args.string({description: 'Service name from the plan.', required: true})}
  static override flags = {
    parallel: Flags.integer({summary: 'Backfill workers, each copying its own key range (across all entities of the service).', default: 4, min: 1, max: 64}),
    'chunk-rows': Flags.integer({summary: 'Rows per chunk: read, written and checkpointed as one unit (bounds memory: two chunks per worker).', default: 5_000, min: 1, max: 1_000_000}),
    'batch-size': Flags.integer({summary: 'Rows per write statement within a chunk (default: min(5000, --chunk-rows)).', min: 1, max: 100_000}),
    'max-rows-per-second': Flags.integer({summary: 'Throttle the backfill to this many rows per second (all workers together).', min: 1}),
    'max-monolith-load': Flags.integer({summary: 'Pause the backfill while the monolith runs more queries than this, the backfill\'s own included (PostgreSQL active backends, MySQL Threads_running).', min: 1}),
    entity: Flags.string({summary: 'Only this entity (repeatable); default all entities of the service.', multiple: true}),
    'dry-run': Flags.boolean({summary: 'Print every DDL statement and trigger it would create; change nothing.'}),
    abort: Flags.boolean({summary: 'Return the service to planned: remove capture, outbox and the target tables shadow created.', exclusive: ['follow', 'detach']}),
    follow: Flags.boolean({summary: 'Keep the relay running after it caught up (until SIGTERM).', exclusive: ['detach']}),
    detach: Flags.boolean({summary: 'Return right after the backfill; run `strangler relay SERVICE` to catch up.'}),
    steal: Flags.boolean({summary: 'Take over the service lock from a live holder (needs --reason; audited).'}),
    reason: Flags.string({summary: 'Why the lock is taken over; goes to the audit log.'}),
  }
  static override mutating = true

  async run(): Promise<ShadowResult | AbortShadowResult> {
    const {service} = this.args
    const f = this.flags
    if (f.steal && !f.reason) throw new UserError('--steal needs --reason "why": taking over a lock is recorded in the audit log.', {code: 'E_USAGE'})
    const ws = await this.workspace()
    ws.service(service)
    await this.lockService(service, {steal: f.steal, reason: f.reason})

    if (f.abort) {
      const res = await abortShadow(ws, service, {dryRun: f['dry-run']})
      if (res.dryRun) {
        this.out(`Dry run: aborting shadow of ${service} would run:`)
        for (const s of res.removed) this.out(`  ${s};`)
        for (const t of res.droppedTargets) this.out(`  drop target ${t}`)
        for (const t of res.emptiedTargets) this.out(`  delete every row of ${t} (it existed, empty, before shadow)`)
      } else {
        this.out(`Service ${service}: ${res.from} → planned. Capture removed (${res.removed.length} statement(s)); dropped ${res.droppedTargets.length ? res.droppedTargets.join(', ') : 'no tables'}.`)
        if (res.emptiedTargets.length) this.out(`Emptied (they existed before shadow started, and stay): ${res.emptiedTargets.join(', ')}`)
      }
      return res
    }

    const progress = cliProgress({quiet: this.jsonEnabled()})
    const interrupt = interruptOnSignals()
    try {
      const res = await runShadow(ws, service, {
        parallel: f.parallel,
        chunkRows: f['chunk-rows'],
        batchSize: f['batch-size'],
        maxRowsPerSecond: f['max-rows-per-second'],
        maxMonolithLoad: f['max-monolith-load'],
        entities: f.entity,
        dryRun: f['dry-run'],
        follow: f.follow,
        detach: f.detach,
        progress,
        signal: interrupt.signal,
      })
      progress.close()
      this.render(res)
      return res
    } finally {
      progress.close()
      interrupt.dispose()
    }
  }

  private render(res: ShadowResult): void {
    if (res.dryRun) {
      this.out(`Dry run: shadowing ${res.service} would run (nothing was changed):`)
      for (const s of res.ddl ?? []) this.out(`\n${s};`)
      return
    }
    this.out(`Service ${res.service}: ${res.from === res.phase ? `${res.phase} (resumed)` : `${res.from} → ${res.phase}`}`)
    this.out(
      table(
        res.entities.map((e) => ({
          entity: e.name,
          target: e.target,
          copied: formatCount(e.rowsCopied),
          total: formatCount(e.rowsTotal),
          rate: `${formatCount(e.rowsPerSecond)}/s`,
          seconds: e.seconds.toFixed(1),
          state: e.done ? (e.rowsCopied === 0 && e.resumed ? 'done earlier' : 'done') : 'in progress',
        })),
        ['entity', 'target', {key: 'copied', label: 'copied now', align: 'right'}, {key: 'total', label: 'rows', align: 'right'}, {key: 'rate', label: 'rows/s', align: 'right'}, {key: 'seconds', label: 's', align: 'right'}, 'state'],
      ),
    )
    if (res.backfill?.aborted) this.out('Backfill interrupted; run the same command again to resume from the checkpoints.')
    if (res.backfill?.pausedSeconds) this.out(`Paused ${res.backfill.pausedSeconds.toFixed(1)} s by throttling probes.`)
    if (res.relay) this.out(`Relay: ${formatCount(res.relay.applied)} change(s) applied, lag ${res.relay.lagSeconds.toFixed(1)} s, ${res.relay.deadLettered} dead-lettered.`)
    else if (!res.backfill?.aborted) this.out(`Relay not run (--detach): run \`strangler relay ${res.service}\` to catch up.`)
    for (const w of res.warnings) this.out(`Warning: ${w}`)
  }
}
