/**
 * `strangler diff` and `strangler repair` as an operator or a CI job runs them
 * (`node bin/dev.js ...` in a directory holding the plan): exit codes 0 clean,
 * 1 differences, 2 could not run; JUnit XML that validates against the common
 * (Apache Ant) JUnit schema; JSON and Markdown reports; no password anywhere.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {XMLParser, XMLValidator} from 'fast-xml-parser'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runDiff} from '../../src/diff/run-diff.js'
import type {Workspace} from '../../src/workspace.js'
import {planDir, runCli} from '../helpers/cli.js'
import {type FreshDatabase, freshPg, testPassword} from '../helpers/db.js'
import {copyService, openWorkspace, sqlOn} from './diff-support.js'

/** The Apache Ant JUnit schema (the one CI servers accept), as published in the windyroad JUnit.xsd. */
const JUNIT_XSD = `<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" attributeFormDefault="unqualified">
  <xs:element name="testsuite" type="testsuite"/>
  <xs:simpleType name="ISO8601_DATETIME_PATTERN">
    <xs:restriction base="xs:dateTime">
      <xs:pattern value="[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"/>
    </xs:restriction>
  </xs:simpleType>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="testsuite" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:complexContent>
              <xs:extension base="testsuite">
                <xs:attribute name="package" type="xs:token" use="required"/>
                <xs:attribute name="id" type="xs:int" use="required"/>
              </xs:extension>
            </xs:complexContent>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:complexType name="testsuite">
    <xs:sequence>
      <xs:element name="properties">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="property" minOccurs="0" maxOccurs="unbounded">
              <xs:complexType>
                <xs:attribute name="name" use="required">
                  <xs:simpleType><xs:restriction base="xs:token"><xs:minLength value="1"/></xs:restriction></xs:simpleType>
                </xs:attribute>
                <xs:attribute name="value" type="xs:string" use="required"/>
              </xs:complexType>
            </xs:element>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
      <xs:element name="testcase" minOccurs="0" maxOccurs="unbounded">
        <xs:complexType>
          <xs:choice minOccurs="0">
            <xs:element name="error">
              <xs:complexType>
                <xs:simpleContent>
                  <xs:extension base="pre-string">
                    <xs:attribute name="message" type="xs:string"/>
                    <xs:attribute name="type" type="xs:string" use="required"/>
                  </xs:extension>
                </xs:simpleContent>
              </xs:complexType>
            </xs:element>
            <xs:element name="failure">
              <xs:complexType>
                <xs:simpleContent>
                  <xs:extension base="pre-string">
                    <xs:attribute name="message" type="xs:string"/>
                    <xs:attribute name="type" type="xs:string" use="required"/>
                  </xs:extension>
                </xs:simpleContent>
              </xs:complexType>
            </xs:element>
          </xs:choice>
          <xs:attribute name="name" type="xs:token" use="required"/>
          <xs:attribute name="classname" type="xs:token" use="required"/>
          <xs:attribute name="time" type="xs:decimal" use="required"/>
        </xs:complexType>
      </xs:element>
      <xs:element name="system-out"><xs:simpleType><xs:restriction base="pre-string"><xs:whiteSpace value="preserve"/></xs:restriction></xs:simpleType></xs:element>
      <xs:element name="system-err"><xs:simpleType><xs:restriction base="pre-string"><xs:whiteSpace value="preserve"/></xs:restriction></xs:simpleType></xs:element>
    </xs:sequence>
    <xs:attribute name="name" use="required">
      <xs:simpleType><xs:restriction base="xs:token"><xs:minLength value="1"/></xs:restriction></xs:simpleType>
    </xs:attribute>
    <xs:attribute name="timestamp" type="ISO8601_DATETIME_PATTERN" use="required"/>
    <xs:attribute name="hostname" use="required">
      <xs:simpleType><xs:restriction base="xs:token"><xs:minLength value="1"/></xs:restriction></xs:simpleType>
    </xs:attribute>
    <xs:attribute name="tests" type="xs:int" use="required"/>
    <xs:attribute name="failures" type="xs:int" use="required"/>
    <xs:attribute name="errors" type="xs:int" use="required"/>
    <xs:attribute name="time" type="xs:decimal" use="required"/>
  </xs:complexType>
  <xs:simpleType name="pre-string">
    <xs:restriction base="xs:string"><xs:whiteSpace value="preserve"/></xs:restriction>
  </xs:simpleType>
</xs:schema>
`

