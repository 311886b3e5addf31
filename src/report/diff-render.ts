import type {DiffRunResult} from '../diff/run-diff.js'
import {renderDiffJson} from './diff-json.js'
import {renderDiffJunit} from './diff-junit.js'
import {renderDiffMarkdown} from './diff-markdown.js'
import {renderDiffTable} from './diff-table.js'

export const DIFF_FORMATS = ['table', 'json', 'junit', 'markdown'] as const
export type DiffFormat = (typeof DIFF_FORMATS)[number]

/** A diff run in one of the output formats. */
export function renderDiff(r: DiffRunResult, format: DiffFormat): string {
  switch (format) {
    case 'table':
      return `${renderDiffTable(r)}\n`
    case 'json':
      return `${renderDiffJson(r)}\n`
    case 'junit':
      return renderDiffJunit(r)
    case 'markdown':
      return renderDiffMarkdown(r)
  }
}
