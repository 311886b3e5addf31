import {createHash} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import fc from 'fast-check'
import {encodeRow, type ColumnType} from '../../src/diff/canonical.js'
import {
  type ChunkChecksum,
  checksumOf,
  checksumsEqual,
  chunkAccumulator,
  combineChecksums,
  EMPTY_CHECKSUM,
  hashRow,
  hashSlices,
  rowHash,
} from '../../src/diff/row-hash.js'
import {
  parseChunkChecksumRow,
  pushDownSupport,
  pushDownTypes,
  sqlChunkChecksum,
  sqlChunkChecksumQuery,
  sqlRowEncoding,
  sqlRowHash,
  sqlRowHashHex,
} from '../../src/diff/sql-hash.js'

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex')
const hexArb = fc.uint8Array({minLength: 16, maxLength: 16}).map((a) => Buffer.from(a).toString('hex'))

describe('rowHash', () => {
  it('is the md5 hex of the UTF-8 bytes', () => {
    expect(rowHash('')).toBe('d41d8cd98f00b204e9800998ecf8427e')
    expect(rowHash('1:a')).toBe(md5('1:a'))
    expect(rowHash('4:😀~')).toBe(md5('4:😀~'))
    // same value PostgreSQL's md5(convert_to('é😀','UTF8')) returns
    expect(rowHash('é😀')).toBe('62b3afe3b01f6f80152b567d9b216cde')
  })

  it('hashRow = rowHash(encodeRow)', () => {
    const types: ColumnType[] = [{type: 'integer'}, {type: 'text'}, {type: 'decimal', scale: 2}]
    expect(hashRow([1, 'x', '-0'], types)).toBe(md5(encodeRow([1, 'x', '-0'], types)))
    expect(hashRow([1, 'x', '-0'], types)).toBe(hashRow(['1', 'x', '0.000'], types))
  })

  it('slices are the four big-endian uint32 words', () => {
    expect(hashSlices('00000001ffffffff0000000a80000000')).toEqual([1, 0xffffffff, 10, 0x80000000])
    expect(() => hashSlices('xyz')).toThrow(/md5/)
  })
})

describe('chunk checksum', () => {
  it('empty chunk', () => {
    expect(chunkAccumulator().result()).toEqual({count: 0, sums: ['0', '0', '0', '0']})
    expect(checksumOf([])).toEqual(EMPTY_CHECKSUM)
  })

  it('sums slices exactly (no overflow)', () => {
    const max = 'ffffffffffffffffffffffffffffffff'
    const acc = chunkAccumulator()
    for (let i = 0; i < 3; i++) acc.add(max)
    const want = (3n * 0xffffffffn).toString()
    expect(acc.result()).toEqual({count: 3, sums: [want, want, want, want]})
  })

  it('stays exact past the float flush threshold', () => {
    const acc = chunkAccumulator()
    const h = 'ffffffff00000001fffffffe80000000'
    const n = (1 << 21) + 5
    for (let i = 0; i < n; i++) acc.add(h)
    const r = acc.result()
    expect(r.count).toBe(n)
    expect(r.sums).toEqual([
      (BigInt(n) * 0xffffffffn).toString(),
      BigInt(n).toString(),
      (BigInt(n) * 0xfffffffen).toString(),
      (BigInt(n) * 0x80000000n).toString(),
    ])
  })

  it('duplicates do not cancel (unlike XOR)', () => {
    const a = md5('a')
    const b = md5('b')
    const one = checksumOf([a, b])
    const dup = checksumOf([a, b, b, b])
    expect(checksumsEqual(one, dup)).toBe(false)
    // two copies of each row differ from one copy even though XOR would be 0 for both
    expect(checksumsEqual(checksumOf([a, a]), checksumOf([b, b]))).toBe(false)
  })

  it('rejects malformed hashes', () => {
    expect(() => chunkAccumulator().add('abc')).toThrow(/md5/)
    expect(() => chunkAccumulator().add('zz'.repeat(16))).toThrow(/md5/)
  })

  it('property: order independent', () => {
    fc.assert(
      fc.property(fc.array(hexArb, {maxLength: 50}), fc.integer(), (hashes, seed) => {
        const shuffled = [...hashes]
        let s = seed >>> 0
        for (let i = shuffled.length - 1; i > 0; i--) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0
          const j = s % (i + 1)
          ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
        }
        expect(checksumOf(shuffled)).toEqual(checksumOf(hashes))
      }),
    )
  })

  it('property: adding a row (even a duplicate) always changes the checksum', () => {
    fc.assert(
      fc.property(fc.array(hexArb, {minLength: 1, maxLength: 30}), fc.nat(), (hashes, k) => {
        const extra = hashes[k % hashes.length]
        expect(checksumsEqual(checksumOf(hashes), checksumOf([...hashes, extra]))).toBe(false)
      }),
    )
  })

  it('property: combine(partials) == whole', () => {
    fc.assert(
      fc.property(fc.array(hexArb, {maxLength: 60}), fc.array(fc.nat(), {maxLength: 5}), (hashes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (hashes.length + 1)))].sort((x, y) => x - y)
        const parts: ChunkChecksum[] = []
        let prev = 0
        for (const p of [...points, hashes.length]) {
          parts.push(checksumOf(hashes.slice(prev, p)))
          prev = p
        }
        expect(combineChecksums(...parts)).toEqual(checksumOf(hashes))
        const acc = chunkAccumulator()
        for (const p of parts) acc.merge(p)
        expect(acc.result()).toEqual(checksumOf(hashes))
      }),
    )
  })

  it('checksumsEqual compares sums as integers', () => {
    expect(checksumsEqual({count: 1, sums: ['007', '0', '1', '2']}, {count: 1, sums: ['7', '0', '1', '2']})).toBe(true)
    expect(checksumsEqual({count: 1, sums: ['7', '0', '1', '2']}, {count: 2, sums: ['7', '0', '1', '2']})).toBe(false)
  })
})

