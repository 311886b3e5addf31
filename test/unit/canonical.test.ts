import {describe, expect, it} from 'vitest'
import fc from 'fast-check'
import {
  canonicalJson,
  canonicalRow,
  canonicalValue,
  type ColumnType,
  compareCodePoints,
  decodeRow,
  encodeCanonical,
  encodeRow,
  LOGICAL_TYPES,
  type LogicalType,
} from '../../src/diff/canonical.js'

const T = (type: LogicalType, extra: Omit<ColumnType, 'type'> = {}): ColumnType => ({type, ...extra})
const cv = (value: unknown, type: LogicalType, extra: Omit<ColumnType, 'type'> = {}, p?: number) =>
  canonicalValue(value, T(type, extra), {timestampPrecision: p})

describe('row encoding', () => {
  it('keeps NULL, empty string, the text NULL, ~ and 0: apart', () => {
    const t = [T('text')]
    const encodings = [null, '', 'NULL', 'null', '~', '0:', '1:~', ' '].map((v) => encodeRow([v], t))
    expect(encodings).toEqual(['~', '0:', '4:NULL', '4:null', '1:~', '2:0:', '3:1:~', '1: '])
    expect(new Set(encodings).size).toBe(encodings.length)
  })

  it('keeps column boundaries: ("a","bc") ≠ ("ab","c") ≠ ("abc",NULL)', () => {
    const t = [T('text'), T('text')]
    const a = encodeRow(['a', 'bc'], t)
    const b = encodeRow(['ab', 'c'], t)
    const c = encodeRow(['abc', null], t)
    const d = encodeRow([null, 'abc'], t)
    expect(new Set([a, b, c, d]).size).toBe(4)
    expect(a).toBe('1:a2:bc')
    expect(c).toBe('3:abc~')
  })

  it('counts UTF-8 bytes, not UTF-16 units, in the length prefix', () => {
    expect(encodeRow(['é'], [T('text')])).toBe('2:é')
    expect(encodeRow(['😀'], [T('text')])).toBe('4:😀')
    expect(encodeRow(['héllo 😀 世界'], [T('text')])).toBe(`${Buffer.byteLength('héllo 😀 世界')}:héllo 😀 世界`)
  })

  it('treats undefined as NULL and rejects a length mismatch', () => {
    expect(encodeRow([undefined], [T('integer')])).toBe('~')
    expect(() => encodeRow([1, 2], [T('integer')])).toThrow(/2 values but 1/)
  })

  it('names the column of a bad value', () => {
    expect(() => encodeRow([1, 'abc'], [T('integer'), T('integer')])).toThrow(/column 2/)
  })

  it('applies per-column timestamp precision', () => {
    const ts = '2024-01-02 03:04:05.123456'
    expect(encodeRow([ts, ts], [T('timestamp'), T('timestamp')], {timestampPrecision: [3, undefined]})).toBe(
      '26:2024-01-02 03:04:05.12300026:2024-01-02 03:04:05.123456',
    )
  })

  it('decodes back to the canonical texts', () => {
    const texts = [null, '', 'NULL', '😀', '12:ab', '~', null]
    expect(decodeRow(encodeCanonical(texts))).toEqual(texts)
    expect(() => decodeRow('3:ab')).toThrow(/truncated/)
    expect(() => decodeRow('x')).toThrow(/malformed/)
  })
})

describe('boolean', () => {
  it.each([
    [true, '1'], [false, '0'], [1, '1'], [0, '0'], [2, '1'], ['t', '1'], ['f', '0'], ['true', '1'], ['FALSE', '0'],
    ['1', '1'], ['0', '0'], ['yes', '1'], ['off', '0'], [1n, '1'], [Buffer.from([1]), '1'], [Buffer.from([0]), '0'],
  ])('%o → %s', (v, want) => {
    expect(cv(v, 'boolean')).toBe(want)
  })
  it('rejects garbage', () => {
    expect(() => cv('maybe', 'boolean')).toThrow(/boolean/)
  })
})

