import {z} from 'zod'
import {LOGICAL_TYPES} from '../engines/types.js'

/**
 * The plan file schema. `strangler.config.ts` exports `defineConfig({...})`;
 * `.json` and `.yaml` plans hold the same object. Every object is strict, so a
 * misspelt key is an error naming its path.
 */

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/
/** SQL identifiers in plans are restricted to plain names; they are still always quoted. */
export const identifier = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters (the PostgreSQL identifier limit)')
  .regex(IDENT, 'must be a plain identifier (letters, digits, _ and $, not starting with a digit)')

/** `table` or `schema.table`. */
export const tableName = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => s.split('.').length <= 2 && s.split('.').every((p) => IDENT.test(p) && p.length <= 63), {
    message: 'must be `table` or `schema.table` with plain identifiers',
  })

export const connectionUrl = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => /^(postgres|postgresql|mysql|mariadb|mongodb|mongodb\+srv|pglite):/i.test(s), {
    message: 'must be a connection URL starting with postgres://, mysql://, mariadb://, mongodb:// or pglite://',
  })

export const logicalTypes = LOGICAL_TYPES

/** A logical column type: `integer`, `decimal(12,2)`, `varchar(255)`, `timestamp(3)`... */
export const castType = z.string().refine(
  (s) => {
    const m = /^([a-z]+)(?:\((\d+)(?:,\s*(\d+))?\))?$/.exec(s.trim().toLowerCase())
    return Boolean(m && (logicalTypes as readonly string[]).includes(m[1]))
  },
  {message: `must be one of ${logicalTypes.join(', ')} (with optional (precision[,scale]))`},
)

/**
 * Why a plan's SQL fragment (a row filter, a column expression) is not one
 * self-contained expression, or undefined. Fragments are spliced into the
 * tool's own statements (`WHERE (<filter>)`), and a PostgreSQL query without
 * parameters may hold several statements: a `;`, a comment or a parenthesis
 * closed too early would let a plan run statements of its own or change the
 * tool's (its ORDER BY and LIMIT keep the backfill and the diff exact).
 * Backslashes and `$` quoting are refused because engines quote differently.
 */
export function sqlFragmentProblem(text: string): string | undefined {
  if (text.includes(';')) return 'must be one SQL expression: ";" is not allowed'
  if (/--|\/\*/.test(text)) return 'must be one SQL expression: comments (-- or /*) are not allowed'
  if (text.includes('\\')) return 'must not contain backslashes (engines quote them differently)'
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch === "'" || ch === '"' || ch === '`') {
      // quoted text or identifier; a doubled quote stands for itself
      let j = i + 1
      for (; j < text.length; j++) {
        if (text[j] !== ch) continue
        if (text[j + 1] === ch) j++
        else break
      }
      if (j >= text.length) return `has an unterminated ${ch} quote`
      i = j
    } else if (ch === '#' || ch === '$') {
      return `must not contain "${ch}" outside quotes (a MySQL comment, PostgreSQL dollar quoting)`
    } else if (ch === '(') {
      depth++
    } else if (ch === ')' && --depth < 0) {
      return 'closes a parenthesis it did not open'
    }
  }
  return depth === 0 ? undefined : 'leaves a parenthesis open'
}

/** A plan's SQL fragment: one expression (see `sqlFragmentProblem`). */
const sqlFragment = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((s, ctx) => {
    const problem = sqlFragmentProblem(s)
    if (problem) ctx.addIssue({code: 'custom', message: problem})
  })

const columnFrom = z
  .object({
    from: identifier,
    cast: castType.optional(),
  })
  .strict()
const columnConst = z
  .object({
    const: z.union([z.string(), z.number(), z.boolean(), z.null()]),
    type: castType.optional(),
  })
  .strict()
const columnSql = z
  .object({
    sql: sqlFragment,
    type: castType,
    /** Source columns the expression reads (for capture and explain). */
    uses: z.array(identifier).optional(),
  })
  .strict()
const columnJs = z
  .object({
    js: z.custom<(row: Record<string, unknown>) => unknown>((v) => typeof v === 'function', {
      message: 'must be a function (JS transforms need a .ts or .js plan)',
    }),
    type: castType,
    uses: z.array(identifier).optional(),
  })
  .strict()

