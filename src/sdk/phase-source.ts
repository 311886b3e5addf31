import type {StateStore} from '../state/state-store.js'
import {getService, PHASES, type Phase} from '../state/services.js'
import {errorMessage} from '../util/errors.js'
import type {Logger} from '../util/log.js'
import type {PhaseSource, PhaseView} from './types.js'

function toView(p: Phase | PhaseView): PhaseView {
  if (typeof p === 'string') {
    if (!(PHASES as readonly string[]).includes(p)) throw new TypeError(`unknown phase "${String(p)}" (one of ${PHASES.join(', ')})`)
    return {phase: p, writeTarget: p === 'decommissioned' ? 'service' : 'monolith'}
  }
  return p
}

/** Where the router learns the phase: given, a function, or the state store (polled). */
export interface PhaseReader {
  current(): Promise<PhaseView>
  close(): void
}

/** A phase given by the application: a value, or a function called per call. */
export function givenPhase(source: PhaseSource): PhaseReader {
  return {
    current: async () => toView(typeof source === 'function' ? await source() : source),
    close: () => {},
  }
}

/**
 * The service's phase from the state store, read once on first use and then
 * every `pollMs` in the background. A failed poll keeps the last phase; if
 * the very first read fails the router treats the service as `planned`
 * (monolith only) and retries on the next poll.
 */
export function polledPhase(store: StateStore, service: string, pollMs: number, log: Logger): PhaseReader {
  let view: PhaseView | undefined
  let loading: Promise<void> | undefined
  let failing = false
  let timer: NodeJS.Timeout | undefined
  const load = (): Promise<void> =>
    (loading ??= getService(store, service)
      .then((s) => {
        const next: PhaseView = {phase: s.phase, writeTarget: s.phase === 'decommissioned' ? 'service' : s.writeTarget}
        if (view && (view.phase !== next.phase || view.writeTarget !== next.writeTarget)) log.info('phase changed', {from: view.phase, to: next.phase, writeTarget: next.writeTarget})
        view = next
        failing = false
      })
      .catch((err: unknown) => {
        if (!failing) log.warn(view ? 'cannot read the phase; keeping the last one' : 'cannot read the phase; serving from the monolith until it can', {error: errorMessage(err)})
        failing = true
      })
      .finally(() => {
        loading = undefined
      }))
  return {
    async current() {
      if (!timer) {
        // the first call waits for the first read; later ones never wait
        await load()
        if (!timer) {
          timer = setInterval(() => void load(), pollMs)
          timer.unref()
        }
      }
      return view ?? {phase: 'planned', writeTarget: 'monolith'}
    },
    close() {
      if (timer) clearInterval(timer)
      timer = undefined
    },
  }
}
