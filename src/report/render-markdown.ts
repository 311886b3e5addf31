import {redact} from '../util/redact.js'
import {fmtColumns, fmtCount, fmtKey, fmtMs, fmtRate, fmtSeconds, fmtStoredKey, fmtTime, fmtValue, mark, plural, serviceFacts} from './format.js'
import type {AuditEntry, ReportData, ServiceReport} from './report-data.js'

/** How many rows each Markdown table shows (the JSON and HTML reports hold more). */
export interface MarkdownLimits {
  rows: number
  diffKeys: number
  examples: number
}

const DEFAULTS: MarkdownLimits = {rows: 20, diffKeys: 20, examples: 5}

/**
 * Escapes text for GitHub-flavoured Markdown, table cells included: HTML
 * special characters become entities (GitHub renders inline HTML), Markdown
 * punctuation is backslash-escaped, pipes are escaped and line breaks folded.
 */
export function md(text: unknown): string {
  const s = redact(text === null || text === undefined ? '' : String(text))
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]{}#+!|~])/g, '\\$1')
    .replace(/\r?\n|\r/g, ' ')
}

function table(head: readonly string[], rows: readonly (readonly unknown[])[], align?: readonly ('l' | 'r')[]): string {
  const sep = head.map((_, i) => (align?.[i] === 'r' ? '---:' : '---'))
  const line = (cells: readonly unknown[]): string => `| ${cells.map((c) => md(c)).join(' | ')} |`
  return [line(head), `| ${sep.join(' | ')} |`, ...rows.map(line)].join('\n')
}

/** `_… and 12 earlier not shown._` */
function more(n: number, what: string): string[] {
  return n > 0 ? ['', `_… and ${fmtCount(n)} ${what} not shown._`] : []
}

function statusLine(s: ServiceReport): string {
  const f = serviceFacts(s)
  const parts = [
    `**${md(s.phase)}**`,
    `reads ${md(f.reads)} from the service`,
    `writes to ${md(s.writeTarget)}`,
    `backfill ${md(f.backfill)}`,
    `relay lag ${md(f.lag)}`,
    `last diff ${md(f.diff)}`,
    `${md(f.deadLetters)} dead letters`,
  ]
  return `${mark(s.status.ok)} ${parts.join(' · ')}`
}

function auditTable(entries: readonly AuditEntry[], total: number, rows: number): string[] {
  const shown = entries.slice(-rows)
  return [
    table(
      ['when', 'command', 'operator', 'host', 'outcome', 'exit', 'duration', 'detail'],
      shown.map((a) => [fmtTime(a.at), a.command, a.operator, a.host, a.outcome, a.exitCode ?? '', fmtMs(a.durationMs), fmtValue(a.detail ?? '', 120)]),
      ['l', 'l', 'l', 'l', 'l', 'r', 'r', 'l'],
    ),
    ...more(total - shown.length, 'earlier records'),
  ]
}

