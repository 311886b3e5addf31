import {hostname, userInfo} from 'node:os'
import {redact, redactDeep} from '../util/redact.js'
import type {StateStore} from './state-store.js'
import {nowIso} from './state-store.js'

export interface AuditRecord {
  id: number
  at: string
  runId: string
  operator: string
  host: string
  command: string
  args: unknown
  service: string | null
  outcome: string
  exitCode: number | null
  durationMs: number | null
  detail: string | null
}

/** Who is running this: `STRANGLER_OPERATOR`, else the OS user. */
export function operatorName(): string {
  if (process.env.STRANGLER_OPERATOR) return process.env.STRANGLER_OPERATOR
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? 'unknown'
  }
}

export function hostName(): string {
  return hostname()
}

/** Appends one record; args and detail are redacted. */
export async function recordAudit(
  store: StateStore,
  r: {runId: string; command: string; args: unknown; service?: string; outcome: string; exitCode?: number; durationMs?: number; detail?: string},
): Promise<void> {
  await store.db
    .insertInto(store.t('audit'))
    .values({
      at: nowIso(),
      run_id: r.runId,
      operator: operatorName(),
      host: hostName(),
      command: r.command,
      args: JSON.stringify(redactDeep(r.args ?? {})),
      service: r.service ?? null,
      outcome: r.outcome,
      exit_code: r.exitCode ?? null,
      duration_ms: r.durationMs ?? null,
      detail: r.detail ? redact(r.detail) : null,
    })
    .execute()
}

export async function listAudit(store: StateStore, opts: {service?: string; limit?: number} = {}): Promise<AuditRecord[]> {
  let q = store.db.selectFrom(store.t('audit')).selectAll().orderBy('id', 'desc')
  if (opts.service) q = q.where('service', '=', opts.service)
  if (opts.limit) q = q.limit(opts.limit)
  const rows = await q.execute()
  return rows.reverse().map((r) => ({
    id: Number(r.id),
    at: String(r.at),
    runId: String(r.run_id),
    operator: String(r.operator),
    host: String(r.host),
    command: String(r.command),
    args: r.args ? JSON.parse(String(r.args)) : null,
    service: (r.service as string | null) ?? null,
    outcome: String(r.outcome),
    exitCode: r.exit_code === null || r.exit_code === undefined ? null : Number(r.exit_code),
    durationMs: r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
    detail: (r.detail as string | null) ?? null,
  }))
}
