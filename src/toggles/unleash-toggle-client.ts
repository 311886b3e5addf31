import {InMemStorageProvider, Unleash, type Context} from 'unleash-client'
import {errorMessage} from '../util/errors.js'
import {logger, type Logger} from '../util/log.js'
import {registerSecret} from '../util/redact.js'
import type {ToggleClient, ToggleContext} from './provider.js'

export interface UnleashToggleClientOptions {
  /** Unleash base URL, e.g. `http://127.0.0.1:4242` (`/api` is added). */
  url: string
  /** A backend (client) token, `project:environment.<secret>`. */
  clientToken: string
  appName?: string
  /** Static context `environment` (the token decides which environment's flags are served). */
  environment?: string
  /** How often flags are re-fetched; default 1000 ms (unleash-client's own default is 15 s). */
  refreshIntervalMs?: number
  /** How long `start` waits for the first fetch before resolving anyway; default 10 s. */
  startTimeoutMs?: number
  log?: Logger
}

/** The URL unleash-client wants: the base plus `/api/`. */
export function unleashApiUrl(base: string): string {
  return `${base.replace(/\/+$/, '').replace(/\/api$/, '')}/api/`
}

/** Our context as unleash-client's. */
export function unleashContext(ctx: ToggleContext): Context {
  return {userId: ctx.userId, sessionId: ctx.sessionId, properties: ctx.properties}
}

/** A new unleash-client instance that keeps its copy in memory (no backup file) and sends no metrics. */
export function newUnleashClient(opts: {url: string; clientToken: string; appName: string; environment?: string; refreshIntervalMs: number; disableMetrics?: boolean}): Unleash {
  registerSecret(opts.clientToken)
  return new Unleash({
    url: unleashApiUrl(opts.url),
    appName: opts.appName,
    environment: opts.environment,
    refreshInterval: opts.refreshIntervalMs,
    disableMetrics: opts.disableMetrics ?? true,
    customHeaders: {Authorization: opts.clientToken},
    storageProvider: new InMemStorageProvider(),
    skipInstanceCountWarning: true,
    timeout: 10_000,
  })
}

/**
 * Evaluates Unleash toggles in the application through unleash-client. Until
 * the first fetch succeeds every toggle is off (reads stay on the monolith).
 *
 *   const toggles = await UnleashToggleClient.start({url, clientToken: process.env.UNLEASH_CLIENT_TOKEN!})
 */
export class UnleashToggleClient implements ToggleClient {
  private lastError: string | undefined

  private constructor(
    readonly unleash: Unleash,
    private readonly log: Logger,
  ) {
    unleash.on('error', (err: unknown) => {
      const msg = errorMessage(err)
      if (msg !== this.lastError) this.log.warn('unleash-client error', {error: msg})
      this.lastError = msg
    })
    unleash.on('warn', (msg: unknown) => this.log.debug('unleash-client warning', {warning: String(msg)}))
    unleash.on('changed', () => {
      this.lastError = undefined
    })
  }

  /** Starts the client and waits (up to `startTimeoutMs`) for the first fetch; never throws for an unreachable server. */
  static async start(opts: UnleashToggleClientOptions): Promise<UnleashToggleClient> {
    const unleash = newUnleashClient({
      url: opts.url,
      clientToken: opts.clientToken,
      appName: opts.appName ?? 'strangler-sdk',
      environment: opts.environment,
      refreshIntervalMs: opts.refreshIntervalMs ?? 1000,
      disableMetrics: false,
    })
    const c = new UnleashToggleClient(unleash, (opts.log ?? logger()).child({component: 'unleash-client'}))
    await new Promise<void>((resolve) => {
      if (unleash.isSynchronized()) return resolve()
      const t = setTimeout(() => {
        c.log.warn('unleash-client has not synchronised yet; toggles evaluate off until it does', {error: c.lastError})
        resolve()
      }, opts.startTimeoutMs ?? 10_000)
      t.unref()
      unleash.once('synchronized', () => {
        clearTimeout(t)
        resolve()
      })
    })
    return c
  }

  get synchronized(): boolean {
    return this.unleash.isSynchronized()
  }

  isEnabled(toggle: string, context: ToggleContext): boolean {
    return this.unleash.isEnabled(toggle, unleashContext(context), false)
  }

  close(): void {
    this.unleash.destroy()
  }
}
