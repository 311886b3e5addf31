import type {TogglesPlan} from '../config/schema.js'
import type {StateStore} from '../state/state-store.js'
import {UserError} from '../util/errors.js'
import {logger, type Logger} from '../util/log.js'
import {redactUrl, registerSecret} from '../util/redact.js'
import {recordToggleChange} from './history.js'
import {requireValidPct} from './local-toggles.js'
import type {SetRolloutOptions, ToggleProvider} from './provider.js'
import {UnleashAdmin, type AdminFeatureEnvironment, type AdminStrategy, type PatchOp} from './unleash-admin.js'
import {verifyRollout, type VerifyRolloutResult} from './unleash-verifier.js'

export type UnleashTogglesPlan = Extract<TogglesPlan, {provider: 'unleash'}>

export interface UnleashProviderOptions {
  /** Where toggle changes are recorded (`metrics`, kind `toggle`); optional. */
  state?: StateStore
  log?: Logger
  /** How long `setRollout` waits for clients to see a change; default 30 s. */
  verifyTimeoutMs?: number
  /** Synthetic ids the verification evaluates; default 1000. */
  verifySample?: number
}

const STRATEGY = 'flexibleRollout'

/** `project:environment.secret` → its scope (`[]` = several projects); undefined for other token formats. */
function tokenScope(token: string): {project: string; environment: string} | undefined {
  const m = /^([^:]+):([^.]+)\./.exec(token)
  return m ? {project: m[1], environment: m[2]} : undefined
}

/**
 * Toggles in Unleash. `setRollout` creates the feature flag if missing (type
 * `release`), adds or updates one flexibleRollout strategy (groupId = the
 * toggle's name, stickiness from the plan), enables the flag in the plan's
 * environment, and resolves only once an unleash-client with the plan's
 * backend token evaluates the new percentage.
 */
export class UnleashToggleProvider implements ToggleProvider {
  readonly kind = 'unleash' as const
  readonly admin: UnleashAdmin
  private readonly log: Logger
  /** The last verification, for callers that report it. */
  lastVerification: VerifyRolloutResult | undefined

  constructor(
    readonly plan: UnleashTogglesPlan,
    private readonly opts: UnleashProviderOptions = {},
  ) {
    registerSecret(plan.adminToken)
    registerSecret(plan.clientToken)
    this.admin = new UnleashAdmin({url: plan.url, adminToken: plan.adminToken, project: plan.project, environment: plan.environment})
    this.log = (opts.log ?? logger()).child({component: 'unleash'})
  }

  private get where(): string {
    return `toggles (Unleash at ${redactUrl(this.plan.url)})`
  }

  /** The backend token, checked against the plan before anything changes. */
  private clientToken(): string {
    const token = this.plan.clientToken
    if (!token) {
      throw new UserError(`${this.where}: toggles.clientToken is required to confirm that applications see a rollout change.`, {
        code: 'E_CONFIG',
        hint: `Set toggles.clientToken (e.g. \${UNLEASH_CLIENT_TOKEN}) to a backend token for project "${this.plan.project}" and environment "${this.plan.environment}" (\`${this.plan.project}:${this.plan.environment}.<secret>\`).`,
      })
    }
    const scope = tokenScope(token)
    if (scope && scope.environment !== '*' && scope.environment !== this.plan.environment) {
      throw new UserError(`${this.where}: toggles.clientToken is for environment "${scope.environment}", but toggles.environment is "${this.plan.environment}".`, {
        code: 'E_CONFIG',
        hint: `Use a backend token for environment "${this.plan.environment}", or set toggles.environment to "${scope.environment}".`,
      })
    }
    return token
  }

  /** After the project is known to exist: the backend token must see it. */
  private requireTokenProject(token: string): void {
    const scope = tokenScope(token)
    if (scope && scope.project !== '*' && scope.project !== '[]' && scope.project !== this.plan.project) {
      throw new UserError(`${this.where}: toggles.clientToken is for project "${scope.project}", but toggles.project is "${this.plan.project}".`, {
        code: 'E_CONFIG',
        hint: `Use a backend token for project "${this.plan.project}".`,
      })
    }
  }

