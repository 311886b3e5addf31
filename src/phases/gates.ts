import type {Gates} from '../config/schema.js'
import {serviceLag} from '../capture/capture.js'
import {countDeadLetters} from '../capture/dead-letters.js'
import {listCheckpoints} from '../state/checkpoints.js'
import {listTransitions} from '../state/services.js'
import type {StateStore} from '../state/state-store.js'
import {nowIso} from '../state/state-store.js'
import {parseDuration} from '../cli/render.js'
import type {Workspace} from '../workspace.js'

/** One gate measured against its threshold. */
export interface GateResult {
  gate: 'backfill' | 'relay-lag' | 'dead-letters' | 'shadow-mismatch' | 'shadow-samples' | 'diff' | 'diff-age' | 'soak'
  ok: boolean
  /** The measured value, as shown to operators (`2.4 s`, `0.3 %`, `clean`). */
  value: string
  threshold: string
  detail?: string
}

/** Where a gate check happens: before leaving a phase, or at a shift step / during a soak. */
export type GateContext = 'write-through' | 'shift' | 'shift-step' | 'soak' | 'decommission'

/** The measurements gates are computed from, read from the state store and the outbox. */
export interface GateMeasurements {
  backfill: {entities: number; done: number}
  relay: {lagSeconds: number; pending: number} | null
  deadLetters: number
  shadow: {sampled: number; mismatches: number; since: string | null}
  diff: {runId: string; status: string; finishedAt: string; ageMinutes: number} | null
  /** For decommission: how long reads have been at 100 %. */
  fullReadsForMs: number | null
}

/** Pending changes and the age of the oldest (database clock); null when capture is not installed. */
async function outboxLag(ws: Workspace, service: string): Promise<{lagSeconds: number; pending: number} | null> {
  const lag = await serviceLag(ws, service)
  return lag ? {lagSeconds: lag.lagSeconds, pending: lag.pending} : null
}

async function shadowSamples(state: StateStore, service: string, since: string | null): Promise<{sampled: number; mismatches: number}> {
  let q = state.db
    .selectFrom(state.t('shadow_samples'))
    .select((eb) => [eb.fn.sum<number>('sampled').as('sampled'), eb.fn.sum<number>('mismatches').as('mismatches')])
    .where('service', '=', service)
  if (since) q = q.where('at', '>=', since)
  const r = await q.executeTakeFirst()
  return {sampled: Number(r?.sampled ?? 0), mismatches: Number(r?.mismatches ?? 0)}
}

async function latestDiff(state: StateStore, service: string): Promise<GateMeasurements['diff']> {
  const r = await state.db
    .selectFrom(state.t('diff_runs'))
    .select(['id', 'status', 'finished_at'])
    .where('service', '=', service)
    .where('finished_at', 'is not', null)
    .orderBy('finished_at', 'desc')
    .limit(1)
    .executeTakeFirst()
  if (!r) return null
  const finishedAt = String(r.finished_at)
  return {runId: String(r.id), status: String(r.status), finishedAt, ageMinutes: (Date.now() - new Date(finishedAt).getTime()) / 60_000}
}

/** When reads reached 100 % (the last toggle change to 100 not followed by a lower value). */
async function fullReadsSince(state: StateStore, service: string): Promise<number | null> {
  const rows = await state.db.selectFrom(state.t('metrics')).select(['at', 'value']).where('service', '=', service).where('kind', '=', 'toggle').orderBy('id', 'desc').limit(50).execute()
  let since: string | null = null
  for (const r of rows) {
    const v = JSON.parse(String(r.value)) as {pct?: number; toggle?: string}
    if (v.toggle && !v.toggle.endsWith('.reads')) continue
    if (v.pct === 100) since = String(r.at)
    else break
  }
  return since ? Date.now() - new Date(since).getTime() : null
}

/**
 * Where shadow samples start to count by default: when the backfill finished
 * (samples taken while rows were still being copied compare rows the service
 * cannot have yet), or when the service last entered shadow if that was later
 * (a rollback to shadow starts the count again). Later phases keep counting
 * from there, so a phase entered a moment ago is not judged on a handful of samples.
 */
async function shadowWindow(ws: Workspace, service: string, backfillDoneAt: string | null): Promise<string | null> {
  const entered = (await listTransitions(ws.state, service)).filter((t) => t.toPhase === 'shadow').at(-1)?.at ?? null
  return [entered, backfillDoneAt].reduce<string | null>((a, b) => (b !== null && (a === null || b > a) ? b : a), null)
}

