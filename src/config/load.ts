import {existsSync, readFileSync} from 'node:fs'
import {resolve, extname, basename} from 'node:path'
import {pathToFileURL} from 'node:url'
import {parse as parseYaml} from 'yaml'
import type {z} from 'zod'
import {ConfigError, UserError} from '../util/errors.js'
import {configSchema, type Plan} from './schema.js'
import {interpolateEnv} from './interpolate.js'

export const CONFIG_NAMES = [
  'strangler.config.ts',
  'strangler.config.mts',
  'strangler.config.js',
  'strangler.config.mjs',
  'strangler.config.json',
  'strangler.config.yaml',
  'strangler.config.yml',
]

export interface LoadedPlan {
  plan: Plan
  file: string
}

/** Finds the plan: `--config` if given, else the first `strangler.config.*` in the working directory. */
export function findPlanFile(explicit?: string, cwd = process.cwd()): string {
  if (explicit) {
    const p = resolve(cwd, explicit)
    if (!existsSync(p)) {
      throw new UserError(`Plan file not found: ${explicit}`, {
        code: 'E_CONFIG_NOT_FOUND',
        hint: 'Check the --config path, or run from the directory that holds strangler.config.ts.',
      })
    }
    return p
  }
  for (const name of CONFIG_NAMES) {
    const p = resolve(cwd, name)
    if (existsSync(p)) return p
  }
  throw new UserError(`No plan file found in ${cwd} (looked for ${CONFIG_NAMES.join(', ')}).`, {
    code: 'E_CONFIG_NOT_FOUND',
    hint: 'Create strangler.config.ts with `export default defineConfig({...})`, or pass --config FILE. `strangler demo` runs without one.',
  })
}

async function readRaw(file: string): Promise<unknown> {
  const ext = extname(file).toLowerCase()
  if (ext === '.json' || ext === '.yaml' || ext === '.yml') {
    const text = readFileSync(file, 'utf8')
    try {
      return ext === '.json' ? JSON.parse(text) : parseYaml(text)
    } catch (err) {
      throw new ConfigError(basename(file), [`could not parse ${ext.slice(1).toUpperCase()}: ${(err as Error).message.split('\n')[0]}`])
    }
  }
  try {
    let mod: {default?: unknown}
    if (ext === '.ts' || ext === '.mts') {
      const {tsImport} = await import('tsx/esm/api')
      mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as {default?: unknown}
    } else {
      mod = (await import(pathToFileURL(file).href)) as {default?: unknown}
    }
    const value = mod.default ?? mod
    return value && typeof value === 'object' && 'default' in value ? (value as {default: unknown}).default : value
  } catch (err) {
    throw new ConfigError(basename(file), [`could not load the module: ${(err as Error).message.split('\n')[0]}`])
  }
}

/** Turns zod issues into `services.users.entities[0].key: required` lines. */
export function formatIssues(error: z.ZodError): string[] {
  const out: string[] = []
  for (const issue of error.issues) {
    const path = formatPath(issue.path)
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push(`${path ? path + '.' : ''}${k}: unknown key`)
      continue
    }
    let msg = issue.message
    if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) msg = 'required'
    if (issue.code === 'invalid_key' && issue.issues[0]?.message) msg = issue.issues[0].message // a record key (service name): say what is wrong with it
    out.push(`${path || '(plan)'}: ${msg}`)
  }
  return out
}

function formatPath(path: readonly PropertyKey[]): string {
  let s = ''
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`
    else s += s ? `.${String(p)}` : String(p)
  }
  return s
}

/** Validates a plan object (after interpolation) and returns the typed plan. */
export function validatePlan(raw: unknown, file = 'plan', env: NodeJS.ProcessEnv = process.env): Plan {
  if (!raw || typeof raw !== 'object') throw new ConfigError(file, ['(plan): must be an object (export default defineConfig({...}))'])
  const {value, missing} = interpolateEnv(raw, env)
  if (missing.length) {
    throw new ConfigError(
      file,
      missing.map((m) => `${m.path}: environment variable ${m.variable} is not set (export ${m.variable}=... or use \${${m.variable}:-default})`),
    )
  }
  const res = configSchema.safeParse(value)
  if (!res.success) throw new ConfigError(file, formatIssues(res.error))
  checkCrossReferences(res.data, file)
  return res.data
}

function checkCrossReferences(plan: Plan, file: string): void {
  const issues: string[] = []
  for (const [name, svc] of Object.entries(plan.services)) {
    const targets = new Map<string, number>()
    svc.entities.forEach((e, i) => {
      const t = (e.target ?? e.source).toLowerCase()
      if (targets.has(t)) issues.push(`services.${name}.entities[${i}].target: "${t}" is also the target of entities[${targets.get(t)}]`)
      targets.set(t, i)
      if (e.columns && e.exclude) issues.push(`services.${name}.entities[${i}].exclude: cannot be combined with columns (list the columns you want instead)`)
      if (e.sensitive && e.columns) {
        for (const s of e.sensitive) if (!(s in e.columns)) issues.push(`services.${name}.entities[${i}].sensitive: "${s}" is not a mapped target column`)
      }
    })
    if (svc.isolation === 'own-server' && svc.target.url === plan.monolith.url) {
      issues.push(`services.${name}.isolation: own-server needs a target.url different from the monolith's (use private-tables or own-schema to share the server)`)
    }
    if (svc.isolation === 'own-schema' && !svc.target.schema) {
      issues.push(`services.${name}.target.schema: required with isolation own-schema`)
    }
  }
  if (issues.length) throw new ConfigError(file, issues)
}

/** Finds, reads, interpolates and validates the plan. */
export async function loadPlan(explicit?: string, cwd = process.cwd()): Promise<LoadedPlan> {
  const file = findPlanFile(explicit, cwd)
  const raw = await readRaw(file)
  return {plan: validatePlan(raw, basename(file)), file}
}
