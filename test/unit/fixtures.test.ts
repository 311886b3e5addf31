import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeAll, describe, expect, it, vi} from 'vitest'
import {
  formatCents,
  formatMicros,
  generateShop,
  Rng,
  SHOP_SCHEMA,
  SHOP_TABLES,
  shopSizes,
  type ShopRow,
  type ShopTable,
} from '../../src/fixtures/shop/generator.js'
import {copyValue, infileValue, mysqlLiteral, schemaStatements} from '../../src/fixtures/shop/load.js'
import {loadPlan, validatePlan} from '../../src/config/load.js'
import type {Plan} from '../../src/config/schema.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SHOP_DIR = join(ROOT, 'fixtures', 'shop')

const all = (users: number, seed: number): Record<ShopTable, ShopRow[]> => {
  const shop = generateShop({users, seed})
  const out = {} as Record<ShopTable, ShopRow[]>
  for (const t of SHOP_TABLES) out[t] = [...shop.rows(t)]
  return out
}

const TS_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** How utf8mb4_general_ci compares, roughly: case, accents and trailing spaces do not count. */
const ciKey = (s: string): string =>
  s
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/ß/g, 's')
    .toLowerCase()
    .replace(/ +$/, '')

describe('shop generator: determinism', () => {
  it('gives identical rows for the same seed, in every table', () => {
    expect(all(300, 42)).toEqual(all(300, 42))
  })

  it('gives different rows for a different seed', () => {
    const a = all(300, 1)
    const b = all(300, 2)
    for (const t of ['users', 'products', 'orders', 'order_items', 'product_attributes'] as const) expect(a[t]).not.toEqual(b[t])
  })

  it('does not depend on the batch size, and random access matches the stream', () => {
    const shop = generateShop({users: 250, seed: 9})
    for (const t of SHOP_TABLES) {
      const rows = [...shop.rows(t)]
      expect([...shop.batches(t, 7)].flat()).toEqual(rows)
      expect(Math.max(...[...shop.batches(t, 7)].map((b) => b.length))).toBeLessThanOrEqual(7)
    }
    const users = [...shop.rows('users')]
    expect(shop.row('users', 1)).toEqual(users[0])
    expect(shop.row('users', 250)).toEqual(users[249])
    expect(shop.row('orders', 17)).toEqual([...shop.rows('orders')][16])
    expect(() => shop.row('users', 251)).toThrow(RangeError)
  })

  it('lets callers interleave tables without disturbing each other', () => {
    const shop = generateShop({users: 200, seed: 5})
    const attrs = shop.rows('product_attributes')
    const variants = shop.rows('product_variants')
    const a: ShopRow[] = []
    const v: ShopRow[] = []
    for (;;) {
      const x = attrs.next()
      const y = variants.next()
      shop.row('users', 3) // random access in between
      if (!x.done) a.push(x.value)
      if (!y.done) v.push(y.value)
      if (x.done && y.done) break
    }
    expect(a).toEqual([...generateShop({users: 200, seed: 5}).rows('product_attributes')])
    expect(v).toEqual([...generateShop({users: 200, seed: 5}).rows('product_variants')])
  })

  it('never calls Math.random', () => {
    const spy = vi.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('Math.random used')
    })
    try {
      all(100, 3)
    } finally {
      spy.mockRestore()
    }
  })

  it('keeps the PRNG and the data stable (golden values; update them only on purpose)', () => {
    const r = new Rng(1)
    expect([r.u32(), r.u32(), r.u32()]).toEqual([2693262067, 11749833, 2265367787]) // mulberry32(1)
    const shop = generateShop({users: 100, seed: 1})
    const h = createHash('sha256')
    for (const t of SHOP_TABLES) {
      // Buffers reach the replacer as {type: 'Buffer', data: [...]} (their toJSON)
      const hex = (_k: string, v: unknown): unknown => ((v as {type?: unknown})?.type === 'Buffer' ? Buffer.from((v as {data: number[]}).data).toString('hex') : v)
      for (const row of shop.rows(t)) h.update(JSON.stringify(row, hex) + '\n')
    }
    expect(h.digest('hex')).toBe('8a7561547c1e10ffe65f2be1744996a0c43b2e1d35dc555f2b508c43f7a633c0')
  })
})

