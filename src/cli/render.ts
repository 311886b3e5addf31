/** Plain-text rendering helpers for human output (stdout). */

/** A column-aligned table; cells are converted with String(). */
export function table(rows: readonly Record<string, unknown>[], columns: readonly (string | {key: string; label: string; align?: 'left' | 'right'})[]): string {
  const cols = columns.map((c) => (typeof c === 'string' ? {key: c, label: c, align: 'left' as const} : {align: 'left' as const, ...c}))
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v))
  const widths = cols.map((c) => Math.max(c.label.length, ...rows.map((r) => cell(r[c.key]).length)))
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => (cols[i].align === 'right' ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  const out = [line(cols.map((c) => c.label.toUpperCase())), line(widths.map((w) => '─'.repeat(w)))]
  for (const r of rows) out.push(line(cols.map((c) => cell(r[c.key]))))
  return out.join('\n')
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  const rest = Math.round(s % 60)
  if (m < 60) return `${m}m${String(rest).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

/** Parses `500ms`, `30s`, `10m`, `2h`, `7d` to milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim())
  if (!m) throw new Error(`not a duration: ${text} (use e.g. 30s, 10m, 1h)`)
  const n = Number(m[1])
  return n * {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}[m[2] as 'ms']
}
