import type {Engine, SqlCapabilities} from '../engines/engine.js'
import type {ColumnType, TableInfo} from '../engines/types.js'
import type {ResolvedColumn, ResolvedEntity} from '../mapping/entity-mapping.js'
import {jsonbHashable, pushDownSupport, type SqlColumn, sqlRowHash} from './sql-hash.js'

/** One target column as the diff compares it. */
export interface DiffColumn {
  readonly name: string
  readonly type: ColumnType
  /** Fraction digits compared for time and timestamp columns: the lower of both sides (MongoDB: 3). */
  readonly precision: number
  /** Values are masked in every output. */
  readonly masked: boolean
}

export interface DiffStrategy {
  /** `push-down`: checksums computed in both databases; `mixed`: one side in SQL; `streaming`: both sides hashed in JS. */
  mode: 'push-down' | 'mixed' | 'streaming'
  sourceInSql: boolean
  targetInSql: boolean
  /** Why a side cannot be pushed down. */
  reasons: string[]
  /** The compared columns, in the entity's column order. */
  columns: DiffColumn[]
  /** SQL row hash over the mapped source expressions (when `sourceInSql`). */
  sourceHashSql?: string
  /** SQL row hash over the target columns (when `targetInSql`). */
  targetHashSql?: string
}

export interface StrategyOptions {
  /** Hash both sides in JS (to check push-down against streaming, or to work around an engine quirk). */
  streaming?: boolean
  /** The target table as it really is (its timestamp precisions win over the plan's). */
  targetInfo?: TableInfo
}

/** Column names whose values are never shown, sensitive or not. */
const SECRET_NAME = /pass(word|wd)?($|_)|secret|token|api_?key|private_?key/i

const INTS = new Set(['smallint', 'integer', 'bigint'])
const NUMS = new Set(['smallint', 'integer', 'bigint', 'decimal'])
const TIMES = new Set(['time', 'timestamp', 'timestamptz'])

/**
 * Whether SQL can compute a cast column's canonical text byte-identically to
 * `castValue` in JS. Only value-preserving casts qualify: numbers widened or
 * rescaled (both round half away from zero), unbounded text from text, and
 * timestamp ↔ timestamptz (both UTC). Anything else is hashed in JS.
 */
function castPushesDown(from: ColumnType, to: ColumnType): boolean {
  if (NUMS.has(from.type) && NUMS.has(to.type)) return !(from.type === 'decimal' && INTS.has(to.type))
  if ((from.type === 'text' || from.type === 'varchar') && (to.type === 'text' || (to.type === 'varchar' && to.precision === undefined))) return true
  if ((from.type === 'timestamp' || from.type === 'timestamptz') && (to.type === 'timestamp' || to.type === 'timestamptz')) return true
  return from.type === to.type && from.precision === to.precision && from.scale === to.scale
}

/** An SQL literal both dialects read the same way, or undefined when quoting would be needed. */
function constLiteral(v: string | number | boolean | null): string | undefined {
  if (v === null) return 'NULL'
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE'
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined
  return /^[A-Za-z0-9 _.:+\-@/,]*$/.test(v) ? `'${v}'` : undefined
}

/** The SQL expression computing a target column from the source row, or a reason why there is none. */
function sourceExpr(sql: SqlCapabilities, c: ResolvedColumn): {expr: string} | {reason: string} {
  const s = c.source
  switch (s.kind) {
    case 'column':
      if (s.cast && !castPushesDown(s.from, c)) return {reason: `column ${c.name}: the cast ${s.from.type} → ${c.type} is computed in JS`}
      return {expr: sql.quoteId(s.column)}
    case 'const': {
      const lit = constLiteral(s.value)
      return lit === undefined ? {reason: `column ${c.name}: the constant needs quoting`} : {expr: lit}
    }
    case 'sql':
      return {expr: `(${s.sql})`}
    case 'js':
      return {reason: `column ${c.name}: JS column transforms run in the tool`}
    case 'relation':
      return {reason: `column ${c.name}: assembled from ${s.table.name} (an aggregate) in the tool`}
  }
}

function precisionOf(c: ResolvedColumn, target: Engine, targetInfo?: TableInfo): number {
  if (!TIMES.has(c.type)) return 6
  let p = Math.min(6, c.precision ?? 6, target.maxTimestampPrecision ?? 6)
  if (c.source.kind === 'column' && TIMES.has(c.source.from.type)) p = Math.min(p, c.source.from.precision ?? 6)
  const real = targetInfo?.columns.find((x) => x.name === c.name)
  if (real && TIMES.has(real.type)) p = Math.min(p, real.precision ?? 6)
  return Math.max(0, p)
}

/**
 * The type a column is hashed as in SQL. A native `uuid` column (PostgreSQL, MariaDB)
 * renders as canonical lower-case 8-4-4-4-12 text already, so it is hashed as text:
 * the same bytes, without the per-row normalisation a uuid held in text needs.
 */