/** One target column's mapping: a source column name (rename), or from/cast, const, sql, js. */
export const columnMapping = z.union([identifier, columnFrom, columnConst, columnSql, columnJs], {
  error: (iss) =>
    iss.code === 'invalid_union'
      ? 'must be a source column name, or {from, cast?}, {const}, {sql, type} or {js, type}'
      : undefined,
})

/** Join of a related table to its parent: parent column → column of the related table. */
const joinOn = z.record(identifier, identifier).refine((o) => Object.keys(o).length > 0, {message: 'must pair at least one parent column with a column of the related table'})

/** A related table's part of an aggregate: embedded children (one-to-many) or a looked-up parent (many-to-one). */
export interface RelationInput {
  table: string
  on: Record<string, string>
  columns?: Record<string, z.input<typeof columnMapping>>
  exclude?: string[]
  embed?: EmbedInput[]
  lookup?: LookupInput[]
}
export interface EmbedInput extends RelationInput {
  as: string
  orderBy?: string[]
  keyBy?: string
  value?: string
}
export interface LookupInput extends RelationInput {
  as?: string
}

const relationFields = {
  /** The related table in the monolith (`product_variants` or `shop.product_variants`). */
  table: tableName,
  /** Join: parent column → column of this table (`{id: 'product_id'}` for children, `{category_id: 'id'}` for a lookup). */
  on: joinOn,
  /** Field → mapping of this table's columns, as for an entity; defaults to every column but the join columns. */
  columns: z.record(identifier, columnMapping).optional(),
  /** With no `columns`, columns to leave out. */
  exclude: z.array(identifier).optional(),
}

/** One-to-many children, embedded as an array in `orderBy` order, or as a sub-document keyed by `keyBy`. */
export const embedSchema: z.ZodType<EmbedInput> = z.lazy(() =>
  z
    .object({
      ...relationFields,
      /** Field of the parent that holds the children. */
      as: identifier,
      /** Order of the array (columns of this table); defaults to its primary key. */
      orderBy: z.array(identifier).min(1).optional(),
      /** Embed as a sub-document keyed by this column's value instead of an array. */
      keyBy: identifier.optional(),
      /** With `keyBy`: the sub-document's values are this column's value instead of the mapped child. */
      value: identifier.optional(),
      embed: z.array(embedSchema).optional(),
      lookup: z.array(lookupSchema).optional(),
    })
    .strict()
    .refine((e) => !e.value || e.keyBy, {message: '`value` needs `keyBy` (a keyed sub-document)', path: ['value']}),
)

/** A many-to-one parent whose fields are copied in: under `as` as a sub-document, or merged into the parent. */
export const lookupSchema: z.ZodType<LookupInput> = z.lazy(() =>
  z
    .object({
      ...relationFields,
      /** Field holding the looked-up row as a sub-document; without it the mapped fields are merged into the parent. */
      as: identifier.optional(),
      embed: z.array(embedSchema).optional(),
      lookup: z.array(lookupSchema).optional(),
    })
    .strict(),
)

export const entitySchema = z
  .object({
    /** Source table in the monolith (`orders` or `shop.orders`). */
    source: tableName,
    /** Target table or collection in the service store; defaults to the source table's name. */
    target: tableName.optional(),
    /** Key columns (of the source). Composite and non-integer keys are allowed. Defaults to the primary key. */
    key: z.array(identifier).min(1, 'must name at least one key column').optional(),
    /** Target column → mapping. When omitted, every source column is copied under its own name. */
    columns: z.record(identifier, columnMapping).optional(),
    /** With no `columns`, source columns to leave out. */
    exclude: z.array(identifier).optional(),
    /** SQL predicate on the source rows that belong to the service. */
    filter: sqlFragment.optional(),
    /** Target columns whose values are masked in diff output and reports. */
    sensitive: z.array(identifier).optional(),
    /** Aggregate: child tables embedded into each row or document (one-to-many). */
    embed: z.array(embedSchema).optional(),
    /** Aggregate: parent rows whose fields are copied in (many-to-one). */
    lookup: z.array(lookupSchema).optional(),
  })
  .strict()

export const isolationLevels = ['private-tables', 'own-schema', 'own-server'] as const

