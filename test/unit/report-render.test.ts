import {describe, expect, it} from 'vitest'
import {isoTime, num, parseObject, thin} from '../../src/report/lenient.js'
import {DEFAULT_LIMITS, REPORT_VERSION, type ReportData, type ServiceReport} from '../../src/report/report-data.js'
import {esc, jsonForScript, renderHtml} from '../../src/report/render-html.js'
import {renderJson} from '../../src/report/render-json.js'
import {md, renderMarkdown} from '../../src/report/render-markdown.js'
import {formatOfPath} from '../../src/report/render.js'
import {registerSecret} from '../../src/util/redact.js'

const EVIL = `</script><script>alert(1)</script> | <img src=x onerror=alert(2)>\n# heading`

function service(name: string, patch: Partial<ServiceReport> = {}): ServiceReport {
  return {
    name,
    phase: 'shadow',
    readPct: 0,
    writeTarget: 'monolith',
    step: null,
    updatedAt: null,
    info: {},
    status: {ok: false, problems: [EVIL]},
    transitions: [{at: '2026-01-01T00:00:00.000Z', from: 'planned', to: 'shadow', operator: EVIL, runId: 'r', reason: EVIL, forced: true}],
    toggles: {points: [], totalPoints: 0, current: []},
    relay: {points: [], totalPoints: 0, latest: null, maxLagSeconds: null, maxThroughput: null},
    backfill: {entities: [], done: 0, total: 0, rowsCopied: 0, rowsEstimated: 0},
    diff: {runs: [], totalRuns: 0, lastRun: null, lastRunKeys: [], lastRunKeysTotal: 0, lastRunKeysByKind: {}},
    shadow: {points: [], totalPoints: 0, totals: {sampled: 0, mismatches: 0, errors: 0, rate: 0}, examples: [], totalExamples: 0},
    deadLetters: {unresolved: 0, resolved: 0, items: []},
    gates: {evaluations: [], total: 0, latest: []},
    audit: [],
    auditTotal: 0,
    ...patch,
  }
}

function report(services: ServiceReport[]): ReportData {
  return {reportVersion: REPORT_VERSION, generatedAt: '2026-01-01T00:00:00.000Z', stateStore: {initialised: true, prefix: 'strangler_', dialect: 'postgres'}, limits: DEFAULT_LIMITS, services, audit: [], auditTotal: 0}
}

describe('report escaping', () => {
  it('escapes Markdown so a value cannot add cells, lines or HTML', () => {
    const cell = md(EVIL)
    expect(cell).not.toMatch(/[<>\n]/)
    expect(cell.replace(/\\\|/g, '')).not.toContain('|')
    const text = renderMarkdown(report([service('users')]))
    const row = text.split('\n').find((l) => l.includes('alert(1)') && l.startsWith('| 2026'))!
    // 6 columns: 7 unescaped pipes
    expect(row.replace(/\\\|/g, '').split('|')).toHaveLength(8)
    expect(text).not.toContain('<script>')
    expect(text).not.toMatch(/^# heading/m)
  })

  it('escapes HTML text and keeps the embedded JSON inside its script element', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
    const json = jsonForScript({s: EVIL, t: '\u2028'})
    expect(json).not.toMatch(/[<>\u2028]/)
    expect(JSON.parse(json)).toEqual({s: EVIL, t: '\u2028'})
    const html = renderHtml(report([service('users')]))
    // the JSON data, uPlot and the chart script; nothing injected
    expect(html.match(/<script/g)).toHaveLength(3)
    expect(html.match(/<\/script>/g)).toHaveLength(3)
    expect(html).not.toContain('<img')
  })

  it('masks registered secrets in every rendering', () => {
    const secret = 'Sup3r-secret-token-value'
    registerSecret(secret)
    const data = report([service('users', {status: {ok: false, problems: [`token ${secret} rejected`]}})])
    expect(renderMarkdown(data)).not.toContain(secret)
    expect(renderHtml(data)).not.toContain(secret)
    expect(renderJson(data)).not.toContain(secret)
  })
})

describe('report lenient readers', () => {
  it('reads times, numbers and documents as the writers may leave them', () => {
    expect(isoTime('2026-01-02T03:04:05.678Z')).toBe('2026-01-02T03:04:05.678Z')
    expect(isoTime('2026-01-02 03:04:05.123456')).toBe('2026-01-02T03:04:05.123Z')
    expect(isoTime('2026-01-02 03:04:05+02')).toBe('2026-01-02T01:04:05.000Z')
    expect(isoTime(new Date(0))).toBe('1970-01-01T00:00:00.000Z')
    expect(isoTime('yesterday')).toBe('yesterday')
    expect([num('12'), num(3.5), num('x'), num(null), num(Number.NaN), num(10n)]).toEqual([12, 3.5, null, null, null, 10])
    expect(parseObject('{"a":1}')).toEqual({a: 1})
    expect(parseObject('oops')).toEqual({raw: 'oops'})
    expect(parseObject('[1]')).toEqual({value: [1]})
    expect(parseObject(null)).toEqual({})
  })

  it('thins long series to the cap, keeping the ends and each bucket\'s peak', () => {
    const xs = Array.from({length: 1000}, (_, i) => ({i, w: i === 500 ? 99 : 0}))
    const out = thin(xs, 50, (x) => x.w)
    expect(out).toHaveLength(50)
    expect(out[0].i).toBe(0)
    expect(out.at(-1)!.i).toBe(999)
    expect(out.some((x) => x.i === 500)).toBe(true)
    expect(out.map((x) => x.i)).toEqual([...out.map((x) => x.i)].sort((a, b) => a - b))
    expect(thin(xs.slice(0, 10), 50)).toHaveLength(10)
  })

  it('picks the format from the output file name', () => {
    expect([formatOfPath('a.html'), formatOfPath('b.HTM'), formatOfPath('c.md'), formatOfPath('d.json'), formatOfPath('e.txt')]).toEqual(['html', 'html', 'markdown', 'json', undefined])
  })
})
