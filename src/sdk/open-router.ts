import type {Plan} from '../config/schema.js'
import {StateStore} from '../state/state-store.js'
import {openToggleClient} from '../toggles/open.js'
import {createOwningRouter} from './router.js'
import type {Router, RouterOptions} from './types.js'

/**
 * A router wired from the plan: opens the state store (`state.url`, else the
 * monolith) and the plan's toggle client (local: polls the state store;
 * unleash: unleash-client with `toggles.clientToken`). `close()` closes both.
 *
 *   const {plan} = await loadPlan()
 *   const orders = await openRouter({plan, service: 'orders'})
 */
export async function openRouter(opts: Omit<RouterOptions, 'toggles' | 'state' | 'plan'> & {plan: Plan; appName?: string}): Promise<Router> {
  const {plan, appName, ...rest} = opts
  const state = await StateStore.open(plan.state.url ?? plan.monolith.url, plan.state.prefix, plan.state.schema)
  try {
    await state.requireReady()
    const toggles = await openToggleClient(plan.toggles, state, {appName: appName ?? `strangler-sdk-${opts.service}`, log: opts.log})
    return createOwningRouter({...rest, plan, state, toggles}, [toggles, state])
  } catch (err) {
    await state.close().catch(() => undefined)
    throw err
  }
}
