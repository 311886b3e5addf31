#!/usr/bin/env bash
# Build FerretDB v1.24.2 into $HOME/go/bin/ferretdb unless a working one is already there or on PATH.
#
# A plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds a binary that
# panics at start ("Invalid build/version/version.txt file content"): the module zip lacks the
# generated build/version/version.txt. So: go install (fetches the module and its dependencies,
# warms the build cache), then rebuild from a copy of the module with version.txt written.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=v1.24.2
works() {
  local out
  [ -x "$1" ] && out=$("$1" --version 2>/dev/null) && [[ $out == "version: v1."* ]]
}

if [ -z "${FERRETDB_FORCE_BUILD:-}" ]; then
  for bin in "$(command -v ferretdb || true)" "$HOME/go/bin/ferretdb"; do
    if [ -n "$bin" ] && works "$bin"; then
      log "ferretdb present: $bin ($("$bin" --version | head -1))"
      exit 0
    fi
  done
fi

GO=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$GO" ] || { log "no Go toolchain: install Go, or set STRANGLER_TEST_MONGO_URL"; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
GOBIN_DIR="$("$GO" env GOPATH)/bin"
[ -n "${GOBIN:-}" ] && GOBIN_DIR=$GOBIN

step ferretdb-go-install "$GO" install "github.com/FerretDB/FerretDB/cmd/ferretdb@$VERSION"

# (runs under `step`, i.e. in an `if`, where set -e is off: every command is checked)
build_with_version() {
  local src tmp rc=0
  src=$("$GO" mod download -json "github.com/FerretDB/FerretDB@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || return 1
  [ -d "$src" ] || { echo "module source not found for FerretDB@$VERSION"; return 1; }
  tmp=$(mktemp -d) || return 1
  {
    cp -r "$src" "$tmp/src" &&
      chmod -R u+w "$tmp/src" &&
      echo "$VERSION" >"$tmp/src/build/version/version.txt" &&
      (cd "$tmp/src" && "$GO" build -o "$tmp/ferretdb" ./cmd/ferretdb) &&
      mkdir -p "$GOBIN_DIR" &&
      install -m 755 "$tmp/ferretdb" "$GOBIN_DIR/ferretdb" &&
      "$GOBIN_DIR/ferretdb" --version
  } || rc=$?
  rm -rf "$tmp"
  return "$rc"
}
step ferretdb-build build_with_version
works "$GOBIN_DIR/ferretdb" || { log "built $GOBIN_DIR/ferretdb does not run"; exit 1; }
log "ferretdb built: $GOBIN_DIR/ferretdb"
