#!/usr/bin/env bash
# Install Node 24 into $HOME/.node24 (the machine's Node 20 is too old for the current majors).
# Under Node 20, `npm install -g node@24` reports an npm error although node lands in
# $HOME/.node24/bin: judge by `node --version`, not by npm's exit code. Idempotent.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE24="$HOME/.node24/bin/node"
have_node24() {
  local v
  [ -x "$NODE24" ] && v=$("$NODE24" --version 2>/dev/null) && [[ $v == v24.* ]]
}

if have_node24; then
  log "node $("$NODE24" --version) already in $HOME/.node24"
  exit 0
fi
command -v npm >/dev/null || { log "no npm on PATH to bootstrap Node 24 with"; exit 1; }
install_node24() {
  # the documented command first; some npm 11 versions refuse --allow-scripts in the nested
  # install that node's preinstall runs, and then a plain install works (its bin/node is real)
  npm install -g --prefix "$HOME/.node24" --allow-scripts=node --no-audit --no-fund node@24 || true
  have_node24 && return 0
  echo "--- retrying without --allow-scripts"
  npm install -g --prefix "$HOME/.node24" --no-audit --no-fund node@24 || true
  have_node24
}
step node24 install_node24
log "node $("$NODE24" --version) in $HOME/.node24/bin"
