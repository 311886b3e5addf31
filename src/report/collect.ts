import {keyToString} from '../engines/keys.js'
import type {KeyTuple} from '../engines/types.js'
import type {StateStore} from '../state/state-store.js'
import {redactDeep} from '../util/redact.js'
import {assessService} from './assess.js'
import {bool, durationMs, otherOf, isoTime, isoTimeOrNull, num, num0, parseDoc, parseObject, str, thin, withOther} from './lenient.js'
import {
  DEFAULT_LIMITS,
  REPORT_VERSION,
  type AuditEntry,
  type BackfillEntity,
  type BackfillSection,
  type DeadLetterEntry,
  type DeadLetterSection,
  type DiffKeyEntry,
  type DiffRun,
  type DiffRunEntity,
  type DiffSection,
  type GateEval,
  type GateSection,
  type RelayPoint,
  type RelaySection,
  type ReportData,
  type ReportLimits,
  type ServiceReport,
  type ShadowExampleEntry,
  type ShadowPoint,
  type ShadowSection,
  type TogglePoint,
  type ToggleSection,
  type TransitionEntry,
} from './report-data.js'

/** What to report on. */
export interface CollectOptions {
  /** One service only (it need not be in the plan: a removed service still has history). */
  service?: string
  /** The plan's services, reported in this order; services found only in the state store follow, sorted. */
  services?: readonly string[]
  /** The report's time (default now); fixed in tests so the output depends on the data only. */
  generatedAt?: string
  limits?: Partial<ReportLimits>
}

type Row = Record<string, unknown>