function serviceSection(s: ServiceReport, lim: MarkdownLimits): string[] {
  const out: string[] = [`## ${md(s.name)}`, '', statusLine(s)]
  if (s.status.problems.length) out.push('', ...s.status.problems.map((p) => `- ${mark(false)} ${md(p)}`))
  const missing: string[] = []

  if (s.transitions.length) {
    const shown = s.transitions.slice(-lim.rows)
    out.push(
      '',
      '### Phase timeline',
      '',
      table(
        ['when', 'from', 'to', 'by', 'run', 'reason'],
        shown.map((t) => [fmtTime(t.at), t.from, t.to, t.operator, t.runId, `${t.forced ? 'FORCED: ' : ''}${t.reason ?? ''}`]),
      ),
      ...more(s.transitions.length - shown.length, 'earlier transitions'),
    )
  } else missing.push('phase transitions')

  if (s.toggles.points.length || s.toggles.current.length) {
    out.push('', '### Toggle rollout')
    if (s.toggles.current.length) {
      out.push('', `Now: ${s.toggles.current.map((t) => `${md(t.name)} ${t.enabled ? `${t.pct} %` : 'off'}`).join(', ')}.`)
    }
    if (s.toggles.points.length) {
      const shown = s.toggles.points.slice(-lim.rows)
      out.push(
        '',
        table(
          ['when', 'toggle', 'reads to service', 'provider'],
          shown.map((p) => [fmtTime(p.at), p.toggle, `${p.pct} %`, p.provider ?? '']),
          ['l', 'l', 'r', 'l'],
        ),
        ...more(s.toggles.totalPoints - shown.length, 'earlier changes'),
      )
    }
  } else missing.push('toggle changes')

  if (s.relay.latest) {
    const l = s.relay.latest
    const now = [
      `lag ${fmtSeconds(l.lagSeconds)}`,
      l.pending === null ? '' : `${plural(l.pending, 'change')} pending`,
      l.throughput === null ? '' : `${fmtCount(l.throughput)} changes/s`,
      l.deadLetters === null ? '' : plural(l.deadLetters, 'dead letter'),
    ].filter(Boolean)
    const over = [`max lag ${fmtSeconds(s.relay.maxLagSeconds)}`, s.relay.maxThroughput === null ? '' : `max throughput ${fmtCount(s.relay.maxThroughput)} changes/s`].filter(Boolean)
    out.push('', '### Relay', '', `Last sample ${md(fmtTime(l.at))}: ${md(now.join(', '))}. Over ${md(plural(s.relay.totalPoints, 'sample'))}: ${md(over.join(', '))}.`)
  } else missing.push('relay samples')

  if (s.backfill.entities.length) {
    out.push(
      '',
      '### Backfill',
      '',
      table(
        ['entity', 'progress', 'rows copied', 'rows estimated', 'runs', 'started', 'finished'],
        s.backfill.entities.map((e) => [
          e.entity,
          e.done ? `${mark(true)} done` : e.pct === null ? 'in progress' : `${e.pct} %`,
          fmtCount(e.rowsCopied),
          fmtCount(e.rowsEstimated),
          e.runs ?? '',
          fmtTime(e.startedAt),
          fmtTime(e.finishedAt),
        ]),
        ['l', 'r', 'r', 'r', 'r', 'l', 'l'],
      ),
    )
  } else missing.push('backfill')

  if (s.diff.runs.length) {
    const shown = s.diff.runs.slice(-lim.rows)
    out.push(
      '',
      '### Diff runs',
      '',
      table(
        ['run', 'started', 'duration', 'status', 'rows compared', 'missing', 'extra', 'changed'],
        shown.map((r) => [
          r.runId,
          fmtTime(r.startedAt),
          fmtMs(r.durationMs),
          `${r.status === 'clean' ? `${mark(true)} ` : r.status === 'differences' || r.status === 'error' ? `${mark(false)} ` : ''}${r.status}${r.samplePct !== null ? ` (${r.samplePct} % sample)` : ''}`,
          fmtCount(r.totals.rowsCompared),
          fmtCount(r.totals.missing),
          fmtCount(r.totals.extra),
          fmtCount(r.totals.changed),
        ]),
        ['l', 'l', 'r', 'l', 'r', 'r', 'r', 'r'],
      ),
      ...more(s.diff.totalRuns - shown.length, 'earlier runs'),
    )
    const last = s.diff.lastRun
    if (last) {
      const errors = last.entities.filter((e) => e.error)
      if (errors.length) out.push('', ...errors.map((e) => `- ${mark(false)} ${md(e.entity)}: ${md(e.error)}`))
      if (s.diff.lastRunKeysTotal) {
        const shown = s.diff.lastRunKeys.slice(0, lim.diffKeys)
        const kinds = Object.entries(s.diff.lastRunKeysByKind)
          .map(([k, n]) => `${fmtCount(n)} ${k}`)
          .join(', ')
        out.push(
          '',
          `#### Differing keys of run ${md(last.runId)}`,
          '',
          `${md(plural(s.diff.lastRunKeysTotal, 'key'))} stored (${md(kinds)}).`,
          '',
          table(
            ['entity', 'kind', 'key', 'changed columns (monolith → service)'],
            shown.map((k) => [k.entity, k.kind, fmtKey(k.key), fmtColumns(k)]),
          ),
          ...more(s.diff.lastRunKeysTotal - shown.length, 'more keys'),
        )
      }
    }
  } else missing.push('diff runs')

  if (s.shadow.points.length) {
    const t = s.shadow.totals
    const byEntity = new Map<string, {entity: string; source: string; sampled: number; mismatches: number; errors: number}>()
    for (const p of s.shadow.points) {
      const k = `${p.entity}\u0000${p.source}`
      const e = byEntity.get(k) ?? {entity: p.entity, source: p.source, sampled: 0, mismatches: 0, errors: 0}
      e.sampled += p.sampled
      e.mismatches += p.mismatches
      e.errors += p.errors
      byEntity.set(k, e)
    }
    const thinned = s.shadow.points.length < s.shadow.totalPoints
    out.push(
      '',
      '### Shadow reads',
      '',
      `${md(fmtCount(t.sampled))} sampled, ${md(plural(t.mismatches, 'mismatch', 'mismatches'))} (${md(fmtRate(t.rate))}), ${md(plural(t.errors, 'error'))} in ${md(plural(s.shadow.totalPoints, 'batch', 'batches'))}.`,
      '',
      table(
        ['entity', 'source', 'sampled', 'mismatches', 'errors', 'rate'],
        [...byEntity.values()].map((e) => [e.entity, e.source, fmtCount(e.sampled), fmtCount(e.mismatches), fmtCount(e.errors), fmtRate(e.sampled ? e.mismatches / e.sampled : 0)]),
        ['l', 'l', 'r', 'r', 'r', 'r'],
      ),
      ...(thinned ? ['', `_Per-entity sums over the ${fmtCount(s.shadow.points.length)} batches kept in the report._`] : []),
    )
    if (s.shadow.examples.length) {
      const shown = s.shadow.examples.slice(-lim.examples)
      out.push(
        '',
        `Latest mismatch examples:`,
        '',
        table(
          ['when', 'entity', 'key', 'kind', 'fields', 'monolith', 'service'],
          shown.map((e) => [fmtTime(e.at), e.entity, e.key, e.kind ?? '', e.error ?? e.fields.join(', '), fmtValue(e.monolith ?? '', 60), fmtValue(e.service ?? '', 60)]),
        ),
        ...more(s.shadow.totalExamples - shown.length, 'more examples'),
      )
    }
  } else missing.push('shadow samples')

  if (s.deadLetters.items.length) {
    const shown = s.deadLetters.items.filter((d) => !d.resolvedAt).slice(0, lim.rows)
    const open = s.deadLetters.unresolved
    out.push('', '### Dead letters', '', `${md(fmtCount(open))} unresolved, ${md(fmtCount(s.deadLetters.resolved))} resolved.`)
    if (shown.length) {
      out.push(
        '',
        table(
          ['entity', 'key', 'source', 'attempts', 'first', 'last', 'next retry', 'error'],
          shown.map((d) => [d.entity, fmtStoredKey(d.pk), d.source, d.attempts, fmtTime(d.firstAt), fmtTime(d.lastAt), fmtTime(d.nextAt), fmtValue(d.error, 120)]),
          ['l', 'l', 'l', 'r', 'l', 'l', 'l', 'l'],
        ),
        ...more(open - shown.length, 'more unresolved'),
      )
    }
  } else missing.push('dead letters')

  if (s.gates.evaluations.length) {
    const shown = s.gates.evaluations.slice(-lim.rows)
    out.push(
      '',
      '### Gate evaluations',
      '',
      table(
        ['when', 'context', 'gate', 'value', 'threshold', 'result'],
        shown.map((g) => [fmtTime(g.at), g.context, g.gate, g.value ?? '', g.threshold ?? '', `${mark(g.ok)} ${g.ok ? 'pass' : 'fail'}`]),
      ),
      ...more(s.gates.total - shown.length, 'earlier evaluations'),
    )
  } else missing.push('gate evaluations')

  if (s.audit.length) out.push('', '### Audit log', '', ...auditTable(s.audit, s.auditTotal, lim.rows))
  else missing.push('audit records')

  if (missing.length) out.push('', `_Nothing recorded yet: ${missing.join(', ')}._`)
  return out
}

