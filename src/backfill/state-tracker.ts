import {readCheckpoint, writeCheckpoint} from '../state/checkpoints.js'
import type {StateStore} from '../state/state-store.js'
import {BACKFILL_KIND, isResumable, type BackfillState} from './backfill-state.js'

/**
 * Persists one entity's `BackfillState` after every committed chunk. Workers
 * of the entity share one tracker: writes are serialised (never two in
 * flight, so an older snapshot can never overwrite a newer one) and
 * coalesced (a save requested while another is queued rides along with it).
 * `save()` resolves once a snapshot taken after the call is durable.
 */
export class StateTracker {
  private chain: Promise<void> = Promise.resolve()
  private queued?: Promise<void>
  private writes = 0

  constructor(
    private readonly store: StateStore,
    private readonly service: string,
    private readonly entity: string,
    readonly state: BackfillState,
  ) {}

  /** The stored state of an entity, when there is one this version can resume. */
  static async load(store: StateStore, service: string, entity: string): Promise<BackfillState | undefined> {
    const s = await readCheckpoint<unknown>(store, service, entity, BACKFILL_KIND)
    return isResumable(s) ? s : undefined
  }

  /** Checkpoint writes done so far. */
  get checkpoints(): number {
    return this.writes
  }

  save(): Promise<void> {
    if (this.queued) return this.queued
    const p = this.chain.then(async () => {
      this.queued = undefined
      const snapshot = JSON.parse(JSON.stringify(this.state)) as BackfillState
      await writeCheckpoint(this.store, this.service, this.entity, BACKFILL_KIND, snapshot)
      this.writes++
    })
    this.queued = p
    this.chain = p.catch(() => undefined)
    return p
  }
}
