import {afterEach, describe, expect, it} from 'vitest'
import {spawnSync} from 'node:child_process'
import {decodeOutboxKey, encodeKey, keyIdentity} from '../../src/capture/key-codec.js'
import {utcMillis} from '../../src/capture/outbox.js'
import {backoffMs, withRetry} from '../../src/capture/retry.js'
import {isSystemicError} from '../../src/capture/failure-kind.js'
import {nextRetryAt} from '../../src/capture/dead-letters.js'
import {UserError} from '../../src/util/errors.js'

describe('outbox keys', () => {
  it('turns trigger text back into the value model: integers as numbers, bigint and decimal as strings', () => {
    expect(decodeOutboxKey('["42"]', [{type: 'integer'}])).toEqual([42])
    expect(decodeOutboxKey('["9223372036854775807"]', [{type: 'bigint'}])).toEqual(['9223372036854775807'])
    expect(decodeOutboxKey('["12.50", "x"]', [{type: 'decimal', precision: 10, scale: 2}, {type: 'varchar'}])).toEqual(['12.50', 'x'])
    expect(decodeOutboxKey('["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"]', [{type: 'uuid'}])).toEqual(['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'])
    expect(decodeOutboxKey('["2024-02-29"]', [{type: 'date'}])).toEqual(['2024-02-29'])
  })

  it('renders timestamps in UTC whatever the writer wrote (PostgreSQL to_json, with an offset; MySQL text)', () => {
    expect(decodeOutboxKey('["2024-01-01T12:00:00.5"]', [{type: 'timestamp'}])).toEqual(['2024-01-01 12:00:00.500000'])
    expect(decodeOutboxKey('["2024-01-01T13:00:00.5+01:00"]', [{type: 'timestamptz'}])).toEqual(['2024-01-01 12:00:00.500000'])
    expect(decodeOutboxKey('["2024-01-01 12:00:00.500000"]', [{type: 'timestamptz'}])).toEqual(['2024-01-01 12:00:00.500000'])
  })

  it('rejects malformed keys with a message naming the key', () => {
    expect(() => decodeOutboxKey('not json', [{type: 'integer'}])).toThrow(/not JSON/)
    expect(() => decodeOutboxKey('["1","2"]', [{type: 'integer'}])).toThrow(/1 key column/)
    expect(() => decodeOutboxKey('["abc"]', [{type: 'integer'}])).toThrow()
    expect(() => decodeOutboxKey('[null]', [{type: 'integer'}])).toThrow(/NULL/)
    expect(() => decodeOutboxKey('["99999999999999999999"]', [{type: 'integer'}])).toThrow(/not an integer/)
  })

  it('gives one identity to one logical key, however it is rendered', () => {
    const dec = [{type: 'decimal' as const, precision: 10, scale: 2}]
    expect(keyIdentity(['12.5'], dec)).toBe(keyIdentity(['12.50'], dec))
    expect(keyIdentity([42], [{type: 'bigint'}])).toBe(keyIdentity(['42'], [{type: 'bigint'}]))
    const ts = [{type: 'timestamptz' as const}]
    expect(keyIdentity(['2024-01-01 12:00:00.5'], ts)).toBe(keyIdentity(['2024-01-01T13:00:00.500+01:00'], ts))
    expect(keyIdentity(['Abc'], [{type: 'varchar'}])).not.toBe(keyIdentity(['abc'], [{type: 'varchar'}]))
  })

  it('stores dead-letter keys as JSON that decodes to the same key', () => {
    const types = [{type: 'integer' as const}, {type: 'text' as const}]
    const key = decodeOutboxKey('["7","a\\"b"]', types)
    expect(decodeOutboxKey(encodeKey(key), types)).toEqual(key)
  })

  it('reads database timestamps as UTC milliseconds', () => {
    expect(utcMillis('1970-01-01 00:00:01.500000')).toBe(1500)
    expect(utcMillis('2024-01-01 00:00:00')).toBe(Date.UTC(2024, 0, 1))
  })
})

describe('retries and failure kinds', () => {
  it('backs off exponentially with jitter, capped', () => {
    expect(backoffMs(1, 100, 10_000, () => 0)).toBe(50)
    expect(backoffMs(1, 100, 10_000, () => 1)).toBe(100)
    expect(backoffMs(4, 100, 10_000, () => 1)).toBe(800)
    expect(backoffMs(30, 100, 10_000, () => 1)).toBe(10_000)
    const at = Date.parse(nextRetryAt(3, 1000, 0))
    expect(at).toBeGreaterThanOrEqual(3000)
    expect(at).toBeLessThanOrEqual(5000)
  })

  it('retries transient errors up to the limit and gives up at once on others', async () => {
    let calls = 0
    const conn = Object.assign(new Error('Connection terminated unexpectedly'), {code: 'ECONNRESET'})
    await expect(
      withRetry(
        async () => {
          calls++
          throw conn
        },
        {maxAttempts: 3, baseMs: 1, maxMs: 2},
      ),
    ).rejects.toBe(conn)
    expect(calls).toBe(3)
    calls = 0
    const ok = await withRetry(
      async () => {
        if (++calls < 3) throw conn
        return 'done'
      },
      {maxAttempts: 5, baseMs: 1, maxMs: 2},
    )
    expect(ok).toBe('done')
    calls = 0
    await expect(
      withRetry(
        async () => {
          calls++
          throw Object.assign(new Error('null value in column "name" violates not-null constraint'), {code: '23502'})
        },
        {maxAttempts: 5, baseMs: 1, maxMs: 2},
      ),
    ).rejects.toThrow(/not-null/)
    expect(calls).toBe(1)
  })

  it('tells schema and privilege problems (stop) from data problems (dead letter)', () => {
    expect(isSystemicError(Object.assign(new Error('relation "x" does not exist'), {code: '42P01'}))).toBe(true)
    expect(isSystemicError(new Error('wrapped', {cause: Object.assign(new Error("Table 'x' doesn't exist"), {errno: 1146})}))).toBe(true)
    expect(isSystemicError(new UserError('Permission denied', {code: 'E_PRIVILEGE'}))).toBe(true)
    expect(isSystemicError(Object.assign(new Error('null value'), {code: '23502'}))).toBe(false)
    expect(isSystemicError(Object.assign(new Error("Column 'name' cannot be null"), {code: 'ER_BAD_NULL_ERROR', errno: 1048}))).toBe(false)
    expect(isSystemicError(new Error('cannot cast "abc" to integer'))).toBe(false)
  })
})

describe('crash points', () => {
  afterEach(() => {
    delete process.env.STRANGLER_TEST_CRASH_AT
  })

  it('exits with 137 at the named point and hit, and does nothing otherwise', () => {
    const script = `import {crashPoint} from './src/util/crash-points.ts'; for (let i = 1; i <= 3; i++) { crashPoint('x:y'); console.log('passed', i) }`
    const run = (env?: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: new URL('../..', import.meta.url).pathname,
        env: {...process.env, STRANGLER_TEST_CRASH_AT: env ?? ''},
        encoding: 'utf8',
      })
    const none = run()
    expect(none.status).toBe(0)
    expect(none.stdout.trim().split('\n')).toHaveLength(3)
    const second = run('other,x:y#2')
    expect(second.status).toBe(137)
    expect(second.stdout.trim()).toBe('passed 1')
    expect(second.stderr).toMatch(/crash point x:y/)
  })
})
