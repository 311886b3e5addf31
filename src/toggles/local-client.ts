import type {StateStore} from '../state/state-store.js'
import {errorMessage} from '../util/errors.js'
import {logger, type Logger} from '../util/log.js'
import {listLocalToggles, type LocalToggle} from './local-toggles.js'
import type {ToggleClient, ToggleContext} from './provider.js'
import {inRollout} from './rollout.js'

export interface LocalToggleClientOptions {
  /** How often the `toggles` table is re-read; default 1000 ms. */
  pollMs?: number
  log?: Logger
}

/**
 * Evaluates the state store's local toggles in the application, exactly as
 * unleash-client evaluates a flexibleRollout strategy (same hash, same
 * buckets), so a user lands on the same side with either provider. Keeps the
 * last good copy when a poll fails.
 *
 *   const toggles = await LocalToggleClient.open(store, {pollMs: 1000})
 *   toggles.isEnabled('strangler.orders.reads', {userId: 'u42'})
 */
export class LocalToggleClient implements ToggleClient {
  private toggles = new Map<string, LocalToggle>()
  private timer: NodeJS.Timeout | undefined
  private polling: Promise<void> | undefined
  private failing = false
  private readonly log: Logger

  private constructor(
    private readonly store: StateStore,
    readonly pollMs: number,
    log?: Logger,
  ) {
    this.log = (log ?? logger()).child({component: 'local-toggles'})
  }

  /** Loads the toggles once (throws when the state store cannot be read), then polls. */
  static async open(store: StateStore, opts: LocalToggleClientOptions = {}): Promise<LocalToggleClient> {
    const c = new LocalToggleClient(store, opts.pollMs ?? 1000, opts.log)
    await c.load()
    c.timer = setInterval(() => void c.refresh(), c.pollMs)
    c.timer.unref()
    return c
  }

  private async load(): Promise<void> {
    const rows = await listLocalToggles(this.store)
    this.toggles = new Map(rows.map((t) => [t.name, t]))
  }

  /** Re-reads the table now; never throws (a failed poll keeps the last copy). */
  refresh(): Promise<void> {
    this.polling ??= this.load()
      .then(() => {
        if (this.failing) this.log.info('local toggles readable again')
        this.failing = false
      })
      .catch((err: unknown) => {
        if (!this.failing) this.log.warn('cannot read local toggles; keeping the last known values', {error: errorMessage(err)})
        this.failing = true
      })
      .finally(() => {
        this.polling = undefined
      })
    return this.polling
  }

  isEnabled(toggle: string, context: ToggleContext): boolean {
    const t = this.toggles.get(toggle)
    if (!t || !t.enabled) return false
    return inRollout({pct: t.pct, groupId: t.name, stickiness: t.stickiness}, context)
  }

  /** The percentage this client currently applies, or undefined for an unknown toggle. */
  rollout(toggle: string): number | undefined {
    const t = this.toggles.get(toggle)
    return t ? (t.enabled ? t.pct : 0) : undefined
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.polling
  }
}
