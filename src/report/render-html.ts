import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {PHASES} from '../state/services.js'
import {UserError} from '../util/errors.js'
import {redact, redactDeep} from '../util/redact.js'
import {fmtColumns, fmtCount, fmtKey, fmtMs, fmtRate, fmtSeconds, fmtStoredKey, fmtTime, fmtValue, mark, plural, serviceFacts} from './format.js'
import {HTML_CLIENT_SCRIPT} from './html-client.js'
import type {AuditEntry, ReportData, ServiceReport} from './report-data.js'

/** Escapes text for HTML element content and attribute values (after redacting it). */
export function esc(text: unknown): string {
  const s = redact(text === null || text === undefined ? '' : String(text))
  return s.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]!)
}

/** JSON safe inside `<script type="application/json">`: no `<` (so no `</script>`), no line separators. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
}

/** Markup that is already escaped. */
interface Raw {
  html: string
}
type Cell = string | number | null | undefined | Raw

const raw = (html: string): Raw => ({html})
const cell = (c: Cell): string => (c !== null && typeof c === 'object' ? c.html : esc(c ?? ''))

function table(head: readonly string[], rows: readonly (readonly Cell[])[], opts: {num?: readonly number[]; wrap?: readonly number[]; cls?: string} = {}): string {
  const cls = (i: number): string => (opts.num?.includes(i) ? ' class="num"' : opts.wrap?.includes(i) ? ' class="wrap"' : '')
  const th = head.map((h, i) => `<th${cls(i)}>${esc(h)}</th>`).join('')
  const tr = rows.map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${cell(c)}</td>`).join('')}</tr>`).join('\n')
  return `<div class="scroll"><table${opts.cls ? ` class="${opts.cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table></div>`
}

const verdict = (ok: boolean, text?: string): Raw => raw(`<span class="${ok ? 'ok' : 'bad'}">${mark(ok)}${text === undefined ? '' : ` ${esc(text)}`}</span>`)
const note = (n: number, what: string): string => (n > 0 ? `<p class="note">… and ${esc(fmtCount(n))} ${esc(what)} not shown.</p>` : '')
const section = (title: string, body: string, open = true): string => `<details class="section"${open ? ' open' : ''}><summary><h3>${esc(title)}</h3></summary>\n${body}\n</details>`

function loadAsset(spec: string): string {
  try {
    const req = createRequire(import.meta.url)
    return readFileSync(req.resolve(spec), 'utf8')
  } catch (err) {
    throw new UserError(`Cannot read ${spec} for the HTML report: ${(err as Error).message}`, {
      code: 'E_REPORT_ASSET',
      hint: 'Reinstall strangler (npm ci): the charting library uplot is a dependency.',
    })
  }
}

let assets: {js: string; css: string} | undefined

/** uPlot, read from node_modules once per process and inlined into every report. */
function chartLibrary(): {js: string; css: string} {
  assets ??= {js: loadAsset('uplot/dist/uPlot.iife.min.js').replace(/<\/(script)/gi, '<\\/$1'), css: loadAsset('uplot/dist/uPlot.min.css')}
  return assets
}

