# shellcheck shell=bash
# Helpers for .ci/run and scripts/ci/*.sh: quiet steps with a log file and its tail on failure.

CI_LOG_DIR="${CI_LOG_DIR:-${TMPDIR:-/tmp}/strangler-ci-logs}"
mkdir -p "$CI_LOG_DIR"

log() { printf '[ci %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# step NAME CMD...: run CMD with its output in $CI_LOG_DIR/NAME.log; on failure print the tail and fail.
step() {
  local name=$1; shift
  local logfile="$CI_LOG_DIR/$name.log"
  local start=$SECONDS
  log "$name ..."
  if "$@" >"$logfile" 2>&1 </dev/null; then
    log "$name done ($((SECONDS - start)) s)"
  else
    local rc=$?
    log "$name FAILED (exit $rc); last lines of $logfile:"
    tail -n 60 "$logfile" | sed 's/^/    /'
    return "$rc"
  fi
}

# Root runs apt directly; anyone else needs sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
