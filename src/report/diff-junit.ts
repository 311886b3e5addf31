import {hostname} from 'node:os'
import type {DiffRunResult} from '../diff/run-diff.js'
import {countsText, differenceLines} from './diff-text.js'

// characters XML 1.0 cannot hold at all
// eslint-disable-next-line no-control-regex
const INVALID = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu

function esc(s: string): string {
  return s.replace(INVALID, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
}

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${esc(String(v))}"`)
    .join('')
}

/** `2026-11-05T10:00:00` (the Ant JUnit schema's timestamp: no fraction, no zone; UTC). */
function junitTime(iso: string): string {
  return iso.slice(0, 19)
}

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3)
}

/**
 * JUnit XML for CI: one testsuite per service, one testcase per entity; an
 * entity with differences is a failure listing every differing key, one that
 * could not be compared is an error. Valid against the common (Apache Ant)
 * JUnit schema.
 */
export function renderDiffJunit(r: DiffRunResult, opts: {hostname?: string} = {}): string {
  const host = opts.hostname ?? (hostname() || 'localhost')
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<testsuites>']
  r.services.forEach((s, i) => {
    const failures = s.entities.filter((e) => e.status === 'differences').length
    const errors = s.entities.filter((e) => e.status === 'error').length
    const time = s.entities.reduce((t, e) => t + e.durationMs, 0)
    lines.push(
      `  <testsuite${attrs({name: `strangler diff ${s.name}`, timestamp: junitTime(r.startedAt), hostname: host, tests: s.entities.length, failures, errors, time: seconds(time), package: 'strangler.diff', id: i})}>`,
      '    <properties>',
      `      <property${attrs({name: 'runId', value: r.runId})}/>`,
      `      <property${attrs({name: 'service', value: s.name})}/>`,
      ...(r.samplePct !== undefined ? [`      <property${attrs({name: 'samplePct', value: r.samplePct})}/>`] : []),
      '    </properties>',
    )
    for (const e of s.entities) {
      const tc = attrs({name: e.entity, classname: `strangler.diff.${s.name}`, time: seconds(e.durationMs)})
      if (e.status === 'clean') {
        lines.push(`    <testcase${tc}/>`)
        continue
      }
      const kind = e.status === 'error' ? 'error' : 'failure'
      const message = e.status === 'error' ? `could not compare ${e.source} with ${e.target}: ${e.error ?? ''}` : `${e.source} → ${e.target}: ${countsText(e)}`
      const body = differenceLines(e).join('\n')
      lines.push(
        `    <testcase${tc}>`,
        `      <${kind}${attrs({message, type: e.status === 'error' ? 'DiffError' : 'DataDifference'})}>${esc(body)}</${kind}>`,
        '    </testcase>',
      )
    }
    const summary = s.entities.map((e) => `${e.entity}: ${e.mode}, ${e.rowsSource} source rows, ${e.rowsTarget} target rows, ${e.status === 'error' ? 'error' : countsText(e)}`).join('\n')
    lines.push(`    <system-out>${esc(summary)}</system-out>`, '    <system-err></system-err>', '  </testsuite>')
  })
  lines.push('</testsuites>')
  return `${lines.join('\n')}\n`
}