function xmllint(): string | undefined {
  try {
    execFileSync('xmllint', ['--version'], {stdio: 'ignore'})
    return 'xmllint'
  } catch {
    return undefined
  }
}

type Attrs = Record<string, string>

/** Well-formed, and every element and attribute the schema requires is there (with or without xmllint). */
function checkJunit(xml: string, dir: string): {suites: (Attrs & {testcase: (Attrs & {failure?: Attrs & {'#text'?: string}; error?: Attrs})[]})[]} {
  expect(XMLValidator.validate(xml)).toBe(true)
  const doc = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase', 'property'].includes(name), parseAttributeValue: false}).parse(xml)
  const suites = doc.testsuites.testsuite as (Attrs & {testcase?: Attrs[]; properties: unknown; 'system-out': unknown; 'system-err': unknown})[]
  for (const s of suites) {
    for (const a of ['name', 'timestamp', 'hostname', 'tests', 'failures', 'errors', 'time', 'package', 'id']) expect(s, a).toHaveProperty(a)
    expect(s.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/)
    expect('properties' in s && 'system-out' in s && 'system-err' in s).toBe(true)
    for (const tc of s.testcase ?? []) for (const a of ['name', 'classname', 'time']) expect(tc, a).toHaveProperty(a)
  }
  const lint = xmllint()
  if (lint) {
    const file = join(dir, 'report.xml')
    const xsd = join(dir, 'junit.xsd')
    writeFileSync(file, xml)
    writeFileSync(xsd, JUNIT_XSD)
    // throws (non-zero exit) when the report does not validate
    execFileSync(lint, ['--noout', '--schema', xsd, file], {stdio: 'pipe'})
  }
  return {suites: suites.map((s) => ({...s, testcase: (s.testcase ?? []) as never}))}
}

