/**
 * Shared setup of the diff and repair integration tests: a workspace from an
 * inline plan (control plane migrated), a plain copy of every entity into its
 * service store through the mapping (what the backfill does), and SQL on any URL.
 */
import {randomUUID} from 'node:crypto'
import {validatePlan} from '../../src/config/load.js'
import type {PlanInput} from '../../src/config/schema.js'
import {connectEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import {Workspace} from '../../src/workspace.js'

export async function openWorkspace(plan: PlanInput): Promise<Workspace> {
  const ws = await Workspace.open(validatePlan(plan), {runId: randomUUID()})
  await ws.state.migrate()
  return ws
}

/** Creates each entity's target and copies every source row through the mapping. */
export async function copyService(ws: Workspace, service: string): Promise<void> {
  const target = await ws.target(service)
  for (const e of await ws.entities(service)) {
    await target.createTarget(e.targetSpec)
    let after: readonly unknown[] | undefined
    for (;;) {
      const rows = await ws.monolith.readRange({table: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, columns: e.projections, after, filter: e.filter, limit: 2000})
      if (!rows.length) break
      await target.upsert({table: e.target, key: e.targetKey, columns: e.targetSpec.columns, rows: rows.map((r) => e.mapRow(r))})
      after = e.sourceKey.map((k) => rows[rows.length - 1][k])
      if (rows.length < 2000) break
    }
  }
}

/** Runs statements on a database URL (PostgreSQL, PGlite or MariaDB). */
export async function sqlOn(url: string, ...statements: (string | [string, unknown[]])[]): Promise<void> {
  const e = await connectEngine(url)
  try {
    for (const s of statements) {
      if (typeof s === 'string') await e.sql!.execute(s)
      else await e.sql!.execute(s[0], s[1])
    }
  } finally {
    await e.close()
  }
}

/** Opens an engine for the duration of `fn`. */
export async function withEngine<T>(url: string, fn: (e: Engine) => Promise<T>): Promise<T> {
  const e = await connectEngine(url)
  try {
    return await fn(e)
  } finally {
    await e.close()
  }
}

/** Sorted `keyToString`-like rendering of key lists, for readable assertions. */
export function keys(list: readonly (readonly unknown[])[]): string[] {
  return list.map((k) => (k.length === 1 ? String(k[0]) : `(${k.map(String).join(',')})`)).sort()
}
