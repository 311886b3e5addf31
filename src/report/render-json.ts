import {redactDeep} from '../util/redact.js'
import type {ReportData} from './report-data.js'

/** The JSON report: the {@link ReportData} itself (every string redacted), pretty-printed (schema: docs/report-json.md). */
export function renderJson(data: ReportData): string {
  return `${JSON.stringify(redactDeep(data), null, 2)}\n`
}