describe('shop generator: sizes and shape', () => {
  let shop: ReturnType<typeof generateShop>
  let rows: Record<ShopTable, ShopRow[]>
  beforeAll(() => {
    shop = generateShop({users: 2000, seed: 11})
    rows = all(2000, 11)
  })

  it('derives table sizes from the number of users', () => {
    expect(shopSizes(2000)).toEqual({users: 2000, categories: 20, products: 200, carts: 1000, orders: 4000})
    expect(shopSizes(10).products).toBe(50) // minimum
    expect(shopSizes(0)).toEqual({users: 0, categories: 20, products: 50, carts: 0, orders: 0})
    expect(() => shopSizes(-1)).toThrow(RangeError)
    for (const t of SHOP_TABLES) expect(shop.count(t), t).toBe(rows[t].length)
    expect(shop.counts().users).toBe(2000)
  })

  it('keeps child counts per parent in range', () => {
    const per = (t: ShopTable, col: string): number[] => {
      const m = new Map<string, number>()
      for (const r of rows[t]) m.set(String(r[col]), (m.get(String(r[col])) ?? 0) + 1)
      return [...m.values()]
    }
    const attrs = per('product_attributes', 'product_id')
    expect(attrs.length).toBe(200)
    expect(Math.min(...attrs)).toBeGreaterThanOrEqual(3)
    expect(Math.max(...attrs)).toBeLessThanOrEqual(10)
    expect(Math.max(...per('product_variants', 'product_id'))).toBeLessThanOrEqual(3)
    expect(rows.product_variants.length).toBeGreaterThan(200) // on average 1.5 per product
    const lines = per('order_items', 'order_id')
    expect(lines.length).toBe(4000)
    expect(Math.min(...lines)).toBeGreaterThanOrEqual(1)
    expect(Math.max(...lines)).toBeLessThanOrEqual(4)
    const items = per('cart_items', 'cart_id')
    expect(items.length).toBe(1000)
    expect(Math.max(...items)).toBeLessThanOrEqual(3)
  })

  it('has unique keys (also under a case- and accent-insensitive collation)', () => {
    for (const t of SHOP_TABLES) {
      const def = SHOP_SCHEMA[t]
      const keys = rows[t].map((r) => def.key.map((k) => (typeof r[k] === 'string' ? ciKey(r[k] as string) : String(r[k]))).join('|'))
      expect(new Set(keys).size, t).toBe(keys.length)
    }
    expect(new Set(rows.users.map((u) => ciKey(u.email as string))).size).toBe(2000)
    expect(new Set(rows.products.map((p) => ciKey(p.sku as string))).size).toBe(200)
  })

  it('emits every column of the schema, with values of the declared form', () => {
    for (const t of SHOP_TABLES) {
      for (const r of rows[t]) {
        expect(Object.keys(r), t).toEqual(SHOP_SCHEMA[t].columns.map((c) => c.name))
        for (const c of SHOP_SCHEMA[t].columns) {
          const v = r[c.name]
          if (v === null) {
            expect(c.nullable, `${t}.${c.name}`).toBe(true)
            continue
          }
          if (c.type === 'bigint') expect(v).toMatch(/^\d+$/)
          else if (c.type === 'integer') expect(Number.isInteger(v)).toBe(true)
          else if (c.type.startsWith('decimal')) expect(v).toMatch(/^-?\d+\.\d{2}$/)
          else if (c.type.startsWith('timestamp')) expect(v).toMatch(TS_RE)
          else if (c.type === 'boolean') expect(typeof v).toBe('boolean')
          else if (c.type === 'uuid') expect(v).toMatch(UUID_RE)
          else if (c.type === 'binary') expect(Buffer.isBuffer(v)).toBe(true)
          else if (c.type === 'json') expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
          else expect(typeof v).toBe('string')
          const len = /\((\d+)\)$/.exec(c.type)
          if (len && typeof v === 'string' && /char/.test(c.type)) expect([...v].length).toBeLessThanOrEqual(Number(len[1]))
        }
      }
    }
    // decimals fit their precision
    for (const u of rows.users) expect((u.balance as string).replace('-', '').length).toBeLessThanOrEqual(13)
    for (const o of rows.orders) expect((o.total as string).replace('-', '').length).toBeLessThanOrEqual(13)
  })

  it('keeps references inside the shop and totals consistent with lines', () => {
    for (const o of rows.orders) expect(Number(o.user_id)).toBeLessThanOrEqual(2000)
    for (const i of rows.order_items) expect(Number(i.product_id)).toBeLessThanOrEqual(200)
    for (const p of rows.products) if (p.category_id !== null) expect(p.category_id).toBeLessThanOrEqual(20)
    const cents = (s: string): bigint => BigInt(s.replace('.', ''))
    const sums = new Map<string, bigint>()
    for (const i of rows.order_items) sums.set(i.order_id as string, (sums.get(i.order_id as string) ?? 0n) + BigInt(i.quantity as number) * cents(i.unit_price as string))
    for (const o of rows.orders) expect(cents(o.total as string)).toBe(sums.get(o.id as string))
    const variantIds = rows.product_variants.map((v) => Number(v.id))
    expect(variantIds).toEqual(variantIds.map((_, i) => i + 1))
  })
})

