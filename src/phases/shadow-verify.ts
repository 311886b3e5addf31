import {BACKFILL_KIND} from '../backfill/backfill-state.js'
import {Relay} from '../capture/relay.js'
import {canonicalRow, CanonicalValueError, encodeCanonical, type ColumnType as CanonicalType} from '../diff/canonical.js'
import type {Engine} from '../engines/engine.js'
import {keyOf, keyToString} from '../engines/keys.js'
import type {KeyTuple, Projection, Row, TableRef} from '../engines/types.js'
import type {ResolvedEntity} from '../mapping/entity-mapping.js'
import {listCheckpoints} from '../state/checkpoints.js'
import {getService} from '../state/services.js'
import {nowIso} from '../state/state-store.js'
import {UserError, errorMessage} from '../util/errors.js'
import {silentProgress, type ProgressReporter} from '../util/progress.js'
import {MASK} from '../util/redact.js'
import type {Workspace} from '../workspace.js'
import {requirePhase} from './machine.js'

export interface ShadowVerifyOptions {
  /** Keys to sample per entity (default 1000). */
  sample?: number
  /** Only these entities (names or source table names). */
  entities?: readonly string[]
  /** Re-check mismatching keys after the relay caught up (default true). */
  recheck?: boolean
  /** How long to let the relay catch up before re-checking (default 60 s). */
  drainTimeoutMs?: number
  /** Examples kept per entity (default 10). */
  maxExamples?: number
  progress?: ProgressReporter
  /** Random source for the sample offsets (tests). */
  random?: () => number
}

/** One differing key. Values of sensitive columns are masked. */
export interface ShadowMismatch {
  key: string
  kind: 'missing' | 'extra' | 'changed' | 'error'
  /** Target columns whose canonical values differ. */
  columns: string[]
  monolith?: Record<string, unknown>
  service?: Record<string, unknown>
  error?: string
}

export interface ShadowVerifyEntity {
  name: string
  sampled: number
  mismatches: number
  errors: number
  /** mismatches / sampled */
  rate: number
  /** Keys that differed at first and agreed after the relay caught up. */
  settledByRelay: number
  examples: ShadowMismatch[]
  /** Why the entity was not verified (backfill not finished). */
  skipped?: string
}

export interface ShadowVerifyResult {
  service: string
  at: string
  sampled: number
  mismatches: number
  rate: number
  entities: ShadowVerifyEntity[]
}

interface Compared {
  mismatches: ShadowMismatch[]
  errors: number
}

/**
 * Shadow-read verification: reads sampled keys (spread over the key space)
 * through both read paths, monolith rows mapped by the plan and service rows
 * as stored, and compares them with the diff's canonical encoding at the
 * lower timestamp precision of the two sides. Keys that differ are re-checked
 * after the relay has caught up (a change within the relay's lag is not a
 * mismatch), then the result goes to `shadow_samples` for the gates.
 */
