import {UserError, errorMessage} from '../util/errors.js'
import {redact, redactUrl} from '../util/redact.js'
import {contextFor, inRollout, isSticky} from './rollout.js'
import {newUnleashClient, unleashContext} from './unleash-toggle-client.js'

export interface VerifyRolloutOptions {
  url: string
  clientToken: string
  environment: string
  toggle: string
  pct: number
  stickiness: string
  /** Synthetic ids evaluated; default 1000. */
  sample?: number
  /** Default 30 s. */
  timeoutMs?: number
  /** How often the verifying client re-fetches; default 500 ms. */
  refreshIntervalMs?: number
  signal?: AbortSignal
}

export interface VerifyRolloutResult {
  /** Share of the sample the client evaluated as on, in percent. */
  observedPct: number
  /** Ids whose evaluation differed from the expected one (0 on success with a sticky rollout). */
  mismatches: number
  sample: number
  waitedMs: number
}

/**
 * Confirms that an unleash-client (the library applications use, with a
 * backend token) now evaluates `toggle` at `pct`. With a sticky rollout every
 * id of a fixed sample must land exactly where the flexibleRollout hash puts
 * it (so even 25 → 26 % is told apart); with `random` stickiness the observed
 * share must be within a binomial tolerance of `pct`.
 */
export async function verifyRollout(o: VerifyRolloutOptions): Promise<VerifyRolloutResult> {
  const n = o.sample ?? 1000
  const timeoutMs = o.timeoutMs ?? 30_000
  const ids = Array.from({length: n}, (_, i) => `strangler-verify-${i}`)
  const contexts = ids.map((id) => contextFor(o.stickiness, id))
  const clientContexts = contexts.map(unleashContext)
  const sticky = isSticky(o.stickiness)
  const rule = {pct: o.pct, groupId: o.toggle, stickiness: o.stickiness}
  const expected = contexts.map((c) => inRollout(rule, c))
  const p = o.pct / 100
  const tolerancePct = 100 * 4 * Math.sqrt((p * (1 - p)) / n) + 0.5

  const client = newUnleashClient({url: o.url, clientToken: o.clientToken, appName: 'strangler-verify', environment: o.environment, refreshIntervalMs: o.refreshIntervalMs ?? 500})
  const t0 = Date.now()
  let lastError: string | undefined
  let last: {observedPct: number; mismatches: number} | undefined
  const where = `toggles (Unleash at ${redactUrl(o.url)})`

  try {
    return await new Promise<VerifyRolloutResult>((resolve, reject) => {
      let done = false
      const finish = (err: Error | undefined, value?: VerifyRolloutResult): void => {
        if (done) return
        done = true
        clearInterval(tick)
        clearTimeout(timer)
        o.signal?.removeEventListener('abort', onAbort)
        if (err) reject(err)
        else resolve(value!)
      }
      const check = (): void => {
        if (!client.isSynchronized()) return
        let on = 0
        let mismatches = 0
        for (let i = 0; i < n; i++) {
          const got = client.isEnabled(o.toggle, clientContexts[i], false)
          if (got) on++
          if (got !== expected[i]) mismatches++
        }
        const observedPct = (100 * on) / n
        last = {observedPct, mismatches}
        const ok = sticky ? mismatches === 0 : Math.abs(observedPct - o.pct) <= tolerancePct
        if (ok) finish(undefined, {observedPct, mismatches: sticky ? mismatches : 0, sample: n, waitedMs: Date.now() - t0})
      }
      const onAbort = (): void => finish(new UserError(`${where}: stopped while waiting for clients to see ${o.toggle} at ${o.pct} %; the rollout change itself was made.`, {code: 'E_ABORTED'}))
      client.on('error', (err: unknown) => {
        lastError = redact(errorMessage(err))
        if (/responded (401|403)/.test(lastError)) {
          finish(
            new UserError(`${where}: Unleash rejected toggles.clientToken while verifying ${o.toggle}; the rollout change itself was made.`, {
              code: 'E_UNLEASH_AUTH',
              hint: `Set toggles.clientToken to a backend token (\`<project>:${o.environment}.<secret>\`) for the plan's project and environment. The token is not printed.`,
            }),
          )
        }
      })
      client.on('warn', (msg: unknown) => {
        lastError = redact(String(msg))
      })
      client.on('changed', check)
      const tick = setInterval(check, 100)
      const timer = setTimeout(() => {
        const seen = last ? `they evaluate ${last.observedPct.toFixed(1)} % of ${n} sample ids as on (${last.mismatches} differ from ${o.pct} %)` : 'the verifying client never synchronised'
        finish(
          new UserError(`${where}: clients did not see ${o.toggle} at ${o.pct} % within ${timeoutMs / 1000} s: ${seen}${lastError ? `; last client error: ${lastError}` : ''}.`, {
            code: 'E_UNLEASH_VERIFY',
            hint: `Check that toggles.clientToken is a backend token for project and environment "${o.environment}", and that no other strategy or constraint on ${o.toggle} changes who is on.`,
          }),
        )
      }, timeoutMs)
      if (o.signal?.aborted) onAbort()
      o.signal?.addEventListener('abort', onAbort, {once: true})
    })
  } finally {
    client.destroy()
  }
}
