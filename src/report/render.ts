import {extname} from 'node:path'
import type {ReportData} from './report-data.js'
import {renderHtml} from './render-html.js'
import {renderJson} from './render-json.js'
import {renderMarkdown} from './render-markdown.js'

export const REPORT_FORMATS = ['html', 'markdown', 'json'] as const
/** The formats of `strangler report`. */
export type ReportFormat = (typeof REPORT_FORMATS)[number]

/** The format an output file's extension asks for: .html/.htm, .md/.markdown, .json; undefined otherwise. */
export function formatOfPath(file: string): ReportFormat | undefined {
  const ext = extname(file).toLowerCase()
  if (ext === '.html' || ext === '.htm') return 'html'
  if (ext === '.md' || ext === '.markdown') return 'markdown'
  if (ext === '.json') return 'json'
  return undefined
}

/** The file extension of a format. */
export function extensionOf(format: ReportFormat): string {
  return format === 'markdown' ? 'md' : format
}

export function renderReport(data: ReportData, format: ReportFormat): string {
  switch (format) {
    case 'html':
      return renderHtml(data)
    case 'markdown':
      return renderMarkdown(data)
    case 'json':
      return renderJson(data)
  }
}
