// @ts-check
import {sql} from 'kysely'
/**
 * The control plane: services and their phase, transitions, audit log,
 * checkpoints, locks, diff runs, relay metrics, dead letters, shadow samples,
 * local toggles and gate evaluations. Portable across PostgreSQL, PGlite and
 * MySQL/MariaDB; times are ISO-8601 UTC strings, documents are JSON text.
 *
 * @param {import('kysely').Kysely<any>} db
 * @param {{prefix: string, dialect: 'postgres' | 'mysql'}} ctx
 */
export async function up(db, ctx) {
  const t = (/** @type {string} */ n) => `${ctx.prefix}${n}`
  // kysely's type parser does not know longtext: pass it as raw SQL
  const big = ctx.dialect === 'mysql' ? sql`longtext` : 'text'
  const id = (/** @type {import('kysely').CreateTableBuilder<any, any>} */ tb) =>
    ctx.dialect === 'mysql'
      ? tb.addColumn('id', 'bigint', (c) => c.autoIncrement().primaryKey())
      : tb.addColumn('id', 'bigserial', (c) => c.primaryKey())
  const time = 'varchar(32)'

  await db.schema
    .createTable(t('services'))
    .ifNotExists()
    .addColumn('name', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('phase', 'varchar(32)', (c) => c.notNull())
    .addColumn('read_pct', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('write_target', 'varchar(16)', (c) => c.notNull().defaultTo('monolith'))
    .addColumn('step', 'varchar(64)')
    .addColumn('info', big)
    .addColumn('updated_at', time, (c) => c.notNull())
    .execute()

  await id(db.schema.createTable(t('transitions')).ifNotExists())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('from_phase', 'varchar(32)', (c) => c.notNull())
    .addColumn('to_phase', 'varchar(32)', (c) => c.notNull())
    .addColumn('at', time, (c) => c.notNull())
    .addColumn('operator', 'varchar(255)', (c) => c.notNull())
    .addColumn('run_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('reason', big)
    .addColumn('forced', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute()

  await id(db.schema.createTable(t('audit')).ifNotExists())
    .addColumn('at', time, (c) => c.notNull())
    .addColumn('run_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('operator', 'varchar(255)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('command', 'varchar(255)', (c) => c.notNull())
    .addColumn('args', big)
    .addColumn('service', 'varchar(128)')
    .addColumn('outcome', 'varchar(32)', (c) => c.notNull())
    .addColumn('exit_code', 'integer')
    .addColumn('duration_ms', 'bigint')
    .addColumn('detail', big)
    .execute()

  await db.schema
    .createTable(t('checkpoints'))
    .ifNotExists()
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('entity', 'varchar(128)', (c) => c.notNull())
    .addColumn('kind', 'varchar(32)', (c) => c.notNull())
    .addColumn('state', big, (c) => c.notNull())
    .addColumn('updated_at', time, (c) => c.notNull())
    .addPrimaryKeyConstraint(`${t('checkpoints_pk')}`, ['service', 'entity', 'kind'])
    .execute()

  await db.schema
    .createTable(t('locks'))
    .ifNotExists()
    .addColumn('service', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('holder', 'varchar(255)', (c) => c.notNull())
    .addColumn('run_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('command', 'varchar(255)', (c) => c.notNull())
    .addColumn('acquired_at', time, (c) => c.notNull())
    .addColumn('expires_at', time, (c) => c.notNull())
    .addColumn('reason', big)
    .execute()

  await db.schema
    .createTable(t('diff_runs'))
    .ifNotExists()
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('service', 'varchar(128)')
    .addColumn('started_at', time, (c) => c.notNull())
    .addColumn('finished_at', time)
    .addColumn('status', 'varchar(32)', (c) => c.notNull())
    .addColumn('options', big)
    .addColumn('summary', big)
    .execute()

  await db.schema
    .createTable(t('diff_chunks'))
    .ifNotExists()
    .addColumn('run_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('entity', 'varchar(128)', (c) => c.notNull())
    .addColumn('chunk_no', 'integer', (c) => c.notNull())
    .addColumn('state', big, (c) => c.notNull())
    .addPrimaryKeyConstraint(`${t('diff_chunks_pk')}`, ['run_id', 'service', 'entity', 'chunk_no'])
    .execute()

  await id(db.schema.createTable(t('diff_keys')).ifNotExists())
    .addColumn('run_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('entity', 'varchar(128)', (c) => c.notNull())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('pk', big, (c) => c.notNull())
    .addColumn('detail', big)
    .execute()
  await db.schema.createIndex(`${t('diff_keys_run_idx')}`).ifNotExists().on(t('diff_keys')).columns(['run_id', 'service', 'entity']).execute()

  await id(db.schema.createTable(t('metrics')).ifNotExists())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('at', time, (c) => c.notNull())
    .addColumn('kind', 'varchar(32)', (c) => c.notNull())
    .addColumn('value', big, (c) => c.notNull())
    .execute()
  await db.schema.createIndex(`${t('metrics_idx')}`).ifNotExists().on(t('metrics')).columns(['service', 'kind', 'at']).execute()

  await id(db.schema.createTable(t('dead_letters')).ifNotExists())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('entity', 'varchar(128)', (c) => c.notNull())
    .addColumn('pk', big, (c) => c.notNull())
    .addColumn('source', 'varchar(32)', (c) => c.notNull())
    .addColumn('error', big, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('first_at', time, (c) => c.notNull())
    .addColumn('last_at', time, (c) => c.notNull())
    .addColumn('next_at', time, (c) => c.notNull())
    .addColumn('resolved_at', time)
    .execute()

  await id(db.schema.createTable(t('shadow_samples')).ifNotExists())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('entity', 'varchar(128)', (c) => c.notNull())
    .addColumn('at', time, (c) => c.notNull())
    .addColumn('source', 'varchar(32)', (c) => c.notNull())
    .addColumn('sampled', 'integer', (c) => c.notNull())
    .addColumn('mismatches', 'integer', (c) => c.notNull())
    .addColumn('errors', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('examples', big)
    .execute()

  await db.schema
    .createTable(t('toggles'))
    .ifNotExists()
    .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('pct', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('stickiness', 'varchar(64)', (c) => c.notNull().defaultTo('userId'))
    .addColumn('updated_at', time, (c) => c.notNull())
    .execute()

  await id(db.schema.createTable(t('gate_evals')).ifNotExists())
    .addColumn('service', 'varchar(128)', (c) => c.notNull())
    .addColumn('at', time, (c) => c.notNull())
    .addColumn('context', 'varchar(64)', (c) => c.notNull())
    .addColumn('gate', 'varchar(64)', (c) => c.notNull())
    .addColumn('value', big)
    .addColumn('threshold', big)
    .addColumn('ok', 'boolean', (c) => c.notNull())
    .execute()
}

/**
 * @param {import('kysely').Kysely<any>} db
 * @param {{prefix: string}} ctx
 */
export async function down(db, ctx) {
  for (const n of ['gate_evals', 'toggles', 'shadow_samples', 'dead_letters', 'metrics', 'diff_keys', 'diff_chunks', 'diff_runs', 'locks', 'checkpoints', 'audit', 'transitions', 'services']) {
    await db.schema.dropTable(`${ctx.prefix}${n}`).ifExists().execute()
  }
}