function sqlHashType(type: ColumnType, nativeType: string | undefined): ColumnType {
  return type.type === 'uuid' && nativeType?.toLowerCase() === 'uuid' ? {type: 'text'} : type
}

/** Decides where each side's row hashes are computed, and builds the SQL for the sides that can. */
export function diffStrategy(entity: ResolvedEntity, monolith: Engine, target: Engine, opts: StrategyOptions = {}): DiffStrategy {
  const reasons: string[] = []
  const columns: DiffColumn[] = entity.columns.map((c) => ({
    name: c.name,
    type: pick(c),
    precision: precisionOf(c, target, opts.targetInfo),
    masked: c.sensitive || SECRET_NAME.test(c.name),
  }))
  const hashOpts = {timestampPrecision: columns.map((c) => c.precision)}
  // json columns push down only PostgreSQL ↔ PostgreSQL, as jsonb text on both sides (sql-hash.ts)
  const sourceNative = new Map(entity.sourceInfo.columns.map((x) => [x.name, x.nativeType]))
  const targetNative = new Map(opts.targetInfo?.columns.map((x) => [x.name, x.nativeType]))
  const jsonb = new Set<string>()
  for (const c of entity.columns) {
    if (c.type !== 'json' || c.source.kind !== 'column' || c.source.cast) continue
    const source = {dialect: monolith.sql?.dialect, nativeType: sourceNative.get(c.source.column)}
    if (jsonbHashable(source, {dialect: target.sql?.dialect, nativeType: targetNative.get(c.name)})) jsonb.add(c.name)
  }

  const typesOk = (engine: Engine, side: 'source' | 'target'): engine is Engine & {sql: SqlCapabilities} => {
    if (!engine.sql) {
      reasons.push(`${side}: ${engine.kind} computes no checksums in the database`)
      return false
    }
    let ok = true
    for (const c of columns) {
      const s = pushDownSupport(engine.sql.dialect, c.type, {jsonb: jsonb.has(c.name)})
      if (!s.ok) {
        reasons.push(`${side} column ${c.name}: ${s.reason}`)
        ok = false
      }
    }
    return ok
  }

  let sourceHashSql: string | undefined
  let targetHashSql: string | undefined
  if (opts.streaming) {
    reasons.push('streaming forced: both sides hashed in JS')
  } else {
    if (entity.relations) {
      reasons.push(`source: an aggregate (${entity.relations.map((r) => r.table.name).join(', ')} assembled in) is hashed in the tool`)
    } else if (typesOk(monolith, 'source')) {
      const sql = monolith.sql
      const cols: SqlColumn[] = []
      const native = new Map(entity.sourceInfo.columns.map((x) => [x.name, x.nativeType]))
      for (const c of entity.columns) {
        const e = sourceExpr(sql, c)
        if ('reason' in e) reasons.push(`source ${e.reason}`)
        else {
          const type = sqlHashType(pick(c), c.source.kind === 'column' && !c.source.cast ? native.get(c.source.column) : undefined)
          cols.push({expr: e.expr, type, jsonb: jsonb.has(c.name)})
        }
      }
      if (cols.length === entity.columns.length) sourceHashSql = sqlRowHash(sql.dialect, cols, hashOpts) ?? undefined
    }
    if (typesOk(target, 'target')) {
      const sql = target.sql
      const native = new Map(opts.targetInfo?.columns.map((x) => [x.name, x.nativeType]))
      const cols = entity.columns.map((c) => ({expr: sql.quoteId(c.name), type: sqlHashType(pick(c), native.get(c.name)), jsonb: jsonb.has(c.name)}))
      targetHashSql = sqlRowHash(sql.dialect, cols, hashOpts) ?? undefined
    }
    // a jsonb-text hash is only comparable with the other side's jsonb-text hash
    if (jsonb.size && (sourceHashSql === undefined) !== (targetHashSql === undefined)) {
      sourceHashSql = targetHashSql = undefined
      reasons.push(`json column(s) ${[...jsonb].join(', ')}: hashed as jsonb text in SQL only when both sides are`)
    }
  }
  const sourceInSql = sourceHashSql !== undefined
  const targetInSql = targetHashSql !== undefined
  const mode = sourceInSql && targetInSql ? 'push-down' : sourceInSql || targetInSql ? 'mixed' : 'streaming'
  return {mode, sourceInSql, targetInSql, reasons: [...new Set(reasons)], columns, sourceHashSql, targetHashSql}
}

function pick(c: ColumnType): ColumnType {
  const out: {type: ColumnType['type']; precision?: number; scale?: number} = {type: c.type}
  if (c.precision !== undefined) out.precision = c.precision
  if (c.scale !== undefined) out.scale = c.scale
  return out
}
