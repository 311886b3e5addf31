export type BreakerState = 'closed' | 'open' | 'half-open'

/**
 * A consecutive-failure circuit breaker. Closed: calls pass. After `failures`
 * consecutive failures it opens: calls are refused for `resetMs`. Then it is
 * half-open: one trial call passes; its success closes the breaker, its
 * failure opens it again.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed'
  private consecutive = 0
  private openedAt = 0
  private trialInFlight = false

  constructor(
    readonly opts: {failures: number; resetMs: number},
    private readonly onChange: (from: BreakerState, to: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    return this.current
  }

  private set(to: BreakerState): void {
    const from = this.current
    if (from === to) return
    this.current = to
    this.onChange(from, to)
  }

  /** Whether a call may go to the service now; in half-open, only the first caller gets through. */
  allow(): boolean {
    if (this.current === 'open' && this.now() - this.openedAt >= this.opts.resetMs) {
      this.set('half-open')
      this.trialInFlight = false
    }
    if (this.current === 'closed') return true
    if (this.current === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true
      return true
    }
    return false
  }

  success(): void {
    this.consecutive = 0
    this.trialInFlight = false
    this.set('closed')
  }

  failure(): void {
    this.consecutive++
    this.trialInFlight = false
    if (this.current === 'half-open' || (this.current === 'closed' && this.consecutive >= this.opts.failures)) {
      this.openedAt = this.now()
      this.set('open')
    }
  }
}
