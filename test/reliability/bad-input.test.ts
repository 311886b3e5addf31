/**
 * Bad input across the phase commands (shadow, relay, diff, repair,
 * write-through, shift, decommission, rollback, report, audit; `init`, `plan`
 * and `status` are covered by test/e2e/bad-input.test.ts): hostile plans
 * (identifier and SQL injection, huge numbers, unknown engines, prototype
 * keys), wrong phase order, gate violations, unreachable hosts, wrong
 * passwords and tokens, tables without keys, unsupported types, bad flags.
 *
 * Each case: a clear message naming what is wrong, exit 2 (1 for a gate),
 * no stack trace, and no secret in stdout or the JSON logs on stderr. After
 * all of them: nothing changed on the monolith, the service store or in the
 * state store (phases, transitions, toggles, checkpoints, locks), and neither
 * `strangler audit --json` nor `strangler report --format json` holds a secret.
 */
import {randomUUID} from 'node:crypto'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {recordDeadLetter} from '../../src/capture/dead-letters.js'
import {validatePlan} from '../../src/config/load.js'
import {saveService, type Phase} from '../../src/state/services.js'
import {Workspace} from '../../src/workspace.js'
import {planDir} from '../helpers/cli.js'
import {freshPg, testPassword, type FreshDatabase} from '../helpers/db.js'
import {unleashInfo} from '../helpers/unleash.js'
import {killAllCli, runCliProcess, type CliOutcome} from './support/cli-process.js'

let mono: FreshDatabase
let target: FreshDatabase
let ws: Workspace
let before: string
const WRONG_PW = 'Wr0ng-Pa55-7d1e'
const WRONG_TOKEN = '*:*.deadbeef0123456789wrongtoken'
/** Everything any run wrote, grepped for secrets at the end. */
const outputs: string[] = []

type Plan = Record<string, any>

/** A service of the shared plan, put into `phase` before the cases run. */
interface Svc {
  phase?: Phase
  readPct?: number
  deadLetter?: boolean
  entities?: unknown[]
}

interface Case {
  name: string
  /** `$S` is replaced by the case's service name. */
  args: string[]
  /** The case's service in the shared plan (valid), preset to a phase. */
  svc?: Svc
  /** Instead: a broken copy of the shared plan (its own file), or the plan file's raw text. */
  plan?: (p: Plan, s: string) => void
  raw?: (s: string) => string
  env?: () => Record<string, string>
  exit?: 1 | 2
  message: RegExp
  /** An oclif usage error: bin/dev.js runs oclif in development mode, which prints its stack (bin/run.js does not). */
  usage?: boolean
  /** More secrets this case must not print. */
  secrets?: () => string[]
}

const users = [{source: 'users'}]
const svcDef = (s: Svc = {}) => ({target: {url: '${TGT}'}, entities: s.entities ?? users})

