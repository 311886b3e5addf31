/**
 * Global setup of the vitest "integration" project (integration, e2e, reliability tests):
 * provides PostgreSQL 15, MariaDB, FerretDB v1 and Unleash 8 (see test/helpers/servers.ts for
 * the order env URL → local binaries → testcontainers → loud failure), hands their URLs to the
 * test workers with `provide('stranglerServers', …)`, and exports them as environment variables
 * (STRANGLER_TEST_PG_URL, … — see `serverEnv`) for CLI child processes spawned by e2e tests.
 *
 * Unleash is started here, in parallel with MariaDB and FerretDB, because it costs no extra
 * wall time that way (≈2–3 s on its own, overlapped). STRANGLER_TEST_SKIP_UNLEASH=1 skips it:
 * `unleashInfo()` then throws, so tests that need it fail loudly instead of skipping.
 */
import type {TestProject} from 'vitest/node';
import {serverEnv, TestServers} from './helpers/servers.js';

export default async function setup(project: TestProject) {
  const saved = new Map<string, string | undefined>();
  const servers = await TestServers.start();
  project.provide('stranglerServers', servers.info);
  for (const [key, value] of Object.entries(serverEnv(servers.info))) {
    saved.set(key, process.env[key]);
    process.env[key] = value;
  }

  return async () => {
    await servers.stop();
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
