import {createHash} from 'node:crypto'
import type {CaptureSpec, Engine, SqlCapabilities} from '../engines/engine.js'
import type {TableRef} from '../engines/types.js'
import {crashPoint} from '../util/crash-points.js'
import {UserError} from '../util/errors.js'
import {decodePgOutput, parseLsn, pgTimestampText, type PgOutputMessage, type RelationMessage, type TupleValue} from './pgoutput.js'
import {SlotStream, type StreamRow} from './slot-stream.js'

/**
 * Log-based change capture on PostgreSQL (`capture: 'logical'`): a logical
 * replication slot (pgoutput) and a publication of the service's source
 * tables take the place of the row triggers, so the application's writes pay
 * nothing but the WAL they already write. A feed moves the decoded changes
 * into the same outbox the triggers write, in commit order, and only then
 * advances the slot; the relay consumes the outbox exactly as it does with
 * triggers.
 *
 * - The slot is created before the backfill starts, like the triggers: every
 *   transaction that commits after it is decoded.
 * - A crash between writing the outbox and advancing the slot writes those
 *   changes again on the next run: duplicates the relay coalesces, never a
 *   loss.
 * - Keys come from the new row (INSERT, UPDATE) and from the old replica
 *   identity (DELETE, and an UPDATE that changed it: a delete of the old key
 *   and an upsert of the new). The entity's key columns must be part of the
 *   table's replica identity; `install` checks it.
 * - A slot keeps WAL until it is advanced. When nothing the publication covers
 *   changes, the feed writes a logical message now and then (a heartbeat) so
 *   the slot can move past other tables' WAL; removing capture drops the slot.
 */

/** Changes per peek of the slot (the server stops at the end of the transaction in progress). */
const PEEK_CHANGES = 10_000
/** Cursor page, and outbox rows per INSERT. */
const PAGE = 2_000
/** A heartbeat at most this often while the slot has nothing for us. */
const HEARTBEAT_MS = 10_000
const HEARTBEAT_PREFIX = 'strangler heartbeat'

/** A string literal (slot and publication names are ours; standard_conforming_strings). */
function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

export interface LogicalNames {
  /** Replication slot: cluster-wide, lower-case letters, digits and `_`, at most 63 characters. */
  readonly slot: string
  /** Publication, per database. */
  readonly publication: string
}

/**
 * Names of a service's slot and publication. Slots are cluster-wide, so the
 * slot name carries a hash of the database (and schema): two monolith
 * databases on one server never share a slot.
 */
export function logicalNames(prefix: string, service: string, database: string, schema: string | undefined): LogicalNames {
  const base = `${prefix}${service}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  const hash = createHash('sha256').update(`${database}\0${schema ?? ''}\0${service}`).digest('hex').slice(0, 8)
  return {slot: `${base.slice(0, 54)}_${hash}`, publication: `${prefix}${service}`.slice(0, 63)}
}

export interface LogicalStatements {
  install: string[]
  remove: string[]
  /** Makes an existing publication cover exactly these tables (install's first statement when it is already there). */
  updatePublication: string
}

/** The DDL of log-based capture for these source tables (for `--dry-run` and for install/remove). */
export function logicalStatements(sql: SqlCapabilities, names: LogicalNames, tables: readonly TableRef[]): LogicalStatements {
  const list = [...new Map(tables.map((t) => [sql.quoteTable(t), t])).keys()].join(', ')
  return {
    install: [
      `CREATE PUBLICATION ${sql.quoteId(names.publication)} FOR TABLE ${list} WITH (publish = 'insert, update, delete, truncate')`,
      `SELECT pg_create_logical_replication_slot(${lit(names.slot)}, 'pgoutput')`,
    ],
    remove: [
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${lit(names.slot)}`,
      `DROP PUBLICATION IF EXISTS ${sql.quoteId(names.publication)}`,
    ],
    updatePublication: `ALTER PUBLICATION ${sql.quoteId(names.publication)} SET TABLE ${list}`,
  }
}

function requirePostgres(monolith: Engine): SqlCapabilities {
  const sql = monolith.sql
  if (!sql || sql.dialect !== 'postgres') {
    throw new UserError("capture: 'logical' needs a PostgreSQL monolith (logical decoding); MySQL/MariaDB capture with triggers.", {
      code: 'E_CONFIG',
      hint: "Remove `capture: 'logical'` from the plan (the default is 'triggers').",
    })
  }
  return sql
}