export async function verifyShadow(ws: Workspace, service: string, opts: ShadowVerifyOptions = {}): Promise<ShadowVerifyResult> {
  await ws.state.requireReady()
  ws.service(service)
  const state = await getService(ws.state, service)
  requirePhase(state, ['shadow', 'write-through', 'shift'], 'verify shadow reads')
  const sample = Math.max(1, Math.floor(opts.sample ?? 1000))
  const progress = opts.progress ?? silentProgress
  const all = await ws.entities(service)
  const selected = opts.entities?.length
    ? opts.entities.map((n) => {
        const e = all.find((x) => x.name === n || x.source.name === n)
        if (!e) throw new UserError(`Service ${service} has no entity "${n}".`, {code: 'E_UNKNOWN_ENTITY', hint: `Entities: ${all.map((x) => x.name).join(', ')}.`})
        return e
      })
    : all
  const target = await ws.target(service)
  const done = new Set((await listCheckpoints<{done?: boolean}>(ws.state, service, BACKFILL_KIND)).filter((c) => c.state.done).map((c) => c.entity))
  const at = nowIso()
  const out: ShadowVerifyEntity[] = []
  let relay: Relay | undefined

  for (const e of selected) {
    if (!done.has(e.name)) {
      out.push({name: e.name, sampled: 0, mismatches: 0, errors: 0, rate: 0, settledByRelay: 0, examples: [], skipped: 'backfill not finished'})
      continue
    }
    const task = progress.task(`verify ${e.name}`, sample, 'keys')
    const keys = await sampleKeys(ws.monolith, target, e, sample, opts.random ?? Math.random)
    task.update(keys.length)
    const comparer = new RowComparer(e, ws.monolith, target)
    let first = await comparer.compare(keys)
    let settled = 0
    if (first.mismatches.length && opts.recheck !== false) {
      // drains, or waits for a running `relay --follow` to: one relay per service (the relay lock)
      relay ??= new Relay(ws, service)
      await relay.drain({timeoutMs: opts.drainTimeoutMs ?? 60_000})
      const again = await comparer.compare(first.mismatches.map((m) => comparer.keyByString(m.key)).filter((k): k is KeyTuple => Boolean(k)))
      settled = first.mismatches.length - again.mismatches.length
      first = again
    }
    task.stop()
    const mismatches = first.mismatches.filter((m) => m.kind !== 'error').length
    const entity: ShadowVerifyEntity = {
      name: e.name,
      sampled: keys.length,
      mismatches,
      errors: first.errors,
      rate: keys.length ? mismatches / keys.length : 0,
      settledByRelay: settled,
      examples: first.mismatches.slice(0, opts.maxExamples ?? 10),
    }
    out.push(entity)
    await ws.state.db
      .insertInto(ws.state.t('shadow_samples'))
      .values({service, entity: e.name, at, source: 'verify', sampled: entity.sampled, mismatches: entity.mismatches, errors: entity.errors, examples: JSON.stringify(entity.examples)})
      .execute()
  }
  const sampled = out.reduce((a, x) => a + x.sampled, 0)
  const mismatches = out.reduce((a, x) => a + x.mismatches, 0)
  return {service, at, sampled, mismatches, rate: sampled ? mismatches / sampled : 0, entities: out}
}

/**
 * About `n` keys spread over the key space: every step-th key of the source
 * from a random offset, plus a tenth as many from the service store (so a row
 * the monolith no longer has is found too). A side with at most `n` rows is
 * read completely.
 */
async function sampleKeys(source: Engine, target: Engine, e: ResolvedEntity, n: number, random: () => number): Promise<KeyTuple[]> {
  const keys = new Map<string, KeyTuple>()
  const add = (k: KeyTuple): void => {
    keys.set(keyToString(k), k)
  }
  const spread = async (engine: Engine, table: TableRef, key: readonly string[], rows: number, want: number, filter?: string): Promise<void> => {
    if (rows <= 0 || want <= 0) return
    const req = {table, key, keyTypes: e.sourceKeyTypes, filter}
    if (rows <= n) {
      const cols: Projection[] = key.map((k, i) => ({name: k, column: k, type: e.sourceKeyTypes[i]}))
      for (const r of await engine.readRange({...req, columns: cols, limit: n})) add(keyOf(r, key))
      return
    }
    const step = Math.max(1, Math.floor(rows / want))
    let k = await engine.sampleKeys({...req, step: 1 + Math.floor(random() * step)})
    for (let i = 0; k && i < want; i++) {
      add(k)
      k = await engine.sampleKeys({...req, after: k, step})
    }
  }
  const fromTarget = Math.max(1, Math.ceil(n / 10))
  await spread(source, e.source, e.sourceKey, await source.count(e.source, e.filter), Math.max(1, n - fromTarget), e.filter)
  await spread(target, e.target, e.targetKey, await target.count(e.target), fromTarget)
  return [...keys.values()]
}

/** Reads keys on both sides and compares mapped monolith rows with service rows, column by column. */
class RowComparer {
  private readonly types: CanonicalType[]
  private readonly precision: (number | undefined)[]
  private readonly names: string[]
  private readonly sensitive: Set<string>
  private readonly byString = new Map<string, KeyTuple>()

