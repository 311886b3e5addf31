import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {chromium, type Browser, type Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {connectEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import {collectReport} from '../../src/report/collect.js'
import {renderHtml} from '../../src/report/render-html.js'
import {StateStore} from '../../src/state/state-store.js'
import {fillReportState, GENERATED_AT, PLAN_SERVICES, SECRET} from '../fixtures/report/fill-state.js'

/**
 * The HTML report opened in headless Chromium (Debian's /usr/bin/chromium
 * through playwright-core): it loads from a file:// URL without a single
 * network request or console error, draws every chart with its data points
 * (checked in the canvas pixels), keeps its tables readable without
 * JavaScript, and shows injected markup as text. A screenshot is kept in
 * test-artifacts/report.png.
 */
/** Debian's chromium; STRANGLER_CHROMIUM points elsewhere. */
const CHROMIUM = process.env.STRANGLER_CHROMIUM ?? '/usr/bin/chromium'
const ROOT = resolve(import.meta.dirname, '..', '..')
const ARTIFACTS = join(ROOT, 'test-artifacts')

interface Visit {
  page: Page
  consoleErrors: string[]
  requests: string[]
}

describe('HTML report in headless Chromium', () => {
  let engine: Engine
  let browser: Browser
  let dir: string
  let reportFile: string
  let emptyFile: string
  let singleFile: string
  let html: string

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: the HTML report test needs it. Install it with \`apt-get install -y chromium\` (the CI script does).`)
    }
    engine = await connectEngine(`pglite://memory/report-html-${process.pid}`)
    const state = StateStore.on(engine)
    await state.migrate()
    await fillReportState(state)
    html = renderHtml(await collectReport(state, {services: PLAN_SERVICES, generatedAt: GENERATED_AT}))

    const empty = await connectEngine(`pglite://memory/report-html-empty-${process.pid}`)
    const emptyState = StateStore.on(empty)
    await emptyState.migrate()
    const emptyData = await collectReport(emptyState, {services: ['users'], generatedAt: GENERATED_AT})
    const emptyHtml = renderHtml(emptyData)
    await empty.close()
    // one sample per series, at the report's own time: the edge case of a chart library
    const one = structuredClone(emptyData)
    const u = one.services[0]
    const at = GENERATED_AT
    u.toggles = {points: [{at, toggle: 'strangler.users.reads', pct: 10, provider: 'local'}], totalPoints: 1, current: []}
    const sample = {at, lagSeconds: 0.5, pending: 3, applied: 10, batchMs: 2, retries: 0, deadLetters: 0, throughput: 7}
    u.relay = {points: [sample], totalPoints: 1, latest: sample, maxLagSeconds: 0.5, maxThroughput: 7}
    u.shadow = {points: [{at, entity: 'users', source: 'sdk', sampled: 10, mismatches: 1, errors: 0, rate: 0.1}], totalPoints: 1, totals: {sampled: 10, mismatches: 1, errors: 0, rate: 0.1}, examples: [], totalExamples: 0}

    dir = mkdtempSync(join(tmpdir(), 'strangler-report-'))
    reportFile = join(dir, 'report.html')
    emptyFile = join(dir, 'empty.html')
    singleFile = join(dir, 'single.html')
    writeFileSync(singleFile, renderHtml(one))
    writeFileSync(reportFile, html)
    writeFileSync(emptyFile, emptyHtml)
    mkdirSync(ARTIFACTS, {recursive: true})
    writeFileSync(join(ARTIFACTS, 'report.html'), html)

    // the flags of NOTES.md "Headless Chromium"; playwright refuses --user-data-dir with launch()
    // and gives every launch a fresh temporary profile itself
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await engine?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  async function visit(file: string, opts: {javaScriptEnabled?: boolean} = {}): Promise<Visit> {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}, javaScriptEnabled: opts.javaScriptEnabled ?? true})
    const page = await context.newPage()
    const consoleErrors: string[] = []
    const requests: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text())
    })
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`))
    page.on('request', (r) => {
      if (!/^(file|data):/.test(r.url())) requests.push(r.url())
    })
    await page.goto(pathToFileURL(file).href, {waitUntil: 'load'})
    return {page, consoleErrors, requests}
  }

  it('is one file with everything inline and nothing to fetch', () => {
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i)
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i)
    expect(html).toContain(`default-src 'none'`)
    expect(html).not.toContain(SECRET)
    expect(html).toContain('<script type="application/json" id="report-data">')
  })

  it('opens offline with no network request, no console error, and draws every chart with data points', async () => {
    const {page, consoleErrors, requests} = await visit(reportFile)
    await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, undefined, {timeout: 20_000})
    expect(await page.evaluate(() => document.documentElement.dataset.charts)).toBe('ready')

    const charts = await page.evaluate(() => {
      const w = window as unknown as {stranglerReport: {charts: {service: string; kind: string; points: number; series: number; plot: {data: (number | null)[][]}}[]}}
      return w.stranglerReport.charts.map((c) => ({service: c.service, kind: c.kind, points: c.points, series: c.series, xs: c.plot.data[0].length, ys: c.plot.data.slice(1).map((s) => s.filter((v) => v !== null).length)}))
    })
    // users has all four series; orders has relay samples only; catalog has none
    expect(charts.map((c) => `${c.service}/${c.kind}`)).toEqual(['users/toggle', 'users/lag', 'users/throughput', 'users/shadow', 'orders/lag', 'orders/throughput'])
    const byKey = Object.fromEntries(charts.map((c) => [`${c.service}/${c.kind}`, c]))
    expect(byKey['users/toggle'].points).toBe(2)
    expect(byKey['users/lag'].xs).toBe(12)
    expect(byKey['users/shadow'].xs).toBe(4) // five batches at four times
    expect(byKey['orders/throughput'].ys[0]).toBe(4) // the sample without throughput is left out
    for (const c of charts) {
      expect(c.points, `${c.service}/${c.kind}`).toBeGreaterThan(0)
      expect(Math.min(...c.ys), `${c.service}/${c.kind}`).toBeGreaterThan(0)
    }

    // the first series is drawn in #2563eb: count its pixels in each canvas
    const drawn = await page.evaluate(() =>
      [...document.querySelectorAll('figure.drawn')].map((fig) => {
        const canvas = fig.querySelector('canvas')!
        const ctx = canvas.getContext('2d')!
        const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data
        let series = 0
        for (let i = 0; i < px.length; i += 4) {
          const [r, g, b, a] = [px[i], px[i + 1], px[i + 2], px[i + 3]]
          if (a > 200 && Math.abs(r - 0x25) < 40 && Math.abs(g - 0x63) < 40 && Math.abs(b - 0xeb) < 40) series++
        }
        return {chart: `${fig.getAttribute('data-chart')}`, width: canvas.width, series}
      }),
    )
    expect(drawn).toHaveLength(6)
    for (const d of drawn) {
      expect(d.width, d.chart).toBeGreaterThan(200)
      expect(d.series, `pixels of the series in ${d.chart}`).toBeGreaterThan(50)
    }
    // charts without data say so instead
    expect(await page.locator('#service-catalog figure.chart.empty').count()).toBe(4)

    expect(await page.locator('table').count()).toBeGreaterThan(15)
    expect(await page.locator('#service-users').innerText()).toContain('Differing keys of run d-multi')
    // markup in the data is text, not elements
    expect(await page.locator('main b').count()).toBe(0)
    expect(await page.locator('#service-orders').innerText()).toContain('<b>forced</b>')

    mkdirSync(ARTIFACTS, {recursive: true})
    await page.screenshot({path: join(ARTIFACTS, 'report.png'), fullPage: true})
    expect(existsSync(join(ARTIFACTS, 'report.png'))).toBe(true)

    expect(consoleErrors).toEqual([])
    expect(requests).toEqual([])
    await page.context().close()
  })

  it('keeps every table readable without JavaScript', async () => {
    const {page, requests} = await visit(reportFile, {javaScriptEnabled: false})
    // the chart script did not run
    expect(await page.locator('html[data-charts]').count()).toBe(0)
    const text = await page.locator('body').innerText()
    expect(text).toContain('Differing keys of run d-multi')
    expect(text).toContain('duplicate key value violates unique constraint')
    expect(text).toContain('12 samples; last 0.1 s, max 3.5 s.')
    expect(await page.locator('canvas').count()).toBe(0)
    expect(requests).toEqual([])
    await page.context().close()
  })

  it('renders a brand-new state store without errors', async () => {
    const {page, consoleErrors, requests} = await visit(emptyFile)
    await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, undefined, {timeout: 20_000})
    expect(await page.evaluate(() => document.documentElement.dataset.charts)).toBe('ready')
    expect(await page.locator('figure.chart.empty').count()).toBe(4)
    expect(await page.locator('body').innerText()).toContain('No diff run yet.')
    expect(consoleErrors).toEqual([])
    expect(requests).toEqual([])
    await page.context().close()
  })

  it('draws series of a single sample', async () => {
    const {page, consoleErrors, requests} = await visit(singleFile)
    await page.waitForFunction(() => document.documentElement.dataset.charts !== undefined, undefined, {timeout: 20_000})
    expect(await page.evaluate(() => document.documentElement.dataset.charts)).toBe('ready')
    expect(await page.locator('figure.chart.drawn canvas').count()).toBe(4)
    expect(consoleErrors).toEqual([])
    expect(requests).toEqual([])
    await page.context().close()
  })
})
