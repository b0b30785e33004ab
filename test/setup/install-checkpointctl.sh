#!/usr/bin/env bash
# Installs checkpointctl with plugin support into ${CRIU_GDB_CACHE:-/var/cache/criu-gdb}/bin/checkpointctl,
# for the checkpointctl-gdb tests of test/integration/package.test.ts.
#
# checkpointctl runs any `checkpointctl-NAME` on PATH as `checkpointctl NAME` since a commit after its
# v1.5.0 release; Debian's checkpointctl (1.3.0 in sid) predates that. So it is built with Go:
#   - Go: the system's when it is 1.24 or newer, else Debian's golang-1.27-go, unpacked privately from a
#     newer suite (test/setup/lib/private-apt.sh) into $CACHE/go-toolchain (it is statically linked);
#   - source: the Go module at $CHECKPOINTCTL_COMMIT through the Go module proxy ($GOPROXY), or, when
#     CRIU_GDB_CHECKPOINTCTL_SRC names a checkout of checkpointctl, that checkout with its vendor/.
# When it cannot be built (the proxy cannot be reached, say), the reason goes to
# $CACHE/checkpointctl.unavailable, this prints one warning and exits 0, and those tests skip, printing it.
#
# Idempotent and quiet when a checkpointctl with plugin support is installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${CRIU_GDB_CACHE:-/var/cache/criu-gdb}"
TARGET="$CACHE/bin/checkpointctl"
UNAVAILABLE="$CACHE/checkpointctl.unavailable"
TOOLCHAIN="$CACHE/go-toolchain"
CHECKPOINTCTL_MODULE=github.com/checkpoint-restore/checkpointctl
# The newest commit of checkpointctl's main branch when this was written (2026-04-22), with plugins.
CHECKPOINTCTL_COMMIT=9192f11845c4ce78b4233a626cb8163a2ada3ae5
GO_PACKAGE=golang-1.27-go

log() { printf 'install-checkpointctl: %s\n' "$*" >&2; }

has_plugins() { [ -x "$TARGET" ] && "$TARGET" plugin list >/dev/null 2>&1; }

unavailable() {
  mkdir -p "$CACHE"
  printf '%s\n' "$*" >"$UNAVAILABLE"
  log "warning: checkpointctl cannot be built: $*; the tests through checkpointctl will be skipped"
  exit 0
}

if has_plugins; then
  rm -f "$UNAVAILABLE"
  exit 0
fi

# Whether `go` ($1) is Go 1.24 or newer (checkpointctl's go.mod asks for 1.24.6).
recent_go() {
  local version
  version="$("$1" env GOVERSION 2>/dev/null)" || return 1
  version="${version#go}"
  local major="${version%%.*}" rest="${version#*.}"
  local minor="${rest%%.*}"
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "${minor%%[!0-9]*}" -ge 24 ]; }
}

# Sets GO to a Go 1.24 or newer, unpacking Debian's golang-1.27-go when the system has none.
find_go() {
  if command -v go >/dev/null 2>&1 && recent_go go; then
    GO="$(command -v go)"
    return 0
  fi
  GO="$(find "$TOOLCHAIN/usr/lib" -maxdepth 3 -path '*/go-1.*/bin/go' 2>/dev/null | sort -V | tail -n1 || true)"
  if [ -n "$GO" ] && recent_go "$GO"; then return 0; fi
  PAPT_NAME=install-checkpointctl
  # shellcheck source=lib/private-apt.sh
  source "$here/lib/private-apt.sh"
  trap papt_clean EXIT
  papt_check_host && papt_need_tools && papt_init "$CACHE/apt-go" "${CRIU_GDB_DEBIAN_MIRROR:-}" || unavailable "$PAPT_ERROR"
  local suite found=""
  for suite in forky sid; do
    if papt_use_suite "$suite" && [ -n "$(papt_candidate "$GO_PACKAGE")" ]; then
      found="$suite"
      break
    fi
  done
  [ -n "$found" ] || unavailable "no Debian suite offers $GO_PACKAGE"
  log "unpacking $GO_PACKAGE from Debian $found into $TOOLCHAIN"
  papt_closure "$GO_PACKAGE" || unavailable "$PAPT_ERROR"
  # Go is statically linked: the tree needs no loader of its own, which papt_unpack checks last.
  papt_unpack "$TOOLCHAIN" "${PAPT_CLOSURE[@]}" || true
  GO="$(find "$TOOLCHAIN/usr/lib" -maxdepth 3 -path '*/go-1.*/bin/go' 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$GO" ] && recent_go "$GO" || unavailable "Debian's $GO_PACKAGE could not be unpacked: ${PAPT_ERROR:-no go in it}"
}

source_dir="${CRIU_GDB_CHECKPOINTCTL_SRC:-}"
proxy="${GOPROXY:-https://proxy.golang.org}"
proxy_host="${proxy%%,*}"
proxy_host="${proxy_host#*://}"
proxy_host="${proxy_host%%/*}"
if [ -z "$source_dir" ] && ! getent hosts "$proxy_host" >/dev/null 2>&1; then
  unavailable "the Go module proxy $proxy_host cannot be reached from this machine (set CRIU_GDB_CHECKPOINTCTL_SRC to a checkout of checkpointctl to build that)"
fi

find_go
mkdir -p "$CACHE/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOCACHE="${GOCACHE:-$CACHE/go-build}" GOPATH="${GOPATH:-$CACHE/go}"
build_log="$CACHE/checkpointctl-build.log"
if [ -n "$source_dir" ]; then
  log "building checkpointctl from $source_dir with $("$GO" env GOVERSION)"
  if ! (cd "$source_dir" && GOFLAGS=-mod=vendor GOPROXY=off "$GO" build -o "$TARGET.new" -ldflags "-X main.name=checkpointctl -X main.version=from-source" .) >"$build_log" 2>&1; then
    unavailable "building $source_dir failed: $(tail -n1 "$build_log")"
  fi
else
  log "building $CHECKPOINTCTL_MODULE@${CHECKPOINTCTL_COMMIT:0:12} with $("$GO" env GOVERSION)"
  if ! GOBIN="$CACHE/go-bin" GOFLAGS=-mod=mod GOPROXY="$proxy" timeout 1200 "$GO" install "$CHECKPOINTCTL_MODULE@$CHECKPOINTCTL_COMMIT" >"$build_log" 2>&1; then
    unavailable "go install $CHECKPOINTCTL_MODULE@${CHECKPOINTCTL_COMMIT:0:12} failed: $(tail -n1 "$build_log")"
  fi
  mv "$CACHE/go-bin/checkpointctl" "$TARGET.new"
fi
rm -f "$build_log"
mv "$TARGET.new" "$TARGET"
has_plugins || unavailable "the checkpointctl that was built has no 'plugin' command"
rm -f "$UNAVAILABLE"
log "installed $TARGET"
