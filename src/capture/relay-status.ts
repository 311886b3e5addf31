import {registerStatusContributor} from '../phases/status.js'
import {countDeadLetters} from './dead-letters.js'
import {captureMethod, serviceLag} from './capture.js'
import {latestRelaySample} from './relay-samples.js'

/** What `strangler status` shows about a service's relay. */
export interface RelayStatus {
  /** Age of the oldest change still in the outbox, measured now. */
  lagSeconds: number
  /** Changes waiting in the outbox now. */
  pending: number
  /** From the last relay sample (0 when the relay never ran). */
  throughputPerSec: number
  /** When the relay last recorded a sample; null when it never ran. */
  lastAt: string | null
  /** How the monolith's changes are captured. */
  capture: 'triggers' | 'logical'
  /** Logical capture: WAL the replication slot holds back, bytes (a relay that stopped lets it grow). */
  retainedWalBytes?: number
}

/**
 * Adds `relay` (live lag and pending from the outbox, throughput and time of
 * the last relay sample) and `deadLetters` (unresolved, every source) to
 * `strangler status`. Imported for its side effect by the status command.
 */
registerStatusContributor(async (ws, service, status) => {
  const live = (await serviceLag(ws, service)) ?? undefined
  const sample = await latestRelaySample(ws.state, service)
  if (live || sample) {
    const relay: RelayStatus = {
      lagSeconds: live?.lagSeconds ?? sample?.lagSeconds ?? 0,
      pending: live?.pending ?? sample?.pending ?? 0,
      throughputPerSec: sample?.throughput ?? 0,
      lastAt: sample?.at ?? null,
      capture: captureMethod(ws, service),
      ...(live?.retainedWalBytes === undefined ? {} : {retainedWalBytes: live.retainedWalBytes}),
    }
    status.relay = relay
  }
  status.deadLetters = await countDeadLetters(ws.state, service)
})