  constructor(
    private readonly e: ResolvedEntity,
    private readonly source: Engine,
    private readonly target: Engine,
  ) {
    const cols = e.targetSpec.columns
    this.names = cols.map((c) => c.name)
    this.types = cols.map((c) => ({type: c.type, precision: c.precision, scale: c.scale}))
    const engines = Math.min(source.maxTimestampPrecision ?? 6, target.maxTimestampPrecision ?? 6)
    this.precision = cols.map((c) => {
      if (c.type !== 'timestamp' && c.type !== 'timestamptz' && c.type !== 'time') return undefined
      const rc = e.columns.find((x) => x.name === c.name)
      const from = rc?.source.kind === 'column' ? rc.source.from.precision : undefined
      return Math.min(engines, c.precision ?? 6, from ?? 6)
    })
    this.sensitive = new Set(e.columns.filter((c) => c.sensitive).map((c) => c.name))
  }

  keyByString(s: string): KeyTuple | undefined {
    return this.byString.get(s)
  }

  async compare(keys: readonly KeyTuple[]): Promise<Compared> {
    const e = this.e
    keys.forEach((k) => this.byString.set(keyToString(k), k))
    const [srcRows, tgtRows] = await Promise.all([
      this.source.readByKeys({table: e.source, key: e.sourceKey, keyTypes: e.sourceKeyTypes, columns: e.projections, keys, filter: e.filter}),
      this.target.readByKeys({table: e.target, key: e.targetKey, keyTypes: e.sourceKeyTypes, columns: e.targetProjections, keys}),
    ])
    const src = new Map<string, Row>()
    const mismatches: ShadowMismatch[] = []
    let errors = 0
    // an aggregate's rows are assembled for the whole batch (its related tables read once)
    const assembled = e.relations ? await e.materialise(srcRows) : undefined
    for (const [i, r] of srcRows.entries()) {
      const k = keyToString(keyOf(r, e.sourceKey))
      try {
        src.set(k, assembled ? assembled[i] : e.mapRow(r))
      } catch (err) {
        errors++
        mismatches.push({key: k, kind: 'error', columns: [], error: `mapping: ${errorMessage(err)}`})
      }
    }
    const tgt = new Map<string, Row>()
    for (const r of tgtRows) tgt.set(keyToString(keyOf(r, e.targetKey)), r)
    for (const k of keys) {
      const ks = keyToString(k)
      if (mismatches.some((m) => m.key === ks)) continue
      const a = src.get(ks)
      const b = tgt.get(ks)
      if (!a && !b) continue // gone on both sides
      if (!b) {
        mismatches.push({key: ks, kind: 'missing', columns: [], monolith: this.mask(a!)})
        continue
      }
      if (!a) {
        mismatches.push({key: ks, kind: 'extra', columns: [], service: this.mask(b)})
        continue
      }
      try {
        const ta = this.canonical(a)
        const tb = this.canonical(b)
        if (encodeCanonical(ta) === encodeCanonical(tb)) continue
        const columns = this.names.filter((_, i) => ta[i] !== tb[i])
        mismatches.push({key: ks, kind: 'changed', columns, monolith: this.mask(a, columns), service: this.mask(b, columns)})
      } catch (err) {
        if (!(err instanceof CanonicalValueError)) throw err
        errors++
        mismatches.push({key: ks, kind: 'error', columns: [], error: err.message})
      }
    }
    return {mismatches, errors}
  }

  private canonical(row: Row): (string | null)[] {
    return canonicalRow(
      this.names.map((n) => row[n]),
      this.types,
      {timestampPrecision: this.precision},
    )
  }

  /** The row's values (only `columns` when given, plus the key), sensitive ones masked, binary as hex. */
  private mask(row: Row, columns?: readonly string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    const keep = columns ? new Set([...this.e.targetKey, ...columns]) : undefined
    for (const n of this.names) {
      if (keep && !keep.has(n)) continue
      const v = row[n]
      out[n] = this.sensitive.has(n) && v !== null && v !== undefined ? MASK : Buffer.isBuffer(v) ? `0x${v.toString('hex')}` : v
    }
    return out
  }
}