/** Code-point order, the same on every engine (SQL ORDER BY on text follows the database's collation). */
const byText = (a: unknown, b: unknown): number => {
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** Tables with a `service` column, searched for services the plan does not list. */
const SERVICE_TABLES = ['transitions', 'metrics', 'checkpoints', 'diff_runs', 'shadow_samples', 'dead_letters', 'gate_evals', 'toggles', 'audit'] as const

/**
 * Reads everything the state store knows about the services into a
 * {@link ReportData}: phase timeline, toggle rollout, relay samples, backfill
 * progress, diff runs and the last run's differing keys, shadow samples and
 * examples, dead letters, gate evaluations and the audit log. Read-only; on a
 * state store without the control-plane tables every section is empty. Every
 * string is redacted.
 */
export async function collectReport(state: StateStore, opts: CollectOptions = {}): Promise<ReportData> {
  const limits: ReportLimits = {...DEFAULT_LIMITS, ...opts.limits}
  const initialised = await hasControlPlane(state)
  const names = opts.service ? [opts.service] : await serviceNames(state, opts.services ?? [], initialised)
  const services: ServiceReport[] = []
  for (const name of names) services.push(initialised ? await collectService(state, name, limits) : emptyService(name))
  const audit = initialised ? await auditOf(state, null, limits.audit) : {entries: [], total: 0}
  const data: ReportData = {
    reportVersion: REPORT_VERSION,
    generatedAt: isoTime(opts.generatedAt ?? new Date().toISOString()),
    stateStore: {initialised, prefix: state.prefix, dialect: state.sql.dialect},
    limits,
    services,
    audit: opts.service ? [] : audit.entries,
    auditTotal: opts.service ? 0 : audit.total,
  }
  return redactDeep(data)
}

/** True when the control-plane tables exist (probed with a query, so nothing is created). */
async function hasControlPlane(state: StateStore): Promise<boolean> {
  try {
    await state.db.selectFrom(state.t('services')).select('name').limit(1).execute()
    await state.db.selectFrom(state.t('gate_evals')).select('id').limit(1).execute()
    return true
  } catch {
    return false
  }
}

async function serviceNames(state: StateStore, planned: readonly string[], initialised: boolean): Promise<string[]> {
  const seen = new Set<string>()
  if (initialised) {
    for (const t of SERVICE_TABLES) {
      const rows = await state.db.selectFrom(state.t(t)).select('service').distinct().where('service', 'is not', null).execute()
      for (const r of rows) seen.add(String(r.service))
    }
    for (const r of await state.db.selectFrom(state.t('services')).select('name').execute()) seen.add(String(r.name))
  }
  const out = [...planned]
  for (const n of [...seen].sort(byText)) if (!out.includes(n)) out.push(n)
  return out
}

function emptyService(name: string): ServiceReport {
  const base: Omit<ServiceReport, 'status'> = {
    name,
    phase: 'planned',
    readPct: 0,
    writeTarget: 'monolith',
    step: null,
    updatedAt: null,
    info: {},
    transitions: [],
    toggles: {points: [], totalPoints: 0, current: []},
    relay: {points: [], totalPoints: 0, latest: null, maxLagSeconds: null, maxThroughput: null},
    backfill: {entities: [], done: 0, total: 0, rowsCopied: 0, rowsEstimated: 0},
    diff: {runs: [], totalRuns: 0, lastRun: null, lastRunKeys: [], lastRunKeysTotal: 0, lastRunKeysByKind: {}},
    shadow: {points: [], totalPoints: 0, totals: {sampled: 0, mismatches: 0, errors: 0, rate: 0}, examples: [], totalExamples: 0},
    deadLetters: {unresolved: 0, resolved: 0, items: []},
    gates: {evaluations: [], total: 0, latest: []},
    audit: [],
    auditTotal: 0,
  }
  return {...base, status: assessService(base)}
}

async function collectService(state: StateStore, name: string, limits: ReportLimits): Promise<ServiceReport> {
  const empty = emptyService(name)
  const svc = await state.db.selectFrom(state.t('services')).selectAll().where('name', '=', name).executeTakeFirst()
  const audit = await auditOf(state, name, limits.audit)
  const base: Omit<ServiceReport, 'status'> = {
    ...empty,
    ...(svc
      ? {
          phase: String(svc.phase),
          readPct: num0(svc.read_pct),
          writeTarget: String(svc.write_target),
          step: str(svc.step),
          updatedAt: isoTimeOrNull(svc.updated_at),
          info: parseObject(svc.info),
        }
      : {}),
    transitions: await transitionsOf(state, name),
    toggles: await togglesOf(state, name, limits),
    relay: await relayOf(state, name, limits),
    backfill: await backfillOf(state, name),
    diff: await diffOf(state, name, limits),
    shadow: await shadowOf(state, name, limits),
    deadLetters: await deadLettersOf(state, name, limits),
    gates: await gatesOf(state, name, limits),
    audit: audit.entries,
    auditTotal: audit.total,
  }
  return {...base, status: assessService(base)}
}

async function transitionsOf(state: StateStore, service: string): Promise<TransitionEntry[]> {
  const rows = await state.db.selectFrom(state.t('transitions')).selectAll().where('service', '=', service).orderBy('at').orderBy('id').execute()
  return rows.map((r) => ({
    at: isoTime(r.at),
    from: String(r.from_phase),
    to: String(r.to_phase),
    operator: String(r.operator),
    runId: String(r.run_id),
    reason: str(r.reason),
    forced: bool(r.forced),
  }))
}

async function metricRows(state: StateStore, service: string, kind: string): Promise<{at: string; value: Record<string, unknown>}[]> {
  const rows = await state.db.selectFrom(state.t('metrics')).select(['at', 'value']).where('service', '=', service).where('kind', '=', kind).orderBy('at').orderBy('id').execute()
  return rows.map((r) => ({at: isoTime(r.at), value: parseObject(r.value)}))
}

async function togglesOf(state: StateStore, service: string, limits: ReportLimits): Promise<ToggleSection> {
  const all: TogglePoint[] = []
  for (const {at, value: v} of await metricRows(state, service, 'toggle')) {
    const pct = num(v.pct)
    if (pct === null) continue
    all.push(withOther({at, toggle: str(v.toggle) ?? `${service}`, pct, provider: str(v.provider)}, otherOf(v, ['toggle', 'pct', 'provider'])))
  }
  const current = (await state.db.selectFrom(state.t('toggles')).selectAll().where('service', '=', service).execute()).sort((a, b) => byText(a.name, b.name))
  return {
    // rollout changes are few and each matters: keep the newest rather than thinning
    points: all.slice(-limits.seriesPoints),
    totalPoints: all.length,
    current: current.map((r) => ({name: String(r.name), pct: num0(r.pct), enabled: bool(r.enabled), stickiness: String(r.stickiness), updatedAt: isoTime(r.updated_at)})),
  }
}

const RELAY_FIELDS = ['lagSeconds', 'pending', 'applied', 'batchMs', 'retries', 'deadLetters', 'throughput'] as const

async function relayOf(state: StateStore, service: string, limits: ReportLimits): Promise<RelaySection> {
  const all: RelayPoint[] = (await metricRows(state, service, 'relay')).map(({at, value: v}) =>
    withOther(
      {
        at,
        lagSeconds: num(v.lagSeconds),
        pending: num(v.pending),
        applied: num(v.applied),
        batchMs: num(v.batchMs),
        retries: num(v.retries),
        deadLetters: num(v.deadLetters),
        throughput: num(v.throughput),
      },
      otherOf(v, RELAY_FIELDS),
    ),
  )
  const max = (f: (p: RelayPoint) => number | null): number | null => all.reduce<number | null>((m, p) => (f(p) === null ? m : Math.max(m ?? -Infinity, f(p)!)), null)
  return {
    points: thin(all, limits.seriesPoints, (p) => p.lagSeconds ?? 0),
    totalPoints: all.length,
    latest: all.at(-1) ?? null,
    maxLagSeconds: max((p) => p.lagSeconds),
    maxThroughput: max((p) => p.throughput),
  }
}

const BACKFILL_FIELDS = ['version', 'done', 'rowsCopied', 'rowsEstimated', 'startedAt', 'finishedAt', 'runs', 'ranges', 'chunkRows']

async function backfillOf(state: StateStore, service: string): Promise<BackfillSection> {
  const rows = (await state.db.selectFrom(state.t('checkpoints')).selectAll().where('service', '=', service).where('kind', '=', 'backfill').execute()).sort((a, b) => byText(a.entity, b.entity))
  const entities: BackfillEntity[] = rows.map((r) => {
    const s = parseObject(r.state)
    const done = bool(s.done)
    const copied = num(s.rowsCopied)
    const estimated = num(s.rowsEstimated)
    const ranges = Array.isArray(s.ranges) ? (s.ranges as unknown[]) : null
    return withOther(
      {
        entity: String(r.entity),
        done,
        rowsCopied: copied,
        rowsEstimated: estimated,
        pct: done ? 100 : copied !== null && estimated ? Math.min(100, Math.round((copied / estimated) * 1000) / 10) : null,
        startedAt: isoTimeOrNull(s.startedAt),
        finishedAt: isoTimeOrNull(s.finishedAt),
        runs: num(s.runs),
        chunkRows: num(s.chunkRows),
        ranges: ranges ? ranges.length : null,
        rangesDone: ranges ? ranges.filter((x) => x && typeof x === 'object' && bool((x as Row).done)).length : null,
        updatedAt: isoTime(r.updated_at),
      },
      otherOf(s, BACKFILL_FIELDS),
    )
  })
  return {
    entities,
    done: entities.filter((e) => e.done).length,
    total: entities.length,
    rowsCopied: entities.reduce((a, e) => a + (e.rowsCopied ?? 0), 0),
    rowsEstimated: entities.reduce((a, e) => a + (e.rowsEstimated ?? 0), 0),
  }
}

const RUN_SUMMARY_FIELDS = ['runId', 'service', 'status', 'totals', 'entities', 'samplePct']
const RUN_ENTITY_FIELDS = ['entity', 'status', 'mode', 'missing', 'extra', 'changed', 'rowsSource', 'rowsTarget', 'error']

function toDiffRun(r: Row): DiffRun {
  const options = parseObject(r.options)
  const summary = parseObject(r.summary)
  const totals: Row = summary.totals && typeof summary.totals === 'object' ? (summary.totals as Row) : {}
  const startedAt = isoTime(r.started_at)
  const finishedAt = isoTimeOrNull(r.finished_at)
  const entities: DiffRunEntity[] = (Array.isArray(summary.entities) ? (summary.entities as unknown[]) : []).map((x) => {
    const e = x && typeof x === 'object' ? (x as Row) : {}
    return withOther(
      {
        entity: str(e.entity) ?? '?',
        status: str(e.status) ?? 'unknown',
        mode: str(e.mode),
        missing: num(e.missing),
        extra: num(e.extra),
        changed: num(e.changed),
        rowsSource: num(e.rowsSource),
        rowsTarget: num(e.rowsTarget),
        error: str(e.error),
      },
      otherOf(e, RUN_ENTITY_FIELDS),
    )
  })
  return withOther(
    {
      id: String(r.id),
      runId: str(options.runId) ?? str(summary.runId) ?? String(r.id),
      status: String(r.status),
      startedAt,
      finishedAt,
      durationMs: durationMs(startedAt, finishedAt),
      totals: {rowsCompared: num(totals.rowsCompared), missing: num(totals.missing), extra: num(totals.extra), changed: num(totals.changed)},
      samplePct: num(summary.samplePct ?? options.samplePct),
      entities,
      options,
    },
    r.summary ? otherOf(summary, RUN_SUMMARY_FIELDS) : undefined,
  )
}

async function diffOf(state: StateStore, service: string, limits: ReportLimits): Promise<DiffSection> {
  const t = state.t('diff_runs')
  const total = await state.db
    .selectFrom(t)
    .select((eb) => eb.fn.countAll().as('n'))
    .where('service', '=', service)
    .executeTakeFirst()
  const rows = await state.db.selectFrom(t).selectAll().where('service', '=', service).orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limits.diffRuns).execute()
  const runs = rows.map(toDiffRun).reverse()
  const lastRow =
    (await state.db.selectFrom(t).selectAll().where('service', '=', service).where('finished_at', 'is not', null).orderBy('finished_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst()) ??
    rows[0]
  const lastRun = lastRow ? toDiffRun(lastRow) : null
  const out: DiffSection = {runs, totalRuns: num0(total?.n), lastRun, lastRunKeys: [], lastRunKeysTotal: 0, lastRunKeysByKind: {}}
  if (!lastRun) return out
  // diff_keys.run_id holds the run id (several services share it); older writers may have used the row id
  const ids = [...new Set([lastRun.runId, lastRun.id])]
  const kt = state.t('diff_keys')
  const byKind = await state.db
    .selectFrom(kt)
    .select(['kind', (eb) => eb.fn.countAll().as('n')])
    .where('run_id', 'in', ids)
    .where('service', '=', service)
    .groupBy('kind')
    .execute()
  for (const r of byKind.sort((a, b) => byText(a.kind, b.kind))) out.lastRunKeysByKind[String(r.kind)] = num0(r.n)
  out.lastRunKeysTotal = Object.values(out.lastRunKeysByKind).reduce((a, n) => a + n, 0)
  const keys = await state.db.selectFrom(kt).selectAll().where('run_id', 'in', ids).where('service', '=', service).orderBy('id').limit(limits.diffKeys).execute()
  out.lastRunKeys = keys.map((r): DiffKeyEntry => {
    const detail = parseObject(r.detail)
    const cols = Array.isArray(detail.columns) ? (detail.columns as unknown[]) : []
    return withOther(
      {
        entity: String(r.entity),
        kind: String(r.kind),
        key: parseDoc(r.pk),
        columns: cols.map((c) => {
          const o = c && typeof c === 'object' ? (c as Row) : {name: str(c)}
          return {name: str(o.name) ?? '?', source: o.source ?? null, target: o.target ?? null}
        }),
        chunk: num(detail.chunk),
      },
      otherOf(detail, ['chunk', 'columns']),
    )
  })
  return out
}

/** A shadow example's key as text: tuples as the diff prints them, strings as they are. */
function keyText(k: unknown): string {
  if (typeof k === 'string') return k
  if (Array.isArray(k)) {
    try {
      return keyToString(k as KeyTuple)
    } catch {
      return JSON.stringify(k)
    }
  }
  return str(k) ?? ''
}

const EXAMPLE_FIELDS = ['key', 'kind', 'fields', 'columns', 'monolith', 'service', 'error', 'at']

async function shadowOf(state: StateStore, service: string, limits: ReportLimits): Promise<ShadowSection> {
  const rows = await state.db.selectFrom(state.t('shadow_samples')).selectAll().where('service', '=', service).orderBy('at').orderBy('id').execute()
  const all: ShadowPoint[] = []
  const examples: ShadowExampleEntry[] = []
  let totalExamples = 0
  const totals = {sampled: 0, mismatches: 0, errors: 0, rate: 0}
  for (const r of rows) {
    const p: ShadowPoint = {at: isoTime(r.at), entity: String(r.entity), source: String(r.source), sampled: num0(r.sampled), mismatches: num0(r.mismatches), errors: num0(r.errors), rate: 0}
    p.rate = p.sampled ? p.mismatches / p.sampled : 0
    all.push(p)
    totals.sampled += p.sampled
    totals.mismatches += p.mismatches
    totals.errors += p.errors
    const ex = parseDoc(r.examples)
    const list = Array.isArray(ex) ? ex : ex === null ? [] : [ex]
    totalExamples += list.length
    for (const x of list) {
      const o: Row = x && typeof x === 'object' && !Array.isArray(x) ? (x as Row) : {key: x}
      const fields: unknown[] = Array.isArray(o.fields) ? o.fields : Array.isArray(o.columns) ? o.columns : []
      examples.push(
        withOther(
          {
            at: o.at ? isoTime(o.at) : p.at,
            entity: p.entity,
            source: p.source,
            key: keyText(o.key),
            kind: str(o.kind) ?? (o.error ? 'error' : null),
            fields: fields.map((f) => str(f) ?? ''),
            monolith: o.monolith ?? null,
            service: o.service ?? null,
            error: str(o.error),
          },
          otherOf(o, EXAMPLE_FIELDS),
        ),
      )
    }
  }
  totals.rate = totals.sampled ? totals.mismatches / totals.sampled : 0
  return {
    points: thin(all, limits.seriesPoints, (p) => p.rate),
    totalPoints: all.length,
    totals,
    examples: examples.slice(-limits.shadowExamples),
    totalExamples,
  }
}

function toDeadLetter(r: Row): DeadLetterEntry {
  return {
    id: String(r.id),
    entity: String(r.entity),
    pk: String(r.pk),
    source: String(r.source),
    error: String(r.error),
    attempts: num0(r.attempts),
    firstAt: isoTime(r.first_at),
    lastAt: isoTime(r.last_at),
    nextAt: isoTime(r.next_at),
    resolvedAt: isoTimeOrNull(r.resolved_at),
  }
}

async function deadLettersOf(state: StateStore, service: string, limits: ReportLimits): Promise<DeadLetterSection> {
  const t = state.t('dead_letters')
  const counts = await state.db
    .selectFrom(t)
    .select([(eb) => eb.fn.countAll().as('n'), (eb) => eb.fn.count('resolved_at').as('resolved')])
    .where('service', '=', service)
    .executeTakeFirst()
  const n = num0(counts?.n)
  const resolved = num0(counts?.resolved)
  const open = await state.db.selectFrom(t).selectAll().where('service', '=', service).where('resolved_at', 'is', null).orderBy('id').limit(limits.deadLetters).execute()
  const room = limits.deadLetters - open.length
  const closed = room > 0 ? await state.db.selectFrom(t).selectAll().where('service', '=', service).where('resolved_at', 'is not', null).orderBy('id', 'desc').limit(room).execute() : []
  const items = [...open, ...closed].map(toDeadLetter).sort((a, b) => a.firstAt.localeCompare(b.firstAt) || Number(a.id) - Number(b.id))
  return {unresolved: n - resolved, resolved, items}
}

async function gatesOf(state: StateStore, service: string, limits: ReportLimits): Promise<GateSection> {
  const t = state.t('gate_evals')
  const total = await state.db
    .selectFrom(t)
    .select((eb) => eb.fn.countAll().as('n'))
    .where('service', '=', service)
    .executeTakeFirst()
  const rows = await state.db.selectFrom(t).selectAll().where('service', '=', service).orderBy('at', 'desc').orderBy('id', 'desc').limit(limits.gateEvals).execute()
  const evaluations: GateEval[] = rows.reverse().map((r) => ({at: isoTime(r.at), context: String(r.context), gate: String(r.gate), value: str(r.value), threshold: str(r.threshold), ok: bool(r.ok)}))
  const last = evaluations.at(-1)
  return {evaluations, total: num0(total?.n), latest: last ? evaluations.filter((e) => e.at === last.at && e.context === last.context) : []}
}

async function auditOf(state: StateStore, service: string | null, limit: number): Promise<{entries: AuditEntry[]; total: number}> {
  const t = state.t('audit')
  let count = state.db.selectFrom(t).select((eb) => eb.fn.countAll().as('n'))
  let q = state.db.selectFrom(t).selectAll()
  if (service === null) {
    count = count.where('service', 'is', null)
    q = q.where('service', 'is', null)
  } else {
    count = count.where('service', '=', service)
    q = q.where('service', '=', service)
  }
  const total = await count.executeTakeFirst()
  const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute()
  const entries = rows.reverse().map((r) => ({
    at: isoTime(r.at),
    runId: String(r.run_id),
    operator: String(r.operator),
    host: String(r.host),
    command: String(r.command),
    args: parseDoc(r.args),
    service: str(r.service),
    outcome: String(r.outcome),
    exitCode: num(r.exit_code),
    durationMs: num(r.duration_ms),
    detail: str(r.detail),
  }))
  return {entries, total: num0(total?.n)}
}