const CSS = `
:root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#fff;--soft:#f9fafb;--ok:#047857;--bad:#b91c1c;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--soft)}
header h1{margin:0 0 4px;font-size:20px}
header p{margin:0;color:var(--muted)}
nav{padding:8px 24px;border-bottom:1px solid var(--line)}
nav a{margin-right:14px;color:var(--accent);text-decoration:none}
main{padding:8px 24px 40px;max-width:1400px}
h2{margin:28px 0 6px;font-size:18px;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{display:inline;font-size:15px;margin:0}
details.section{margin:14px 0}
details.section>summary{cursor:pointer;margin-bottom:6px}
.status{font-size:15px;margin:6px 0}
.ok{color:var(--ok);font-weight:600}
.bad{color:var(--bad);font-weight:600}
.problems{margin:4px 0 8px;padding-left:20px;color:var(--bad)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:4px 0;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top;white-space:nowrap}
td.wrap{white-space:normal;min-width:16em}
th{background:var(--soft);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td code,p code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.note{color:var(--muted);margin:4px 0}
.phases{display:flex;flex-wrap:wrap;gap:4px;margin:8px 0;padding:0;list-style:none}
.phases li{padding:3px 10px;border-radius:12px;background:var(--soft);border:1px solid var(--line);color:var(--muted)}
.phases li.past{color:var(--fg)}
.phases li.now{background:var(--accent);border-color:var(--accent);color:#fff;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px;margin:10px 0;align-items:start}
figure.chart{margin:0;padding:8px;border:1px solid var(--line);border-radius:6px;min-width:0}
figure.chart figcaption{font-weight:600;margin-bottom:4px}
figure.chart .plot{width:100%;min-height:8px}
figure.chart.empty .plot{display:none}
figure.chart .fallback{color:var(--muted);margin:4px 0 0;font-size:12px}
.bar{display:inline-block;width:120px;height:10px;background:var(--line);border-radius:5px;overflow:hidden;vertical-align:middle;margin-right:6px}
.bar>span{display:block;height:100%;background:var(--accent)}
.bar.done>span{background:var(--ok)}
pre{white-space:pre-wrap;word-break:break-all;margin:0;font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
`

function chart(index: number, kind: string, title: string, empty: string, fallback: string | null): string {
  const cls = fallback === null ? 'chart empty' : 'chart'
  return `<figure class="${cls}" data-service="${index}" data-chart="${esc(kind)}"><figcaption>${esc(title)}</figcaption><div class="plot"></div><p class="fallback">${esc(fallback ?? empty)}</p></figure>`
}

function charts(s: ServiceReport, i: number): string {
  const r = s.relay
  const l = r.latest
  const lastToggle = s.toggles.points.at(-1)
  const lastThroughput = [...r.points].reverse().find((p) => p.throughput !== null)?.throughput ?? null
  const t = s.shadow.totals
  return `<div class="charts">
${chart(i, 'toggle', 'Reads sent to the service (%)', 'No toggle change recorded.', lastToggle ? `${s.toggles.totalPoints} changes; now ${lastToggle.pct} % (${lastToggle.toggle}, ${fmtTime(lastToggle.at)}).` : null)}
${chart(i, 'lag', 'Relay lag (s)', 'No relay sample recorded.', l ? `${r.totalPoints} samples; last ${fmtSeconds(l.lagSeconds)}, max ${fmtSeconds(r.maxLagSeconds)}.` : null)}
${chart(i, 'throughput', 'Relay throughput (changes/s)', 'No relay sample recorded.', l ? `${r.totalPoints} samples; last ${fmtCount(lastThroughput)}/s, max ${fmtCount(r.maxThroughput)}/s.` : null)}
${chart(i, 'shadow', 'Shadow mismatch rate (%)', 'No shadow sample recorded.', s.shadow.totalPoints ? `${s.shadow.totalPoints} batches; ${fmtCount(t.mismatches)} of ${fmtCount(t.sampled)} sampled reads differed (${fmtRate(t.rate)}).` : null)}
</div>`
}

function phases(s: ServiceReport): string {
  const at = PHASES.indexOf(s.phase as (typeof PHASES)[number])
  return `<ol class="phases">${PHASES.map((p, i) => `<li class="${i === at ? 'now' : at >= 0 && i < at ? 'past' : ''}">${esc(p)}</li>`).join('')}</ol>`
}

