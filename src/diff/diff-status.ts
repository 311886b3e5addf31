import {registerStatusContributor} from '../phases/status.js'
import {lastDiff} from './run-diff.js'

/** `strangler status` shows each service's last finished diff and how old it is. */
registerStatusContributor(async (ws, service, status) => {
  const d = await lastDiff(ws, service)
  status.lastDiff = d
    ? {runId: d.runId, status: d.status, finishedAt: d.finishedAt, ageMinutes: Math.max(0, (Date.now() - Date.parse(d.finishedAt)) / 60_000), totals: d.totals}
    : null
})