  /** Our strategy on the environment: a flexibleRollout whose groupId is the toggle's name. */
  private ours(env: AdminFeatureEnvironment, toggle: string): AdminStrategy | undefined {
    return env.strategies.find((s) => s.name === STRATEGY && s.parameters?.groupId === toggle)
  }

  async setRollout(toggle: string, pct: number, opts: SetRolloutOptions): Promise<void> {
    requireValidPct(pct, `toggle ${toggle}`)
    const clientToken = this.clientToken()
    await this.admin.requireProject()
    this.requireTokenProject(clientToken)

    let feature = await this.admin.getFeature(toggle)
    if (!feature) {
      await this.admin.createFeature(toggle, `strangler: share of ${opts.service} reads served by the service (sticky on ${this.plan.stickiness})`)
      this.log.info('created feature flag', {toggle, project: this.plan.project, service: opts.service})
      feature = await this.admin.getFeature(toggle)
      if (!feature) throw new UserError(`${this.where}: feature flag ${toggle} vanished right after it was created.`, {code: 'E_UNLEASH'})
    }
    const env = this.admin.environmentOf(feature)
    const ours = this.ours(env, toggle)
    const others = env.strategies.filter((s) => s !== ours && !s.disabled)
    if (others.length > 0) {
      throw new UserError(
        `${this.where}: feature flag ${toggle} has other active strategies in "${this.plan.environment}" (${others.map((s) => s.name).join(', ')}); they would send users to the service regardless of the rollout percentage.`,
        {code: 'E_UNLEASH_STRATEGY', hint: `Remove or disable those strategies in Unleash; strangler manages one flexibleRollout strategy with groupId "${toggle}".`},
      )
    }

    const parameters = {rollout: String(pct), stickiness: this.plan.stickiness, groupId: toggle}
    if (!ours) {
      await this.admin.addStrategy(toggle, {name: STRATEGY, parameters})
    } else {
      const ops: PatchOp[] = []
      for (const [k, v] of Object.entries(parameters)) {
        if (ours.parameters?.[k] !== v) ops.push({op: ours.parameters && k in ours.parameters ? 'replace' : 'add', path: `/parameters/${k}`, value: v})
      }
      if (ours.disabled) ops.push({op: 'replace', path: '/disabled', value: false})
      if (ops.length) await this.admin.patchStrategy(toggle, ours.id, ops)
    }
    // enable only after the strategy is in place: an enabled flag without strategies is on for everyone
    if (!env.enabled) await this.admin.enable(toggle)
    // recorded as soon as it is made: the verification below may fail, the change stands
    if (this.opts.state) await recordToggleChange(this.opts.state, {service: opts.service, toggle, pct, provider: 'unleash'})

    this.lastVerification = await verifyRollout({
      url: this.plan.url,
      clientToken,
      environment: this.plan.environment,
      toggle,
      pct,
      stickiness: this.plan.stickiness,
      sample: this.opts.verifySample,
      timeoutMs: this.opts.verifyTimeoutMs,
      signal: opts.signal,
    })
    this.log.info('clients see the new rollout', {toggle, pct, waitedMs: this.lastVerification.waitedMs, observedPct: this.lastVerification.observedPct})
  }

  /**
   * The effective percentage in the plan's environment: 0 when the flag is off
   * there, the rollout of strangler's strategy, 100 for an enabled flag without
   * strategies (Unleash treats it as on for everyone); undefined when the flag
   * does not exist or only has strategies strangler does not manage.
   */
  async getRollout(toggle: string): Promise<number | undefined> {
    const feature = await this.admin.getFeature(toggle)
    if (!feature) return undefined
    const env = this.admin.environmentOf(feature)
    if (!env.enabled) return 0
    const ours = this.ours(env, toggle)
    if (ours) return ours.disabled ? 0 : Number(ours.parameters?.rollout ?? 0)
    return env.strategies.length === 0 ? 100 : undefined
  }

  async close(): Promise<void> {
    // nothing held open: every call is one HTTP request, verification clients are destroyed after use
  }
}