describe('shop generator: tricky values appear', () => {
  let rows: Record<ShopTable, ShopRow[]>
  beforeAll(() => {
    rows = all(20000, 1)
  })
  const some = (t: ShopTable, col: string, pred: (v: ShopRow[string]) => boolean): boolean => rows[t].some((r) => pred(r[col]))

  it('in users', () => {
    const s = (v: unknown): v is string => typeof v === 'string'
    expect(some('users', 'full_name', (v) => v === null)).toBe(true)
    expect(some('users', 'full_name', (v) => v === '')).toBe(true)
    expect(some('users', 'full_name', (v) => s(v) && /\S {1,3}$/.test(v))).toBe(true)
    expect(some('users', 'full_name', (v) => s(v) && /^ \S/.test(v))).toBe(true)
    expect(some('users', 'full_name', (v) => s(v) && /\p{Extended_Pictographic}/u.test(v))).toBe(true)
    expect(some('users', 'full_name', (v) => s(v) && /[^\x00-\x7f]/.test(v))).toBe(true)
    expect(some('users', 'full_name', (v) => s(v) && /[\t\n\\'"]/.test(v))).toBe(true)
    expect(some('users', 'email', (v) => s(v) && /[A-Z]/.test(v))).toBe(true)
    expect(some('users', 'email', (v) => s(v) && /[^\x00-\x7f]/.test(v))).toBe(true)
    expect(some('users', 'balance', (v) => v === '0.00')).toBe(true)
    expect(some('users', 'balance', (v) => v === '9999999999.99')).toBe(true)
    expect(some('users', 'balance', (v) => s(v) && v.startsWith('-'))).toBe(true)
    expect(some('users', 'loyalty_points', (v) => v === 2147483647)).toBe(true)
    expect(some('users', 'loyalty_points', (v) => v === 0)).toBe(true)
    expect(some('users', 'created_at', (v) => s(v) && v.endsWith('.000000'))).toBe(true)
    expect(some('users', 'created_at', (v) => s(v) && /\.\d{5}[1-9]$/.test(v))).toBe(true)
    expect(some('users', 'updated_at', (v) => v === null)).toBe(true)
    expect(some('users', 'country', (v) => v === null)).toBe(true)
    expect(some('users', 'is_active', (v) => v === false)).toBe(true)
    expect(some('users', 'preferences', (v) => v === null)).toBe(true)
    expect(some('users', 'preferences', (v) => v !== null && typeof v === 'object' && Object.keys(v).length === 0)).toBe(true)
    const nested = rows.users.find((u) => {
      const p = u.preferences as {notifications?: {push?: {quiet_hours?: unknown}}} | null
      return p?.notifications?.push?.quiet_hours !== undefined
    })
    expect(nested).toBeDefined()
    expect(some('users', 'preferences', (v) => JSON.stringify(v).includes('größe'))).toBe(true)
    expect(some('users', 'avatar', (v) => v === null)).toBe(true)
    expect(some('users', 'avatar', (v) => Buffer.isBuffer(v) && v.length === 0)).toBe(true)
    expect(some('users', 'avatar', (v) => Buffer.isBuffer(v) && v.includes(0))).toBe(true)
  })

  it('in the catalog and orders', () => {
    const s = (v: unknown): v is string => typeof v === 'string'
    expect(some('products', 'description', (v) => v === null)).toBe(true)
    expect(some('products', 'description', (v) => v === '')).toBe(true)
    expect(some('products', 'description', (v) => s(v) && v.includes('\r\n'))).toBe(true)
    expect(some('products', 'description', (v) => s(v) && v.length > 2000)).toBe(true)
    expect(some('products', 'name', (v) => s(v) && /\p{Extended_Pictographic}/u.test(v))).toBe(true)
    expect(some('products', 'name', (v) => s(v) && / $/.test(v))).toBe(true)
    expect(some('products', 'price', (v) => v === '0.00')).toBe(true)
    expect(some('products', 'price', (v) => v === '99999999.99')).toBe(true)
    expect(some('products', 'category_id', (v) => v === null)).toBe(true)
    expect(some('products', 'stock', (v) => v === -1)).toBe(true)
    expect(some('categories', 'parent_id', (v) => v === null)).toBe(true)
    expect(some('categories', 'name', (v) => s(v) && / $/.test(v))).toBe(true)
    expect(some('product_attributes', 'name', (v) => v === 'finish ')).toBe(true)
    expect(some('product_attributes', 'name', (v) => v === 'Größe')).toBe(true)
    expect(some('product_attributes', 'value', (v) => v === null)).toBe(true)
    expect(some('product_variants', 'price_delta', (v) => s(v) && v.startsWith('-'))).toBe(true)
    expect(some('product_variants', 'color', (v) => v === null)).toBe(true)
    expect(some('carts', 'user_id', (v) => v === null)).toBe(true)
    expect(some('orders', 'shipping_address', (v) => v === null)).toBe(true)
    expect(some('orders', 'shipping_address', (v) => v !== null && typeof (v as {geo?: unknown}).geo === 'object')).toBe(true)
    expect(some('order_items', 'unit_price', (v) => v === '0.00')).toBe(true)
    // attribute names sort differently by code point than case-insensitively
    const names = [...new Set(rows.product_attributes.map((r) => r.name as string))]
    const byCodePoint = [...names].sort()
    const byCi = [...names].sort((a, b) => ciKey(a).localeCompare(ciKey(b)))
    expect(byCodePoint).not.toEqual(byCi)
  })
})

describe('value helpers', () => {
  it('formats microsecond timestamps like Date does, without a Date', () => {
    const r = new Rng(123)
    for (let i = 0; i < 2000; i++) {
      const us = Math.floor(r.next() * 4e15) - 1e15 // 1938 … 2096
      const ms = Math.floor(us / 1000)
      const frac = us - Math.floor(us / 1e6) * 1e6
      expect(formatMicros(us)).toBe(new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + '.' + String(frac).padStart(6, '0'))
    }
    expect(formatMicros(Date.UTC(2024, 1, 29, 23, 59, 59) * 1000 + 999_999)).toBe('2024-02-29 23:59:59.999999')
  })

  it('formats cents', () => {
    expect([0, 1, -5, 100, -12345, 999_999_999_999].map(formatCents)).toEqual(['0.00', '0.01', '-0.05', '1.00', '-123.45', '9999999999.99'])
  })

  it('encodes values for COPY, LOAD DATA and INSERT', () => {
    expect(copyValue(null)).toBe('\\N')
    expect(copyValue('a\tb\nc\\d\re')).toBe('a\\tb\\nc\\\\d\\re')
    expect(copyValue('\\N')).toBe('\\\\N')
    expect(copyValue(true)).toBe('t')
    expect(copyValue(Buffer.from([0, 255]))).toBe('\\\\x00ff')
    expect(copyValue(Buffer.alloc(0))).toBe('\\\\x')
    expect(copyValue({a: 'x\ny'})).toBe('{"a":"x\\\\ny"}')
    expect(infileValue(null)).toBe('\\N')
    expect(infileValue('a\tb\0c\\')).toBe('a\\tb\\0c\\\\')
    expect(infileValue(false)).toBe('0')
    expect(infileValue(Buffer.from([1, 2]))).toBe('0102')
    expect(mysqlLiteral("O'Brien")).toBe("'O\\'Brien'")
    expect(mysqlLiteral(Buffer.from([0xab]))).toBe("X'ab'")
    expect(mysqlLiteral(Buffer.alloc(0))).toBe("''")
    expect(mysqlLiteral(null)).toBe('NULL')
    expect(mysqlLiteral('a\\b\0\n"')).toBe("'a\\\\b\\0\\n\\\"'")
    expect(mysqlLiteral({k: "it's"})).toBe(`'{\\"k\\":\\"it\\'s\\"}'`)
  })
})

describe('schema files', () => {
  for (const engine of ['postgres', 'mysql'] as const) {
    const file = join(SHOP_DIR, engine === 'postgres' ? 'schema.postgres.sql' : 'schema.mysql.sql')
    const q = engine === 'postgres' ? '"' : '`'

    it(`${engine}: creates every table with every column, in the generator's order`, () => {
      const ddl = schemaStatements(engine)
      expect(ddl.create).toHaveLength(SHOP_TABLES.length)
      SHOP_TABLES.forEach((t, i) => {
        const sql = ddl.create[i]
        expect(sql).toContain(`CREATE TABLE ${q}${t}${q}`)
        let at = 0
        for (const c of SHOP_SCHEMA[t].columns) {
          const pos = sql.indexOf(`${q}${c.name}${q}`, at)
          expect(pos, `${t}.${c.name}`).toBeGreaterThan(0)
          at = pos
        }
        const pk = new RegExp(`PRIMARY KEY \\(${SHOP_SCHEMA[t].key.map((k) => `${q}${k}${q}`).join(', ')}\\)`)
        if (SHOP_SCHEMA[t].key.length > 1 || engine === 'mysql') expect(sql, t).toMatch(pk)
      })
      const text = readFileSync(file, 'utf8')
      for (const t of SHOP_TABLES) expect(text).toContain(`${q}${t}${q}`)
    })

    it(`${engine}: selects statements by table and adds only foreign keys with both ends`, () => {
      const only = schemaStatements(engine, {tables: ['users']})
      expect(only.create).toHaveLength(1)
      expect(only.indexes).toHaveLength(0)
      expect(only.foreignKeys).toHaveLength(0)
      expect(only.drop.join(';')).toContain(`${q}users${q}`)
      expect(schemaStatements(engine).foreignKeys).toHaveLength(0)
      const fks = schemaStatements(engine, {foreignKeys: true}).foreignKeys
      expect(fks.length).toBeGreaterThan(0)
      // no foreign key crosses a service boundary
      for (const fk of fks) {
        const [, from, to] = new RegExp(`ALTER TABLE ${q}(\\w+)${q}.*REFERENCES ${q}(\\w+)${q}`, 's').exec(fk)!
        expect(SHOP_SCHEMA[from as ShopTable].service, fk).toBe(SHOP_SCHEMA[to as ShopTable].service)
      }
      expect(schemaStatements(engine, {tables: ['order_items'], foreignKeys: true}).foreignKeys).toHaveLength(0)
      expect(() => schemaStatements(engine, {tables: ['nope' as ShopTable]})).toThrow(/unknown shop table/)
    })
  }

  it('uses the same logical types on both engines', () => {
    const pgText = readFileSync(join(SHOP_DIR, 'schema.postgres.sql'), 'utf8')
    const myText = readFileSync(join(SHOP_DIR, 'schema.mysql.sql'), 'utf8')
    expect(pgText).toMatch(/"balance"\s+numeric\(12,2\)/)
    expect(myText).toMatch(/`balance`\s+DECIMAL\(12,2\)/)
    expect(pgText).toMatch(/"created_at"\s+timestamp\(6\) NOT NULL/)
    expect(myText).toMatch(/`created_at`\s+DATETIME\(6\) NOT NULL/)
    expect(pgText).toMatch(/"external_id"\s+uuid/)
    expect(myText).toMatch(/`external_id`\s+CHAR\(36\)/)
    expect(pgText).toMatch(/"preferences"\s+jsonb/)
    expect(myText).toMatch(/`preferences`\s+JSON/)
    expect(myText).toContain('utf8mb4_general_ci')
    expect(pgText).not.toMatch(/FOREIGN KEY \("user_id"\)/)
  })
})

describe('example plans', () => {
  const env = {
    MONOLITH_URL: 'postgres://shop:secret@127.0.0.1:5432/shop',
    USERS_DB_URL: 'postgres://users:secret@127.0.0.1:5433/users',
    CATALOG_DB_URL: 'mongodb://127.0.0.1:27017/catalog',
    ORDERS_DB_URL: 'postgres://orders:secret@127.0.0.1:5434/orders',
  }
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  const stripJs = (plan: Plan): unknown =>
    JSON.parse(
      JSON.stringify(plan, (_k, v: unknown) => {
        if (v && typeof v === 'object' && !Array.isArray(v)) {
          return Object.fromEntries(Object.entries(v).filter(([, x]) => !(x && typeof x === 'object' && 'js' in x)))
        }
        return v
      }),
    )

  it('validates the TypeScript plan', async () => {
    const mod = (await import('../../fixtures/shop/strangler.config.js')) as {default: unknown}
    const plan = validatePlan(mod.default, 'strangler.config.ts', env)
    expect(Object.keys(plan.services)).toEqual(['users', 'catalog', 'orders'])
    const users = plan.services.users.entities[0]
    expect(users.sensitive).toEqual(['password_hash'])
    expect(users.columns?.name).toBe('full_name')
    expect(users.columns?.source).toEqual({const: 'monolith', type: 'varchar(16)'})
    expect(plan.services.orders.entities[1]).toMatchObject({source: 'order_items', target: 'order_lines', key: ['order_id', 'line_no']})
    expect(plan.services.catalog.target.url).toBe(env.CATALOG_DB_URL)
    // every entity names a shop table and only columns that exist there
    for (const svc of Object.values(plan.services)) {
      for (const e of svc.entities) {
        const def = SHOP_SCHEMA[e.source as ShopTable]
        expect(def, e.source).toBeDefined()
        const cols = def.columns.map((c) => c.name)
        for (const k of e.key ?? []) expect(cols).toContain(k)
        expect(e.key ?? def.key).toEqual(def.key)
        for (const m of Object.values(e.columns ?? {})) {
          const used = typeof m === 'string' ? [m] : 'from' in m ? [m.from] : 'uses' in m ? (m.uses ?? []) : []
          for (const u of used) expect(cols, `${e.source}.${u}`).toContain(u)
        }
      }
    }
    const js = plan.services.catalog.entities[1].columns?.price_cents as {js: (r: Record<string, unknown>) => unknown}
    expect(['0.00', '12.30', '-0.05', '99999999.99'].map((price) => js.js({price}))).toEqual([0, 1230, -5, 9999999999])
  })

  it('validates the JSON twin, which matches the TypeScript plan minus JS transforms', async () => {
    const raw = JSON.parse(readFileSync(join(SHOP_DIR, 'strangler.config.json'), 'utf8')) as unknown
    const json = validatePlan(raw, 'strangler.config.json', env)
    const mod = (await import('../../fixtures/shop/strangler.config.js')) as {default: unknown}
    const ts = validatePlan(mod.default, 'strangler.config.ts', env)
    expect(stripJs(json)).toEqual(stripJs(ts))
  })

  it('loads both plan files from disk with the variables from the environment', async () => {
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v)
    const json = await loadPlan('strangler.config.json', SHOP_DIR)
    expect(json.plan.services.users.target.url).toBe(env.USERS_DB_URL)
    const ts = await loadPlan('strangler.config.ts', SHOP_DIR)
    expect(Object.keys(ts.plan.services)).toEqual(['users', 'catalog', 'orders'])
  })

  it('names the missing variable when one is unset', () => {
    const raw = JSON.parse(readFileSync(join(SHOP_DIR, 'strangler.config.json'), 'utf8')) as unknown
    const {ORDERS_DB_URL: _omit, ...partial} = env
    expect(() => validatePlan(raw, 'strangler.config.json', partial)).toThrow(/ORDERS_DB_URL/)
  })
})