describe('integers', () => {
  it.each([
    [0, '0'], [-0, '0'], ['-0', '0'], ['+5', '5'], ['007', '7'], [-12, '-12'], [' 42 ', '42'],
    ['9223372036854775807', '9223372036854775807'], ['-9223372036854775808', '-9223372036854775808'],
    [9223372036854775807n, '9223372036854775807'], ['18446744073709551615', '18446744073709551615'],
    [2 ** 53, '9007199254740992'], [1e21, '1000000000000000000000'], ['1e3', '1000'], ['12.000', '12'],
    ['12.50', '12.5'],
  ])('%o → %s', (v, want) => {
    expect(cv(v, 'bigint')).toBe(want)
    expect(cv(v, 'integer')).toBe(want)
  })

  it('accepts MongoDB-like Long and Int32 objects', () => {
    const long = {low: 0, high: 0, toString: () => '9223372036854775807'}
    const int32 = {valueOf: () => 42}
    expect(cv(long, 'bigint')).toBe('9223372036854775807')
    expect(cv(int32, 'integer')).toBe('42')
  })

  it('rejects non-numbers', () => {
    expect(() => cv('abc', 'integer')).toThrow(/integer/)
    expect(() => cv('', 'integer')).toThrow(/integer/)
    expect(() => cv({}, 'integer')).toThrow(/integer/)
  })
})

describe('decimal', () => {
  const s2 = {precision: 10, scale: 2}
  it.each([
    ['1.5', '1.50'], ['-0.00', '0.00'], ['-0', '0.00'], [0, '0.00'], ['12', '12.00'], ['-12.50', '-12.50'],
    ['0.005', '0.01'], ['-0.005', '-0.01'], ['-0.004', '0.00'], ['1.234', '1.23'], ['1.235', '1.24'],
    [1.5, '1.50'], [0.1, '0.10'], ['1e2', '100.00'], ['1.5E-1', '0.15'], ['.5', '0.50'], ['5.', '5.00'],
  ])('scale 2: %o → %s', (v, want) => {
    expect(cv(v, 'decimal', s2)).toBe(want)
  })

  it.each([
    ['1.500', '1.5'], ['-0.00', '0'], ['100', '100'], ['100.00', '100'], ['0.0010', '0.001'],
    ['1e16', '10000000000000000'], [1e16, '10000000000000000'], ['-1.50E+3', '-1500'],
    ['123456789012345678901234567890.123456789', '123456789012345678901234567890.123456789'],
  ])('no scale: %o → %s', (v, want) => {
    expect(cv(v, 'decimal')).toBe(want)
  })

  it('scale 0 and negative scale', () => {
    expect(cv('2.5', 'decimal', {scale: 0})).toBe('3')
    expect(cv('-2.5', 'decimal', {scale: 0})).toBe('-3')
    expect(cv('1250', 'decimal', {scale: -2})).toBe('1300')
  })

  it('NaN and infinities (PostgreSQL numeric, Decimal128)', () => {
    expect(cv('NaN', 'decimal', s2)).toBe('NaN')
    expect(cv('Infinity', 'decimal')).toBe('Infinity')
    expect(cv('-inf', 'decimal')).toBe('-Infinity')
  })

  it('accepts Decimal128-like objects through toString()', () => {
    const d128 = {toString: () => '1.50E+3'}
    expect(cv(d128, 'decimal', s2)).toBe('1500.00')
  })

  it('is exact where floats are not', () => {
    expect(cv('0.1', 'decimal', {scale: 20})).toBe('0.10000000000000000000')
    expect(cv('9007199254740993.01', 'decimal', {scale: 2})).toBe('9007199254740993.01')
  })
})

describe('floats', () => {
  it.each([
    [1, '1'], [-0, '0'], ['-0', '0'], [0.1, '0.1'], [1e16, '10000000000000000'], [1e21, '1e+21'],
    ['1.0', '1'], [Number.NaN, 'NaN'], ['NaN', 'NaN'], [Infinity, 'Infinity'], ['-Infinity', '-Infinity'],
    [1.7976931348623157e308, '1.7976931348623157e+308'], [{valueOf: (): number => 2.5}, '2.5'],
  ] as [unknown, string][])('double %o → %s', (v, want) => {
    expect(cv(v, 'double')).toBe(want)
  })

  it('real rounds to float32 and prints the shortest float32 form', () => {
    expect(cv(0.1, 'real')).toBe('0.1')
    expect(cv(Math.fround(0.1), 'real')).toBe('0.1') // what a driver gives when it widens a float32
    expect(cv('0.1', 'real')).toBe('0.1')
    expect(cv(0.30000001192092896, 'real')).toBe('0.3')
    expect(cv(16777217, 'real')).toBe('16777216')
    expect(cv(1e16, 'real')).toBe('10000000000000000')
    expect(cv(3.4028234663852886e38, 'real')).toBe('3.4028235e+38')
    expect(cv(-0, 'real')).toBe('0')
  })

  it('rejects non-numbers', () => {
    expect(() => cv('one', 'double')).toThrow(/double/)
    expect(() => cv('', 'real')).toThrow(/real/)
  })
})

