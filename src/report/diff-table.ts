import {formatDuration, table} from '../cli/render.js'
import type {DiffRunResult} from '../diff/run-diff.js'
import {countsText, differenceLines} from './diff-text.js'

/** Human output of a diff run: one line per entity, then every differing key. */
export function renderDiffTable(r: DiffRunResult): string {
  const ms = Date.parse(r.finishedAt) - Date.parse(r.startedAt)
  const verdict = r.status === 'clean' ? 'clean' : r.status === 'differences' ? 'DIFFERENCES FOUND' : 'COULD NOT RUN'
  const sample = r.samplePct !== undefined ? ` (sample: ${r.samplePct} % of the chunks)` : ''
  const out = [`Diff run ${r.runId}: ${verdict}${sample} — ${r.totals.rowsCompared.toLocaleString('en-US')} rows compared in ${formatDuration(ms)}`, '']
  const rows = r.services.flatMap((s) =>
    s.entities.map((e) => ({
      service: s.name,
      entity: e.entity,
      mode: e.mode,
      src: e.rowsSource.toLocaleString('en-US'),
      tgt: e.rowsTarget.toLocaleString('en-US'),
      chunks: e.chunksSkipped ? `${e.chunks - e.chunksSkipped}/${e.chunks}` : e.chunks,
      bad: e.chunksMismatched,
      missing: e.counts.missing,
      extra: e.counts.extra,
      changed: e.counts.changed,
      status: e.status === 'error' ? 'ERROR' : e.status === 'clean' ? 'clean' : 'DIFFERS',
    })),
  )
  out.push(
    table(rows, [
      'service',
      'entity',
      'mode',
      {key: 'src', label: 'source rows', align: 'right'},
      {key: 'tgt', label: 'target rows', align: 'right'},
      {key: 'chunks', label: 'chunks', align: 'right'},
      {key: 'bad', label: 'mismatched', align: 'right'},
      {key: 'missing', label: 'missing', align: 'right'},
      {key: 'extra', label: 'extra', align: 'right'},
      {key: 'changed', label: 'changed', align: 'right'},
      'status',
    ]),
  )
  for (const s of r.services) {
    for (const e of s.entities) {
      if (e.status === 'clean') continue
      out.push('', `${s.name}/${e.entity} (${e.source} → ${e.target}): ${e.error ? 'could not be compared' : countsText(e)}`)
      out.push(...differenceLines(e).map((l) => `  ${l}`))
    }
  }
  return out.join('\n')
}
