/**
 * Aggregate assembly and its capture paths, as pure logic: an in-memory
 * monolith answers `introspect` and `readByKeys` (the only calls assembly
 * makes), so grouping, ordering, keyed sub-documents, lookups, nesting and the
 * number of queries per batch are checked on thousands of random cases. The
 * same code against real PostgreSQL, MariaDB and FerretDB is in
 * test/integration/aggregate.test.ts.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {rootKeyPath} from '../../src/capture/aggregate-capture.js'
import {validatePlan} from '../../src/config/load.js'
import {jsonDifferences} from '../../src/diff/json-paths.js'
import type {Engine, KeysRead} from '../../src/engines/engine.js'
import type {ColumnInfo, Row, TableInfo, TableRef} from '../../src/engines/types.js'
import {resolveEntity} from '../../src/mapping/entity-mapping.js'
import {UserError} from '../../src/util/errors.js'

const col = (name: string, type: ColumnInfo['type'] = 'bigint', nullable = false): ColumnInfo => ({name, type, nativeType: type, nullable})

const TABLES: Record<string, TableInfo> = {
  products: {ref: {name: 'products'}, primaryKey: ['id'], estimatedRows: 0, columns: [col('id'), col('name', 'text'), col('category_id', 'integer', true)]},
  categories: {ref: {name: 'categories'}, primaryKey: ['id'], estimatedRows: 0, columns: [col('id', 'integer'), col('name', 'text'), col('parent_id', 'integer', true)]},
  variants: {ref: {name: 'variants'}, primaryKey: ['id'], estimatedRows: 0, columns: [col('id'), col('product_id'), col('sku', 'text'), col('position', 'integer')]},
  variant_attrs: {ref: {name: 'variant_attrs'}, primaryKey: ['variant_id', 'name'], estimatedRows: 0, columns: [col('variant_id'), col('name', 'text'), col('value', 'text', true)]},
  attrs: {ref: {name: 'attrs'}, primaryKey: ['product_id', 'name'], estimatedRows: 0, columns: [col('product_id'), col('name', 'text'), col('value', 'text', true)]},
}

/** A monolith in memory: tables of rows, and a count of the reads. */
function memoryMonolith(data: Record<string, Row[]>): Engine & {reads: number} {
  const m = {
    reads: 0,
    kind: 'postgres',
    defaultSchema: undefined,
    async introspect(ref: TableRef): Promise<TableInfo> {
      const t = TABLES[ref.name]
      if (!t) throw new UserError(`table ${ref.name} does not exist`, {code: 'E_NO_TABLE'})
      return t
    },
    async readByKeys(req: KeysRead): Promise<Row[]> {
      m.reads++
      const wanted = new Set(req.keys.map((k) => JSON.stringify(k.map(String))))
      return (data[req.table.name] ?? []).filter((r) => wanted.has(JSON.stringify(req.key.map((k) => String(r[k])))))
    },
  }
  return m as unknown as Engine & {reads: number}
}

function planOf(entity: Record<string, unknown>) {
  const p = validatePlan({monolith: {url: 'postgres://a@h/m'}, services: {catalog: {target: {url: 'mongodb://h/c'}, entities: [{source: 'products', ...entity}]}}}, 'p', {})
  return {svc: p.services.catalog, entity: p.services.catalog.entities[0]}
}

const CATALOG = {
  columns: {id: 'id', name: 'name'},
  lookup: [{table: 'categories', on: {category_id: 'id'}, as: 'category', columns: {name: 'name'}, lookup: [{table: 'categories', on: {parent_id: 'id'}, columns: {parent: 'name'}}]}],
  embed: [
    {table: 'variants', on: {id: 'product_id'}, as: 'variants', orderBy: ['position'], columns: {sku: 'sku'}, embed: [{table: 'variant_attrs', on: {id: 'variant_id'}, as: 'attrs', keyBy: 'name', value: 'value'}]},
    {table: 'attrs', on: {id: 'product_id'}, as: 'attrs', keyBy: 'name', value: 'value'},
  ],
}

