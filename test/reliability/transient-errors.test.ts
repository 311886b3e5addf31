/**
 * Which driver errors the relay and the backfill retry (with bounded backoff)
 * instead of stopping: the faults the server-faults suite provokes, as the
 * drivers report them. Regression for MariaDB's per-user connection limit
 * (1226), its "connection was killed" (1927) and server shutdown (1053),
 * which were not retried.
 */
import {describe, expect, it} from 'vitest'
import {isTransientDbError, translateDbError} from '../../src/engines/errors.js'

const transient: [string, unknown][] = [
  ['PostgreSQL: too many connections (53300)', {code: '53300', message: 'sorry, too many clients already'}],
  ['PostgreSQL: terminated by an administrator (57P01)', {code: '57P01', message: 'terminating connection due to administrator command'}],
  ['PostgreSQL: the server is starting up (57P03)', {code: '57P03', message: 'the database system is starting up'}],
  ['pg: connection terminated', new Error('Connection terminated unexpectedly')],
  ['connection refused while restarting', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {code: 'ECONNREFUSED'})],
  ['MariaDB: too many connections (1040)', {code: 'ER_CON_COUNT_ERROR', errno: 1040, message: 'Too many connections'}],
  ['MariaDB: max_user_connections (1226)', {code: 'ER_USER_LIMIT_REACHED', errno: 1226, message: "User 'x' has exceeded the 'max_user_connections' resource (current value: 6)"}],
  ['MariaDB: connection killed (1927)', {code: 'ER_CONNECTION_KILLED', errno: 1927, message: 'Connection was killed'}],
  ['MariaDB: server shutdown (1053)', {code: 'ER_SERVER_SHUTDOWN', errno: 1053, message: 'Server shutdown in progress'}],
  ['mysql2: connection lost', {code: 'PROTOCOL_CONNECTION_LOST', message: 'Connection lost: The server closed the connection.'}],
  ['deadlock', {code: 'ER_LOCK_DEADLOCK', errno: 1213, message: 'Deadlock found when trying to get lock'}],
  ['wrapped with context (the backfill adds where it happened)', new Error('backfill of users: reading users after key (start): connection lost', {cause: {code: 'PROTOCOL_CONNECTION_LOST'}})],
]

const permanent: [string, unknown][] = [
  ['wrong password', {code: '28P01', message: 'password authentication failed for user "x"'}],
  ['missing privilege', {code: 'ER_TABLEACCESS_DENIED_ERROR', errno: 1142, message: 'INSERT command denied to user'}],
  ['syntax error', {code: '42601', message: 'syntax error at or near ";"'}],
  ['missing table', {code: '42P01', message: 'relation "users" does not exist'}],
]

describe('transient database errors', () => {
  it.each(transient)('%s is retried', (_name, err) => {
    expect(isTransientDbError(err)).toBe(true)
  })
  it.each(permanent)('%s is not retried', (_name, err) => {
    expect(isTransientDbError(err)).toBe(false)
  })
  it('a refused connection becomes an operator message without the password', () => {
    const e = translateDbError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {code: 'ECONNREFUSED'}), 'postgres://u:S3cret-pw@127.0.0.1:1/db')
    expect(e.message).toBe('Cannot connect to postgres://u:********@127.0.0.1:1/db: connection refused.')
  })
})
