/**
 * The diff renderers on a hand-made run: JUnit stays well-formed whatever the
 * keys and values hold (markup, quotes, control characters), counts add up,
 * Markdown tables survive pipes, the table lists every differing key, and the
 * key order used by the diff agrees with exact decimal and bytewise text order.
 */
import fc from 'fast-check'
import {XMLParser, XMLValidator} from 'fast-xml-parser'
import {describe, expect, it} from 'vitest'
import type {EntityDiffResult} from '../../src/diff/diff-types.js'
import {compareDecimalText, keyOrder} from '../../src/diff/key-order.js'
import type {DiffRunResult} from '../../src/diff/run-diff.js'
import {renderDiff} from '../../src/report/diff-render.js'

function entity(over: Partial<EntityDiffResult>): EntityDiffResult {
  return {
    entity: 'items',
    source: 'public.items',
    target: 'items',
    keyColumns: ['id'],
    mode: 'push-down',
    notes: [],
    status: 'clean',
    rowsSource: 10,
    rowsTarget: 10,
    chunks: 1,
    chunksMismatched: 0,
    chunksResumed: 0,
    chunksSkipped: 0,
    missing: [],
    extra: [],
    changed: [],
    counts: {missing: 0, extra: 0, changed: 0},
    truncated: false,
    resolvedLive: 0,
    durationMs: 1234,
    ...over,
  }
}

const nasty = 'a<b>&"c\'\u0000\u0007]]>|`x`\n'

const run: DiffRunResult = {
  runId: 'r-1',
  status: 'differences',
  startedAt: '2026-11-05T10:00:00.123Z',
  finishedAt: '2026-11-05T10:00:03.456Z',
  totals: {rowsCompared: 30, missing: 1, extra: 1, changed: 1},
  services: [
    {
      name: 'shop',
      status: 'differences',
      entities: [
        entity({}),
        entity({
          entity: 'tags',
          status: 'differences',
          chunksMismatched: 1,
          missing: [[nasty]],
          extra: [['ok']],
          changed: [{key: ['k|1'], columns: [{name: 'note', source: nasty, target: null}]}],
          counts: {missing: 1, extra: 1, changed: 1},
        }),
      ],
    },
    {name: 'users', status: 'error', entities: [entity({entity: 'users', status: 'error', error: `table <users> & "x" missing${nasty}`})]},
  ],
}

describe('diff reports', () => {
  it('JUnit: well-formed with hostile keys, one suite per service, one case per entity', () => {
    const xml = renderDiff(run, 'junit')
    expect(XMLValidator.validate(xml)).toBe(true)
    const doc = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => ['testsuite', 'testcase'].includes(n)}).parse(xml)
    const [shop, users] = doc.testsuites.testsuite
    expect(shop).toMatchObject({name: 'strangler diff shop', tests: '2', failures: '1', errors: '0', timestamp: '2026-11-05T10:00:00', id: '0', package: 'strangler.diff'})
    expect(users).toMatchObject({tests: '1', failures: '0', errors: '1', id: '1'})
    expect(shop.testcase.map((t: {name: string}) => t.name)).toEqual(['items', 'tags'])
    expect(shop.testcase[0].failure).toBeUndefined()
    expect(shop.testcase[1].failure.message).toBe('public.items → items: 1 missing, 1 extra, 1 changed')
    expect(shop.testcase[1].failure['#text']).toContain("extra in target (1): 'ok'")
    expect(users.testcase[0].error.type).toBe('DiffError')
    expect(shop.time).toBe('2.468')
  })

  it('Markdown: pipes escaped, every differing key listed', () => {
    const md = renderDiff(run, 'markdown')
    expect(md).toContain('## ❌ strangler diff: differences found')
    const rows = md.split('\n').filter((l) => l.startsWith('| shop |'))
    expect(rows).toHaveLength(2)
    for (const r of rows) expect(r.split(/(?<!\\)\|/).length).toBe(11)
    expect(md).toContain("| `'k\\|1'` | note |")
    expect(md).toContain("**Missing in the service** (1): `` 'a<b>&\"c''\\u0000\\u0007]]>|`x`\\u000a' ``")
    expect(md).toContain('**Extra in the service** (1): `\'ok\'`')
  })

  it('table: summary line and every key; JSON round-trips', () => {
    const t = renderDiff(run, 'table')
    expect(t).toMatch(/^Diff run r-1: DIFFERENCES FOUND — 30 rows compared in 3\.3 s/)
    expect(t).toContain('shop/tags (public.items → items): 1 missing, 1 extra, 1 changed')
    expect(t).toContain("extra in target (1): 'ok'")
    expect(t).toContain('users/users (public.items → items): could not be compared')
    expect(JSON.parse(renderDiff(run, 'json'))).toEqual(JSON.parse(JSON.stringify(run)))
  })
})

describe('key order', () => {
  it('decimal texts compare like exact numbers', () => {
    const dec = fc.tuple(fc.bigInt({min: -(10n ** 20n), max: 10n ** 20n}), fc.integer({min: 0, max: 6}))
    const text = ([d, s]: [bigint, number]) => {
      const neg = d < 0n
      const digits = (neg ? -d : d).toString().padStart(s + 1, '0')
      const t = s ? `${digits.slice(0, -s)}.${digits.slice(-s)}` : digits
      return neg && d !== 0n ? `-${t}` : t
    }
    fc.assert(
      fc.property(dec, dec, (a, b) => {
        const scale = 6
        const x = a[0] * 10n ** BigInt(scale - a[1])
        const y = b[0] * 10n ** BigInt(scale - b[1])
        expect(Math.sign(compareDecimalText(text(a), text(b)))).toBe(x < y ? -1 : x > y ? 1 : 0)
      }),
      {numRuns: 500},
    )
  })

  it('text keys compare by UTF-8 bytes, numbers numerically, whatever the value type', () => {
    fc.assert(
      fc.property(fc.string({unit: 'grapheme'}), fc.string({unit: 'grapheme'}), (a, b) => {
        const o = keyOrder([{type: 'text'}])
        expect(Math.sign(o.compare([a], [b]))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))))
      }),
    )
    const n = keyOrder([{type: 'bigint'}, {type: 'varchar'}])
    expect(n.compare(['9007199254740993', 'a'], [9007199254740992, 'a'])).toBe(1)
    expect(n.compare(['10', 'B'], [10, 'a'])).toBe(-1)
    expect(n.id(['42', 'x'])).toBe(n.id([42, 'x']))
  })
})
