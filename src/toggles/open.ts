import type {TogglesPlan} from '../config/schema.js'
import type {StateStore} from '../state/state-store.js'
import {UserError} from '../util/errors.js'
import type {Logger} from '../util/log.js'
import type {Workspace} from '../workspace.js'
import {LocalToggleClient} from './local-client.js'
import {LocalToggleProvider} from './local-provider.js'
import type {ToggleClient, ToggleProvider} from './provider.js'
import {UnleashToggleClient} from './unleash-toggle-client.js'
import {UnleashToggleProvider, type UnleashProviderOptions} from './unleash-provider.js'

/** The toggle provider the plan names (`toggles.provider`), recording changes in the workspace's state store. */
export async function openToggleProvider(ws: Workspace, opts: Omit<UnleashProviderOptions, 'state' | 'log'> = {}): Promise<ToggleProvider> {
  return toggleProviderFor(ws.plan.toggles, ws.state, {...opts, log: ws.log})
}

/** The same without a workspace: plan section + state store. */
export function toggleProviderFor(plan: TogglesPlan, state: StateStore, opts: Omit<UnleashProviderOptions, 'state'> = {}): ToggleProvider {
  switch (plan.provider) {
    case 'local':
      return new LocalToggleProvider(state, {pollMs: plan.pollMs})
    case 'unleash':
      return new UnleashToggleProvider(plan, {...opts, state})
  }
}

/**
 * The toggle client applications use, for the plan's provider: a
 * {@link LocalToggleClient} polling the state store, or an
 * {@link UnleashToggleClient} with the plan's backend token.
 */
export async function openToggleClient(plan: TogglesPlan, state: StateStore, opts: {appName?: string; log?: Logger} = {}): Promise<ToggleClient> {
  switch (plan.provider) {
    case 'local':
      return LocalToggleClient.open(state, {pollMs: plan.pollMs, log: opts.log})
    case 'unleash':
      if (!plan.clientToken) {
        throw new UserError('toggles.clientToken is required for applications to evaluate Unleash toggles.', {
          code: 'E_CONFIG',
          hint: `Set toggles.clientToken to a backend token (\`${plan.project}:${plan.environment}.<secret>\`).`,
        })
      }
      return UnleashToggleClient.start({url: plan.url, clientToken: plan.clientToken, environment: plan.environment, appName: opts.appName, log: opts.log})
  }
}
