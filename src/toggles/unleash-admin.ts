import {UserError, errorMessage} from '../util/errors.js'
import {redact, redactUrl, registerSecret} from '../util/redact.js'

/** A strategy as the Admin API returns it (ids are only available here, not in the client API). */
export interface AdminStrategy {
  id: string
  name: string
  parameters?: Record<string, string>
  disabled?: boolean | null
  constraints?: unknown[]
}

export interface AdminFeatureEnvironment {
  name: string
  enabled: boolean
  strategies: AdminStrategy[]
}

export interface AdminFeature {
  name: string
  project: string
  archived?: boolean
  environments: AdminFeatureEnvironment[]
}

export interface UnleashAdminOptions {
  /** Base URL, e.g. `http://127.0.0.1:4242`. */
  url: string
  /** Admin token (`*:*.<secret>`), sent as `Authorization: <token>` (no `Bearer`). */
  adminToken: string
  project: string
  environment: string
  /** Per request; default 10 s. */
  timeoutMs?: number
}

/** One JSON Patch operation on a strategy. */
export interface PatchOp {
  op: 'replace' | 'add' | 'remove'
  path: string
  value?: unknown
}

const enc = encodeURIComponent

/**
 * The few calls of Unleash's Admin API that a traffic shift needs, with every
 * failure turned into a `UserError` that says what went wrong and how to fix
 * it (wrong token, backend token used as admin token, unreachable server,
 * missing project or environment). Tokens are registered as secrets and never
 * appear in messages.
 */
export class UnleashAdmin {
  readonly base: string
  private readonly where: string

  constructor(private readonly opts: UnleashAdminOptions) {
    registerSecret(opts.adminToken)
    this.base = opts.url.replace(/\/+$/, '')
    this.where = `toggles (Unleash at ${redactUrl(this.base)})`
  }

  private featuresPath(feature?: string): string {
    const p = `/api/admin/projects/${enc(this.opts.project)}/features`
    return feature === undefined ? p : `${p}/${enc(feature)}`
  }