describe('text', () => {
  it('is exact: no trimming, no case folding, emoji counted in bytes', () => {
    expect(cv('abc  ', 'text')).toBe('abc  ')
    expect(cv('  abc', 'varchar')).toBe('  abc')
    expect(cv('ÄÖÜ 😀', 'text')).toBe('ÄÖÜ 😀')
    expect(cv('', 'text')).toBe('')
    expect(cv(Buffer.from('é'), 'text')).toBe('é')
  })

  it('char(n) drops the trailing pad spaces (PG bpchar keeps them, MySQL CHAR strips them)', () => {
    expect(cv('ab   ', 'char', {precision: 5})).toBe('ab')
    expect(cv('ab', 'char', {precision: 5})).toBe('ab')
    expect(cv('  ab\t ', 'char')).toBe('  ab\t')
    expect(cv('     ', 'char')).toBe('')
  })
})

describe('dates and times', () => {
  it('dates', () => {
    expect(cv('2024-02-29', 'date')).toBe('2024-02-29')
    expect(cv(new Date(Date.UTC(2024, 1, 29)), 'date')).toBe('2024-02-29')
    expect(cv('2024-02-29T23:00:00-02:00', 'date')).toBe('2024-03-01')
    expect(cv('0001-01-01', 'date')).toBe('0001-01-01')
    expect(cv('0044-03-15 BC', 'date')).toBe('0044-03-15 BC')
    expect(cv('infinity', 'date')).toBe('infinity')
    expect(cv('-infinity', 'date')).toBe('-infinity')
    expect(cv('0000-00-00', 'date')).toBe('0000-00-00') // MySQL zero date, kept as is
  })

  it('times have six fraction digits, truncated to the precision', () => {
    expect(cv('13:04:05', 'time')).toBe('13:04:05.000000')
    expect(cv('13:04:05.5', 'time')).toBe('13:04:05.500000')
    expect(cv('13:04:05.123456', 'time', {}, 3)).toBe('13:04:05.123000')
    expect(cv('24:00:00', 'time')).toBe('24:00:00.000000')
    expect(cv('-01:02:03.5', 'time')).toBe('-01:02:03.500000')
    expect(cv('838:59:59', 'time')).toBe('838:59:59.000000')
    expect(cv('13:04', 'time')).toBe('13:04:00.000000')
  })

  it('timestamps: microseconds, UTC, truncation (not rounding) to the precision', () => {
    expect(cv('2024-02-29 23:59:59.999999', 'timestamp')).toBe('2024-02-29 23:59:59.999999')
    expect(cv('2024-02-29 23:59:59.999999', 'timestamp', {}, 3)).toBe('2024-02-29 23:59:59.999000')
    expect(cv('2024-02-29 23:59:59.999999', 'timestamp', {}, 0)).toBe('2024-02-29 23:59:59.000000')
    expect(cv('2024-02-29 23:59:59', 'timestamp')).toBe('2024-02-29 23:59:59.000000')
    expect(cv('2024-02-29 23:59:59.5', 'timestamptz')).toBe('2024-02-29 23:59:59.500000')
    expect(cv('2024-02-29T23:59:59.123456789Z', 'timestamptz')).toBe('2024-02-29 23:59:59.123456')
    expect(cv('2024-02-29 23:59:59.25+00', 'timestamptz')).toBe('2024-02-29 23:59:59.250000')
    expect(cv('2024-02-29T23:59:59+00:00', 'timestamptz')).toBe('2024-02-29 23:59:59.000000')
    expect(cv('2024-03-01 01:30:00+05:30', 'timestamptz')).toBe('2024-02-29 20:00:00.000000')
    expect(cv('2024-02-28 23:00:00-02', 'timestamptz')).toBe('2024-02-29 01:00:00.000000')
    expect(cv('1999-12-31 23:00:00-01:00', 'timestamptz')).toBe('2000-01-01 00:00:00.000000')
    expect(cv('2024-01-01', 'timestamp')).toBe('2024-01-01 00:00:00.000000')
    expect(cv('infinity', 'timestamptz')).toBe('infinity')
    expect(cv('0044-03-15 12:00:00 BC', 'timestamp')).toBe('0044-03-15 12:00:00.000000 BC')
    expect(cv('0000-00-00 00:00:00', 'timestamp')).toBe('0000-00-00 00:00:00.000000')
  })

  it('JS Dates (MongoDB, millisecond precision) agree with text at precision 3', () => {
    const d = new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 123))
    expect(cv(d, 'timestamptz')).toBe('2024-02-29 23:59:59.123000')
    expect(cv(d, 'timestamptz', {}, 3)).toBe(cv('2024-02-29 23:59:59.123456', 'timestamptz', {}, 3))
    expect(cv(new Date(Date.UTC(1969, 11, 31, 23, 59, 59, 999)), 'timestamp')).toBe('1969-12-31 23:59:59.999000')
    const bc = new Date(Date.UTC(2000, 0, 1))
    bc.setUTCFullYear(-43) // 44 BC
    expect(cv(bc, 'date')).toBe('0044-01-01 BC')
  })

  it('rejects garbage', () => {
    expect(() => cv('yesterday', 'timestamp')).toThrow(/timestamp/)
    expect(() => cv(new Date(Number.NaN), 'timestamp')).toThrow(/invalid Date/)
    expect(() => cv(12, 'time')).toThrow(/time/)
  })
})