const cases: Case[] = [
  // ---- hostile and malformed plans
  {name: 'shadow: identifier injection in a target table name', args: ['shadow', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${TGT}'}, entities: [{source: 'users', target: 'users"; DROP TABLE users; --'}]}), message: /services\.\w+\.entities\[0\]\.target: must be `table` or `schema\.table`/},
  {name: 'relay: identifier injection in a key column', args: ['relay', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${TGT}'}, entities: [{source: 'users', key: ['id"; DROP TABLE users; --']}]}), message: /entities\[0\]\.key\[0\]: must be a plain identifier/},
  {name: 'write-through: injection in a table prefix', args: ['write-through', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${MONO}', tablePrefix: 'x"; DROP TABLE users; --'}, isolation: 'private-tables', entities: users}), message: /target\.tablePrefix: must contain only letters, digits and _/},
  {name: 'rollback: injection in a service name', args: ['rollback', 'x'], plan: (p) => (p.services['x"; DROP TABLE users; --'] = svcDef()), message: /services\.x"; DROP TABLE users; --: must be a plain identifier/},
  {name: 'decommission: injection in an application user', args: ['decommission', '$S', '--yes'], plan: (p, s) => ((p.monolith.appUsers = ["app'; DROP USER root; --"]), (p.services[s] = svcDef())), message: /monolith\.appUsers\[0\]: must be a user name/},
  {name: 'report: injection in the state prefix', args: ['report', '--format', 'json'], plan: (p) => (p.state = {prefix: 'x; drop table users; --'}), message: /state\.prefix: must contain only lower-case letters, digits and _/},
  // a filter is spliced into the tool's statements as WHERE (<filter>): on PostgreSQL a second statement used to run (regression)
  {name: 'diff: a second statement in a row filter', args: ['diff', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${TGT}'}, entities: [{source: 'users', filter: 'true) ; DROP TABLE users; SELECT * FROM users WHERE (true'}]}), message: /entities\[0\]\.filter: must be one SQL expression: ";" is not allowed/},
  {name: 'shadow: a row filter that breaks out of its parentheses', args: ['shadow', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${TGT}'}, entities: [{source: 'users', filter: 'false) UNION SELECT id, email, name FROM users WHERE (true'}]}), message: /entities\[0\]\.filter: closes a parenthesis it did not open/},
  {name: 'relay: a comment in a column expression', args: ['relay', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${TGT}'}, entities: [{source: 'users', columns: {id: 'id', email: {sql: 'lower(email) --', type: 'text'}}}]}), message: /columns\.email\.sql: must be one SQL expression: comments/},
  {name: 'shift: a huge number in the gates', args: ['shift', '$S', '--to', '10'], raw: (s) => `{"monolith": {"url": "\${MONO}"}, "gates": {"maxShadowMismatchRate": 1e300}, "services": {"${s}": {"target": {"url": "\${TGT}"}, "entities": [{"source": "users"}]}}}`, message: /gates\.maxShadowMismatchRate: .*(1|less than|too big)/i},
  {name: 'audit: an unknown monolith engine', args: ['audit'], plan: (p) => (p.monolith.url = 'sqlite:///tmp/monolith.db'), message: /monolith\.url: must be a connection URL/},
  {name: 'diff: an unknown target engine (its password not shown)', args: ['diff', '$S'], plan: (p, s) => (p.services[s] = {target: {url: 'oracle://scott:${PW}@127.0.0.1/orcl'}, entities: users}), env: () => ({PW: WRONG_PW}), message: /services\.\w+\.target\.url: must be a connection URL/},
  {name: 'audit: a prototype key in the plan', args: ['audit'], raw: () => `{"monolith": {"url": "\${MONO}"}, "__proto__": {"polluted": true}, "services": {"users": {"target": {"url": "\${TGT}"}, "entities": [{"source": "users"}]}}}`, message: /__proto__: unknown key/},
  // ---- bad flags
  {name: 'shadow: a chunk size beyond any integer', args: ['shadow', '$S', '--chunk-rows', '99999999999999999999'], svc: {}, usage: true, message: /Parsing --chunk-rows[\s\S]*less than or equal to 1000000/},
  {name: 'relay: a batch size over the maximum', args: ['relay', '$S', '--batch-size', '1000000'], svc: {}, usage: true, message: /Parsing --batch-size[\s\S]*less than or equal to 50000/},
  {name: 'shift: a percentage over 100', args: ['shift', '$S', '--to', '150'], svc: {phase: 'write-through'}, message: /--to: "150" is not a whole percentage between 0 and 100/},
  {name: 'rollback: a percentage that is not a number', args: ['rollback', '$S', '--to', 'abc'], svc: {phase: 'shift', readPct: 50}, message: /--to: "abc" is not a whole percentage/},
  {name: 'diff: an unknown report format', args: ['diff', '$S', '--format', 'pdf'], svc: {}, usage: true, message: /Expected --format=pdf to be one of/},
  {name: 'report: an unknown report format', args: ['report', '--format', 'pdf'], svc: {}, usage: true, message: /Expected --format=pdf to be one of/},
  {name: 'audit: a limit of 0', args: ['audit', '--limit', '0'], svc: {}, usage: true, message: /greater than or equal to 1/},
  {name: 'shadow: --steal without --reason', args: ['shadow', '$S', '--steal'], svc: {}, message: /--steal needs --reason/},
  {name: 'write-through: --force without --reason', args: ['write-through', '$S', '--force'], svc: {phase: 'shadow'}, message: /--force needs --reason/},
  {name: 'shadow: an unknown entity', args: ['shadow', '$S', '--entity', 'nope'], svc: {}, message: /Service \w+ has no entity "nope"/},
  {name: 'relay: an unknown service', args: ['relay', 'billing'], svc: {}, message: /Unknown service "billing"[\s\S]*The plan defines/},
  {name: 'report: an unknown service', args: ['report', 'nope', '--format', 'json'], svc: {}, message: /Unknown service "nope"/},
  {name: 'diff: --resume of a run that does not exist', args: ['diff', '$S', '--resume', '00000000-0000-4000-8000-000000000000'], svc: {}, message: /No diff run 00000000-0000-4000-8000-000000000000/},
  {name: 'repair: --from-diff of a run that does not exist', args: ['repair', '$S', '--from-diff', '00000000-0000-4000-8000-000000000000'], svc: {phase: 'shadow'}, message: /No diff run|not found|no such diff/i},
  // ---- wrong phase order
  {name: 'write-through before shadow', args: ['write-through', '$S'], svc: {}, message: /Cannot enter write-through: service \w+ is in phase planned[\s\S]*strangler shadow/},
  {name: 'shift before write-through', args: ['shift', '$S', '--to', '10'], svc: {phase: 'shadow'}, message: /Cannot shift reads: service \w+ is in phase shadow, needs write-through or shift[\s\S]*strangler write-through/},
  {name: 'decommission from shadow', args: ['decommission', '$S', '--yes'], svc: {phase: 'shadow'}, message: /Cannot decommission: service \w+ is in phase shadow, needs shift/},
  {name: 'decommission --purge before decommission', args: ['decommission', '$S', '--purge', '--yes'], svc: {phase: 'shift', readPct: 100}, message: /Cannot purge the archive: service \w+ is in phase shift, needs decommissioned/},
  {name: 'relay before shadow (no capture)', args: ['relay', '$S', '--once'], svc: {}, message: /has no outbox: change capture is not installed[\s\S]*strangler shadow/},
  {name: 'repair before any diff', args: ['repair', '$S'], svc: {phase: 'shadow'}, message: /diff/i},
  {name: 'shadow --abort of a service in write-through', args: ['shadow', '$S', '--abort'], svc: {phase: 'write-through'}, message: /Cannot abort the shadow phase: service \w+ is in phase write-through/},
  {name: 'rollback of a service that never left planned', args: ['rollback', '$S'], svc: {}, message: /planned/},
  // ---- gates (exit 1: the gate, its value, its threshold)
  {name: 'write-through with nothing backfilled and no diff', args: ['write-through', '$S'], svc: {phase: 'shadow'}, exit: 1, message: /cannot enter write-through: \d gate\(s\) fail:[\s\S]*backfill: 0\/1 entities \(needs all entities backfilled\)[\s\S]*diff: no diff run yet \(needs clean\)/},
  {name: 'shift with a dead letter', args: ['shift', '$S', '--to', '10'], svc: {phase: 'write-through', deadLetter: true}, exit: 1, message: /cannot enter shift: \d gate\(s\) fail:[\s\S]*dead-letters: 1 \(needs ≤ 0\)/},
  {name: 'decommission with reads at 50 %', args: ['decommission', '$S', '--yes'], svc: {phase: 'shift', readPct: 50}, exit: 1, message: /cannot be decommissioned: \d gate\(s\) fail:[\s\S]*soak: reads not at 100 % \(needs 100 % for ≥ 1s\)/},
  // ---- unreachable, wrong credentials, bad tables
  {name: 'shadow with an unreachable service store (nothing created)', args: ['shadow', '$S'], plan: (p, s) => (p.services[s] = {target: {url: 'postgres://strangler:${PW}@127.0.0.1:1/x'}, entities: users}), env: () => ({PW: testPassword()}), message: /services\.\w+\.target(\.url)?: Cannot connect to postgres:\/\/strangler:\*+@127\.0\.0\.1:1\/x: connection refused/},
  {name: 'relay with a wrong monolith password', args: ['relay', '$S'], plan: (p, s) => ((p.monolith.url = '${BAD}'), (p.services[s] = svcDef())), env: () => ({BAD: mono.url.replace(/:[^:@/]+@/, `:${WRONG_PW}@`)}), message: /Authentication failed for postgres:\/\/\w+:\*+@/},
  {name: 'diff with a service store host that does not exist', args: ['diff', '$S'], plan: (p, s) => (p.services[s] = {target: {url: 'postgres://strangler:${PW}@no-such-host.invalid:5432/x'}, entities: users}), env: () => ({PW: testPassword()}), message: /host not found/},
  {name: 'report with an unreachable state store', args: ['report', '--format', 'json'], plan: (p) => (p.state = {url: 'postgres://strangler:${PW}@127.0.0.1:1/state'}), env: () => ({PW: testPassword()}), message: /Cannot connect to postgres:\/\/strangler:\*+@127\.0\.0\.1:1\/state/},
  {name: 'audit with a wrong state-store password', args: ['audit'], plan: (p) => (p.state = {url: '${BAD}'}), env: () => ({BAD: mono.url.replace(/:[^:@/]+@/, `:${WRONG_PW}@`)}), message: /Authentication failed/},
  {name: 'shadow of a table without a key', args: ['shadow', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${TGT}'}, entities: [{source: 'no_key'}]}), message: /no_key has no primary key/},
  {name: 'diff of a table with an unsupported column type', args: ['diff', '$S'], plan: (p, s) => (p.services[s] = {target: {url: '${TGT}'}, entities: [{source: 'geo'}]}), message: /column "place" has unsupported type point/},
  {name: 'rollback with a wrong Unleash admin token (the token not shown, nothing changed)', args: ['rollback', '$S', '--to', '20'], svc: {phase: 'shift', readPct: 50}, plan: (p) => (p.toggles = {provider: 'unleash', url: unleashInfo().url, adminToken: '${UT}', clientToken: '${UCT}'}), env: () => ({UT: WRONG_TOKEN, UCT: unleashInfo().clientToken}), message: /Unleash.*(401|403|token|rejected|denied)/i, secrets: () => [WRONG_TOKEN]},
  {name: 'rollback with an unreachable Unleash', args: ['rollback', '$S', '--to', '20'], svc: {phase: 'shift', readPct: 50}, plan: (p) => (p.toggles = {provider: 'unleash', url: 'http://127.0.0.1:1', adminToken: '${UT}', clientToken: '${UCT}'}), env: () => ({UT: unleashInfo().adminToken, UCT: unleashInfo().clientToken}), message: /Unleash at http:\/\/127\.0\.0\.1:1.*(reach|connect|refused)/i, secrets: () => [unleashInfo().adminToken]},
]

const sharedPlan = (): Plan => {
  const p: Plan = {monolith: {url: '${MONO}'}, gates: {minShadowSamples: 0, soak: '1s'}, services: {}}
  cases.forEach((c, i) => {
    if (c.svc) p.services[`c${i}`] = svcDef(c.svc)
  })
  return p
}

let sharedDir: string
const env = () => ({MONO: mono.url, TGT: target.url})

async function pgList(url: string, sql: string): Promise<string[]> {
  const c = new pg.Client({connectionString: url})
  await c.connect()
  try {
    return (await c.query(sql)).rows.map((r) => Object.values(r).map(String).join(' '))
  } finally {
    await c.end()
  }
}

/** What must not change: objects on both databases, rows of the source, the control plane's phases and records. */
async function snapshot(): Promise<string> {
  const objects = `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`
  const triggers = `SELECT trigger_name, event_object_table FROM information_schema.triggers ORDER BY 1, 2`
  const state = (t: string, cols: string) => `SELECT ${cols} FROM strangler_${t} ORDER BY 1`
  return JSON.stringify({
    monolith: await pgList(mono.url, objects),
    triggers: await pgList(mono.url, triggers),
    users: await pgList(mono.url, 'SELECT count(*), sum(id) FROM users'),
    target: await pgList(target.url, objects),
    services: await pgList(mono.url, state('services', 'name, phase, read_pct, write_target, step, info')),
    transitions: await pgList(mono.url, state('transitions', 'service, from_phase, to_phase')),
    toggles: await pgList(mono.url, state('toggles', '*')),
    checkpoints: await pgList(mono.url, state('checkpoints', 'service, entity, kind, state')),
    locks: await pgList(mono.url, state('locks', 'service, holder')),
    deadLetters: await pgList(mono.url, state('dead_letters', 'service, entity, pk, attempts, resolved_at')),
  })
}

function secretsOf(c?: Case): string[] {
  return [testPassword(), WRONG_PW, unleashInfo().adminToken, unleashInfo().clientToken, ...(c?.secrets?.() ?? [])]
}

function expectNoSecret(text: string, c?: Case): void {
  for (const s of secretsOf(c)) expect(text.includes(s), `a secret leaked into:\n${text.slice(0, 3000)}`).toBe(false)
}

async function run(args: string[], dir: string, extraEnv: Record<string, string> = {}): Promise<CliOutcome> {
  const r = await runCliProcess([...args, '--log-format', 'json'], {cwd: dir, env: {...env(), ...extraEnv}})
  outputs.push(r.stdout, r.stderr)
  return r
}

beforeAll(async () => {
  ;[mono, target] = await Promise.all([freshPg('bad2_mono'), freshPg('bad2_tgt')])
  const c = new pg.Client({connectionString: mono.url})
  await c.connect()
  await c.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text)`)
  await c.query(`INSERT INTO users SELECT g, 'u' || g || '@x', 'n' || g FROM generate_series(1, 50) g`)
  await c.query(`CREATE TABLE no_key (a int, b text)`)
  await c.query(`CREATE TABLE geo (id int PRIMARY KEY, place point)`)
  await c.end()
  // an (empty) service table, so that commands get as far as the monolith's side
  const t = new pg.Client({connectionString: target.url})
  await t.connect()
  await t.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text)`)
  await t.end()
  sharedDir = planDir(sharedPlan())
  const init = await run(['init'], sharedDir)
  expect(init.code, init.stderr).toBe(0)
  ws = await Workspace.open(validatePlan(sharedPlan(), 'plan', {...process.env, ...env()}), {runId: randomUUID()})
  for (const [i, k] of cases.entries()) {
    if (!k.svc) continue
    const name = `c${i}`
    await saveService(ws.state, {name, phase: k.svc.phase ?? 'planned', readPct: k.svc.readPct ?? 0, writeTarget: 'monolith', step: null, info: {}})
    if (k.svc.deadLetter) await recordDeadLetter(ws.state, {service: name, entity: 'users', pk: '["7"]', error: 'duplicate key value violates unique constraint'}, 60_000)
  }
  before = await snapshot()
})

afterAll(async () => {
  killAllCli()
  await ws?.close()
  await Promise.all([mono?.drop(), target?.drop()])
})

describe('bad input across the phase commands', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30)
  })

  it.concurrent.each(cases.map((c, i) => ({...c, i})))('$name', async (c) => {
    const s = `c${c.i}`
    let dir = sharedDir
    if (c.raw) dir = planDir(c.raw(s))
    else if (c.plan) {
      const p = sharedPlan()
      c.plan(p, s)
      dir = planDir(p)
    }
    const r = await run(
      c.args.map((a) => a.replace('$S', s)),
      dir,
      c.env?.() ?? {},
    )
    const all = r.stdout + r.stderr
    if (process.env.STRANGLER_RELIABILITY_VERBOSE) console.log(`--- ${c.name} (exit ${r.code})\n${all.split('\n').filter((l) => !l.startsWith('{') && !/^\s+at /.test(l)).join('\n')}`)
    expect(r.code, all).toBe(c.exit ?? 2)
    expect(all).toMatch(c.message)
    if (!c.usage) expect(all).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/) // no stack trace
    expectNoSecret(all, c)
    // the JSON logs on stderr are JSON, line by line
    for (const line of r.stderr.split('\n').filter((l) => l.startsWith('{'))) expect(() => JSON.parse(line)).not.toThrow()
  })

  it('changed nothing on the monolith, the service store or in the state store', async () => {
    expect(JSON.parse(await snapshot())).toEqual(JSON.parse(before))
  })

  it('wrote no secret into the audit log or the report', async () => {
    const audit = await run(['audit', '--json'], sharedDir)
    expect(audit.code).toBe(0)
    const records = (JSON.parse(audit.stdout) as {records: {command: string; outcome: string; detail: string | null}[]}).records
    // refused commands are audited too, with what refused them
    expect(records.some((r) => r.outcome === 'refused' && /gate/.test(r.detail ?? ''))).toBe(true)
    expect(records.some((r) => r.outcome === 'failed')).toBe(true)
    const report = await run(['report', '--format', 'json', '--output', '-'], sharedDir)
    expect(report.code).toBe(0)
    expect(JSON.parse(report.stdout)).toHaveProperty('services')
    for (const out of outputs) expectNoSecret(out)
  })
})
