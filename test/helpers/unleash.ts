/**
 * The test Unleash 8 server of the "integration" project (see test/global-setup.ts).
 *
 * One Unleash instance serves the whole run, and only the `default` project exists (open source
 * Unleash), so use unique feature names, e.g. `uniqueName('orders-reads')` from ./db.js.
 */
import type {UnleashInfo} from './servers.js';
import {testServers} from './db.js';

/**
 * URL plus tokens: `adminToken` (`*:*.<secret>`, Admin API) and `clientToken`
 * (`default:development.<secret>`, a backend token for unleash-client). Send a token as the
 * `Authorization` header without `Bearer`. Throws when Unleash was skipped.
 */
export function unleashInfo(): UnleashInfo {
  const info = testServers();
  if (!info.unleash) {
    throw new Error(
      `This test needs Unleash, but the run skipped it (${info.unleashSkipped}). ` +
        'Unset STRANGLER_TEST_SKIP_UNLEASH, or point STRANGLER_TEST_UNLEASH_URL, ' +
        'STRANGLER_TEST_UNLEASH_ADMIN_TOKEN and STRANGLER_TEST_UNLEASH_CLIENT_TOKEN at a running Unleash 8.',
    );
  }
  return info.unleash;
}

/** fetch against the Unleash Admin API with the admin token; throws on a non-2xx answer. */
export async function unleashAdmin<T = unknown>(pathname: string, init: RequestInit = {}): Promise<T> {
  const {url, adminToken} = unleashInfo();
  const res = await fetch(new URL(pathname, url), {
    ...init,
    headers: {authorization: adminToken, 'content-type': 'application/json', ...(init.headers ?? {})},
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${pathname}: ${res.status} ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
