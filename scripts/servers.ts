/**
 * Dev helper: start the same test servers as the vitest "integration" project and keep them up
 * until Ctrl-C, so repeated test runs skip the startup:
 *
 *   npx tsx scripts/servers.ts > .tmp/servers.env     # prints `export STRANGLER_TEST_…=…` lines
 *   . .tmp/servers.env && npx vitest run --project integration
 *
 * `--json` prints the whole description instead. Progress goes to stderr. The servers die
 * with this process.
 */
import {serverEnv, TestServers} from '../test/helpers/servers.js';

const servers = await TestServers.start();
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(servers.info, null, 2)}\n`);
} else {
  for (const [key, value] of Object.entries(serverEnv(servers.info))) {
    // the control endpoint belongs to this process; test runs using these URLs start nothing
    if (key === 'STRANGLER_TEST_CONTROL_URL' || key === 'STRANGLER_TEST_CONTROL_TOKEN') continue;
    process.stdout.write(`export ${key}='${value.replace(/'/g, `'\\''`)}'\n`);
  }
}
process.stderr.write('[test-servers] up; Ctrl-C stops them\n');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  process.stderr.write('[test-servers] stopping\n');
  await servers.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
