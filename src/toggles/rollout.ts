import {murmurhash3x86_32} from './murmurhash.js'
import type {ToggleContext} from './provider.js'

/** A sticky percentage rollout: Unleash's `flexibleRollout` strategy. */
export interface RolloutRule {
  /** 0–100 */
  pct: number
  /** Hash namespace; the toggle name, so two toggles split the same users differently. */
  groupId: string
  /** `userId`, `sessionId`, `default` (userId, else sessionId, else random), `random`, or a custom context field. */
  stickiness: string
}

/** Unleash's strategy seed (variants use another one). */
const STRATEGY_SEED = 0

/**
 * The bucket (1–100) of `id` in `groupId`, as unleash-client's
 * `normalizedStrategyValue` computes it: `murmurhash3("groupId:id") % 100 + 1`.
 */
export function normalizedValue(id: string, groupId: string, normalizer = 100, seed = STRATEGY_SEED): number {
  return (murmurhash3x86_32(`${groupId}:${id}`, seed) % normalizer) + 1
}

const randomId = (): string => `${Math.round(Math.random() * 10000) + 1}`

/** The id the rollout hashes for this context, or undefined when the context lacks it (the toggle is then off). */
export function stickinessId(stickiness: string, ctx: ToggleContext, random: () => string = randomId): string | undefined {
  switch (stickiness) {
    case 'default':
      return ctx.userId || ctx.sessionId || random()
    case 'random':
      return random()
    default: {
      const v = (ctx as Record<string, unknown>)[stickiness] ?? ctx.properties?.[stickiness]
      return v === undefined || v === null || v === '' ? undefined : String(v)
    }
  }
}

/** Whether the context falls inside the rollout; identical to unleash-client's flexibleRollout. */
export function inRollout(rule: RolloutRule, ctx: ToggleContext, random?: () => string): boolean {
  const id = stickinessId(rule.stickiness, ctx, random)
  if (!id) return false
  return rule.pct > 0 && normalizedValue(id, rule.groupId) <= rule.pct
}

/** A context that carries `id` in the field the stickiness reads (for verification samples). */
export function contextFor(stickiness: string, id: string): ToggleContext {
  switch (stickiness) {
    case 'default':
    case 'random':
    case 'userId':
      return {userId: id}
    case 'sessionId':
      return {sessionId: id}
    default:
      return {properties: {[stickiness]: id}}
  }
}

/** Whether evaluations under this stickiness are deterministic (everything but `random`). */
export function isSticky(stickiness: string): boolean {
  return stickiness !== 'random'
}
