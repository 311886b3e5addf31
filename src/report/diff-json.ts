import type {DiffRunResult} from '../diff/run-diff.js'

/** The run as JSON (the same object `--json` returns), keys as arrays of their column values. */
export function renderDiffJson(r: DiffRunResult): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v), 2)
}
