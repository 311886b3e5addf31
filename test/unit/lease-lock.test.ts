/**
 * Lease locks on an embedded PostgreSQL (PGlite): a renewal is conditional on
 * the run still holding the lease, so a holder whose lease was taken over
 * (`--steal`) learns it through `Lease.signal` and `confirm()`, with who took
 * it, when and why; its release leaves the new holder's row alone. Leases of
 * one run in one process are shared; a re-run with the same run id takes its
 * lease back; the relay lock is a separate name with its own refusal.
 */
import {randomUUID} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {connectEngine} from '../../src/engines/connect.js'
import type {Engine} from '../../src/engines/engine.js'
import {acquireLease, currentLease, LeaseLostError, relayLockName, type Lease} from '../../src/state/locks.js'
import {StateStore} from '../../src/state/state-store.js'

let engine: Engine
let state: StateStore

beforeAll(async () => {
  engine = await connectEngine(`pglite://memory/lease-lock-${process.pid}`)
  state = StateStore.on(engine)
  await state.migrate()
}, 60_000)
afterAll(async () => {
  await engine?.close()
})

function lostOf(lease: Lease): Promise<unknown> {
  return new Promise((resolve) => {
    if (lease.signal.aborted) resolve(lease.signal.reason)
    lease.signal.addEventListener('abort', () => resolve(lease.signal.reason), {once: true})
  })
}