describe('json', () => {
  it('sorts keys, drops whitespace, normalises numbers', () => {
    expect(canonicalJson({b: 1, a: [1.0, 1e2, -0, 'x'], c: {z: null, y: true}})).toBe(
      '{"a":[1,100,0,"x"],"b":1,"c":{"y":true,"z":null}}',
    )
    expect(canonicalJson('{ "b" : 1.50, "a" : [ 1e2 ] }')).toBe('{"a":[100],"b":1.5}')
    expect(cv({b: 2, a: 1}, 'json')).toBe(cv('{"a":1,"b":2}', 'json'))
  })

  it('sorts keys by code point (UTF-8 byte order), not by UTF-16 units or by length', () => {
    // U+FF5E (halfwidth) is < U+1F600 (emoji) by code point, but > its surrogate D83D by UTF-16 unit
    const obj = {'😀': 1, '～': 2, bb: 3, a: 4, B: 5, é: 6}
    expect(canonicalJson(obj)).toBe('{"B":5,"a":4,"bb":3,"é":6,"～":2,"😀":1}')
    const keys = Object.keys(obj).sort(compareCodePoints)
    const byBytes = Object.keys(obj).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    expect(keys).toEqual(byBytes)
  })

  it('scalars and strings', () => {
    expect(cv('hello', 'json')).toBe('"hello"') // not JSON text → a JSON string
    expect(cv('"hello"', 'json')).toBe('"hello"')
    expect(cv(42, 'json')).toBe('42')
    expect(cv(true, 'json')).toBe('true')
    expect(cv('null', 'json')).toBe('null')
    expect(cv('line\n"quoted" \\ é', 'json')).toBe('"line\\n\\"quoted\\" \\\\ é"')
    expect(cv([undefined, () => 1], 'json')).toBe('[null,null]')
    expect(cv({a: undefined, b: Number.NaN}, 'json')).toBe('{"b":null}')
    expect(cv({d: new Date(Date.UTC(2024, 0, 1))}, 'json')).toBe('{"d":"2024-01-01T00:00:00.000Z"}')
    expect(cv({n: 12345678901234567890n}, 'json')).toBe('{"n":12345678901234567890}')
  })

  it('rejects cycles', () => {
    const a: Record<string, unknown> = {}
    a.self = a
    expect(() => cv(a, 'json')).toThrow(/cyclic/)
  })
})

