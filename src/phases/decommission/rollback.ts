import {installCapture} from '../../capture/capture.js'
import {Relay} from '../../capture/relay.js'
import {getService, updateService, type Phase} from '../../state/services.js'
import type {ToggleKind, ToggleProvider} from '../../toggles/provider.js'
import {toggleName} from '../../toggles/provider.js'
import {errorMessage, UserError} from '../../util/errors.js'
import {redactUrl} from '../../util/redact.js'
import {silentProgress, type ProgressReporter} from '../../util/progress.js'
import type {Workspace} from '../../workspace.js'
import {retreat} from '../machine.js'
import {archiveInfo, restoreTables} from './archive.js'
import {reverseSync} from './reverse-sync.js'

export interface RollbackOptions {
  /** From shift: the lower read percentage to go back to (default 0, which returns to write-through). */
  toPct?: number
  /** Move reads back but leave writes where they are (shift, decommissioned). */
  readsOnly?: boolean
  dryRun?: boolean
  progress?: ProgressReporter
  signal?: AbortSignal
  /** Time for applications' SDKs (which poll the phase) to see a change of the write target (default 2500 ms). */
  settleMs?: number
}

export interface RollbackResult {
  service: string
  from: Phase
  to: Phase
  readPct: number
  writeTarget: 'monolith' | 'service'
  dryRun: boolean
  actions: string[]
  /** The diff that checked the rollback (not for dry runs, nor for planned). */
  diff?: {runId: string; status: string; totals: {missing: number; extra: number; changed: number}}
}

/**
 * One phase back, from any phase before purge: shift → a lower percentage
 * (or 0: back to write-through), write-through → shadow, shadow → planned
 * (removes what shadow created), decommissioned → shift at 100 % (the reverse
 * relay catches up, the monolith tables come back from the archive, capture is
 * reinstalled, writes return to the monolith). `readsOnly` moves reads and
 * leaves writes on the service. Each rollback is checked by a diff before it
 * reports success.
 *
 * Every action is reported once it is done, never before. A toggle change
 * comes before the state store records it: when the toggle provider fails,
 * the state store keeps the service as it was and the error says which
 * provider failed and how to retry.
 */
export async function runRollback(ws: Workspace, service: string, toggles: ToggleProvider, opts: RollbackOptions = {}): Promise<RollbackResult> {
  const progress = opts.progress ?? silentProgress
  const s = await getService(ws.state, service)
  const actions: string[] = []
  const result = (to: Phase, readPct: number, writeTarget: 'monolith' | 'service'): RollbackResult => ({service, from: s.phase, to, readPct, writeTarget, dryRun: Boolean(opts.dryRun), actions})
  const note = (a: string) => {
    actions.push(a)
    progress.note(`${service}: ${a}`)
  }
  const toggle = new RollbackToggles(ws, service, toggles, retryCommand(service, opts))

  let out: RollbackResult
  switch (s.phase) {
    case 'planned':
      throw new UserError(`Service ${service} is planned: there is nothing to roll back.`, {code: 'E_PHASE'})

    case 'shadow': {
      const {abortShadow} = await import('../shadow.js')
      if (opts.dryRun) {
        const plan = await abortShadow(ws, service, {dryRun: true})
        actions.push(...plan.removed, ...plan.droppedTargets.map((t) => `drop ${t}`))
        return result('planned', 0, 'monolith')
      }
      const r = await abortShadow(ws, service)
      actions.push(...r.removed, ...r.droppedTargets.map((t) => `dropped ${t}`))
      return result('planned', 0, 'monolith')
    }

    case 'write-through':
      if (!opts.dryRun) await retreat(ws, service, 'shadow', {reason: 'rollback'})
      note('writes go to the monolith only; shadow reads go on')
      out = result('shadow', 0, 'monolith')
      break

    case 'shift': {
      const to = opts.toPct ?? 0
      if (to >= s.readPct && !(s.writeTarget === 'service' && !opts.readsOnly)) {
        throw new UserError(`Reads of ${service} are at ${s.readPct} %: a rollback must go lower (got ${to} %).`, {code: 'E_USAGE'})
      }
      if (s.writeTarget === 'service' && !opts.readsOnly) {
        // a reads-only rollback from decommissioned left writes on the service: bring them back too
        if (!opts.dryRun) await toggle.probe('writes')
        await writesBack(ws, service, toggle, opts, note)
        out = result('shift', s.readPct, 'monolith')
        break
      }
      const back = to === 0 && !opts.readsOnly && s.writeTarget === 'monolith'
      if (!opts.dryRun) {
        await toggle.set('reads', to)
        // a soak recorded by shift is for the old percentage: a later shift starts its soak afresh
        if (back) await retreat(ws, service, 'write-through', {reason: 'rollback', patch: {readPct: 0, info: {shift: null}}})
        else await updateService(ws.state, service, {readPct: to, info: {shift: null}})
      }
      note(`reads → ${to} % on the service (toggle ${toggleName(service, 'reads')})`)
      out = result(back ? 'write-through' : 'shift', to, s.writeTarget)
      break
    }

    case 'decommissioned': {
      const info = await archiveInfo(ws, service)
      if ((info as {purgedAt?: string}).purgedAt) {
        throw new UserError(`Service ${service} cannot be rolled back: its archived monolith tables were purged.`, {code: 'E_PURGED'})
      }
      // the toggle provider must answer before anything moves: a failure later would leave a half-made rollback
      if (!opts.dryRun) await toggle.probe(opts.readsOnly ? 'reads' : 'writes')
      if (opts.dryRun) note('reverse relay: bring the archived tables up to date')
      else {
        progress.note(`${service}: reverse relay: bringing the archived tables up to date …`)
        const r = await reverseSync(ws, service, {progress, signal: opts.signal})
        note(`reverse relay: archive caught up: ${r.totals.upserts} upserted, ${r.totals.deletes} deleted (diff ${r.diffRunId})`)
      }
      if (!opts.dryRun) await restoreTables(ws, service)
      note(`restore ${info.tables.map((t) => `${t.archive.schema}.${t.archive.name} → ${t.source.schema}.${t.source.name}`).join(', ')} and the application's grants`)
      const to = opts.readsOnly ? (opts.toPct ?? 0) : 100
      // The service stays authoritative; applications write it first and the restored monolith follows.
      if (!opts.dryRun) {
        if (opts.readsOnly) await toggle.set('reads', to)
        await retreat(ws, service, 'shift', {reason: opts.readsOnly ? 'rollback (reads only)' : 'rollback', patch: {readPct: to, writeTarget: 'service', step: null, info: {shift: null}}})
        await updateService(ws.state, service, {info: {decommission: null}})
        await settle(opts)
      }
      note(`phase shift, writes to the service first with the monolith following${opts.readsOnly ? `, reads → ${to} % on the service` : ''}`)
      if (opts.readsOnly) {
        note('writes stay on the service; `strangler relay` keeps the monolith current')
        out = result('shift', to, 'service')
        break
      }
      await writesBack(ws, service, toggle, opts, note)
      out = result('shift', 100, 'monolith')
      break
    }
  }

  if (opts.dryRun) return out
  progress.note(`${service}: checking the rollback with a diff`)
  const {runDiff} = await import('../../diff/run-diff.js')
  const d = await runDiff(ws, {service, progress, signal: opts.signal})
  out.diff = {runId: d.runId, status: d.status, totals: d.totals}
  return out
}