describe('aggregate assembly', () => {
  it('assembles nested embeds, keyed sub-documents and two levels of lookup', async () => {
    const mono = memoryMonolith({
      categories: [
        {id: 1, name: 'Garden', parent_id: null},
        {id: 2, name: 'Tools', parent_id: 1},
      ],
      variants: [
        {id: 10, product_id: 1, sku: 'b', position: 2},
        {id: 11, product_id: 1, sku: 'a', position: 1},
        {id: 12, product_id: 2, sku: 'c', position: 1},
      ],
      variant_attrs: [
        {variant_id: 10, name: 'size', value: 'L'},
        {variant_id: 10, name: 'colour', value: 'red'},
      ],
      attrs: [{product_id: '1', name: 'weight', value: '2kg'}],
    })
    const {svc, entity} = planOf(CATALOG)
    const e = await resolveEntity('catalog', svc, entity, 0, mono)
    expect(e.sqlExpressible).toBe(false)
    expect(e.targetSpec.columns.map((c) => `${c.name}:${c.type}`)).toEqual(['id:bigint', 'name:text', 'variants:json', 'attrs:json', 'category:json'])
    // the root's read carries the join column even though it is not mapped
    expect(e.projections.map((p) => p.name)).toContain('category_id')
    const docs = await e.materialise([
      {id: '1', name: 'rake', category_id: 2},
      {id: '2', name: 'hoe', category_id: null},
      {id: '3', name: 'spade', category_id: 99},
    ])
    expect(docs).toEqual([
      {
        id: '1',
        name: 'rake',
        variants: [
          {sku: 'a', attrs: {}},
          {sku: 'b', attrs: {colour: 'red', size: 'L'}},
        ],
        attrs: {weight: '2kg'},
        category: {name: 'Tools', parent: 'Garden'},
      },
      {id: '2', name: 'hoe', variants: [{sku: 'c', attrs: {}}], attrs: {}, category: null},
      {id: '3', name: 'spade', variants: [], attrs: {}, category: null},
    ])
  })

  it('reads each related table once per batch, however many roots (no N+1), and places every child once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({min: 1, max: 300}),
        fc.array(fc.record({product: fc.integer({min: 1, max: 350}), position: fc.integer({min: 0, max: 5})}), {maxLength: 600}),
        async (roots, children) => {
          const variants = children.map((c, i) => ({id: i + 1, product_id: c.product, sku: `v${i + 1}`, position: c.position}))
          const mono = memoryMonolith({variants})
          const {svc, entity} = planOf({columns: {id: 'id'}, embed: [{table: 'variants', on: {id: 'product_id'}, as: 'variants', orderBy: ['position'], columns: {sku: 'sku', position: 'position'}}]})
          const e = await resolveEntity('catalog', svc, entity, 0, mono)
          const rows = Array.from({length: roots}, (_, i) => ({id: i + 1}))
          mono.reads = 0
          const docs = await e.materialise(rows)
          expect(mono.reads).toBe(1)
          let placed = 0
          for (const d of docs) {
            const vs = d.variants as {sku: string; position: number}[]
            placed += vs.length
            for (const v of vs) expect(variants.find((x) => x.sku === v.sku)!.product_id).toBe(d.id)
            // ordered by position, ties by the primary key
            for (let i = 1; i < vs.length; i++) {
              const a = vs[i - 1]
              const b = vs[i]
              expect(a.position < b.position || (a.position === b.position && Number(a.sku.slice(1)) < Number(b.sku.slice(1)))).toBe(true)
            }
          }
          expect(placed).toBe(variants.filter((v) => v.product_id <= roots).length)
        },
      ),
      {numRuns: 200},
    )
  })

  it('refuses plans it cannot assemble, naming the plan path', async () => {
    const mono = memoryMonolith({})
    const bad = async (entity: Record<string, unknown>): Promise<string> => {
      const {svc, entity: en} = planOf(entity)
      try {
        await resolveEntity('catalog', svc, en, 0, mono)
      } catch (err) {
        expect(err).toBeInstanceOf(UserError)
        return (err as Error).message
      }
      throw new Error('accepted')
    }
    expect(await bad({lookup: [{table: 'categories', on: {category_id: 'id'}}]})).toMatch(/entities\[0\]\.lookup\[0\]: a lookup without "as" merges its fields/)
    expect(await bad({embed: [{table: 'variants', on: {id: 'product_id'}, as: 'name'}]})).toMatch(/embed\[0\]: field "name" is already a field of the parent/)
    expect(await bad({embed: [{table: 'variants', on: {id: 'product'}, as: 'variants'}]})).toMatch(/embed\[0\]\.on\.id: column "product" does not exist in variants/)
    expect(await bad({embed: [{table: 'nope', on: {id: 'product_id'}, as: 'variants'}]})).toMatch(/embed\[0\]\.table: table nope does not exist/)
    expect(await bad({embed: [{table: 'variants', on: {id: 'product_id'}, as: 'v', orderBy: ['rank']}]})).toMatch(/orderBy: column "rank" does not exist/)
    expect(await bad({embed: [{table: 'variants', on: {id: 'product_id'}, as: 'v', keyBy: 'sku'}]})).toMatch(/keyBy: "sku" with the join column\(s\) product_id is not a key of variants \(primary key: id\)/)
    expect(() => planOf({embed: [{table: 'attrs', on: {id: 'product_id'}, as: 'a', value: 'value'}]})).toThrow(/`value` needs `keyBy`/)
    expect(() => planOf({embed: [{table: 'attrs', on: {}, as: 'a'}]})).toThrow(/must pair at least one parent column/)
    expect(() => planOf({embed: [{table: 'attrs; drop table x', on: {id: 'product_id'}, as: 'a'}]})).toThrow(/table/)
  })
})

