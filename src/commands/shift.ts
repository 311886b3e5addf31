import {Args, Flags} from '@oclif/core'
import {BaseCommand, lockFlags} from '../cli/base-command.js'
import {interruptOnSignals} from '../cli/interrupt.js'
import {cliProgress} from '../cli/progress.js'
import {parseDuration, table} from '../cli/render.js'
import {parseSteps, runShift, validatePct} from '../phases/shift.js'
import {UserError} from '../util/errors.js'

export default class Shift extends BaseCommand<typeof Shift> {
  static override summary = 'Shift reads to the service through its toggle, step by step, with gates checked before each step and during each soak.'
  static override description = `Sets the read toggle strangler.SERVICE.reads (a percentage rollout sticky per user id) through the configured provider (Unleash or local). Before each step up the gates are checked (relay lag, dead letters, shadow mismatch rate, last diff); during each soak they are re-checked. When a gate fails the toggle steps back to the last good percentage on its own, the reason is printed, and the command exits 1. Ctrl-C leaves the toggle at the last completed step. Entering shift from write-through checks the write-through gates first. Running the same --steps again after an interruption resumes: steps below the current percentage are skipped and the current step's soak continues from its recorded start; a walk never lowers reads. Only --to N below the current percentage lowers them (recorded in the audit log).`
  static override examples = [
    {description: 'Send 25 % of reads to the service', command: '<%= config.bin %> <%= command.id %> users --to 25'},
    {description: 'Walk 5 → 25 → 50 → 100 with a 10 minute soak at each step', command: '<%= config.bin %> <%= command.id %> users --steps 5,25,50,100 --soak 10m'},
    {description: 'Show the plan and the gates now, change nothing', command: '<%= config.bin %> <%= command.id %> users --steps 10,50,100 --dry-run'},
    {description: 'Run a fresh diff before every step up', command: '<%= config.bin %> <%= command.id %> users --steps 10,50,100 --soak 5m --diff'},
    {description: 'Lower reads from 50 % to 10 % (audited)', command: '<%= config.bin %> <%= command.id %> users --to 10'},
  ]
  static override args = {service: Args.string({description: 'Service name from the plan.', required: true})}
  static override flags = {
    to: Flags.string({summary: 'Target percentage (0–100); below the current percentage it lowers reads (audited).', exclusive: ['steps']}),
    steps: Flags.string({summary: 'Comma-separated percentages to walk up through, e.g. 5,25,50,100 (a re-run resumes; steps below the current percentage are skipped).', exclusive: ['to']}),
    soak: Flags.string({summary: 'How long to hold each step while re-checking the gates (e.g. 30s, 10m). Default: the plan\'s gates.soak for --steps, 0 for --to.'}),
    'check-every': Flags.string({summary: 'How often the gates are re-checked during a soak.', default: '10s'}),
    diff: Flags.boolean({summary: 'Run a fresh diff before every step up (the diff gate then reflects the data now).'}),
    'dry-run': Flags.boolean({summary: 'Show the steps and the current gate values; change nothing.'}),
    force: Flags.boolean({summary: 'Enter shift even when the write-through gates fail (needs --reason).'}),
    ...lockFlags,
  }
  static override mutating = true

  async run(): Promise<unknown> {
    const {service} = this.args
    if (!this.flags.to && !this.flags.steps) throw new UserError('Give --to PCT or --steps P1,P2,...', {code: 'E_USAGE', hint: 'e.g. strangler shift users --steps 5,25,50,100 --soak 10m'})
    if (this.flags.force && !this.flags.reason) throw new UserError('--force needs --reason "why": overrides are recorded in the audit log.', {code: 'E_USAGE'})
    const steps = this.flags.steps ? parseSteps(this.flags.steps) : [validatePct(this.flags.to!, '--to')]
    let soakMs: number
    let checkEveryMs: number
    try {
      soakMs = parseDuration(this.flags.soak ?? '0s')
      checkEveryMs = Math.max(200, parseDuration(this.flags['check-every']))
    } catch (err) {
      throw new UserError(`--soak/--check-every: ${(err as Error).message}`, {code: 'E_USAGE'})
    }
    const ws = await this.workspace()
    ws.service(service)
    if (this.flags.steps && this.flags.soak === undefined) soakMs = parseDuration(ws.plan.gates.soak)
    await ws.state.requireReady()
    if (!this.flags['dry-run']) await this.lockService(service)
    const {openToggleProvider} = await import('../toggles/index.js')
    const provider = await openToggleProvider(ws)
    const progress = cliProgress({quiet: this.jsonEnabled()})
    const interrupt = interruptOnSignals()
    try {
      const res = await runShift(ws, service, provider, {steps, lower: this.flags.to !== undefined, soakMs, checkEveryMs, dryRun: this.flags['dry-run'], force: this.flags.force ? this.flags.reason : undefined, diffEachStep: this.flags.diff, signal: interrupt.signal, progress})
      progress.close()
      if (res.status === 'dry-run') {
        const walk = res.steps.map((s) => `${s.pct} %${s.status === 'skipped' ? ' (skipped)' : ''}`).join(' → ')
        this.out(`Dry run: ${service} reads ${res.from} % → ${walk} via ${res.provider} toggle ${res.toggle}, soak ${this.flags.soak ?? (this.flags.steps ? ws.plan.gates.soak : '0s')} per step. Gates now:`)
        this.out(table(res.steps[0].gates.map((g) => ({...g, ok: g.ok ? 'pass' : 'FAIL'})), ['gate', 'ok', 'value', 'threshold']))
        return res
      }
      for (const s of res.steps) this.out(`${String(s.pct).padStart(3)} %  ${s.status}${s.reason ? `\n${s.reason}` : ''}`)
      this.out(`Reads on the service: ${res.final} % (${res.status}).`)
      if (res.status === 'stepped-back' || res.status === 'refused') process.exitCode = 1
      if (res.status === 'interrupted') process.exitCode = 130
      return res
    } finally {
      progress.close()
      interrupt.dispose()
      await provider.close()
    }
  }
}
