import {UserError} from '../util/errors.js'

const SYSTEMIC_USER_CODES = new Set(['E_PRIVILEGE', 'E_AUTH', 'E_NO_DATABASE', 'E_CONFIG', 'E_NO_TABLE', 'E_UNSUPPORTED'])
const SYSTEMIC_MYSQL_CODES = new Set([
  'ER_NO_SUCH_TABLE',
  'ER_BAD_FIELD_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_PARSE_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_READ_ONLY_MODE',
])
const SYSTEMIC_MYSQL_ERRNOS = new Set([1146, 1054, 1049, 1064, 1142, 1143, 1044, 1045, 1227, 1290, 1836])
// PostgreSQL SQLSTATE classes: 42 syntax/undefined object/privilege, 3D/3F missing database/schema, 28 authorisation, 53 resources (disk full), 25006 read-only
const SYSTEMIC_PG = /^(42[0-9A-Z]{3}|3D[0-9A-Z]{3}|3F[0-9A-Z]{3}|28[0-9A-Z]{3}|53[0-9A-Z]{3}|25006)$/
// MongoDB: Unauthorized, AuthenticationFailed
const SYSTEMIC_MONGO_NAMES = new Set(['Unauthorized', 'AuthenticationFailed'])

/**
 * True for errors that are not about the data of one key and that retrying
 * the same key cannot fix: a missing table or column, missing privileges, a
 * read-only or full server, failed authentication. The relay stops (and in
 * `--follow` retries the batch later) on these instead of sending every key to
 * the dead-letter table. Data errors (constraint violations, bad values,
 * mapping failures) are per key.
 */
export function isSystemicError(err: unknown): boolean {
  const seen = new Set<unknown>()
  let e: unknown = err
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e)
    const x = e as {code?: unknown; errno?: unknown; codeName?: unknown; cause?: unknown}
    if (e instanceof UserError && SYSTEMIC_USER_CODES.has(e.code)) return true
    const code = typeof x.code === 'string' ? x.code : ''
    if (SYSTEMIC_PG.test(code) || SYSTEMIC_MYSQL_CODES.has(code)) return true
    if (typeof x.errno === 'number' && SYSTEMIC_MYSQL_ERRNOS.has(x.errno)) return true
    if (typeof x.codeName === 'string' && SYSTEMIC_MONGO_NAMES.has(x.codeName)) return true
    e = x.cause
  }
  return false
}
