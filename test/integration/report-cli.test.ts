/**
 * `strangler report` as an operator or a CI job runs it, on real PostgreSQL
 * and MariaDB state stores filled with the golden fixture: the JSON and
 * Markdown reports equal the golden files (same data, same output, whatever
 * the engine), the format follows --format / the --output extension, HTML goes
 * to a file by default, --json prints {reportPath, format, services}, a
 * state store without the control-plane tables still gets a report, and no
 * password is printed.
 */
import {readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {collectReport} from '../../src/report/collect.js'
import {renderJson} from '../../src/report/render-json.js'
import {renderMarkdown} from '../../src/report/render-markdown.js'
import {StateStore} from '../../src/state/state-store.js'
import {planDir, runCli} from '../helpers/cli.js'
import {freshMysql, freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'
import {fillReportState, GENERATED_AT, PLAN_SERVICES, SECRET} from '../fixtures/report/fill-state.js'

const GOLDEN = join(import.meta.dirname, '..', 'fixtures', 'report')
const goldenJson = (): Record<string, unknown> => JSON.parse(readFileSync(join(GOLDEN, 'report.json'), 'utf8')) as Record<string, unknown>
const goldenMd = (): string => readFileSync(join(GOLDEN, 'report.md'), 'utf8')
/** The one line of the Markdown report that depends on the time it was made. */
const withoutGenerated = (md: string): string => md.replace(/^Generated .* UTC from/m, 'Generated <time> UTC from')

function plan(prefix = 'strangler_'): Record<string, unknown> {
  const svc = (table: string) => ({target: {url: '${MONOLITH_URL}'}, isolation: 'private-tables', entities: [{source: table, key: ['id']}]})
  return {monolith: {url: '${MONOLITH_URL}'}, state: {prefix}, services: Object.fromEntries(PLAN_SERVICES.map((s) => [s, svc(s)]))}
}

async function filled(url: string): Promise<void> {
  const state = await StateStore.open(url)
  try {
    await state.migrate()
    await fillReportState(state)
  } finally {
    await state.close()
  }
}

describe('strangler report', () => {
  let pgDb: FreshDatabase
  let dir: string
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    pgDb = await freshPg('report_cli')
    await filled(pgDb.url)
    dir = planDir(plan())
    env = {MONOLITH_URL: pgDb.url}
  })
  afterAll(async () => {
    await pgDb?.drop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  const clean = (text: string): void => {
    expect(text).not.toContain(testPassword())
    expect(text).not.toContain(SECRET)
  }

  it('prints the golden JSON report on stdout with --format json', async () => {
    const r = await runCli(['report', '--format', 'json'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    clean(r.stdout + r.stderr)
    const out = JSON.parse(r.stdout) as Record<string, unknown>
    expect(Date.parse(String(out.generatedAt))).toBeGreaterThan(Date.parse(GENERATED_AT))
    expect({...out, generatedAt: GENERATED_AT}).toEqual(goldenJson())
  })

  it('prints the golden Markdown report on stdout with --format markdown', async () => {
    const r = await runCli(['report', '--format', 'markdown'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    clean(r.stdout + r.stderr)
    expect(withoutGenerated(r.stdout)).toBe(withoutGenerated(goldenMd()))
  })

  it('writes an HTML file by default and prints its path', async () => {
    const before = new Set(readdirSync(dir))
    const r = await runCli(['report'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    const made = readdirSync(dir).filter((f) => !before.has(f))
    expect(made).toHaveLength(1)
    expect(made[0]).toMatch(/^strangler-report-\d{8}T\d{6}Z\.html$/)
    expect(r.stdout).toContain(join(dir, made[0]))
    const html = readFileSync(join(dir, made[0]), 'utf8')
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).toContain('<script type="application/json" id="report-data">')
    expect(html).toContain('id="service-orders"')
    clean(html + r.stdout)
  })

  it('takes the format from the --output extension, and --json describes the result', async () => {
    const r = await runCli(['report', 'users', '--output', 'out/users.md', '--json'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as {reportPath: string; format: string; services: {name: string; phase: string; ok: boolean; problems: string[]}[]}
    expect(out).toEqual({
      reportPath: join(dir, 'out', 'users.md'),
      format: 'markdown',
      services: [{name: 'users', phase: 'shift', ok: false, problems: ['last diff (run d-multi) found 28 differing rows']}],
    })
    const md = readFileSync(out.reportPath, 'utf8')
    expect(md).toContain('## users')
    expect(md).not.toContain('## orders')

    // --json never mixes the report into stdout: it goes to a file with the default name
    const j = await runCli(['report', 'orders', '--format', 'json', '--json'], {cwd: dir, env})
    expect(j.code, j.stderr).toBe(0)
    const res = JSON.parse(j.stdout) as {reportPath: string; format: string}
    expect(res.format).toBe('json')
    expect(res.reportPath).toMatch(/strangler-report-\d{8}T\d{6}Z\.json$/)
    const data = JSON.parse(readFileSync(res.reportPath, 'utf8')) as {services: {name: string; deadLetters: {unresolved: number}}[]}
    expect(data.services.map((s) => [s.name, s.deadLetters.unresolved])).toEqual([['orders', 2]])
  })

  it('writes any format to stdout with --output -', async () => {
    const r = await runCli(['report', 'catalog', '--format', 'html', '--output', '-'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^<!doctype html>/)
  })

  it('fails with exit 2 on a service nobody knows', async () => {
    const r = await runCli(['report', 'nope', '--format', 'markdown'], {cwd: dir, env})
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Unknown service "nope"')
    expect(r.stderr).toContain('users, orders, catalog')
  })

  it('reports on a state store without control-plane tables (before init)', async () => {
    const fresh = planDir(plan('nothing_here_'))
    try {
      const r = await runCli(['report', '--format', 'markdown'], {cwd: fresh, env})
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain('The control-plane tables do not exist yet')
      expect(r.stdout).toContain('## catalog')
    } finally {
      rmSync(fresh, {recursive: true, force: true})
    }
  })

  it('gives the same report from a MariaDB state store', async () => {
    const my = await freshMysql('report_my')
    const state = await StateStore.open(my.url)
    try {
      await state.migrate()
      await fillReportState(state)
      const data = await collectReport(state, {services: PLAN_SERVICES, generatedAt: GENERATED_AT})
      expect(data.stateStore.dialect).toBe('mysql')
      const asPg = {...data, stateStore: {...data.stateStore, dialect: 'postgres' as const}}
      expect(JSON.parse(renderJson(asPg))).toEqual(goldenJson())
      expect(renderMarkdown(asPg)).toBe(goldenMd())
    } finally {
      await state.close()
      await my.drop()
    }
  })
})