  /** Sends one request; returns the status and parsed body of 2xx and of the statuses in `accept`. */
  async request<T>(method: string, path: string, body?: unknown, accept: readonly number[] = []): Promise<{status: number; body: T}> {
    const timeoutMs = this.opts.timeoutMs ?? 10_000
    let res: Response
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {Authorization: this.opts.adminToken, Accept: 'application/json', ...(body === undefined ? {} : {'Content-Type': 'application/json'})},
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      throw this.unreachable(err, timeoutMs)
    }
    const text = await res.text().catch(() => '')
    let parsed: unknown
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = text
    }
    if (res.ok || accept.includes(res.status)) return {status: res.status, body: parsed as T}
    throw this.failure(method, path, res.status, parsed)
  }

  private unreachable(err: unknown, timeoutMs: number): UserError {
    const e = err as {name?: string; cause?: {code?: string; message?: string}}
    const reason = e?.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e?.cause?.code ?? e?.cause?.message ?? errorMessage(err))
    return new UserError(`${this.where}: cannot reach the Unleash server (${redact(String(reason))}).`, {
      code: 'E_UNLEASH_UNREACHABLE',
      hint: 'Check toggles.url in the plan (the base URL, e.g. http://127.0.0.1:4242) and that Unleash is running and reachable from here.',
      cause: err,
    })
  }

  private failure(method: string, path: string, status: number, body: unknown): UserError {
    const message = typeof body === 'object' && body && 'message' in body ? String((body as {message: unknown}).message) : typeof body === 'string' ? body.slice(0, 300) : ''
    if (status === 401) {
      return new UserError(`${this.where}: Unleash rejected the admin token (401 Unauthorized).`, {
        code: 'E_UNLEASH_AUTH',
        hint: 'Set toggles.adminToken (e.g. ${UNLEASH_ADMIN_TOKEN}) to a valid admin API token (`*:*.<secret>`, Admin settings → API access). The token is not printed.',
      })
    }
    if (status === 403) {
      const wrongType = /token type/i.test(message)
      return new UserError(
        wrongType
          ? `${this.where}: toggles.adminToken is not an admin token (403: the Admin API refuses client/backend and frontend tokens).`
          : `${this.where}: the admin token may not ${method} ${path} (403 Forbidden${message ? `: ${redact(message)}` : ''}).`,
        {
          code: 'E_UNLEASH_AUTH',
          hint: wrongType
            ? 'Use an admin API token (`*:*.<secret>`) for toggles.adminToken; the backend token (`project:environment.<secret>`) belongs in toggles.clientToken.'
            : `Give the token's user permission to change feature flags in project "${this.opts.project}", or use an admin API token.`,
        },
      )
    }
    return new UserError(`${this.where}: ${method} ${path} failed with ${status}${message ? `: ${redact(message)}` : ''}.`, {code: 'E_UNLEASH'})
  }

  /** Fails with a clear message when the plan's project does not exist. */
  async requireProject(): Promise<void> {
    const {body} = await this.request<{projects?: {id: string}[]}>('GET', '/api/admin/projects')
    const ids = (body?.projects ?? []).map((p) => p.id)
    if (!ids.includes(this.opts.project)) {
      throw new UserError(`${this.where}: project "${this.opts.project}" does not exist (404).`, {
        code: 'E_UNLEASH_PROJECT',
        hint: `Set toggles.project to one of: ${ids.join(', ') || '(none visible to this token)'}, or create the project in Unleash.`,
      })
    }
  }

  /** The feature with its environments and strategies, or undefined when it does not exist in the project. */
  async getFeature(name: string): Promise<AdminFeature | undefined> {
    const {status, body} = await this.request<AdminFeature>('GET', this.featuresPath(name), undefined, [404])
    return status === 404 ? undefined : body
  }

  async createFeature(name: string, description: string): Promise<void> {
    const {status} = await this.request('POST', this.featuresPath(), {name, type: 'release', description, impressionData: false}, [409])
    if (status === 409) {
      throw new UserError(`${this.where}: a feature flag named "${name}" already exists outside project "${this.opts.project}" (or is archived).`, {
        code: 'E_UNLEASH_CONFLICT',
        hint: `Move or revive the flag into project "${this.opts.project}" in Unleash, or set toggles.project to the project that holds it.`,
      })
    }
  }

  /** The environment of the plan on a feature; a UserError naming the available ones when missing. */
  environmentOf(f: AdminFeature): AdminFeatureEnvironment {
    const env = f.environments.find((e) => e.name === this.opts.environment)
    if (!env) {
      throw new UserError(`${this.where}: environment "${this.opts.environment}" is not enabled for project "${this.opts.project}".`, {
        code: 'E_UNLEASH_ENVIRONMENT',
        hint: `Set toggles.environment to one of: ${f.environments.map((e) => e.name).join(', ') || '(none)'}.`,
      })
    }
    return env
  }

  async addStrategy(feature: string, strategy: {name: string; parameters: Record<string, string>}): Promise<AdminStrategy> {
    const {body} = await this.request<AdminStrategy>('POST', `${this.featuresPath(feature)}/environments/${enc(this.opts.environment)}/strategies`, {...strategy, constraints: []})
    return body
  }

  async patchStrategy(feature: string, id: string, ops: readonly PatchOp[]): Promise<AdminStrategy> {
    const {body} = await this.request<AdminStrategy>('PATCH', `${this.featuresPath(feature)}/environments/${enc(this.opts.environment)}/strategies/${enc(id)}`, ops)
    return body
  }

  /** Turns the feature on in the plan's environment (idempotent). */
  async enable(feature: string): Promise<void> {
    await this.request('POST', `${this.featuresPath(feature)}/environments/${enc(this.opts.environment)}/on`)
  }
}
