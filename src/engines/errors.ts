import {UserError} from '../util/errors.js'
import {redact} from '../util/redact.js'

interface DriverError {
  code?: string | number
  errno?: number
  message?: string
  sqlMessage?: string
  address?: string
  port?: number
}

/**
 * Turns a driver error into an operator-facing message: what failed, where,
 * and what to do. Connection and privilege problems become `UserError`s
 * (exit 2); the password is never part of the message.
 */
export function translateDbError(err: unknown, where: string, statement?: string): Error {
  if (err instanceof UserError) return err
  const e = (err ?? {}) as DriverError
  const code = String(e.code ?? '')
  const msg = redact(e.sqlMessage ?? e.message ?? String(err))
  const at = redact(where)
  const aggregate = err instanceof AggregateError ? err.errors.map((x: DriverError) => String(x.code ?? '')).join(',') : ''
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN/.test(code + aggregate + msg) || e.message === 'Connection terminated unexpectedly') {
    const what = /ENOTFOUND|EAI_AGAIN/.test(code + msg) ? 'host not found' : /ETIMEDOUT/.test(code + msg) ? 'connection timed out' : 'connection refused'
    return new UserError(`Cannot connect to ${at}: ${what}.`, {
      code: 'E_CONNECT',
      hint: 'Check that the server is running and that host and port in the plan (or the environment variable it reads) are right.',
      cause: err,
    })
  }
  // PostgreSQL: 28P01 invalid_password, 28000 invalid_authorization; MySQL: 1045 ER_ACCESS_DENIED_ERROR; Mongo: 18
  if (code === '28P01' || code === '28000' || code === 'ER_ACCESS_DENIED_ERROR' || e.errno === 1045 || code === '18' || /authentication failed/i.test(msg)) {
    return new UserError(`Authentication failed for ${at}.`, {
      code: 'E_AUTH',
      hint: 'Check the user name and password in the connection URL (the password is not shown).',
      cause: err,
    })
  }
  if (code === '3D000' || code === 'ER_BAD_DB_ERROR' || e.errno === 1049) {
    return new UserError(`Database does not exist at ${at}: ${msg}.`, {
      code: 'E_NO_DATABASE',
      hint: 'Create the database first, or fix the database name in the URL.',
      cause: err,
    })
  }
  if (code === '42501' || code === 'ER_TABLEACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || e.errno === 1142 || e.errno === 1044 || e.errno === 1227 || code === '13') {
    return new UserError(`Permission denied on ${at}: ${msg}.`, {
      code: 'E_PRIVILEGE',
      hint: 'Grant the privileges listed in SECURITY.md for this phase to the user in the connection URL.',
      cause: err,
    })
  }
  const base = err instanceof Error ? err : new Error(msg)
  const stmt = statement ? ` (statement: ${redact(statement).slice(0, 200)})` : ''
  const out = new Error(`${msg} on ${at}${stmt}`, {cause: base})
  ;(out as Error & {code?: string}).code = code
  return out
}

/** True for errors worth retrying (connection lost, deadlock, serialization failure, server restarting). */
export function isTransientDbError(err: unknown): boolean {
  const seen = new Set<unknown>()
  let e: unknown = err
  while (e && !seen.has(e)) {
    seen.add(e)
    const x = e as DriverError & {cause?: unknown}
    const code = String(x.code ?? '')
    const msg = String(x.message ?? '')
    if (/^(40001|40P01|57P01|57P02|57P03|08000|08003|08006|08001|08004|53300)$/.test(code)) return true
    if (/ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|PROTOCOL_CONNECTION_LOST|ER_LOCK_DEADLOCK|ER_LOCK_WAIT_TIMEOUT|ER_CON_COUNT_ERROR|ER_USER_LIMIT_REACHED|ER_SERVER_SHUTDOWN|ER_CONNECTION_KILLED|E_CONNECT/.test(code)) return true
    if (/Connection terminated|connection is closed|Can't add new command when connection is in closed state|server closed the connection|socket hang up|Pool is closed|topology was destroyed|not connected/i.test(msg)) return true
    // deadlock, lock wait timeout, server gone, lost connection, too many connections (server, per user), shutdown, connection killed (MariaDB)
    if ([1213, 1205, 2006, 2013, 1040, 1226, 1053, 1927].includes(Number(x.errno))) return true
    e = x.cause
  }
  return false
}
