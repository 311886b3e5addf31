#!/usr/bin/env bash
# Install the Debian packages the tests need, only those missing: PostgreSQL 15 server binaries,
# MariaDB server, Chromium (browser tests). Services are not started: the tests run their own
# servers on free loopback ports (a policy-rc.d blocks the packages' auto-start). Idempotent.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pkgs=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || pkgs+=(postgresql-15)
{ command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null || pkgs+=(mariadb-server)
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
command -v xmllint >/dev/null || pkgs+=(libxml2-utils)

if [ ${#pkgs[@]} -eq 0 ]; then
  log "apt packages present (postgresql-15, mariadb-server, chromium, libxml2-utils)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { if [ -n "$created_policy" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

step apt-update as_root apt-get update -q
step apt-install as_root apt-get install -y -q --no-install-recommends "${pkgs[@]}"

# If a system MariaDB/PostgreSQL got started anyway, stop it: ours use their own ports and dirs,
# but there is no reason to keep them running.
for svc in mariadb postgresql; do
  as_root service "$svc" stop >/dev/null 2>&1 || true
done
log "installed: ${pkgs[*]}"