/** Measures a service's gates; shadow samples count from `shadowSince` (default: see `shadowWindow`; `null`: all of them). */
export async function measure(ws: Workspace, service: string, opts: {shadowSince?: string | null} = {}): Promise<GateMeasurements> {
  const entities = await ws.entities(service)
  const cps = await listCheckpoints<{done?: boolean}>(ws.state, service, 'backfill')
  const done = entities.filter((e) => cps.some((c) => c.entity === e.name && c.state.done)).length
  const backfillDoneAt = entities.length && done === entities.length ? cps.reduce((a, c) => (c.updatedAt > a ? c.updatedAt : a), '') : null
  const since = opts.shadowSince !== undefined ? opts.shadowSince : await shadowWindow(ws, service, backfillDoneAt)
  return {
    backfill: {entities: entities.length, done},
    relay: await outboxLag(ws, service),
    deadLetters: await countDeadLetters(ws.state, service),
    shadow: {...(await shadowSamples(ws.state, service, since)), since},
    diff: await latestDiff(ws.state, service),
    fullReadsForMs: await fullReadsSince(ws.state, service),
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(x < 0.01 ? 3 : 2)} %`

/**
 * The gates of DESIGN.md, per context. Pure: measurements in, verdicts out,
 * so they are unit-tested without databases.
 */
export function evaluate(context: GateContext, m: GateMeasurements, g: Gates): GateResult[] {
  const out: GateResult[] = []
  // Before decommission the relay must be keeping up; it is drained to zero by the decommission's own drain step, after writes are cut over.
  const lagLimit = g.maxRelayLagSeconds
  if (context === 'write-through') {
    out.push({gate: 'backfill', ok: m.backfill.entities > 0 && m.backfill.done === m.backfill.entities, value: `${m.backfill.done}/${m.backfill.entities} entities`, threshold: 'all entities backfilled'})
  }
  if (m.relay) {
    out.push({gate: 'relay-lag', ok: m.relay.lagSeconds <= lagLimit, value: `${m.relay.lagSeconds.toFixed(1)} s (${m.relay.pending} pending)`, threshold: `≤ ${lagLimit} s`})
  } else if (context !== 'decommission') {
    out.push({gate: 'relay-lag', ok: false, value: 'no capture installed', threshold: `≤ ${lagLimit} s`, detail: 'run `strangler shadow SERVICE` first'})
  }
  if (context !== 'write-through' || m.deadLetters > 0) {
    out.push({gate: 'dead-letters', ok: m.deadLetters <= (context === 'decommission' ? 0 : g.maxDeadLetters), value: String(m.deadLetters), threshold: `≤ ${context === 'decommission' ? 0 : g.maxDeadLetters}`})
  }
  if (context === 'write-through' || context === 'shift' || context === 'shift-step' || context === 'soak') {
    const needSamples = context === 'write-through'
    if (needSamples) {
      out.push({gate: 'shadow-samples', ok: m.shadow.sampled >= g.minShadowSamples, value: String(m.shadow.sampled), threshold: `≥ ${g.minShadowSamples}`, detail: m.shadow.sampled < g.minShadowSamples ? 'run `strangler shadow verify SERVICE --sample N` or let the SDK sample shadow reads' : undefined})
    }
    const rate = m.shadow.sampled > 0 ? m.shadow.mismatches / m.shadow.sampled : 0
    out.push({gate: 'shadow-mismatch', ok: rate <= g.maxShadowMismatchRate, value: `${pct(rate)} (${m.shadow.mismatches}/${m.shadow.sampled})`, threshold: `≤ ${pct(g.maxShadowMismatchRate)}`})
  }
  const diffOk = m.diff?.status === 'clean'
  out.push({gate: 'diff', ok: diffOk, value: m.diff ? `${m.diff.status} (run ${m.diff.runId.slice(0, 8)})` : 'no diff run yet', threshold: 'clean', detail: diffOk ? undefined : 'run `strangler diff SERVICE` (and `strangler repair SERVICE` if it finds differences)'})
  if (m.diff) {
    out.push({gate: 'diff-age', ok: m.diff.ageMinutes <= g.maxDiffAgeMinutes, value: `${m.diff.ageMinutes.toFixed(1)} min`, threshold: `≤ ${g.maxDiffAgeMinutes} min`})
  }
  if (context === 'decommission') {
    const soakMs = parseDuration(g.soak)
    out.push({
      gate: 'soak',
      ok: m.fullReadsForMs !== null && m.fullReadsForMs >= soakMs,
      value: m.fullReadsForMs === null ? 'reads not at 100 %' : `100 % for ${(m.fullReadsForMs / 60_000).toFixed(1)} min`,
      threshold: `100 % for ≥ ${g.soak}`,
    })
  }
  return out
}

export async function recordGateEvals(state: StateStore, service: string, context: string, results: readonly GateResult[]): Promise<void> {
  if (!results.length) return
  const at = nowIso()
  await state.db
    .insertInto(state.t('gate_evals'))
    .values(results.map((r) => ({service, at, context, gate: r.gate, value: r.value, threshold: r.threshold, ok: r.ok})))
    .execute()
}

/** Measures, evaluates and records the gates; returns the verdicts. */
export async function checkGates(ws: Workspace, service: string, context: GateContext, opts: {shadowSince?: string | null; record?: boolean; contextLabel?: string} = {}): Promise<GateResult[]> {
  const m = await measure(ws, service, opts)
  const results = evaluate(context, m, ws.plan.gates)
  if (opts.record !== false) await recordGateEvals(ws.state, service, opts.contextLabel ?? context, results)
  return results
}

export function failing(results: readonly GateResult[]): GateResult[] {
  return results.filter((r) => !r.ok)
}

/** `relay-lag is 7.2 s (limit ≤ 5 s)` lines. */
export function describeFailures(results: readonly GateResult[]): string {
  return failing(results)
    .map((r) => `  - ${r.gate}: ${r.value} (needs ${r.threshold})${r.detail ? ` — ${r.detail}` : ''}`)
    .join('\n')
}