describe('SQL push-down (shape only; byte identity is proven by the golden integration test)', () => {
  const cols = [
    {expr: '"id"', type: {type: 'integer'} as ColumnType},
    {expr: '"name"', type: {type: 'text'} as ColumnType},
  ]

  it('floats and json do not push down on either engine', () => {
    for (const d of ['postgres', 'mysql'] as const) {
      expect(sqlRowHash(d, [...cols, {expr: 'x', type: {type: 'double'}}])).toBeNull()
      expect(sqlRowHash(d, [...cols, {expr: 'x', type: {type: 'real'}}])).toBeNull()
      expect(sqlRowHash(d, [...cols, {expr: 'x', type: {type: 'json'}}])).toBeNull()
      expect(pushDownSupport(d, {type: 'json'}).ok).toBe(false)
      expect(pushDownTypes(d)).not.toContain('double')
    }
    expect(pushDownSupport('mysql', {type: 'decimal', precision: 65, scale: 31}).ok).toBe(false)
    expect(pushDownSupport('postgres', {type: 'decimal', precision: 65, scale: 31}).ok).toBe(true)
  })

  it('builds md5 expressions with NULL handling', () => {
    const pg = sqlRowHash('postgres', cols)!
    expect(pg).toMatch(/^md5\(convert_to\(/)
    expect(pg).toContain(`WHEN ("id") IS NULL THEN '~'`)
    expect(sqlRowHashHex('postgres', cols)).toBe(pg)
    const my = sqlRowHash('mysql', [{expr: '`id`', type: {type: 'integer'}}])!
    expect(my).toMatch(/^MD5\(CONCAT\(/)
    expect(my).toContain("WHEN (`id`) IS NULL THEN '~'")
    expect(sqlRowEncoding('postgres', [])).toBe(`''`)
  })

  it('checksum select lists and the derived-table query', () => {
    expect(sqlChunkChecksum('postgres', 'h')).toContain(`substring((h) from 97 for 32)::bigint`)
    expect(sqlChunkChecksum('mysql', 'h')).toContain('CONV(SUBSTRING((h), 25, 8), 16, 10)')
    const q = sqlChunkChecksumQuery('postgres', 'md5(x)', '"t"', '"id" >= 1')
    expect(q).toBe(
      `SELECT ${sqlChunkChecksum('postgres', 'strangler_h')} FROM (SELECT ('x' || md5(x))::bit(128) AS strangler_h FROM "t" WHERE "id" >= 1 OFFSET 0) AS strangler_rows`,
    )
  })

  it('parses checksum rows from either driver', () => {
    expect(parseChunkChecksumRow({row_count: '3', s0: '10', s1: 20, s2: 30n, s3: '0040'})).toEqual({
      count: 3,
      sums: ['10', '20', '30', '40'],
    })
    expect(parseChunkChecksumRow({row_count: 0, s0: null, s1: null, s2: null, s3: null})).toEqual(EMPTY_CHECKSUM)
  })
})
