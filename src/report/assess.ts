import type {ServiceHealth, ServiceReport} from './report-data.js'

/**
 * The verdict of a service's report: what needs an operator's attention now
 * (the last diff's differences or error, unresolved dead letters, gates that
 * failed at their last evaluation). A backfill in progress or a service that
 * was never diffed is not a problem by itself.
 */
export function assessService(s: Omit<ServiceReport, 'status'>): ServiceHealth {
  const problems: string[] = []
  const last = s.diff.lastRun
  if (last) {
    const n = (last.totals.missing ?? 0) + (last.totals.extra ?? 0) + (last.totals.changed ?? 0)
    if (last.status === 'differences') problems.push(`last diff (run ${last.runId}) found ${n} differing row${n === 1 ? '' : 's'}`)
    else if (last.status === 'error') problems.push(`last diff (run ${last.runId}) could not run`)
    else if (last.status === 'interrupted') problems.push(`last diff (run ${last.runId}) was interrupted`)
  }
  if (s.deadLetters.unresolved > 0) problems.push(`${s.deadLetters.unresolved} unresolved dead letter${s.deadLetters.unresolved === 1 ? '' : 's'}`)
  for (const g of s.gates.latest) {
    if (!g.ok) problems.push(`gate ${g.gate} failed at ${g.context}: ${g.value ?? '?'} (needs ${g.threshold ?? '?'})`)
  }
  return {ok: problems.length === 0, problems}
}
