/**
 * JSON push-down between two PostgreSQL stores: a json/jsonb column is hashed
 * as jsonb text on both sides, so entities with JSON columns are checksummed
 * in the databases. The verdicts stay those of the canonical encoding: key
 * order and whitespace never differ, a number spelt `1.0` on one side and `1`
 * on the other (jsonb keeps the spelling, canonical JSON does not) is cleared
 * by the row re-check, and a real change is found with its path.
 */
import {createHash} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runDiff} from '../../src/diff/run-diff.js'
import {hashRow} from '../../src/diff/row-hash.js'
import {sqlRowHash} from '../../src/diff/sql-hash.js'
import type {Engine} from '../../src/engines/engine.js'
import type {Workspace} from '../../src/workspace.js'
import {connectEngine} from '../../src/engines/connect.js'
import {type FreshDatabase, freshPg} from '../helpers/db.js'
import {keys, openWorkspace, sqlOn} from './diff-support.js'

/** Source JSON text per id; the target gets the same value with its keys in another order and other whitespace. */
const DOCS: Record<number, string> = {
  1: '{"b": 1, "a": [true, null, "x"]}',
  2: '{"é": {"z": null, "a": "x"}, "A": 100, "aa": []}',
  3: '[1, {"y": 1, "x": [true, null]}, "😀"]',
  4: '"text"',
  5: '{"price": 1.0, "n": 2}',
}

function reordered(text: string): string {
  const flip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(flip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, flip(x)])) : v
  return JSON.stringify(flip(JSON.parse(text)), null, 1)
}

const ddl = (json: string) => `CREATE TABLE docs (id integer PRIMARY KEY, doc ${json}, note text)`
const rows = (docs: Record<number, string>, map: (t: string) => string = (t) => t): [string, unknown[]] => {
  const ids = Object.keys(docs).map(Number)
  const values = ids.map((_, i) => `($${i * 3 + 1}, $${i * 3 + 2}, $${i * 3 + 3})`).join(', ')
  return [`INSERT INTO docs VALUES ${values}`, ids.flatMap((id) => [id, map(docs[id]), `n${id}`])]
}

function plan(monolith: string, target: string) {
  return {monolith: {url: monolith}, services: {s: {target: {url: target}, entities: [{source: 'docs', target: 'docs', key: ['id']}]}}}
}

describe('json push-down between PostgreSQL stores', () => {
  const dbs: FreshDatabase[] = []
  let source: FreshDatabase
  let target: FreshDatabase
  let ws: Workspace

  beforeAll(async () => {
    ;[source, target] = await Promise.all([freshPg('jpd_src'), freshPg('jpd_tgt')])
    dbs.push(source, target)
    await sqlOn(source.url, ddl('jsonb'), rows(DOCS))
    // the service stores plain json, keys in another order, and 1.0 spelt 1 (as a JS round trip writes it)
    await sqlOn(target.url, ddl('json'), rows(DOCS, reordered))
    ws = await openWorkspace(plan(source.url, target.url))
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all(dbs.map((d) => d.drop()))
  })

  it('checksums JSON in both databases and finds them equal', async () => {
    const r = await runDiff(ws, {service: 's', chunkRows: 2})
    const e = r.services[0].entities[0]
    expect(e, JSON.stringify(e, null, 1)).toMatchObject({status: 'clean', mode: 'push-down', rowsSource: 5, rowsTarget: 5})
    expect(e.notes).toEqual([])
    // the 1.0 / 1 row hashes apart in SQL; the re-check in JS clears it
    expect(e.chunksMismatched).toBeGreaterThanOrEqual(1)
  })

  it('finds a changed JSON value, with its path', async () => {
    await sqlOn(target.url, [`UPDATE docs SET doc = $1 WHERE id = 2`, ['{"A": 101, "aa": [], "é": {"a": "x", "z": null}}']])
    const r = await runDiff(ws, {service: 's', chunkRows: 2})
    const e = r.services[0].entities[0]
    expect(e.mode).toBe('push-down')
    expect(e.status).toBe('differences')
    expect(keys(e.changed.map((c) => c.key))).toEqual(['2'])
    expect(e.changed[0].columns.map((c) => c.name)).toEqual(['doc.A']) // the path inside the JSON value
    expect(e.missing).toEqual([])
    expect(e.extra).toEqual([])
  })

  it('hashes json by its jsonb text only when asked, never as the JS row hash', async () => {
    const cols = [{expr: '"doc"', type: {type: 'json' as const}}]
    expect(sqlRowHash('postgres', cols)).toBeNull()
    expect(sqlRowHash('mysql', [{...cols[0], jsonb: true}])).toBeNull()
    const h = sqlRowHash('postgres', [{...cols[0], jsonb: true}])!
    const e: Engine = await connectEngine(source.url)
    try {
      const [row] = await e.sql!.query<{h: string}>(`SELECT ${h} AS h FROM docs WHERE id = 3`)
      // `32:` and the md5 of jsonb's text (not of the canonical one): `[1, {"x": [true, null], "y": 1}, "😀"]`
      const md5 = (t: string): string => createHash('md5').update(t, 'utf8').digest('hex')
      expect(row.h).toBe(md5(`32:${md5('[1, {"x": [true, null], "y": 1}, "😀"]')}`))
      expect(row.h).not.toBe(hashRow([JSON.parse(DOCS[3])], [{type: 'json'}]))
    } finally {
      await e.close()
    }
  })
})