describe('lease locks', () => {
  it('a holder whose lease was stolen learns it on its next renewal: who, when, why; its release leaves the new row', async () => {
    const alice = await acquireLease(state, 'users', {runId: randomUUID(), command: 'shift', renewMs: 100})
    await alice.confirm()
    const lost = lostOf(alice)
    const bob = await acquireLease(state, 'users', {runId: randomUUID(), command: 'write-through', steal: true, reason: 'alice is on leave'})
    expect(bob.stolenFrom?.runId).toBe(alice.info.runId)

    // the background renewal (every 100 ms here) notices
    const reason = await lost
    expect(reason).toBeInstanceOf(LeaseLostError)
    const err = reason as LeaseLostError
    expect(err.exitCode).toBe(2)
    expect(err.code).toBe('E_LOCK_LOST')
    expect(err.message).toBe(
      `The lock on service users was taken over by ${bob.info.holder} (strangler write-through, run ${bob.info.runId}) at ${bob.info.acquiredAt} (reason: alice is on leave); stopping.`,
    )
    expect(alice.lost).toBe(err)
    expect(() => alice.check()).toThrow(err)
    await expect(alice.confirm()).rejects.toBe(err)

    await alice.release()
    expect((await currentLease(state, 'users'))?.runId).toBe(bob.info.runId)
    await bob.confirm()
    expect(bob.lost).toBeUndefined()
    await bob.release()
    expect(await currentLease(state, 'users')).toBeUndefined()
  })

  it('confirm() finds a takeover at once, without waiting for the timer', async () => {
    const a = await acquireLease(state, 'orders', {runId: randomUUID(), command: 'relay', renewMs: 60_000})
    const b = await acquireLease(state, 'orders', {runId: randomUUID(), command: 'relay', steal: true, reason: 'takeover'})
    expect(a.signal.aborted).toBe(false)
    await expect(a.confirm()).rejects.toThrow(/^The lock on service orders was taken over by .* \(strangler relay, run [0-9a-f-]{36}\) at .* \(reason: takeover\); stopping\.$/)
    expect(a.signal.aborted).toBe(true)
    await a.release()
    await b.release()
  })

  it('renewal is conditional on the holder too: the same run id under another holder is a loss', async () => {
    const runId = randomUUID()
    const a = await acquireLease(state, 'carts', {runId, command: 'shift', renewMs: 60_000})
    await state.db.updateTable(state.t('locks')).set({holder: 'mallory@elsewhere pid 1'}).where('service', '=', 'carts').execute()
    await expect(a.confirm()).rejects.toBeInstanceOf(LeaseLostError)
    await a.release()
    expect((await currentLease(state, 'carts'))?.holder).toBe('mallory@elsewhere pid 1')
    await state.db.deleteFrom(state.t('locks')).where('service', '=', 'carts').execute()
  })

  it('a takeover is audited when it happens, so a holder whose lease was taken and released since still learns by whom', async () => {
    const alice = await acquireLease(state, relayLockName('carts'), {runId: randomUUID(), command: 'relay', renewMs: 60_000})
    const bob = await acquireLease(state, relayLockName('carts'), {runId: randomUUID(), command: 'relay', steal: true, reason: 'alice hangs'})
    await bob.release()
    expect(await currentLease(state, relayLockName('carts'))).toBeUndefined()
    await expect(alice.confirm()).rejects.toThrow(
      `The relay lock of service carts was taken over by ${bob.info.holder} (strangler relay, run ${bob.info.runId}) at ${bob.info.acquiredAt} (reason: alice hangs); stopping.`,
    )
    const [rec] = await state.db.selectFrom(state.t('audit')).selectAll().where('command', '=', 'lock-takeover').where('run_id', '=', bob.info.runId).execute()
    expect(rec).toMatchObject({service: 'carts', outcome: 'taken-over'})
    expect(String(rec.detail)).toMatch(/took over the lock of the relay of service carts from .* \(strangler relay, run [0-9a-f-]{36}\): alice hangs$/)
    await alice.release()
  })

  it('a lease row removed by someone else is a loss too', async () => {
    const a = await acquireLease(state, 'carts', {runId: randomUUID(), command: 'shift', renewMs: 60_000})
    await state.db.deleteFrom(state.t('locks')).where('service', '=', 'carts').execute()
    await expect(a.confirm()).rejects.toThrow('The lock on service carts was removed by someone else while this run held it; stopping.')
    await a.release()
  })

  it('one run in one process shares its lease: released with the last handle, never lost to itself', async () => {
    const runId = randomUUID()
    const a = await acquireLease(state, relayLockName('users'), {runId, command: 'relay', renewMs: 100})
    const b = await acquireLease(state, relayLockName('users'), {runId, command: 'relay', renewMs: 100})
    await a.release()
    await new Promise((r) => setTimeout(r, 350))
    await b.confirm()
    expect(b.lost).toBeUndefined()
    expect((await currentLease(state, relayLockName('users')))?.runId).toBe(runId)
    await b.release()
    expect(await currentLease(state, relayLockName('users'))).toBeUndefined()
  })

  it('a re-run with the same run id (after a crash) takes its lease back and renews it as its own', async () => {
    const runId = randomUUID()
    await state.db
      .insertInto(state.t('locks'))
      .values({service: 'payments', holder: 'ops@other-host pid 4242', run_id: runId, command: 'relay', acquired_at: new Date().toISOString(), expires_at: new Date(Date.now() + 60_000).toISOString(), reason: null})
      .execute()
    const again = await acquireLease(state, 'payments', {runId, command: 'relay', renewMs: 60_000})
    expect(again.stolenFrom).toBeUndefined()
    expect((await currentLease(state, 'payments'))?.holder).toBe(again.info.holder)
    await again.confirm()
    expect(again.lost).toBeUndefined()
    await again.release()
  })

  it('the relay lock is apart from the service lock, and a second relay is refused naming the holder', async () => {
    const service = await acquireLease(state, 'users', {runId: randomUUID(), command: 'write-through'})
    const relay = await acquireLease(state, relayLockName('users'), {runId: randomUUID(), command: 'relay'})
    const second = acquireLease(state, relayLockName('users'), {runId: randomUUID(), command: 'relay'})
    await expect(second).rejects.toMatchObject({code: 'E_LOCKED', exitCode: 2})
    await expect(second).rejects.toThrow(
      new RegExp(`^The relay of service users is running: its lock is held by ${relay.info.holder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(strangler relay, run ${relay.info.runId}\\) since `),
    )
    await relay.release()
    await service.release()
  })
})
