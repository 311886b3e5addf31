/**
 * Toggle providers (where a service's traffic-shift percentage is set) and
 * clients (where applications evaluate it): `local` in the state store,
 * `unleash` through its Admin API and unleash-client.
 */
export type {SetRolloutOptions, ToggleClient, ToggleContext, ToggleKind, ToggleProvider} from './provider.js'
export {toggleName} from './provider.js'
export {openToggleClient, openToggleProvider, toggleProviderFor} from './open.js'
export {LocalToggleProvider} from './local-provider.js'
export {LocalToggleClient, type LocalToggleClientOptions} from './local-client.js'
export {UnleashToggleProvider, type UnleashProviderOptions, type UnleashTogglesPlan} from './unleash-provider.js'
export {UnleashToggleClient, type UnleashToggleClientOptions} from './unleash-toggle-client.js'
export {verifyRollout, type VerifyRolloutOptions, type VerifyRolloutResult} from './unleash-verifier.js'
export {listToggleChanges, recordToggleChange, type ToggleChange} from './history.js'
export {inRollout, normalizedValue, type RolloutRule} from './rollout.js'
