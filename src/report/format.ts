import {formatDuration} from '../cli/render.js'
import type {DiffKeyEntry, ServiceReport} from './report-data.js'

/** Shared wording of the Markdown and HTML reports (deterministic: no locale or time zone of the machine). */

/** `2026-01-15 12:00:00` (UTC, seconds) for an ISO time; other text as is. */
export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso)
  return m ? `${m[1]} ${m[2]}` : iso
}

/** `1,234,567`; `—` for null. */
export function fmtCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', {maximumFractionDigits: 1})
}

/** A ratio (0..1) as a percentage with enough digits to show small rates. */
export function fmtRate(ratio: number): string {
  const p = ratio * 100
  return `${p === 0 ? '0' : p < 0.01 ? p.toPrecision(2) : p < 1 ? p.toFixed(2) : p.toFixed(1)} %`
}

export function fmtSeconds(s: number | null | undefined): string {
  return s === null || s === undefined ? '—' : `${s.toFixed(1)} s`
}

export function fmtMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : formatDuration(ms)
}

/** A differing key as the diff prints it: `42`, `(1,'a')`; anything else as JSON. */
export function fmtKey(key: unknown): string {
  if (Array.isArray(key)) {
    const one = (v: unknown): string => {
      if (v === null || v === undefined) return 'NULL'
      if (typeof v === 'number') return String(v)
      if (typeof v === 'object') return JSON.stringify(v)
      const s = String(v)
      return /^-?\d+$/.test(s) ? s : `'${s.replace(/'/g, "''")}'`
    }
    return key.length === 1 ? one(key[0]) : `(${key.map(one).join(',')})`
  }
  return typeof key === 'string' ? key : JSON.stringify(key)
}

/** A JSON-ish value short enough for a table cell. */
export function fmtValue(v: unknown, max = 80): string {
  const s = v === null || v === undefined ? 'NULL' : typeof v === 'string' ? v : JSON.stringify(v)
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}

/** `total_cents: 100 → 120; status: 'paid' → NULL` for a changed row. */
export function fmtColumns(k: DiffKeyEntry, max = 3): string {
  if (!k.columns.length) return ''
  const shown = k.columns.slice(0, max).map((c) => `${c.name}: ${fmtValue(c.source, 40)} → ${fmtValue(c.target, 40)}`)
  return shown.join('; ') + (k.columns.length > max ? `; +${k.columns.length - max} more` : '')
}

/** `1 key`, `2 keys` (the count formatted). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmtCount(n)} ${n === 1 ? one : many}`
}

/** A key stored as JSON text (dead letters): printed like a diff key when it parses, else as is. */
export function fmtStoredKey(pk: string): string {
  try {
    const v = JSON.parse(pk) as unknown
    return Array.isArray(v) ? fmtKey(v) : pk
  } catch {
    return pk
  }
}

/** The mark of a verdict. */
export function mark(ok: boolean): string {
  return ok ? '✔' : '✖'
}

/** Short facts of a service for its status line and the overview. */
export function serviceFacts(s: ServiceReport): {backfill: string; lag: string; diff: string; deadLetters: string; reads: string} {
  const last = s.diff.lastRun
  return {
    backfill: s.backfill.total ? `${s.backfill.done}/${s.backfill.total} entities` : '—',
    lag: s.relay.latest ? fmtSeconds(s.relay.latest.lagSeconds) : '—',
    diff: last ? `${last.status}` : 'never run',
    deadLetters: String(s.deadLetters.unresolved),
    reads: `${s.readPct} %`,
  }
}
