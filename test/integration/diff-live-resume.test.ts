/**
 * Runs that do not happen in a quiet world: writes landing during a diff (the
 * relay catching up before anything is reported), and a run interrupted after
 * a few chunks that `resume` finishes with the same result without redoing the
 * chunks it had finished.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {installCapture} from '../../src/capture/capture.js'
import {loadChunks} from '../../src/diff/diff-store.js'
import {DiffInterrupted, lastDiff, runDiff} from '../../src/diff/run-diff.js'
import {connectEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import {writeCheckpoint} from '../../src/state/checkpoints.js'
import type {ProgressReporter} from '../../src/util/progress.js'
import type {Workspace} from '../../src/workspace.js'
import {type FreshDatabase, freshPg} from '../helpers/db.js'
import {copyService, keys, openWorkspace, sqlOn} from './diff-support.js'

const N = 2000

/** A progress reporter that calls `onChunk` after every finished chunk. */
function onChunks(onChunk: (n: number) => void | Promise<void>): ProgressReporter {
  let n = 0
  return {
    task: () => ({setTotal() {}, update() {}, stop() {}, increment: () => void onChunk(++n)}),
    note: () => undefined,
    close: () => undefined,
  }
}

describe('live writes and resume, PostgreSQL → PostgreSQL', () => {
  let src: FreshDatabase
  let dst: FreshDatabase
  let ws: Workspace
  // an open connection, so a write lands within milliseconds of the chunk that triggers it
  let writer: Engine

  beforeAll(async () => {
    ;[src, dst] = await Promise.all([freshPg('dl_src'), freshPg('dl_dst')])
    writer = await connectEngine(src.url)
    await sqlOn(src.url, `CREATE TABLE accounts (id integer PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL)`, `INSERT INTO accounts SELECT g, 'owner ' || g, g FROM generate_series(1, ${N}) g`)
    ws = await openWorkspace({monolith: {url: src.url}, services: {bank: {target: {url: dst.url}, entities: [{source: 'accounts'}]}}})
    await installCapture(ws, 'bank')
    await copyService(ws, 'bank')
    // the backfill is done: the relay applies this entity's changes
    await writeCheckpoint(ws.state, 'bank', 'accounts', 'backfill', {done: true})
    // one real difference that no relay will fix
    await sqlOn(dst.url, `UPDATE accounts SET owner = 'tampered' WHERE id = 7`)
  })
  afterAll(async () => {
    await writer?.close()
    await ws?.close()
    await Promise.all([src?.drop(), dst?.drop()])
  })

  it('a write landing during the diff is re-checked after the relay caught up, and not reported', async () => {
    let wrote = false
    const progress = onChunks(async (n) => {
      if (n === 1 && !wrote) {
        wrote = true
        // lands in the last chunk, which has not been compared yet; captured in the outbox
        await writer.sql!.execute(`UPDATE accounts SET balance = balance + 100 WHERE id = ${N - 3}`)
        await writer.sql!.execute(`INSERT INTO accounts VALUES (${N + 1}, 'new', 1)`)
      }
    })
    const r = await runDiff(ws, {service: 'bank', chunkRows: 100, parallel: 1, progress})
    expect(wrote).toBe(true)
    const e = r.services[0].entities[0]
    expect(e.changed.map((c) => c.key)).toEqual([[7]])
    expect(e.missing).toEqual([])
    expect(e.resolvedLive).toBe(2)
    expect(e.counts).toEqual({missing: 0, extra: 0, changed: 1})
    // the relay really applied the write
    const again = await runDiff(ws, {service: 'bank', recheckLive: false})
    expect(again.totals).toMatchObject({missing: 0, extra: 0, changed: 1})
  })

  it('without the re-check, a write in flight is reported', async () => {
    const progress = onChunks(async (n) => {
      if (n === 1) await writer.sql!.execute(`UPDATE accounts SET balance = balance + 1 WHERE id = ${N - 2}`)
    })
    const r = await runDiff(ws, {service: 'bank', chunkRows: 100, parallel: 1, progress, recheckLive: false})
    expect(keys(r.services[0].entities[0].changed.map((c) => c.key))).toEqual(keys([[7], [N - 2]]))
    // and a later run with the relay catching up no longer sees it
    const later = await runDiff(ws, {service: 'bank', chunkRows: 500})
    expect(later.services[0].entities[0].changed.map((c) => c.key)).toEqual([[7]])
  })

  it('resumes an interrupted run: same result, finished chunks not redone', async () => {
    await sqlOn(dst.url, `DELETE FROM accounts WHERE id IN (3, ${N - 1})`, `UPDATE accounts SET balance = 0 WHERE id = 1000`)
    const full = await runDiff(ws, {service: 'bank', chunkRows: 100, leafRows: 10, parallel: 1})
    const fullE = full.services[0].entities[0]
    expect(fullE.chunks).toBe(21) // 2,001 rows: 20 full chunks and the open-ended last one

    const controller = new AbortController()
    const first = runDiff(ws, {service: 'bank', chunkRows: 100, leafRows: 10, parallel: 1, signal: controller.signal, progress: onChunks((n) => (n === 4 ? controller.abort() : undefined))})
    const err = await first.then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(DiffInterrupted)
    const runId = (err as DiffInterrupted).runId
    const saved = await loadChunks(ws.state, runId, 'bank', 'accounts')
    expect(saved.map((c) => c.no)).toEqual([0, 1, 2, 3])
    // an interrupted run is not a finished diff
    expect((await lastDiff(ws, 'bank'))?.runId).toBe(full.runId)

    let redone = 0
    const resumed = await runDiff(ws, {service: 'bank', resume: true, parallel: 1, progress: onChunks(() => void redone++)})
    expect(resumed.runId).toBe(runId)
    const e = resumed.services[0].entities[0]
    expect(e.chunksResumed).toBe(4)
    expect(redone).toBe(fullE.chunks - 4)
    expect(e.chunks).toBe(fullE.chunks)
    expect(keys(e.missing)).toEqual(keys(fullE.missing))
    expect(keys(e.missing)).toEqual(keys([[3], [N - 1]]))
    expect(keys(e.changed.map((c) => c.key))).toEqual(keys(fullE.changed.map((c) => c.key)))
    expect(e.counts).toEqual(fullE.counts)
    expect(e.rowsSource).toBe(fullE.rowsSource)
    expect((await lastDiff(ws, 'bank'))?.runId).toBe(runId)

    // a finished run cannot be resumed
    await expect(runDiff(ws, {service: 'bank', resume: runId})).rejects.toThrow(/already finished/)
  })
})
