import {Command, Flags, type Interfaces} from '@oclif/core'
import {loadPlan} from '../config/load.js'
import type {Plan} from '../config/schema.js'
import {recordAudit} from '../state/audit.js'
import {acquireLease, relayLockName, type Lease, type LeaseLostError} from '../state/locks.js'
import {UserError, errorMessage} from '../util/errors.js'
import {configureLogger, newRunId, type LogFormat, type Logger, type LogLevel} from '../util/log.js'
import {redact, redactDeep} from '../util/redact.js'
import {Workspace} from '../workspace.js'

/** Flags of every mutating command: take over another operator's lock, with a reason for the audit log. */
export const lockFlags = {
  steal: Flags.boolean({summary: 'Take over the service lock held by another operator (needs --reason; audited).', helpGroup: 'LOCKING'}),
  reason: Flags.string({summary: 'Why: recorded in the audit log with --steal or --force.', helpGroup: 'LOCKING'}),
}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Every strangler command: `--config`, `--json`, `--log-format`, `--log-level`;
 * a run id; errors rendered as one paragraph (what, where, how to fix) with
 * exit code 2, or 1 for gates and differences; audit records and service locks
 * for mutating commands.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    config: Flags.string({char: 'c', summary: 'Plan file (default: strangler.config.{ts,js,json,yaml} in the working directory).', helpGroup: 'GLOBAL'}),
    'log-format': Flags.string({summary: 'Log format on stderr.', options: ['text', 'json'], default: 'text', helpGroup: 'GLOBAL'}),
    'log-level': Flags.string({summary: 'Log verbosity.', options: ['debug', 'info', 'warn', 'error'], default: 'info', helpGroup: 'GLOBAL'}),
  }

  /** Commands that change anything are audited and take the service's lease lock. */
  static mutating = false

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  protected runId!: string
  protected logger!: Logger
  private ws?: Workspace
  private readonly leases: Lease[] = []
  /** A command that passes `lockSignal()` to its work stops by itself when a lease is lost; the others are stopped at once. */
  private cooperative = false
  private leaseWatchdog?: NodeJS.Timeout
  private ended = false
  private started = Date.now()
  private auditService?: string
  private auditDetail?: string

  protected override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as unknown as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    this.runId = process.env.STRANGLER_RUN_ID ?? newRunId()
    this.logger = configureLogger({
      runId: this.runId,
      format: (this.flags['log-format'] as LogFormat) ?? 'text',
      level: (this.flags['log-level'] as LogLevel) ?? (this.jsonEnabled() ? 'warn' : 'info'),
    }).child({component: this.id ?? 'cli'})
  }

  /** Loads the plan and connects; cached for the run and closed at the end. */
  protected async workspace(opts: {plan?: Plan} = {}): Promise<Workspace> {
    if (this.ws) return this.ws
    const plan = opts.plan ?? (await loadPlan(this.flags.config as string | undefined)).plan
    this.ws = await Workspace.open(plan, {runId: this.runId})
    return this.ws
  }

  /** Takes the lease lock of a service (mutating commands), released when the command ends. `--steal --reason` take over a live lock. */
  protected async lockService(service: string, opts: {steal?: boolean; reason?: string} = {}): Promise<Lease> {
    return this.takeLock(service, service, opts)
  }

  /**
   * Takes the relay lock of a service (`relay:<service>`): one relay per
   * service at a time, apart from the operator's service lock, so a running
   * relay never blocks the phase commands.
   */
  protected async lockRelay(service: string, opts: {steal?: boolean; reason?: string} = {}): Promise<Lease> {
    return this.takeLock(relayLockName(service), service, opts)
  }

  /**
   * Aborts when a lease of this command is lost (taken over with `--steal`),
   * with the `LeaseLostError` as its reason. A command that passes it to its
   * work must stop without changing anything more and throw that error; a
   * command that does not ask for it is stopped at once when a lease is lost
   * (its error printed and audited, exit 2).
   */
  protected lockSignal(): AbortSignal {
    this.cooperative = true
    return AbortSignal.any(this.leases.map((l) => l.signal))
  }

  private async takeLock(name: string, service: string, opts: {steal?: boolean; reason?: string}): Promise<Lease> {
    const f = this.flags as Record<string, unknown>
    opts = {steal: opts.steal ?? (f.steal as boolean | undefined), reason: opts.reason ?? (f.reason as string | undefined)}
    const ws = await this.workspace()
    await ws.state.requireReady()
    this.auditService = service
    const lease = await acquireLease(ws.state, name, {runId: this.runId, command: this.id ?? 'unknown', steal: opts.steal, reason: opts.reason})
    this.leases.push(lease)
    lease.signal.addEventListener('abort', () => this.leaseLost(lease.signal.reason as LeaseLostError), {once: true})
    if (lease.stolenFrom) {
      this.auditDetail = `lock stolen from ${lease.stolenFrom.holder} (run ${lease.stolenFrom.runId}): ${opts.reason ?? ''}`
      this.logger.warn(`took over the lock of ${name} from ${lease.stolenFrom.holder}`, {service})
    }
    return lease
  }

  /**
   * A lease was taken over: say so at once; a cooperative command gets a
   * grace period to stop by itself (it throws the error), any other is
   * stopped now, after its error is printed and audited, with exit 2.
   */
  private leaseLost(err: LeaseLostError): void {
    if (this.ended) return
    this.logger.error(err.message)
    const graceMs = this.cooperative ? 30_000 : 0
    this.leaseWatchdog ??= setTimeout(() => void this.abandon(err), graceMs)
    this.leaseWatchdog.unref()
  }

  private async abandon(err: LeaseLostError): Promise<void> {
    if (this.ended) return
    this.ended = true
    await this.catch(err)
    const audit = this.recordRunAudit(err).catch(() => undefined)
    await Promise.race([audit, new Promise((r) => setTimeout(r, 3000).unref())])
    process.exit(err.exitCode)
  }

  protected setAuditService(service: string): void {
    this.auditService = service
  }

  /** Human output on stdout, silenced by --json. */
  protected out(text = ''): void {
    if (!this.jsonEnabled()) this.log_(text)
  }

  private log_(text: string): void {
    process.stdout.write(`${text}\n`)
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // oclif's own exits: help and version pass through; parse errors (unknown flag, missing argument) get our one-paragraph form
    if (err.oclif?.exit !== undefined && !(err instanceof UserError)) {
      if (err.oclif.exit === 0) return super.catch(err)
      process.exitCode = 2
      ;(this as unknown as {parsed: boolean}).parsed = true // the parse was attempted; it failed (no dev-mode warning)
      const message = redact(
        err.message
          .split('\n')
          .filter((l) => l.trim() && !/^See more help/.test(l))
          .join(' ')
          .replace(/:\s+/, ': '),
      )
      if (this.jsonEnabled()) process.stdout.write(JSON.stringify({error: {code: 'E_USAGE', message}}, null, 2) + '\n')
      else process.stderr.write(`Error: ${message}\nHint: see \`strangler ${this.id ?? ''} --help\` for the flags and examples.\n`)
      return
    }
    const user = err instanceof UserError
    const code = user ? err.exitCode : 2
    process.exitCode = code
    const message = redact(err.message)
    const hint = user && err.hint ? redact(err.hint) : undefined
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify({error: {code: user ? err.code : 'E_INTERNAL', message, hint, runId: this.runId}}, null, 2) + '\n')
    } else {
      process.stderr.write(`Error: ${message}\n${hint ? `Hint: ${hint}\n` : ''}`)
      if (!user) {
        const debug = this.flags?.['log-level'] === 'debug'
        process.stderr.write(debug ? `${redact(err.stack ?? '')}\n` : `(run with --log-level debug for details; run id ${this.runId})\n`)
      }
    }
    if (this.ctor && (this.ctor as unknown as typeof BaseCommand).mutating) this.auditDetail = message
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    this.ended = true
    if (this.leaseWatchdog) clearTimeout(this.leaseWatchdog)
    try {
      await this.recordRunAudit(err)
      for (const lease of this.leases) await lease.release().catch(() => undefined)
      await this.ws?.close()
    } finally {
      await super.finally(err)
    }
    return undefined
  }

  /** The audit record of a mutating command's run (never throws). */
  private async recordRunAudit(err: Error | undefined): Promise<void> {
    if (!(this.ctor as unknown as typeof BaseCommand).mutating || !this.ws) return
    const exit = Number(process.exitCode ?? 0)
    const outcome = !err && exit === 0 ? 'success' : exit === 1 ? 'refused' : 'failed'
    try {
      if (await this.ws.state.isReady()) {
        await recordAudit(this.ws.state, {
          runId: this.runId,
          command: this.id ?? 'unknown',
          args: redactDeep({args: this.args, flags: this.flags}),
          service: this.auditService ?? ((this.args as Record<string, unknown> | undefined)?.service as string | undefined),
          outcome,
          exitCode: exit,
          durationMs: Date.now() - this.started,
          detail: this.auditDetail ?? (err ? errorMessage(err) : undefined),
        })
      }
    } catch (e) {
      this.logger?.warn(`could not write the audit record: ${errorMessage(e)}`)
    }
  }
}