/**
 * Everything log-based capture needs from the monolith, checked before
 * anything is created: wal_level, the REPLICATION privilege, a free slot, and
 * a replica identity on every table that holds the entity's key (without one,
 * a table in a publication refuses UPDATE and DELETE: the application's
 * writes would fail).
 */
export async function checkLogicalCapture(monolith: Engine, specs: readonly CaptureSpec[], names: LogicalNames): Promise<void> {
  const sql = requirePostgres(monolith)
  const [s] = await sql.query<Record<string, unknown>>(
    `SELECT current_setting('wal_level') AS wal_level, (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user) AS may_replicate,
      current_setting('max_replication_slots')::int AS max_slots, (SELECT count(*) FROM pg_replication_slots) AS used_slots,
      (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1) AS ours, current_user AS who,
      has_database_privilege(current_database(), 'CREATE') AS may_publish, current_database() AS db,
      EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $2) AS pub_exists`,
    [names.slot, names.publication],
  )
  if (String(s.wal_level) !== 'logical') {
    throw new UserError(`capture: 'logical' needs wal_level = logical on the monolith; it is ${String(s.wal_level)}.`, {
      code: 'E_CAPTURE',
      hint: "Set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL, or use capture: 'triggers'. Embedded PGlite has no logical decoding.",
    })
  }
  if (s.may_replicate !== true) {
    throw new UserError(`capture: 'logical' needs a user with the REPLICATION attribute to create a replication slot; ${String(s.who)} has none.`, {
      code: 'E_CAPTURE',
      hint: `As a superuser: ALTER ROLE ${sql.quoteId(String(s.who))} REPLICATION; or use capture: 'triggers'.`,
    })
  }
  if (s.may_publish !== true && s.pub_exists !== true) {
    throw new UserError(`capture: 'logical' needs CREATE on the database ${String(s.db)} to create a publication; ${String(s.who)} has none.`, {
      code: 'E_CAPTURE',
      hint: `As the database owner: GRANT CREATE ON DATABASE ${sql.quoteId(String(s.db))} TO ${sql.quoteId(String(s.who))}; or use capture: 'triggers'.`,
    })
  }
  if (Number(s.ours) === 0 && Number(s.used_slots) >= Number(s.max_slots)) {
    throw new UserError(`capture: 'logical' needs a free replication slot; all ${Number(s.max_slots)} are in use.`, {
      code: 'E_CAPTURE',
      hint: 'Raise max_replication_slots in postgresql.conf and restart PostgreSQL, or drop a slot nothing uses (pg_replication_slots).',
    })
  }
  for (const spec of specs) {
    const schema = spec.table.schema ?? monolith.defaultSchema ?? 'public'
    const [t] = await sql.query<Record<string, unknown>>(
      `SELECT c.relreplident AS ident, c.relkind AS kind, pg_has_role(c.relowner, 'USAGE') AS owned, c.relowner::regrole::text AS owner,
        (SELECT array_agg(a.attname::text) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
          WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))) AS cols
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, spec.table.name],
    )
    const table = sql.quoteTable({schema, name: spec.table.name})
    if (!t) throw new UserError(`capture: the source table ${table} does not exist.`, {code: 'E_CAPTURE'})
    if (String(t.kind) !== 'r' && String(t.kind) !== 'p') {
      throw new UserError(`capture: 'logical' can only publish tables; ${table} is not one (relkind ${String(t.kind)}).`, {code: 'E_CAPTURE', hint: "Use capture: 'triggers' for this service."})
    }
    if (t.owned !== true) {
      throw new UserError(`capture: 'logical' must own ${table} to publish it (PostgreSQL lets only a table's owner add it to a publication); it belongs to ${String(t.owner)}.`, {
        code: 'E_CAPTURE',
        hint: `ALTER TABLE ${table} OWNER TO ${sql.quoteId(String(s.who))}, or GRANT ${String(t.owner)} TO ${sql.quoteId(String(s.who))}; or use capture: 'triggers'.`,
      })
    }
    const ident = String(t.ident)
    if (ident === 'f') continue
    const cols = pgArray(t.cols)
    const fix = `ALTER TABLE ${table} REPLICA IDENTITY FULL (every UPDATE and DELETE then logs the whole old row), add a primary key, or use capture: 'triggers'.`
    if (ident === 'n' || !cols.length) {
      throw new UserError(`capture: ${table} has no replica identity: in a publication its UPDATEs and DELETEs would fail, so strangler will not publish it.`, {code: 'E_CAPTURE', hint: fix})
    }
    const missing = spec.key.filter((k) => !cols.includes(k))
    if (missing.length) {
      throw new UserError(`capture: the key of ${spec.entity} (${spec.key.join(', ')}) is not in the replica identity of ${table} (${cols.join(', ')}): a deleted row's key would not be in the WAL.`, {
        code: 'E_CAPTURE',
        hint: fix,
      })
    }
  }
}