function auditTable(entries: readonly AuditEntry[], total: number): string {
  return (
    table(
      ['when', 'command', 'operator', 'host', 'run', 'outcome', 'exit', 'duration', 'args', 'detail'],
      entries.map((a) => [
        fmtTime(a.at),
        a.command,
        a.operator,
        a.host,
        a.runId,
        verdict(a.outcome === 'success', a.outcome),
        a.exitCode,
        fmtMs(a.durationMs),
        raw(`<pre>${esc(fmtValue(a.args, 300))}</pre>`),
        a.detail,
      ]),
      {num: [6, 7], wrap: [8, 9]},
    ) + note(total - entries.length, 'earlier records')
  )
}

function serviceHtml(s: ServiceReport, i: number): string {
  const f = serviceFacts(s)
  const out: string[] = [`<section class="service" id="service-${esc(s.name)}">`, `<h2>${esc(s.name)}</h2>`]
  out.push(
    `<p class="status">${cell(verdict(s.status.ok))} phase <strong>${esc(s.phase)}</strong>${s.step ? ` (step ${esc(s.step)})` : ''} · reads ${esc(f.reads)} from the service · writes to ${esc(s.writeTarget)} · backfill ${esc(f.backfill)} · relay lag ${esc(f.lag)} · last diff ${esc(f.diff)} · ${esc(f.deadLetters)} dead letters</p>`,
  )
  if (s.status.problems.length) out.push(`<ul class="problems">${s.status.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>`)
  out.push(phases(s), charts(s, i))

  out.push(
    section(
      'Phase timeline',
      s.transitions.length
        ? table(
            ['when', 'from', 'to', 'by', 'run', 'forced', 'reason'],
            s.transitions.map((t) => [fmtTime(t.at), t.from, t.to, t.operator, t.runId, t.forced ? verdict(false, 'forced') : '', t.reason]),
            {wrap: [6]},
          )
        : '<p class="note">No phase change recorded.</p>',
    ),
  )

  const tg = s.toggles
  out.push(
    section(
      'Toggle rollout',
      (tg.current.length ? `<p>Now: ${tg.current.map((t) => `${esc(t.name)} <strong>${t.enabled ? `${t.pct} %` : 'off'}</strong> (sticky on ${esc(t.stickiness)})`).join(', ')}.</p>` : '') +
        (tg.points.length
          ? table(
              ['when', 'toggle', 'reads to service', 'provider'],
              tg.points.map((p) => [fmtTime(p.at), p.toggle, `${p.pct} %`, p.provider]),
              {num: [2]},
            ) + note(tg.totalPoints - tg.points.length, 'earlier changes')
          : '<p class="note">No toggle change recorded.</p>'),
      tg.points.length > 0,
    ),
  )

  const bf = s.backfill
  out.push(
    section(
      'Backfill',
      bf.entities.length
        ? table(
            ['entity', 'progress', 'rows copied', 'rows estimated', 'ranges done', 'runs', 'started', 'finished', 'updated'],
            bf.entities.map((e) => [
              e.entity,
              raw(
                `<span class="bar${e.done ? ' done' : ''}"><span style="width:${e.pct ?? 0}%"></span></span>${e.done ? cell(verdict(true, 'done')) : esc(e.pct === null ? 'in progress' : `${e.pct} %`)}`,
              ),
              fmtCount(e.rowsCopied),
              fmtCount(e.rowsEstimated),
              e.ranges === null ? '' : `${e.rangesDone}/${e.ranges}`,
              e.runs,
              fmtTime(e.startedAt),
              fmtTime(e.finishedAt),
              fmtTime(e.updatedAt),
            ]),
            {num: [2, 3, 4, 5]},
          )
        : '<p class="note">No backfill recorded.</p>',
      bf.entities.length > 0,
    ),
  )

  const d = s.diff
  let diffBody = d.runs.length
    ? table(
        ['run', 'started', 'finished', 'duration', 'status', 'rows compared', 'missing', 'extra', 'changed', 'entities'],
        d.runs.map((r) => [
          r.runId,
          fmtTime(r.startedAt),
          fmtTime(r.finishedAt),
          fmtMs(r.durationMs),
          r.status === 'clean' || r.status === 'differences' || r.status === 'error' ? verdict(r.status === 'clean', r.status) : r.status + (r.samplePct !== null ? ` (${r.samplePct} % sample)` : ''),
          fmtCount(r.totals.rowsCompared),
          fmtCount(r.totals.missing),
          fmtCount(r.totals.extra),
          fmtCount(r.totals.changed),
          r.entities.map((e) => `${e.entity}: ${e.status}${e.mode ? ` (${e.mode})` : ''}${e.error ? ` — ${e.error}` : ''}`).join('; '),
        ]),
        {num: [3, 5, 6, 7, 8], wrap: [9]},
      ) + note(d.totalRuns - d.runs.length, 'earlier runs')
    : '<p class="note">No diff run yet.</p>'
  if (d.lastRun && d.lastRunKeysTotal) {
    const kinds = Object.entries(d.lastRunKeysByKind)
      .map(([k, n]) => `${fmtCount(n)} ${k}`)
      .join(', ')
    diffBody +=
      `<h4>Differing keys of run ${esc(d.lastRun.runId)}</h4><p>${esc(plural(d.lastRunKeysTotal, 'key'))} stored (${esc(kinds)}).</p>` +
      table(
        ['entity', 'kind', 'key', 'changed columns (monolith → service)'],
        d.lastRunKeys.map((k) => [k.entity, k.kind, raw(`<code>${esc(fmtKey(k.key))}</code>`), fmtColumns(k, 10)]),
        {wrap: [3]},
      ) +
      note(d.lastRunKeysTotal - d.lastRunKeys.length, 'more keys')
  }
  out.push(section('Diff runs', diffBody))

  const sh = s.shadow
  let shadowBody = sh.points.length
    ? `<p>${esc(fmtCount(sh.totals.sampled))} sampled reads, ${esc(plural(sh.totals.mismatches, 'mismatch', 'mismatches'))} (${esc(fmtRate(sh.totals.rate))}), ${esc(plural(sh.totals.errors, 'error'))} in ${esc(plural(sh.totalPoints, 'batch', 'batches'))}.</p>` +
      table(
        ['when', 'entity', 'source', 'sampled', 'mismatches', 'errors', 'rate'],
        sh.points.slice(-200).map((p) => [fmtTime(p.at), p.entity, p.source, fmtCount(p.sampled), fmtCount(p.mismatches), fmtCount(p.errors), fmtRate(p.rate)]),
        {num: [3, 4, 5, 6]},
      ) +
      note(sh.totalPoints - Math.min(200, sh.points.length), 'batches')
    : '<p class="note">No shadow sample recorded.</p>'
  if (sh.examples.length) {
    shadowBody +=
      '<h4>Mismatch examples</h4>' +
      table(
        ['when', 'entity', 'source', 'key', 'kind', 'fields', 'monolith', 'service'],
        sh.examples.map((e) => [
          fmtTime(e.at),
          e.entity,
          e.source,
          raw(`<code>${esc(e.key)}</code>`),
          e.kind,
          e.error ?? e.fields.join(', '),
          raw(`<pre>${esc(fmtValue(e.monolith ?? '', 400))}</pre>`),
          raw(`<pre>${esc(fmtValue(e.service ?? '', 400))}</pre>`),
        ]),
        {wrap: [5, 6, 7]},
      ) +
      note(sh.totalExamples - sh.examples.length, 'more examples')
  }
  out.push(section('Shadow reads', shadowBody, sh.points.length > 0))

  const dl = s.deadLetters
  out.push(
    section(
      'Dead letters',
      dl.items.length
        ? `<p>${esc(fmtCount(dl.unresolved))} unresolved, ${esc(fmtCount(dl.resolved))} resolved.</p>` +
            table(
              ['entity', 'key', 'source', 'attempts', 'first', 'last', 'next retry', 'resolved', 'error'],
              dl.items.map((x) => [x.entity, raw(`<code>${esc(fmtStoredKey(x.pk))}</code>`), x.source, x.attempts, fmtTime(x.firstAt), fmtTime(x.lastAt), x.resolvedAt ? '' : fmtTime(x.nextAt), x.resolvedAt ? verdict(true, fmtTime(x.resolvedAt)) : verdict(false, 'open'), x.error]),
              {num: [3], wrap: [8]},
            ) +
            note(dl.unresolved + dl.resolved - dl.items.length, 'more dead letters')
        : '<p class="note">No dead letter recorded.</p>',
      dl.unresolved > 0,
    ),
  )

  const g = s.gates
  out.push(
    section(
      'Gate evaluations',
      g.evaluations.length
        ? table(
            ['when', 'context', 'gate', 'value', 'threshold', 'result'],
            [...g.evaluations].reverse().map((e) => [fmtTime(e.at), e.context, e.gate, e.value, e.threshold, verdict(e.ok, e.ok ? 'pass' : 'fail')]),
          ) + note(g.total - g.evaluations.length, 'earlier evaluations')
        : '<p class="note">No gate evaluated yet.</p>',
      g.evaluations.length > 0,
    ),
  )

  out.push(section('Audit log', s.audit.length ? auditTable(s.audit, s.auditTotal) : '<p class="note">No audited command.</p>', false))
  out.push('</section>')
  return out.join('\n')
}

