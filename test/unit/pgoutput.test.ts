/**
 * The pgoutput decoder against messages encoded here from the protocol's
 * description (PostgreSQL manual, "Logical Replication Message Formats"):
 * every message kind logical capture reads, and round trips of arbitrary
 * tuples, relations and timestamps. The end-to-end decoding of real WAL is
 * in test/integration (pgl-pg).
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {decodePgOutput, lsnText, parseLsn, pgTimestampText, type TupleValue} from '../../src/capture/pgoutput.js'

/** A tiny encoder of protocol version 1 messages. */
class W {
  private parts: Buffer[] = []
  byte(c: string): this {
    this.parts.push(Buffer.from(c, 'latin1'))
    return this
  }
  int8(n: number): this {
    const b = Buffer.alloc(1)
    b.writeInt8(n)
    this.parts.push(b)
    return this
  }
  int16(n: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(n)
    this.parts.push(b)
    return this
  }
  int32(n: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(n)
    this.parts.push(b)
    return this
  }
  uint32(n: number): this {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    this.parts.push(b)
    return this
  }
  int64(n: bigint): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(n)
    this.parts.push(b)
    return this
  }
  string(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]))
    return this
  }
  tuple(values: readonly TupleValue[]): this {
    this.int16(values.length)
    for (const v of values) {
      if (v === null) this.byte('n')
      else if (typeof v === 'object') this.byte('u')
      else {
        const b = Buffer.from(v, 'utf8')
        this.byte('t').int32(b.length)
        this.parts.push(b)
      }
    }
    return this
  }
  done(): Buffer {
    return Buffer.concat(this.parts)
  }
}

const tupleValue = fc.oneof(fc.constant(null), fc.constant({unchanged: true as const}), fc.string({unit: 'grapheme'}))
const tuple = fc.array(tupleValue, {maxLength: 12})
const name = fc.string({minLength: 1, maxLength: 20, unit: 'grapheme'}).filter((s) => !s.includes('\0'))

describe('pgoutput decoding', () => {
  it('reads begin and commit with their LSNs and commit time', () => {
    expect(decodePgOutput(new W().byte('B').int64(0x16b374d848n).int64(786_000_000_123_456n).int32(731).done())).toEqual({
      tag: 'begin',
      finalLsn: 0x16b374d848n,
      commitTime: 786_000_000_123_456n,
      xid: 731,
    })
    expect(decodePgOutput(new W().byte('C').int8(0).int64(10n).int64(42n).int64(7n).done())).toEqual({tag: 'commit', commitLsn: 10n, endLsn: 42n, commitTime: 7n})
  })

  it('round-trips relations: names, key flags, type OIDs', () => {
    const column = fc.record({name, key: fc.boolean(), typeOid: fc.integer({min: 0, max: 0xffffffff})})
    fc.assert(
      fc.property(fc.integer({min: 0, max: 0xffffffff}), name, name, fc.constantFrom('d', 'n', 'f', 'i'), fc.array(column, {maxLength: 10}), (id, schema, table, ident, columns) => {
        const w = new W().byte('R').uint32(id).string(schema).string(table).int8(ident.charCodeAt(0)).int16(columns.length)
        for (const c of columns) w.int8(c.key ? 1 : 0).string(c.name).uint32(c.typeOid).int32(-1)
        expect(decodePgOutput(w.done())).toEqual({tag: 'relation', relationId: id, schema, table, replicaIdentity: ident, columns})
      }),
    )
  })

  it('round-trips insert, update (with and without the old key or row) and delete tuples', () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: 0xffffffff}), tuple, tuple, fc.constantFrom(undefined, 'K', 'O'), (rel, a, b, old) => {
        expect(decodePgOutput(new W().byte('I').uint32(rel).byte('N').tuple(a).done())).toEqual({tag: 'insert', relationId: rel, newTuple: a})
        const u = new W().byte('U').uint32(rel)
        if (old) u.byte(old).tuple(b)
        expect(decodePgOutput(u.byte('N').tuple(a).done())).toEqual({tag: 'update', relationId: rel, old: old ? {kind: old, tuple: b} : undefined, newTuple: a})
        expect(decodePgOutput(new W().byte('D').uint32(rel).byte(old ?? 'K').tuple(b).done())).toEqual({tag: 'delete', relationId: rel, old: {kind: old ?? 'K', tuple: b}})
      }),
    )
  })

  it('reads truncate with every relation, and passes over messages it has no use for', () => {
    expect(decodePgOutput(new W().byte('T').int32(3).int8(1).uint32(5).uint32(6).uint32(4_000_000_000).done())).toEqual({tag: 'truncate', relationIds: [5, 6, 4_000_000_000]})
    expect(decodePgOutput(new W().byte('M').int8(1).int64(1n).string('strangler heartbeat').int32(0).done())).toEqual({tag: 'other', type: 'M'})
    expect(decodePgOutput(new W().byte('Y').uint32(1).string('public').string('mood').done())).toEqual({tag: 'other', type: 'Y'})
  })

  it('refuses truncated messages and binary values instead of inventing data', () => {
    const full = new W().byte('I').uint32(1).byte('N').tuple(['42', 'hello']).done()
    for (let n = 1; n < full.length; n++) expect(() => decodePgOutput(full.subarray(0, n))).toThrow(/truncated|unterminated/)
    expect(() => decodePgOutput(new W().byte('I').uint32(1).byte('N').int16(1).byte('b').int32(1).byte('x').done())).toThrow(/binary/)
    expect(() => decodePgOutput(new W().byte('D').uint32(1).byte('N').tuple(['1']).done())).toThrow(/old key/)
  })
})

describe('pgoutput values', () => {
  it('renders commit times as UTC timestamps at microseconds', () => {
    expect(pgTimestampText(0n)).toBe('2000-01-01 00:00:00.000000+00')
    expect(pgTimestampText(1n)).toBe('2000-01-01 00:00:00.000001+00')
    expect(pgTimestampText(-1n)).toBe('1999-12-31 23:59:59.999999+00')
    fc.assert(
      fc.property(fc.bigInt({min: -(10n ** 15n), max: 10n ** 16n}), (us) => {
        const text = pgTimestampText(us)
        const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})\.(\d{6})\+00$/.exec(text)
        expect(m).not.toBeNull()
        const back = BigInt(Date.parse(`${m![1]}T${m![2]}Z`)) * 1000n + BigInt(m![3]) - 946_684_800_000_000n
        expect(back).toBe(us)
      }),
    )
  })

  it('round-trips LSNs', () => {
    expect(lsnText(0x16b374d848n)).toBe('16/B374D848')
    fc.assert(fc.property(fc.bigInt({min: 0n, max: 2n ** 64n - 1n}), (l) => {
      expect(parseLsn(lsnText(l))).toBe(l)
    }))
    expect(() => parseLsn('nope')).toThrow(/not an LSN/)
  })
})
