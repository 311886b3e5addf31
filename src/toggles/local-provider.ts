import type {StateStore} from '../state/state-store.js'
import {recordToggleChange} from './history.js'
import {getLocalToggle, requireValidPct, upsertLocalToggle} from './local-toggles.js'
import type {SetRolloutOptions, ToggleProvider} from './provider.js'

/**
 * Toggles in the state store's `toggles` table, for embedded runs, tests and
 * teams without a toggle server. Applications evaluate them with
 * {@link LocalToggleClient}, which polls the table; a change is seen by every
 * client within its poll interval (`toggles.pollMs`).
 */
export class LocalToggleProvider implements ToggleProvider {
  readonly kind = 'local' as const

  constructor(
    private readonly store: StateStore,
    readonly opts: {pollMs: number} = {pollMs: 1000},
  ) {}

  async setRollout(toggle: string, pct: number, opts: SetRolloutOptions): Promise<void> {
    requireValidPct(pct, `toggle ${toggle}`)
    await upsertLocalToggle(this.store, {name: toggle, service: opts.service, pct})
    await recordToggleChange(this.store, {service: opts.service, toggle, pct, provider: 'local'})
  }

  async getRollout(toggle: string): Promise<number | undefined> {
    const t = await getLocalToggle(this.store, toggle)
    if (!t) return undefined
    return t.enabled ? t.pct : 0
  }

  async close(): Promise<void> {
    // the state store belongs to the caller
  }
}
