/**
 * Toggle providers: where a service's traffic-shift percentage lives.
 * `unleash` changes a flexibleRollout strategy through Unleash's Admin API and
 * confirms with unleash-client that applications see it; `local` keeps
 * toggles in the state store (embedded runs, tests, teams without a toggle server).
 */
export interface ToggleProvider {
  readonly kind: 'local' | 'unleash'
  /**
   * Creates the toggle if missing, sets its rollout to `pct` (0–100, sticky on
   * the configured stickiness field) and enables it. Resolves only once
   * clients evaluate the new percentage.
   */
  setRollout(toggle: string, pct: number, opts: SetRolloutOptions): Promise<void>
  /** The current rollout percentage, or undefined when the toggle does not exist. */
  getRollout(toggle: string): Promise<number | undefined>
  close(): Promise<void>
}

export interface SetRolloutOptions {
  /** The service the toggle belongs to (recorded with the change). */
  service: string
  /** Aborts waiting for clients to see the change (the change itself may already be made). */
  signal?: AbortSignal
}

/** What a toggle is evaluated against: the request's user, session and custom fields. */
export interface ToggleContext {
  userId?: string
  sessionId?: string
  /** Custom stickiness fields (Unleash context `properties`). */
  properties?: Record<string, string | undefined>
}

/** Evaluates toggles for a request context, as applications do (the SDK uses it). */
export interface ToggleClient {
  isEnabled(toggle: string, context: ToggleContext): boolean
  close(): Promise<void> | void
}

export type ToggleKind = 'reads' | 'writes'

/** `strangler.users.reads` */
export function toggleName(service: string, kind: ToggleKind): string {
  return `strangler.${service}.${kind}`
}
