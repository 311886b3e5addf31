/**
 * The TLS options SECURITY.md documents, as the drivers receive them from
 * connection URLs: PostgreSQL (`sslmode`, `sslrootcert`, `sslcert`,
 * `sslkey`, parsed by pg-connection-string), MySQL/MariaDB (`ssl`/`sslmode`,
 * `sslrootcert`/`sslca`, `sslcert`, `sslkey`, mapped by the engine; a CA file
 * could not be passed before), and redaction of the key path in displayed URLs.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parse as parsePgUrl} from 'pg-connection-string'
import {describe, expect, it} from 'vitest'
import {mysqlPoolOptions} from '../../src/engines/mysql/mysql-engine.js'
import {UserError} from '../../src/util/errors.js'
import {redactUrl} from '../../src/util/redact.js'

const dir = mkdtempSync(join(tmpdir(), 'strangler-tls-'))
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake-ca\n-----END CERTIFICATE-----\n'
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBfake-client\n-----END CERTIFICATE-----\n'
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIBfake-key\n-----END PRIVATE KEY-----\n'
const caFile = join(dir, 'ca.pem')
const certFile = join(dir, 'client.pem')
const keyFile = join(dir, 'client.key')
writeFileSync(caFile, CA)
writeFileSync(certFile, CERT)
writeFileSync(keyFile, KEY)

describe('MySQL/MariaDB TLS from the URL', () => {
  const ssl = (query: string) => mysqlPoolOptions(`mysql://u:p@db.example:3306/shop${query}`).ssl
  it.each([
    ['', undefined],
    ['?ssl=false', undefined],
    ['?sslmode=disable', undefined],
    ['?ssl=true', {rejectUnauthorized: true}],
    ['?sslmode=verify-full', {rejectUnauthorized: true}],
    ['?ssl=require', {rejectUnauthorized: false}],
    ['?sslmode=prefer', {rejectUnauthorized: false}],
  ])('%s', (query, expected) => {
    expect(ssl(query)).toEqual(expected)
  })

  it('takes the CA, client certificate and key from files, and verifies', () => {
    expect(ssl(`?sslmode=verify-full&sslrootcert=${caFile}&sslcert=${certFile}&sslkey=${keyFile}`)).toEqual({rejectUnauthorized: true, ca: CA, cert: CERT, key: KEY})
    expect(ssl(`?sslca=${caFile}`)).toEqual({rejectUnauthorized: true, ca: CA})
    // require with a CA verifies against it (as libpq's require with a root certificate)
    expect(ssl(`?ssl=require&sslrootcert=${caFile}`)).toEqual({rejectUnauthorized: true, ca: CA})
  })

  it('says which file it cannot read, without the password', () => {
    let err: unknown
    try {
      ssl('?sslrootcert=/no/such/ca.pem')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(UserError)
    expect((err as Error).message).toMatch(/^Cannot read sslrootcert=\/no\/such\/ca\.pem of mysql:\/\/u:\*{8}@db\.example:3306\/shop\?.*: ENOENT/)
  })
})

describe('PostgreSQL TLS from the URL (pg-connection-string)', () => {
  it('verify-full with a CA, client certificate and key', () => {
    const c = parsePgUrl(`postgres://u:p@db.example/shop?sslmode=verify-full&sslrootcert=${caFile}&sslcert=${certFile}&sslkey=${keyFile}`)
    expect(c.ssl).toMatchObject({ca: CA, cert: CERT, key: KEY})
    expect((c.ssl as {rejectUnauthorized?: boolean}).rejectUnauthorized).not.toBe(false)
  })
  it('no-verify encrypts without verifying; disable is plain', () => {
    expect(parsePgUrl('postgres://u:p@db.example/shop?sslmode=no-verify').ssl).toMatchObject({rejectUnauthorized: false})
    expect(parsePgUrl('postgres://u:p@db.example/shop?sslmode=disable').ssl).toBe(false)
  })
})

describe('displayed URLs', () => {
  it('mask the password and the key path, keep the rest', () => {
    expect(redactUrl(`postgres://u:S3cret@db.example/shop?sslmode=verify-full&sslkey=${keyFile}`)).toBe('postgres://u:********@db.example/shop?sslmode=verify-full&sslkey=********')
  })
})
