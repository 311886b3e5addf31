import {Relay, emptyTotals, type RelayTotals} from '../capture/relay.js'
import {errorMessage} from '../util/errors.js'
import type {Workspace} from '../workspace.js'

interface Running {
  controller: AbortController
  done: Promise<RelayTotals>
}

/**
 * Runs each service's relay in the background between the phase steps, the
 * way `strangler relay SERVICE --follow` would beside the application, and
 * makes sure there is never more than one relay per service: a step that
 * drains the relay itself (shadow, shadow verify, decommission, a diff's live
 * re-check) runs inside `exclusive`, which stops the follower first and
 * restarts it afterwards.
 */
export class RelayKeeper {
  private readonly running = new Map<string, Running>()
  private readonly appliedBy = new Map<string, number>()

  constructor(private readonly ws: Workspace) {}

  /** Starts following the service's outbox (no-op when already running). */
  start(service: string): void {
    if (this.running.has(service)) return
    const controller = new AbortController()
    const relay = new Relay(this.ws, service, {idleMs: 100, metricsIntervalMs: 1000, lagIntervalMs: 500})
    const done = relay.follow(controller.signal).catch((err: unknown) => {
      this.ws.log.warn(`demo: the relay of ${service} stopped: ${errorMessage(err)}`)
      return emptyTotals()
    })
    this.running.set(service, {controller, done})
  }

  /** Stops the follower after its batch in hand; resolves when it has stopped. */
  async stop(service: string): Promise<void> {
    const r = this.running.get(service)
    if (!r) return
    this.running.delete(service)
    r.controller.abort()
    this.add(service, await r.done)
  }

  isRunning(service: string): boolean {
    return this.running.has(service)
  }

  /** Runs `fn` with the service's follower stopped, then restarts it if it was running. */
  async exclusive<T>(service: string, fn: () => Promise<T>): Promise<T> {
    const was = this.isRunning(service)
    await this.stop(service)
    try {
      return await fn()
    } finally {
      if (was) this.start(service)
    }
  }

  /** Drains the service's outbox once (the follower paused meanwhile). */
  async drain(service: string, timeoutMs = 60_000): Promise<RelayTotals> {
    return this.exclusive(service, async () => {
      const t = await new Relay(this.ws, service).drain({timeoutMs})
      this.add(service, t)
      return t
    })
  }

  /** Keys applied by the service's followers and drains so far. */
  applied(service: string): number {
    return this.appliedBy.get(service) ?? 0
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((s) => this.stop(s)))
  }

  private add(service: string, t: RelayTotals): void {
    this.appliedBy.set(service, this.applied(service) + t.applied)
  }
}