/** How changes on the monolith are captured: row triggers writing an outbox, or PostgreSQL logical decoding feeding it. */
export const captureMethods = ['triggers', 'logical'] as const

export const serviceSchema = z
  .object({
    description: z.string().optional(),
    target: z
      .object({
        url: connectionUrl,
        /** Schema (PostgreSQL) or database (MySQL/MongoDB) for the service's tables. */
        schema: identifier.optional(),
        /** Prefix for target tables under `private-tables` isolation. */
        tablePrefix: z.string().regex(/^[A-Za-z0-9_]*$/, 'must contain only letters, digits and _').optional(),
      })
      .strict(),
    isolation: z.enum(isolationLevels).default('own-server'),
    /** Overrides `monolith.capture` for this service. */
    capture: z.enum(captureMethods).optional(),
    entities: z.array(entitySchema).min(1, 'must list at least one entity'),
  })
  .strict()

export const gatesSchema = z
  .object({
    maxRelayLagSeconds: z.number().nonnegative().default(5),
    maxDeadLetters: z.number().int().nonnegative().default(0),
    maxShadowMismatchRate: z.number().min(0).max(1).default(0.001),
    minShadowSamples: z.number().int().nonnegative().default(100),
    maxDiffAgeMinutes: z.number().positive().default(60),
    soak: z
      .string()
      .regex(/^\d+(ms|s|m|h)$/, 'must be a duration like 30s, 10m or 1h')
      .default('10m'),
    retention: z
      .string()
      .regex(/^\d+(s|m|h|d)$/, 'must be a duration like 7d or 12h')
      .default('7d'),
  })
  .strict()

export const togglesSchema = z.discriminatedUnion('provider', [
  z.object({provider: z.literal('local'), pollMs: z.number().int().positive().default(1000)}).strict(),
  z
    .object({
      provider: z.literal('unleash'),
      url: z.url({message: 'must be the Unleash base URL, e.g. http://127.0.0.1:4242'}),
      adminToken: z.string().min(1, 'must not be empty (use ${UNLEASH_ADMIN_TOKEN})'),
      clientToken: z.string().min(1).optional(),
      project: identifier.default('default'),
      environment: z.string().min(1).default('development'),
      stickiness: z.string().min(1).default('userId'),
    })
    .strict(),
])

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    monolith: z
      .object({
        url: connectionUrl,
        schema: identifier.optional(),
        /** Database users of the application; decommission revokes their grants on archived tables (`app` or MySQL `app@%`). */
        appUsers: z.array(z.string().regex(/^[A-Za-z0-9_.$-]+(@[A-Za-z0-9_.%:-]+)?$/, 'must be a user name, or user@host on MySQL')).default([]),
        /** `triggers` (default; PostgreSQL, PGlite, MySQL/MariaDB) or `logical` (PostgreSQL with wal_level = logical: a replication slot instead of row triggers). */
        capture: z.enum(captureMethods).default('triggers'),
      })
      .strict(),
    state: z
      .object({
        /** Where the control plane lives; defaults to the monolith. */
        url: connectionUrl.optional(),
        prefix: z.string().regex(/^[a-z0-9_]*$/, 'must contain only lower-case letters, digits and _').default('strangler_'),
        schema: identifier.optional(),
      })
      .strict()
      .default({prefix: 'strangler_'}),
    toggles: togglesSchema.default({provider: 'local', pollMs: 1000}),
    gates: gatesSchema.default(gatesSchema.parse({})),
    services: z
      .record(identifier, serviceSchema)
      .refine((s) => Object.keys(s).length > 0, {message: 'must define at least one service'}),
  })
  .strict()

export type PlanInput = z.input<typeof configSchema>
export type Plan = z.output<typeof configSchema>
export type ServicePlan = z.output<typeof serviceSchema>
export type EntityPlan = z.output<typeof entitySchema>
export type ColumnMappingInput = z.output<typeof columnMapping>
export type Gates = z.output<typeof gatesSchema>
export type TogglesPlan = z.output<typeof togglesSchema>

/** Typed helper for `strangler.config.ts`: `export default defineConfig({...})`. */
export function defineConfig(plan: PlanInput): PlanInput {
  return plan
}