describe('uuid and binary', () => {
  it('uuid is lower-case 8-4-4-4-12 whatever the input form', () => {
    const want = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
    expect(cv('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'uuid')).toBe(want)
    expect(cv('{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'uuid')).toBe(want)
    expect(cv('a0eebc999c0b4ef8bb6d6bb9bd380a11', 'uuid')).toBe(want)
    expect(cv(Buffer.from('a0eebc999c0b4ef8bb6d6bb9bd380a11', 'hex'), 'uuid')).toBe(want)
    expect(cv({buffer: Buffer.from('a0eebc999c0b4ef8bb6d6bb9bd380a11', 'hex'), sub_type: 4}, 'uuid')).toBe(want)
    expect(cv('not-a-uuid', 'uuid')).toBe('not-a-uuid')
  })

  it('binary is lower-case hex', () => {
    expect(cv(Buffer.from([0, 255, 16]), 'binary')).toBe('00ff10')
    expect(cv(new Uint8Array([0xab]), 'binary')).toBe('ab')
    expect(cv(Buffer.alloc(0), 'binary')).toBe('')
    expect(cv({buffer: Buffer.from([1, 2]), sub_type: 0}, 'binary')).toBe('0102') // MongoDB Binary
    expect(cv('\\xDEADbeef', 'binary')).toBe('deadbeef')
    const big = new Uint8Array(8)
    expect(cv(big.subarray(2, 4), 'binary')).toBe('0000')
  })
})

// ---------------------------------------------------------------------------
// properties

/** A value generator per logical type, producing values in the adapters' value model. */
function valueArb(t: LogicalType): fc.Arbitrary<unknown> {
  const str = fc.string({unit: 'binary', maxLength: 12})
  switch (t) {
    case 'boolean':
      return fc.boolean()
    case 'smallint':
    case 'integer':
      return fc.integer()
    case 'bigint':
      return fc.bigInt({min: -(2n ** 63n), max: 2n ** 63n - 1n}).map(String)
    case 'decimal':
      return fc.tuple(fc.bigInt({min: -(10n ** 20n), max: 10n ** 20n})).map(([n]) => {
        const s = (n < 0n ? -n : n).toString().padStart(3, '0')
        return `${n < 0n ? '-' : ''}${s.slice(0, -2)}.${s.slice(-2)}`
      })
    case 'real':
    case 'double':
      return fc.double()
    case 'text':
    case 'varchar':
      return str
    case 'char':
      return str.map((s) => s.replace(/ +$/, ''))
    case 'date':
      return fc.date({min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true})
        .map((d) => d.toISOString().slice(0, 10))
    case 'time':
      return fc.tuple(fc.integer({min: 0, max: 23}), fc.integer({min: 0, max: 59}), fc.integer({min: 0, max: 999999}))
        .map(([h, m, us]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:07.${String(us).padStart(6, '0')}`)
    case 'timestamp':
    case 'timestamptz':
      return fc.tuple(fc.date({min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true}), fc.integer({min: 0, max: 999}))
        .map(([d, us]) => `${d.toISOString().slice(0, 23).replace('T', ' ')}${String(us).padStart(3, '0')}`)
    case 'json':
      return fc.jsonValue()
    case 'uuid':
      return fc.uuid()
    case 'binary':
      return fc.uint8Array({maxLength: 12}).map((a) => Buffer.from(a))
  }
}

const rowArb = fc
  .array(fc.constantFrom(...LOGICAL_TYPES), {minLength: 1, maxLength: 6})
  .chain((types) =>
    fc.tuple(
      fc.constant(types.map((t) => T(t))),
      fc.tuple(...types.map((t) => fc.option(valueArb(t), {nil: null, freq: 4}))),
      fc.tuple(...types.map((t) => fc.option(valueArb(t), {nil: null, freq: 4}))),
    ),
  )

describe('properties', () => {
  it('the encoding is injective on tuples: different canonical tuples → different encodings', () => {
    fc.assert(
      fc.property(rowArb, ([types, a, b]) => {
        const ca = a.map((v, i) => canonicalValue(v, types[i]))
        const cb = b.map((v, i) => canonicalValue(v, types[i]))
        const same = ca.every((x, i) => x === cb[i])
        return (encodeCanonical(ca) === encodeCanonical(cb)) === same
      }),
      {numRuns: 2000},
    )
  })

  it('injective on arbitrary text/NULL tuples of any width (the length prefix needs no separator)', () => {
    const cell = fc.option(fc.oneof(fc.string({unit: 'binary', maxLength: 6}), fc.constantFrom('~', '0:', '1:~', 'NULL', '')), {nil: null})
    fc.assert(
      fc.property(fc.array(cell, {maxLength: 5}), fc.array(cell, {maxLength: 5}), (a, b) => {
        const same = a.length === b.length && a.every((x, i) => x === b[i])
        return (encodeCanonical(a) === encodeCanonical(b)) === same
      }),
      {numRuns: 3000},
    )
  })

  it('the length-prefix structure decodes back to the canonical texts', () => {
    fc.assert(
      fc.property(rowArb, ([types, a]) => {
        const texts = a.map((v, i) => canonicalValue(v, types[i]))
        expect(decodeRow(encodeRow(a, types))).toEqual(texts)
      }),
      {numRuns: 1000},
    )
  })

  it('canonical texts are fixed points for every type (canonicalising twice changes nothing)', () => {
    const typed = fc.constantFrom(...LOGICAL_TYPES.filter((t) => t !== 'binary')).chain((t) => fc.tuple(fc.constant(t), valueArb(t)))
    fc.assert(
      fc.property(typed, ([t, v]) => {
        const once = canonicalValue(v, T(t))
        expect(canonicalValue(once, T(t))).toBe(once)
      }),
      {numRuns: 2000},
    )
  })

  it('encodeRow equals encodeCanonical(canonicalRow) (the ASCII length shortcut is exact)', () => {
    fc.assert(
      fc.property(rowArb, ([types, a]) => {
        expect(encodeRow(a, types)).toBe(encodeCanonical(canonicalRow(a, types)))
      }),
      {numRuns: 1000},
    )
  })

  it('fast paths agree with the general parsers', () => {
    // a leading '+' or a '-00:00' zone forces the general (exact arithmetic / civil time) path
    fc.assert(
      fc.property(valueArb('decimal'), fc.integer({min: 0, max: 4}), (v, scale) => {
        const s = v as string
        const slow = s.startsWith('-') ? s : `+${s}`
        expect(cv(s, 'decimal', {scale})).toBe(cv(slow, 'decimal', {scale}))
      }),
      {numRuns: 1000},
    )
    fc.assert(
      fc.property(valueArb('timestamp'), fc.integer({min: 0, max: 6}), (v, p) => {
        const s = v as string
        expect(cv(s, 'timestamptz', {}, p)).toBe(cv(`${s}-00:00`, 'timestamptz', {}, p))
        expect(cv(`${s}Z`, 'timestamptz', {}, p)).toBe(cv(`${s}-00:00`, 'timestamptz', {}, p))
      }),
      {numRuns: 1000},
    )
    fc.assert(
      fc.property(fc.uuid(), (u) => {
        expect(cv(u, 'uuid')).toBe(cv(u.toUpperCase(), 'uuid'))
      }),
    )
  })

  it('JSON canonical text does not depend on key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({unit: 'binary', maxLength: 4}), fc.jsonValue({maxDepth: 2}), {maxKeys: 8}), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse())
        const canon = canonicalJson(obj)
        expect(canonicalJson(reversed)).toBe(canon)
        expect(canonicalJson(JSON.stringify(reversed, null, 2))).toBe(canon)
        expect(JSON.parse(canon)).toEqual(JSON.parse(JSON.stringify(obj)))
      }),
      {numRuns: 500},
    )
  })

  it('decimals at a scale equal exact rounding of the value', () => {
    fc.assert(
      fc.property(fc.bigInt({min: -(10n ** 30n), max: 10n ** 30n}), fc.integer({min: 0, max: 8}), fc.integer({min: 0, max: 8}), (n, inScale, outScale) => {
        const s = (n < 0n ? -n : n).toString().padStart(inScale + 1, '0')
        const text = `${n < 0n ? '-' : ''}${inScale ? `${s.slice(0, -inScale)}.${s.slice(-inScale)}` : s}`
        const out = cv(text, 'decimal', {scale: outScale})!
        // same value when widening; reading back at the input scale gives the rounded input
        if (outScale >= inScale) expect(cv(out, 'decimal', {scale: inScale})).toBe(cv(text, 'decimal', {scale: inScale}))
        expect(out.split('.')[1]?.length ?? 0).toBe(outScale)
        expect(out.startsWith('-0') && /^-0\.?0*$/.test(out)).toBe(false)
      }),
      {numRuns: 1000},
    )
  })
})