function pgArray(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String)
  if (typeof v === 'string' && v.startsWith('{')) return v.slice(1, -1).split(',').filter(Boolean).map((s) => s.replace(/^"|"$/g, ''))
  return []
}

/**
 * Creates the publication (or makes it cover exactly these tables) and the
 * slot, if missing. Returns the statements run. The caller has run
 * `checkLogicalCapture` first, before creating anything else.
 */
export async function installLogical(monolith: Engine, names: LogicalNames, specs: readonly CaptureSpec[]): Promise<string[]> {
  const sql = requirePostgres(monolith)
  const ddl = logicalStatements(sql, names, specs.map((s) => s.table))
  const ran: string[] = []
  const [pub] = await sql.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [names.publication])
  const publication = pub ? ddl.updatePublication : ddl.install[0]
  await sql.execute(publication)
  ran.push(publication)
  if (!(await slotExists(sql, names.slot))) {
    try {
      await sql.query(ddl.install[1])
    } catch (err) {
      throw new UserError(`capture: could not create the replication slot ${names.slot}: ${(err as Error).message}`, {code: 'E_CAPTURE', cause: err})
    }
    ran.push(ddl.install[1])
  }
  return ran
}

/** Drops the slot (waiting a little for a feed that holds it) and the publication. Idempotent. */
export async function removeLogical(monolith: Engine, names: LogicalNames): Promise<string[]> {
  const sql = requirePostgres(monolith)
  const ddl = logicalStatements(sql, names, [])
  const ran: string[] = []
  if (await slotExists(sql, names.slot)) {
    for (let attempt = 1; ; attempt++) {
      try {
        await sql.query(ddl.remove[0])
        break
      } catch (err) {
        if (attempt >= 50 || !/is active for PID/i.test(String((err as Error).message))) {
          throw new UserError(`capture: could not drop the replication slot ${names.slot}: ${(err as Error).message}`, {
            code: 'E_CAPTURE',
            hint: 'Stop the relay of this service (it reads the slot) and run the command again.',
            cause: err,
          })
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    ran.push(ddl.remove[0])
  }
  await sql.execute(ddl.remove[1])
  ran.push(ddl.remove[1])
  return ran
}

/** Whether the replication slot exists (on any database of the server). */
export async function slotExists(sql: SqlCapabilities, slot: string): Promise<boolean> {
  return (await sql.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot])).length > 0
}

/** Which of the tables are in the publication, with the slot in place (both needed for their changes to be captured). */
export async function logicalInstalled(monolith: Engine, names: LogicalNames, tables: readonly TableRef[]): Promise<Set<string>> {
  const sql = requirePostgres(monolith)
  if (!(await slotExists(sql, names.slot))) return new Set()
  const rows = await sql.query<{schemaname: string; tablename: string}>(`SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1`, [names.publication])
  const published = new Set(rows.map((r) => `${r.schemaname}.${r.tablename}`))
  return new Set(tables.filter((t) => published.has(`${t.schema ?? monolith.defaultSchema ?? 'public'}.${t.name}`)).map((t) => sql.quoteTable(t)))
}

/** What waits in the slot, not yet in the outbox: decoded changes (up to a cap) and the commit time of the oldest. */
export interface SlotBacklog {
  changes: number
  /** UTC `YYYY-MM-DD HH:MM:SS.ffffff+00`, of the oldest pending transaction. */
  oldest?: string
  /** WAL the slot holds back from recycling, bytes. */
  retainedBytes: number
}

interface EntityOfTable {
  readonly entity: string
  readonly key: readonly string[]
}

/**
 * Moves decoded changes from a service's slot into its outbox, through the
 * one replication stream the slot allows. A process that only peeks at the
 * slot (`backlog`, no stream of its own) takes an advisory lock first, so two
 * such peeks wait their turn instead of finding the slot busy.
 */
export class LogicalFeed {
  private readonly sql: SqlCapabilities
  private readonly byTable = new Map<string, EntityOfTable[]>()
  private lastHeartbeat = 0
  private asyncCommit?: boolean
  private get lockKey(): string {
    return `strangler feed ${this.names.slot}`
  }

  private stream?: SlotStream

  constructor(
    private readonly monolith: Engine,
    /** The monolith's connection URL (with its credentials and TLS settings) for the replication connection. */
    private readonly url: string,
    readonly names: LogicalNames,
    private readonly outbox: TableRef,
    specs: readonly CaptureSpec[],
  ) {
    this.sql = requirePostgres(monolith)
    for (const s of specs) {
      const k = `${s.table.schema ?? monolith.defaultSchema ?? 'public'}.${s.table.name}`
      this.byTable.set(k, [...(this.byTable.get(k) ?? []), {entity: s.entity, key: s.key}])
    }
  }

  private peekSql(changes: number): string {
    return `SELECT data FROM pg_logical_slot_peek_binary_changes(${lit(this.names.slot)}, NULL, ${changes}, 'proto_version', '1', 'publication_names', ${lit(this.names.publication)}, 'messages', 'true')`
  }

  /**
   * Moves what the slot streamed into the outbox: waits (briefly; with
   * `flush`, until caught up) for the server to have sent every transaction
   * committed before now, writes the committed transactions to the outbox in
   * commit order, one INSERT per page, and acknowledges each page's end LSN
   * only after its transaction committed. Returns the changes written; 0 when
   * another process is reading the slot (its relay feeds the outbox).
   */
  async pump(opts: {flush?: boolean} = {}): Promise<number> {
    if (opts.flush) await this.flushWal()
    else await this.flushIfAsync()
    const stream = await this.openStream()
    if (!stream) return 0
    const [r] = await this.sql.query<{lsn: string}>(`SELECT pg_current_wal_flush_lsn()::text AS lsn`)
    const upTo = parseLsn(String(r?.lsn ?? '0/0'))
    const deadline = Date.now() + (opts.flush ? 60_000 : 200)
    let written = 0
    let moved = false
    try {
      for (;;) {
        const caughtUp = await stream.waitFor(upTo, Math.max(1, deadline - Date.now()))
        for (;;) {
          const txs = stream.take(PAGE)
          if (!txs.length) break
          moved = true
          const rows = txs.flatMap((t) => t.rows)
          if (rows.length) await this.insertRows(rows)
          crashPoint('logical:after-outbox')
          stream.ack(txs[txs.length - 1].endLsn)
          written += rows.length
          if (!opts.flush && written >= PEEK_CHANGES) return written
        }
        if (caughtUp || Date.now() >= deadline) break
      }
    } catch (err) {
      // a broken connection: the next pump opens another and the slot sends again what was not acknowledged
      this.dropStream()
      throw err
    }
    if (!moved && Date.now() - this.lastHeartbeat >= HEARTBEAT_MS) {
      // nothing of ours in the WAL: a transactional message gives the slot a point to move to past other tables' WAL
      this.lastHeartbeat = Date.now()
      await this.sql.query(`SELECT pg_logical_emit_message(true, ${lit(HEARTBEAT_PREFIX)}, ${lit(this.names.slot)})`)
    }
    return written
  }

  /** Moves everything the slot holds into the outbox; false when another process streams the slot. */
  async drainAll(): Promise<boolean> {
    if (!(await this.openStream())) return false
    while ((await this.pump({flush: true})) > 0);
    return true
  }

  private async insertRows(rows: readonly StreamRow[]): Promise<void> {
    await this.sql.execute(
      `INSERT INTO ${this.sql.quoteTable(this.outbox)} (entity, op, pk, created_at)
       SELECT e, o, p, c FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS r (e, o, p, c, n) ORDER BY n`,
      [rows.map((r) => r.entity), rows.map((r) => r.op), rows.map((r) => r.pk), rows.map((r) => r.createdAt)],
    )
  }

  /**
   * The replication stream of this feed, opened on first use (and again after
   * a failure). Undefined when another process is reading the slot.
   */
  private async openStream(): Promise<SlotStream | undefined> {
    if (this.stream?.failure) this.dropStream()
    if (this.stream) return this.stream
    await this.requireUsableSlot()
    // a process that just died (kill -9, a closed stream) holds the slot until the server notices: wait a little for it
    const deadline = Date.now() + 5000
    for (;;) {
      try {
        this.stream = await SlotStream.open(this.url, this.names.slot, this.names.publication, (m, rel, at) => this.rowsOf(m, rel, at))
        return this.stream
      } catch (err) {
        if (!/is active for PID/i.test(String((err as Error).message))) throw err
        if (Date.now() >= deadline) return undefined
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  }

  private dropStream(): void {
    const s = this.stream
    this.stream = undefined
    void s?.close()
  }

  /** Closes the replication connection (the slot becomes free for another reader, or to be dropped). */
  async close(): Promise<void> {
    const s = this.stream
    this.stream = undefined
    await s?.close()
  }

  /** Decoding reads flushed WAL only: under asynchronous commit, a transaction that returned may not be there yet. */
  private async flushIfAsync(): Promise<void> {
    this.asyncCommit ??= (await this.sql.query<{s: string}>(`SELECT current_setting('synchronous_commit') AS s`))[0]?.s === 'off'
    if (!this.asyncCommit) return
    // only when something is written but not flushed (an idle monolith writes nothing for it)
    const [r] = await this.sql.query<{unflushed: boolean}>(`SELECT pg_current_wal_insert_lsn() > pg_current_wal_flush_lsn() AS unflushed`)
    if (r?.unflushed === true) await this.flushWal()
  }

  /**
   * Flushes the WAL written so far: a transaction that writes WAL (a logical
   * message; a transaction id alone writes none) and commits synchronously
   * flushes everything before its commit record.
   */
  private async flushWal(): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.execute(`SET LOCAL synchronous_commit = on`)
      await tx.query(`SELECT pg_logical_emit_message(true, ${lit(HEARTBEAT_PREFIX)}, ${lit(this.names.slot)})`)
    })
  }

  /**
   * A slot that is gone, or that PostgreSQL invalidated because it held more
   * WAL than max_slot_wal_keep_size allows, has lost changes: say so and how
   * to recover, instead of retrying for ever.
   */
  private async requireUsableSlot(): Promise<void> {
    const [r] = await this.sql.query<{wal_status: string | null}>(`SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1`, [this.names.slot])
    const hint = `Changes made since it was lost have not reached the service: run \`strangler shadow SERVICE\` to recreate the slot (a service in shadow), then \`strangler diff\` and \`strangler repair\` for the rows written meanwhile.`
    if (!r) throw new UserError(`capture: the replication slot ${this.names.slot} does not exist on the monolith.`, {code: 'E_NO_CAPTURE', hint})
    if (r.wal_status === 'lost') {
      throw new UserError(`capture: the replication slot ${this.names.slot} lost WAL it still needed (it held more than max_slot_wal_keep_size while the relay was not reading it).`, {code: 'E_NO_CAPTURE', hint})
    }
  }

  /**
   * Everything of ours that uses the slot (feed, advance, backlog) takes this
   * transaction lock first, waiting up to a few seconds: the slot serves one
   * reader at a time, and a reader that found it busy would fail. False when
   * the wait timed out.
   */
  private async lockSlot(tx: SqlCapabilities): Promise<boolean> {
    await tx.execute(`SET LOCAL lock_timeout = '5s'`)
    try {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [this.lockKey])
      return true
    } catch (err) {
      if (/lock timeout/i.test(String((err as Error).message))) return false
      throw err
    }
  }

  private *rowsOf(m: PgOutputMessage, relations: Map<number, RelationMessage>, createdAt: string): Generator<StreamRow> {
    if (m.tag === 'truncate') {
      for (const id of m.relationIds) {
        for (const e of this.entitiesOf(relations, id)) yield {entity: e.entity, op: 'T', pk: '[]', createdAt}
      }
      return
    }
    if (m.tag !== 'insert' && m.tag !== 'update' && m.tag !== 'delete') return
    const rel = relations.get(m.relationId)
    for (const e of this.entitiesOf(relations, m.relationId)) {
      const idx = e.key.map((k) => {
        const i = rel!.columns.findIndex((c) => c.name === k)
        if (i < 0) throw new Error(`logical capture: ${rel!.schema}.${rel!.table} has no key column ${k} any more`)
        return i
      })
      const keyOf = (tuple: readonly TupleValue[], fallback?: readonly TupleValue[]): string | undefined => {
        const vals: string[] = []
        for (const i of idx) {
          let v = tuple[i]
          if (typeof v === 'object' && v !== null && fallback) v = fallback[i]
          if (typeof v !== 'string') return undefined
          vals.push(v)
        }
        return JSON.stringify(vals)
      }
      const where = `${rel!.schema}.${rel!.table}`
      if (m.tag === 'insert') {
        const pk = keyOf(m.newTuple)
        if (pk === undefined) throw new Error(`logical capture: an INSERT into ${where} has no value for the key of ${e.entity}`)
        yield {entity: e.entity, op: 'U', pk, createdAt}
      } else if (m.tag === 'update') {
        const pk = keyOf(m.newTuple, m.old?.tuple)
        if (pk === undefined) throw new Error(`logical capture: an UPDATE of ${where} has no value for the key of ${e.entity}`)
        const oldPk = m.old ? keyOf(m.old.tuple) : undefined
        if (oldPk !== undefined && oldPk !== pk) yield {entity: e.entity, op: 'D', pk: oldPk, createdAt}
        yield {entity: e.entity, op: 'U', pk, createdAt}
      } else {
        const pk = keyOf(m.old.tuple)
        if (pk === undefined) throw new Error(`logical capture: a DELETE from ${where} does not carry the key of ${e.entity} (set REPLICA IDENTITY FULL on it)`)
        yield {entity: e.entity, op: 'D', pk, createdAt}
      }
    }
  }

  private entitiesOf(relations: Map<number, RelationMessage>, id: number): EntityOfTable[] {
    const rel = relations.get(id)
    if (!rel) throw new Error(`logical capture: a change of relation ${id} came before its description`)
    return this.byTable.get(`${rel.schema}.${rel.table}`) ?? []
  }

  /**
   * What the slot holds that the outbox does not have yet, without consuming
   * it. Undefined while a feed is reading the slot (it is moving the changes
   * into the outbox right then).
   */
  async backlog(): Promise<SlotBacklog | undefined> {
    if (this.stream && !this.stream.failure) {
      // this process reads the slot: what it holds is what the server sent and the outbox does not have yet
      const [w] = await this.sql.query<Record<string, unknown>>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS retained FROM pg_replication_slots WHERE slot_name = $1`, [this.names.slot])
      return {...this.stream.backlog(), retainedBytes: Math.max(0, Number(w?.retained ?? 0))}
    }
    await this.flushIfAsync()
    try {
      return await this.sql.transaction(async (tx) => {
        // after a feed at work, not beside it (the slot serves one reader at a time)
        if (!(await this.lockSlot(tx))) return undefined
        const [w] = await tx.query<Record<string, unknown>>(
          `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS retained, pg_current_wal_lsn() > confirmed_flush_lsn AS behind, active_pid IS NOT NULL AS busy FROM pg_replication_slots WHERE slot_name = $1`,
          [this.names.slot],
        )
        if (!w) return {changes: 0, retainedBytes: 0}
        // another process streams it: what its stream holds cannot be seen from here
        if (w.busy === true) return undefined
        const retainedBytes = Math.max(0, Number(w.retained ?? 0))
        if (w.behind !== true) return {changes: 0, retainedBytes}
        await tx.execute(`DECLARE strangler_backlog NO SCROLL CURSOR FOR ${this.peekSql(PEEK_CHANGES)}`)
        let changes = 0
        let oldest: string | undefined
        let commitTime = ''
        let inTx = 0
        for (;;) {
          const page = await tx.query<{data: Buffer}>(`FETCH ${PAGE} FROM strangler_backlog`)
          for (const {data} of page) {
            const t = data[0]
            if (t === 0x42 /* B */) {
              const m = decodePgOutput(data)
              if (m.tag === 'begin') commitTime = pgTimestampText(m.commitTime)
              inTx = 0
            } else if (t === 0x49 || t === 0x55 || t === 0x44 || t === 0x54) {
              inTx++
            } else if (t === 0x43 /* C */) {
              if (inTx && oldest === undefined) oldest = commitTime
              changes += inTx
              inTx = 0
            }
          }
          if (page.length < PAGE) break
        }
        return {changes, oldest, retainedBytes}
      })
    } catch (err) {
      // another process reads the slot (a feed of an older version, a client of our own slot), or the lock wait timed out
      if (/is active for PID|lock timeout/i.test(String((err as Error).message))) return undefined
      throw err
    }
  }
}