describe('strangler diff and repair on the command line', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let dir: string
  let env: NodeJS.ProcessEnv
  let ws: Workspace

  const plan = {
    monolith: {url: '${MONO_URL}'},
    services: {
      shop: {target: {url: '${SHOP_URL}'}, entities: [{source: 'items', sensitive: ['secret']}]},
      ghost: {target: {url: '${SHOP_URL}'}, entities: [{source: 'items', target: 'ghost_items'}]},
    },
  }

  const cli = async (...args: string[]) => {
    const r = await runCli(args, {cwd: dir, env})
    expect(r.stdout + r.stderr).not.toContain(testPassword())
    return r
  }

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshPg('dc_src'), freshPg('dc_dst')])
    await sqlOn(src.url, `CREATE TABLE items (id integer PRIMARY KEY, name text, secret text)`, `INSERT INTO items SELECT g, 'item <' || g || '> & "co"', 'hunter' || g FROM generate_series(1, 500) g`)
    dir = planDir(plan)
    env = {MONO_URL: src.url, SHOP_URL: dst.url}
    ws = await openWorkspace({monolith: {url: src.url}, services: {shop: {target: {url: dst.url}, entities: [{source: 'items', sensitive: ['secret']}]}}})
    await copyService(ws, 'shop')
  })
  afterAll(async () => {
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  it('exits 0 on a clean diff and records it for status', async () => {
    const r = await cli('diff', 'shop')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/clean/)
    const s = await cli('status', 'shop', '--json')
    expect(s.code, s.stderr).toBe(0)
    const st = JSON.parse(s.stdout)
    expect(st.services[0].lastDiff).toMatchObject({status: 'clean', totals: {rowsCompared: 500, missing: 0, extra: 0, changed: 0}})
    expect(st.services[0].lastDiff.ageMinutes).toBeLessThan(5)
  })

  it('exits 1 on differences, with a JUnit report that validates', async () => {
    await sqlOn(dst.url, `DELETE FROM items WHERE id = 10`, `UPDATE items SET name = 'x & <y>', secret = 'leaked' WHERE id = 20`, `INSERT INTO items VALUES (900, 'extra', 's')`)
    const file = join(dir, 'diff.xml')
    const r = await cli('diff', 'shop', '--format', 'junit', '--output', file, '--chunk-rows', '100')
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toMatch(/DIFFERENCES FOUND/)
    expect(r.stdout).toContain(`junit report written to ${file}`)
    const xml = readFileSync(file, 'utf8')
    const {suites} = checkJunit(xml, dir)
    expect(suites).toHaveLength(1)
    expect(suites[0]).toMatchObject({name: 'strangler diff shop', tests: '1', failures: '1', errors: '0', package: 'strangler.diff', id: '0'})
    const tc = suites[0].testcase[0]
    expect(tc).toMatchObject({name: 'items', classname: 'strangler.diff.shop'})
    expect(tc.failure?.type).toBe('DataDifference')
    expect(tc.failure?.message).toContain('1 missing, 1 extra, 1 changed')
    const body = tc.failure?.['#text'] ?? ''
    expect(body).toContain('missing in target (1): 10')
    expect(body).toContain('extra in target (1): 900')
    expect(body).toContain('20: name "item <20> & \\"co\\"" → "x & <y>"; secret "********" → "********"')
    expect(xml).not.toContain('leaked')
    expect(xml).not.toContain('hunter')
  })

  it('writes JSON and Markdown reports, with exit code 1', async () => {
    const j = await cli('diff', 'shop', '--format', 'json')
    expect(j.code).toBe(1)
    const out = JSON.parse(j.stdout)
    expect(out).toMatchObject({status: 'differences', totals: {missing: 1, extra: 1, changed: 1}})
    expect(out.services[0].entities[0].missing).toEqual([[10]])

    const m = await cli('diff', 'shop', '--format', 'markdown')
    expect(m.code).toBe(1)
    expect(m.stdout).toContain('## ❌ strangler diff: differences found')
    expect(m.stdout).toMatch(/\| shop \| items \| push-down \| 500 \| 500 \| 1 \| 1 \| 1 \| ❌ differs \|/)
    expect(m.stdout).toContain('**Missing in the service** (1): `10`')
  })

  it('exits 2 when it could not run: an unknown service, a missing service table (a JUnit error)', async () => {
    const u = await cli('diff', 'nosuch')
    expect(u.code).toBe(2)
    expect(u.stderr).toMatch(/Unknown service "nosuch"/)

    const file = join(dir, 'ghost.xml')
    const g = await cli('diff', 'ghost', '--format', 'junit', '--output', file)
    expect(g.code).toBe(2)
    const {suites} = checkJunit(readFileSync(file, 'utf8'), dir)
    expect(suites[0]).toMatchObject({errors: '1', failures: '0'})
    expect(suites[0].testcase[0].error?.message).toMatch(/ghost_items does not exist/)
  })

  it('repair --dry-run changes nothing; repair makes the diff clean', async () => {
    const dry = await cli('repair', 'shop', '--dry-run', '--json')
    expect(dry.code, dry.stderr).toBe(0)
    expect(JSON.parse(dry.stdout)).toMatchObject({status: 'dry-run', totals: {keys: 3, upserts: 2, deletes: 1}})
    const still = await runDiff(ws, {service: 'shop'})
    expect(still.totals).toMatchObject({missing: 1, extra: 1, changed: 1})

    const fix = await cli('repair', 'shop')
    expect(fix.code, fix.stderr).toBe(0)
    expect(fix.stdout).toContain('All 3 keys now match')
    const clean = await cli('diff', 'shop')
    expect(clean.code).toBe(0)
    expect(existsSync(join(dir, 'diff.xml'))).toBe(true)
  })
})
