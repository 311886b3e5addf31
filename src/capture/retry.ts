import {isTransientDbError} from '../engines/errors.js'

/** Bounded retries of one database step on transient errors (connection lost, deadlock, server restarting). */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number
  /** Delay before the first retry; doubles each time, with full jitter. */
  readonly baseMs: number
  /** Upper bound of one delay. */
  readonly maxMs: number
  /** Aborts the waiting between attempts (the last error is thrown). */
  readonly signal?: AbortSignal
  /** Called before each retry with the attempt that failed and the error. */
  readonly onRetry?: (attempt: number, err: unknown, delayMs: number) => void
}

/** Exponential backoff with full jitter: a random delay in [d/2, d], d = base·2^(attempt-1) capped at max. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(d / 2 + (random() * d) / 2)
}

/** Waits `ms`, or less when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}

/** Runs `fn`, retrying transient database errors per the policy; other errors are thrown at once. */
export async function withRetry<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (!isTransientDbError(err) || attempt >= policy.maxAttempts || policy.signal?.aborted) throw err
      const delay = backoffMs(attempt, policy.baseMs, policy.maxMs)
      policy.onRetry?.(attempt, err, delay)
      await sleep(delay, policy.signal)
      if (policy.signal?.aborted) throw err
    }
  }
}