describe('aggregate capture paths', () => {
  it('lets children of the root write their own key, and joins the rest back to the root', async () => {
    const {svc, entity} = planOf(CATALOG)
    const e = await resolveEntity('catalog', svc, entity, 0, memoryMonolith({}))
    const rels = e.relations!
    const variants = rels.find((r) => r.field === 'variants')!
    const category = rels.find((r) => r.field === 'category')!
    // a variant holds its product's key
    expect(rootKeyPath(e, variants, [])).toEqual({direct: ['product_id']})
    // a variant's attribute: through its variant, which holds the key (no join to products)
    expect(rootKeyPath(e, variants.children[0], [variants])).toEqual({tables: [{table: {name: 'variants'}, on: []}], key: ['product_id'], match: [['id', 'variant_id']]})
    // a category: the products pointing at it
    expect(rootKeyPath(e, category, [])).toEqual({tables: [{table: {name: 'products'}, on: []}], key: ['id'], match: [['category_id', 'id']]})
    // the parent category: products joined to their category, matched on its parent
    expect(rootKeyPath(e, category.children[0], [category])).toEqual({
      tables: [
        {table: {name: 'products'}, on: []},
        {table: {name: 'categories'}, on: [['category_id', 'id']]},
      ],
      key: ['id'],
      match: [['parent_id', 'id']],
    })
  })
})

describe('JSON difference paths', () => {
  const json = fc.letrec((tie) => ({
    value: fc.oneof({depthSize: 'small'}, fc.integer(), fc.string({maxLength: 4}), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
    array: fc.array(tie('value'), {maxLength: 4}),
    object: fc.dictionary(fc.string({minLength: 1, maxLength: 3}), tie('value'), {maxKeys: 4}),
  })).value

  it('finds nothing between equal values, whatever the key order', () => {
    fc.assert(
      fc.property(json, (v) => {
        const reordered = JSON.parse(JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x)))
        expect(jsonDifferences('doc', v, reordered)).toEqual([])
      }),
    )
  })

  it('names the path of a changed leaf', () => {
    expect(jsonDifferences('variants', [{price: '1.50', attributes: {size: 'S'}}, {price: '2.50'}], [{price: '1.50', attributes: {size: 'M'}}, {price: '9.00'}])).toEqual([
      {path: 'variants[0].attributes.size', source: 'S', target: 'M'},
      {path: 'variants[1].price', source: '2.50', target: '9.00'},
    ])
    expect(jsonDifferences('attrs', {'size (EU)': 40}, {})).toEqual([{path: 'attrs["size (EU)"]', source: 40, target: undefined}])
    expect(jsonDifferences('v', [1], [1, 2])).toEqual([{path: 'v[1]', source: undefined, target: 2}])
  })

  it('reports a planted change at its path, among at most the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.record({a: fc.integer(), b: fc.array(fc.integer(), {maxLength: 3})}), {minLength: 1, maxLength: 6}), fc.nat(), (doc, pick) => {
        const i = pick % doc.length
        const changed = structuredClone(doc)
        changed[i].a = doc[i].a + 1
        const diffs = jsonDifferences('x', doc, changed, 5)
        expect(diffs).toEqual([{path: `x[${i}].a`, source: doc[i].a, target: doc[i].a + 1}])
      }),
    )
  })
})
