/**
 * Every entity of a service, read completely from the monolith (mapped) and
 * from the service store, compared row by row in the diff's canonical
 * encoding: independent of the diff under test (no checksums, no chunking),
 * for tables the load generator's truth log does not cover.
 */
import {createHash} from 'node:crypto'
import {canonicalRow} from '../../../src/diff/canonical.js'
import type {Engine} from '../../../src/engines/engine.js'
import type {KeyTuple, Projection, Row, TableRef, ColumnType} from '../../../src/engines/types.js'
import type {Workspace} from '../../../src/workspace.js'

async function readAll(engine: Engine, table: TableRef, key: readonly string[], keyTypes: readonly ColumnType[], columns: readonly Projection[]): Promise<Row[]> {
  const out: Row[] = []
  let after: KeyTuple | undefined
  for (;;) {
    const rows = await engine.readRange({table, key, keyTypes, columns, after, limit: 1000, order: 'bytewise'})
    out.push(...rows)
    if (rows.length < 1000) return out
    after = key.map((k) => rows[rows.length - 1][k])
  }
}

const short = (s: string): string => (s.length > 80 ? `<${s.length} chars md5 ${createHash('md5').update(s).digest('hex').slice(0, 10)}>` : s)

/** Differences between the monolith and the service store, as readable lines (empty: identical), and the row counts. */
export async function compareStores(ws: Workspace, service: string): Promise<{problems: string[]; rows: Record<string, {source: number; target: number}>}> {
  ws.invalidate(service)
  const target = await ws.target(service)
  const problems: string[] = []
  const rows: Record<string, {source: number; target: number}> = {}
  for (const e of await ws.entities(service)) {
    const types = e.targetSpec.columns
    const precision = Math.min(ws.monolith.maxTimestampPrecision ?? 6, target.maxTimestampPrecision ?? 6)
    const enc = (r: Row) => JSON.stringify(canonicalRow(types.map((c) => r[c.name]), types, {timestampPrecision: types.map(() => precision)}))
    const id = (r: Row) => JSON.stringify(e.targetKey.map((k) => (Buffer.isBuffer(r[k]) ? (r[k] as Buffer).toString('hex') : String(r[k]))))
    const src = new Map<string, string>()
    for (const r of await readAll(ws.monolith, e.source, e.sourceKey, e.sourceKeyTypes, e.projections)) {
      const m = e.mapRow(r)
      src.set(id(m), enc(m))
    }
    const dst = new Map<string, string>()
    for (const r of await readAll(target, e.target, e.targetKey, e.sourceKeyTypes, e.targetProjections)) dst.set(id(r), enc(r))
    rows[e.name] = {source: src.size, target: dst.size}
    for (const [k, v] of src) {
      const t = dst.get(k)
      if (t === undefined) problems.push(`${e.name} ${k}: missing from the service store`)
      else if (t !== v) problems.push(`${e.name} ${k}: differs: ${short(t)} ≠ ${short(v)}`)
    }
    for (const k of dst.keys()) if (!src.has(k)) problems.push(`${e.name} ${k}: extra in the service store`)
  }
  return {problems: problems.slice(0, 30), rows}
}
