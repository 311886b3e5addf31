import {defineConfig} from 'vitest/config';

/**
 * Two projects:
 * - unit: no servers, runs in parallel.
 * - integration: test/integration, test/e2e, test/reliability on real PostgreSQL 15, MariaDB,
 *   FerretDB v1 and Unleash 8 started once by test/global-setup.ts (only when a file of this
 *   project runs). One file at a time: files share the servers and reliability tests restart them.
 *
 * `vitest run --project unit` starts no server; `npm test` runs both.
 */
export default defineConfig({
  test: {
    // @oclif/test's runCommand captures stdout itself; vitest's interception would empty it
    disableConsoleIntercept: true,
    // the global teardown stops the servers (PostgreSQL's fast shutdown, Unleash's own handler)
    teardownTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/reliability/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