/**
 * The HTML report: one self-contained file that opens offline. Inline CSS,
 * uPlot and the chart script inlined, the report data embedded as JSON in
 * `<script type="application/json" id="report-data">`, and a
 * Content-Security-Policy that forbids every network request. Every table is
 * plain HTML (readable without JavaScript); the charts (toggle %, relay lag,
 * relay throughput, shadow mismatch rate) are drawn from the embedded data.
 */
export function renderHtml(data: ReportData): string {
  const lib = chartLibrary()
  const title = `Strangler report — ${fmtTime(data.generatedAt)} UTC`
  const overview = data.services.length
    ? table(
        ['', 'service', 'phase', 'reads', 'writes', 'backfill', 'relay lag', 'last diff', 'dead letters'],
        data.services.map((s) => {
          const f = serviceFacts(s)
          return [verdict(s.status.ok), raw(`<a href="#service-${esc(s.name)}">${esc(s.name)}</a>`), s.phase, f.reads, s.writeTarget, f.backfill, f.lag, f.diff, f.deadLetters]
        }),
        {num: [3, 6, 8]},
      )
    : '<p class="note">No services in the plan or the state store.</p>'
  const body = [
    `<header><h1>Strangler report</h1><p>Generated ${esc(fmtTime(data.generatedAt))} UTC from the state store (${esc(data.stateStore.dialect)}, tables ${esc(data.stateStore.prefix)}*) · report version ${data.reportVersion}</p></header>`,
    data.services.length ? `<nav>${data.services.map((s) => `<a href="#service-${esc(s.name)}">${esc(s.name)}</a>`).join('')}</nav>` : '',
    '<main>',
    data.stateStore.initialised ? '' : `<p class="bad">${mark(false)} The control-plane tables do not exist yet: run <code>strangler init</code> first. Nothing has been recorded.</p>`,
    '<h2>Overview</h2>',
    overview,
    ...data.services.map((s, i) => serviceHtml(s, i)),
    data.audit.length ? `<h2>Audit log (not tied to a service)</h2>${auditTable(data.audit, data.auditTotal)}` : '',
    '</main>',
  ]
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="strangler report v${data.reportVersion}">
<title>${esc(title)}</title>
<style>${lib.css}</style>
<style>${CSS}</style>
</head>
<body>
${body.filter(Boolean).join('\n')}
<script type="application/json" id="report-data">${jsonForScript(redactDeep(data))}</script>
<script>${lib.js}</script>
<script>${HTML_CLIENT_SCRIPT}</script>
</body>
</html>
`
}
