/**
 * SIGINT/SIGTERM as an AbortSignal: long commands stop after the work in hand
 * (a batch, a chunk, a soak check) and leave everything resumable. `dispose`
 * removes the handlers when the command ends.
 */
export interface Interrupt {
  readonly signal: AbortSignal
  /** The signal that arrived, if any. */
  readonly received: NodeJS.Signals | null
  dispose(): void
}

export function interruptOnSignals(): Interrupt {
  const controller = new AbortController()
  let received: NodeJS.Signals | null = null
  const onSignal = (sig: NodeJS.Signals): void => {
    received = sig
    controller.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    get received() {
      return received
    },
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}
