#!/usr/bin/env bash
# Exit 0 when node_modules already holds exactly what package-lock.json pins (and the lock
# matches package.json), so .ci/run can skip `npm ci`; exit 1 (with the reason) otherwise.
set -euo pipefail
exec node --input-type=module -e "$(cat <<'JS'
import fs from 'node:fs';

const read = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
try {
  const pkg = read('package.json');
  const lock = read('package-lock.json');
  const hidden = read('node_modules/.package-lock.json');
  const root = lock.packages[''] ?? {};
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies']) {
    if (JSON.stringify(pkg[field] ?? {}) !== JSON.stringify(root[field] ?? {})) {
      throw new Error(`package.json ${field} differ from package-lock.json`);
    }
  }
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key || entry.link) continue;
    const have = hidden.packages[key];
    if (!have) {
      if (entry.optional) continue;
      throw new Error(`${key} missing`);
    }
    if (have.version !== entry.version) throw new Error(`${key} is ${have.version}, lock says ${entry.version}`);
  }
  for (const key of Object.keys(hidden.packages)) {
    if (!(key in lock.packages)) throw new Error(`${key} is not in package-lock.json`);
  }
  process.exit(0);
} catch (err) {
  console.error(`npm ci needed: ${err.message}`);
  process.exit(1);
}
JS
)"