function settle(opts: RollbackOptions): Promise<void> {
  return new Promise((r) => setTimeout(r, opts.settleMs ?? 2500))
}

/** The command that runs this rollback again. */
function retryCommand(service: string, opts: RollbackOptions): string {
  return `strangler rollback ${service}${opts.toPct === undefined ? '' : ` --to ${opts.toPct}`}${opts.readsOnly ? ' --reads-only' : ''}`
}

/** The plan's toggle provider as operators know it: `Unleash at http://host:4242/` (no credentials), or the local toggles. */
function providerLabel(ws: Workspace): string {
  const t = ws.plan.toggles
  if (t.provider === 'local') return 'the local toggles (state store)'
  try {
    const u = new URL(t.url)
    u.username = ''
    u.password = ''
    return `Unleash at ${redactUrl(u.toString())}`
  } catch {
    return `Unleash at ${redactUrl(t.url)}`
  }
}

/**
 * The rollback's toggle changes. A failure of the provider becomes a
 * `UserError` naming the provider (URL without credentials), the change that
 * failed and the command that retries; callers change the state store only
 * after the toggle changed.
 */
class RollbackToggles {
  constructor(
    private readonly ws: Workspace,
    private readonly service: string,
    private readonly provider: ToggleProvider,
    private readonly retry: string,
  ) {}

  /** Asks the provider for the toggle's rollout: a provider that cannot answer fails here, before anything changed. */
  async probe(kind: ToggleKind): Promise<void> {
    const name = toggleName(this.service, kind)
    try {
      await this.provider.getRollout(name)
    } catch (err) {
      throw this.failure(err, `reading toggle ${name}`, 'Nothing was changed')
    }
  }

  async set(kind: ToggleKind, pct: number): Promise<void> {
    const name = toggleName(this.service, kind)
    try {
      await this.provider.setRollout(name, pct, {service: this.service})
    } catch (err) {
      throw this.failure(err, `setting toggle ${name} to ${pct} %`, 'The state store was not changed by this step')
    }
  }

  private failure(err: unknown, what: string, unchanged: string): UserError {
    const where = providerLabel(this.ws)
    // the Unleash provider's own messages start with where they happened: said once is enough
    const inner = errorMessage(err).replace(/^toggles \(Unleash at [^)]*\): /, '')
    const hint = err instanceof UserError && err.hint ? `${err.hint} ` : ''
    return new UserError(`Rollback of ${this.service} stopped: ${what} failed on ${where}: ${inner}`, {
      code: err instanceof UserError ? err.code : 'E_TOGGLE',
      cause: err,
      hint: `${hint}${unchanged}; once the toggle provider answers, retry with \`${this.retry}\`.`,
    })
  }
}

/**
 * Writes return to the monolith. While the service is still authoritative:
 * capture is installed and the monolith is brought up to date from the service;
 * then the write toggle flips, applications' SDKs pick it up within the settle
 * time, and the relay carries monolith writes to the service again.
 */
async function writesBack(ws: Workspace, service: string, toggle: RollbackToggles, opts: RollbackOptions, note: (a: string) => void): Promise<void> {
  if (!opts.dryRun) await installCapture(ws, service)
  note('install change capture on the monolith tables again')
  if (opts.dryRun) note('reverse relay: copy the service writes the monolith has not seen yet')
  else {
    const r = await reverseSync(ws, service, {signal: opts.signal})
    note(`reverse relay: monolith caught up: ${r.totals.upserts} upserted, ${r.totals.deletes} deleted (diff ${r.diffRunId})`)
  }
  if (!opts.dryRun) {
    await toggle.set('writes', 0)
    await updateService(ws.state, service, {writeTarget: 'monolith'})
    await settle(opts)
  }
  note(`writes → monolith (toggle ${toggleName(service, 'writes')} → 0 %)`)
  if (!opts.dryRun) await new Relay(ws, service, {signal: opts.signal}).drain()
  note('relay: drain the outbox to the service')
}