/**
 * The Markdown report, sized for a GitHub Actions step summary
 * (`>> $GITHUB_STEP_SUMMARY`): an overview table, then per service a status
 * line with ✔/✖, the problems, and short tables; long lists are capped with a
 * count of the rest. Every value is escaped; no HTML.
 */
export function renderMarkdown(data: ReportData, limits: Partial<MarkdownLimits> = {}): string {
  const lim = {...DEFAULTS, ...limits}
  const out: string[] = ['# Strangler report', '']
  const n = data.services.length
  out.push(`Generated ${md(fmtTime(data.generatedAt))} UTC from the state store (${md(data.stateStore.dialect)}, tables ${md(`${data.stateStore.prefix}*`)}) · ${n} service${n === 1 ? '' : 's'}.`)
  if (!data.stateStore.initialised) {
    out.push('', `${mark(false)} The control-plane tables do not exist yet: run \`strangler init\` first. Nothing has been recorded.`)
  }
  if (n) {
    out.push(
      '',
      table(
        ['', 'service', 'phase', 'reads', 'writes', 'backfill', 'relay lag', 'last diff', 'dead letters'],
        data.services.map((s) => {
          const f = serviceFacts(s)
          return [mark(s.status.ok), s.name, s.phase, f.reads, s.writeTarget, f.backfill, f.lag, f.diff, f.deadLetters]
        }),
        ['l', 'l', 'l', 'r', 'l', 'l', 'r', 'l', 'r'],
      ),
    )
  } else {
    out.push('', 'No services in the plan or the state store.')
  }
  for (const s of data.services) out.push('', ...serviceSection(s, lim))
  if (data.audit.length) out.push('', '## Audit log (not tied to a service)', '', ...auditTable(data.audit, data.auditTotal, lim.rows))
  return `${out.join('\n')}\n`
}
