/**
 * `strangler/sdk`: the application side of a strangler migration.
 *
 *   import {openRouter} from 'strangler/sdk'
 *   const orders = await openRouter({plan, service: 'orders'})
 *   const order = await orders.read('orders', id, {monolith: () => legacy.get(id), service: () => svc.get(id)}, {userId})
 *
 * See src/sdk/README.md.
 */
export {createRouter} from './router.js'
export {openRouter} from './open-router.js'
export {compareResults, comparatorFor, canonicalText, type FieldTypes} from './compare.js'
export {CircuitBreaker, type BreakerState} from './circuit-breaker.js'
export {TimeoutError} from './timeout.js'
export type {SdkCounters, ShadowExample, DeadLetter} from './publisher.js'
export type {
  BreakerOptions,
  Comparator,
  Comparison,
  EntityKey,
  KeyValue,
  Phase,
  PhaseSource,
  PhaseView,
  ReadSources,
  RequestContext,
  Router,
  RouterOptions,
  RouterStats,
  Side,
  WriteTargets,
} from './types.js'
export {StateStore} from '../state/state-store.js'
export {LocalToggleClient, type LocalToggleClientOptions} from '../toggles/local-client.js'
export {UnleashToggleClient, type UnleashToggleClientOptions} from '../toggles/unleash-toggle-client.js'
export {openToggleClient} from '../toggles/open.js'
export {toggleName, type ToggleClient, type ToggleContext} from '../toggles/provider.js'
export {loadPlan, validatePlan, defineConfig, type Plan} from '../config/index.js'
