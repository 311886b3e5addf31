import {registerStatusContributor} from '../phases/status.js'
import {errorMessage} from '../util/errors.js'
import {listToggleChanges} from './history.js'
import {toggleProviderFor} from './open.js'
import {toggleName} from './provider.js'

/** What `strangler status` shows about a service's read toggle. */
export interface ToggleStatus {
  name: string
  provider: 'local' | 'unleash'
  /** The percentage the provider reports now; null when the toggle does not exist yet. */
  pct: number | null
  /** The last change strangler recorded (`metrics`, kind `toggle`). */
  lastChange: {pct: number; at: string} | null
  /** Set when the provider could not be asked (e.g. Unleash unreachable); `pct` is then the last recorded one. */
  error?: string
}

/**
 * Adds `toggle` to `strangler status`: the read toggle's name, provider and
 * current percentage. Imported for its side effect by the status command.
 */
registerStatusContributor(async (ws, service, status) => {
  const name = toggleName(service, 'reads')
  const changes = await listToggleChanges(ws.state, service, {toggle: name})
  const last = changes.at(-1)
  const t: ToggleStatus = {name, provider: ws.plan.toggles.provider, pct: null, lastChange: last ? {pct: last.pct, at: last.at} : null}
  const provider = toggleProviderFor(ws.plan.toggles, ws.state, {log: ws.log})
  try {
    t.pct = (await provider.getRollout(name)) ?? null
  } catch (err) {
    t.error = errorMessage(err)
    t.pct = last?.pct ?? null
  } finally {
    await provider.close()
  }
  status.toggle = t
})
