import {formatDuration} from '../cli/render.js'
import type {DiffRunResult} from '../diff/run-diff.js'
import {countsText, keyText, valueText} from './diff-text.js'

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}

function code(raw: string): string {
  // control characters (a newline would end the span) shown as escapes
  // eslint-disable-next-line no-control-regex
  const s = raw.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const ticks = /`/.test(s) ? '``' : '`'
  return `${ticks}${ticks.length > 1 ? ' ' : ''}${s}${ticks.length > 1 ? ' ' : ''}${ticks}`
}

/** Markdown for CI summaries (`$GITHUB_STEP_SUMMARY`, merge request notes): a table, then the differing keys per entity. */
export function renderDiffMarkdown(r: DiffRunResult): string {
  const ms = Date.parse(r.finishedAt) - Date.parse(r.startedAt)
  const icon = r.status === 'clean' ? '✅' : r.status === 'differences' ? '❌' : '⚠️'
  const verdict = r.status === 'clean' ? 'clean' : r.status === 'differences' ? 'differences found' : 'could not run'
  const out = [
    `## ${icon} strangler diff: ${verdict}`,
    '',
    `Run ${code(r.runId)} · ${r.totals.rowsCompared.toLocaleString('en-US')} rows compared in ${formatDuration(ms)} · ${r.totals.missing.toLocaleString('en-US')} missing · ${r.totals.extra.toLocaleString('en-US')} extra · ${r.totals.changed.toLocaleString('en-US')} changed${r.samplePct !== undefined ? ` · sample of ${r.samplePct} % of the chunks` : ''}`,
    '',
    '| Service | Entity | Mode | Source rows | Target rows | Missing | Extra | Changed | Status |',
    '|---|---|---|--:|--:|--:|--:|--:|---|',
  ]
  for (const s of r.services) {
    for (const e of s.entities) {
      const status = e.status === 'clean' ? '✅ clean' : e.status === 'error' ? '⚠️ error' : '❌ differs'
      out.push(`| ${cell(s.name)} | ${cell(e.entity)} | ${e.mode} | ${e.rowsSource.toLocaleString('en-US')} | ${e.rowsTarget.toLocaleString('en-US')} | ${e.counts.missing} | ${e.counts.extra} | ${e.counts.changed} | ${status} |`)
    }
  }
  for (const s of r.services) {
    for (const e of s.entities) {
      if (e.status === 'clean') continue
      out.push('', `<details><summary>${cell(`${s.name}/${e.entity}`)}: ${e.error ? 'could not be compared' : countsText(e)}</summary>`, '')
      if (e.error) out.push('```', e.error, '```')
      if (e.missing.length) out.push(`**Missing in the service** (${e.counts.missing}): ${e.missing.map((k) => code(keyText(k))).join(', ')}`, '')
      if (e.extra.length) out.push(`**Extra in the service** (${e.counts.extra}): ${e.extra.map((k) => code(keyText(k))).join(', ')}`, '')
      if (e.changed.length) {
        out.push(`**Changed** (${e.counts.changed}):`, '', '| Key | Column | Monolith | Service |', '|---|---|---|---|')
        for (const c of e.changed) {
          for (const col of c.columns) out.push(`| ${cell(code(keyText(c.key)))} | ${cell(col.name)} | ${cell(valueText(col.source))} | ${cell(valueText(col.target))} |`)
        }
        out.push('')
      }
      if (e.truncated) out.push(`_Lists cut at --max-keys; the counts are complete._`, '')
      out.push('</details>')
    }
  }
  return `${out.join('\n')}\n`
}
