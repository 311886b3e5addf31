import type {TableRef} from '../engines/types.js'
import {errorMessage} from '../util/errors.js'
import type {Workspace} from '../workspace.js'

/** Lets the service store catch up with the monolith (the relay, drained); false when there is nothing to run. */
export type CatchUp = (service: string) => Promise<boolean | void>

interface RelayLike {
  drain(opts?: {timeoutMs?: number}): Promise<unknown>
  close?(): Promise<unknown>
  stop?(): Promise<unknown>
}

/**
 * The service's relay, drained once, loaded lazily so the diff runs (without
 * the live re-check) where the capture module is not installed. Never a second
 * relay: while a `relay --follow` runs, the drain waits for it to consume what
 * the outbox held (see `Relay.drain`).
 */
export function relayCatchUp(ws: Workspace): CatchUp {
  return async (service) => {
    let mod: {Relay?: new (ws: Workspace, service: string) => RelayLike}
    try {
      mod = (await import(new URL('../capture/relay.js', import.meta.url).href)) as typeof mod
    } catch {
      return false
    }
    if (typeof mod.Relay !== 'function') return false
    const relay = new mod.Relay(ws, service)
    try {
      // bounded: under a steady stream of writes a drain could go on
      await relay.drain({timeoutMs: 60_000})
    } finally {
      await (relay.close ?? relay.stop)?.call(relay).catch(() => undefined)
    }
    return true
  }
}

/**
 * Writes landing while a diff runs: a key read on one side before a write and
 * on the other after it differs only for the moment. When the service has an
 * outbox (change capture installed) and changes of the entity wait in it, the
 * relay is drained and the differing keys are read again from both sides; only
 * what still differs is reported. (Every differing key is re-read, not just
 * those in the outbox: a relay running elsewhere may have consumed its rows.)
 */
export class LiveWrites {
  private constructor(
    private readonly ws: Workspace,
    private readonly service: string,
    /** The outbox, when capture is installed. */
    readonly outbox: TableRef | undefined,
    private readonly catchUpFn: CatchUp,
  ) {}

  static async open(ws: Workspace, service: string, opts: {catchUp?: CatchUp} = {}): Promise<LiveWrites> {
    const ref = ws.outbox(service)
    let exists = false
    try {
      exists = Boolean(ws.monolith.sql) && (await ws.monolith.tableExists(ref))
    } catch (err) {
      ws.log.debug(`diff: cannot look for the outbox of ${service}: ${errorMessage(err)}`)
    }
    return new LiveWrites(ws, service, exists ? ref : undefined, opts.catchUp ?? relayCatchUp(ws))
  }

  /** Whether live writes are possible (capture installed). */
  get active(): boolean {
    return this.outbox !== undefined
  }

  /** Changes of the entity waiting in the outbox (the relay deletes what it applied). */
  async pending(entity: string): Promise<number> {
    const sql = this.ws.monolith.sql
    if (!this.outbox || !sql) return 0
    const [r] = await sql.query<{n: unknown}>(`SELECT COUNT(*) AS n FROM ${sql.quoteTable(this.outbox)} WHERE ${sql.quoteId('entity')} = ${sql.param(1)}`, [entity])
    return Number(r?.n ?? 0)
  }

  /** Drains the relay; false when no relay could run. */
  async catchUp(): Promise<boolean> {
    try {
      return (await this.catchUpFn(this.service)) !== false
    } catch (err) {
      this.ws.log.warn(`diff: the relay of ${this.service} could not catch up (${errorMessage(err)}); reporting differences as found`)
      return false
    }
  }
}
