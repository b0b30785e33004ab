#!/usr/bin/env bash
# Installs CRIU 4.2.x privately, without touching the system's apt sources, dpkg database or libc.
#
# The machine runs Debian bookworm, whose criu (3.17) cannot handle the running kernel. A newer suite's
# criu and its whole runtime closure (its own libc included) are downloaded with a private apt
# configuration, unpacked into ${CRIU_GDB_CACHE:-/var/cache/criu-gdb}/criu, and run through that tree's
# own dynamic loader by the wrapper ${CRIU_GDB_CACHE:-/var/cache/criu-gdb}/bin/criu.
#
# Idempotent: when the wrapper exists and `criu check` says "Looks good." nothing is done.
# Prints the wrapper's path as the last line of its output.
#
# Environment:
#   CRIU_GDB_CACHE          where to install (default /var/cache/criu-gdb)
#   CRIU_GDB_DEBIAN_MIRROR  Debian archive URI (default: the one the system's own sources use)
#   CRIU_GDB_SUITES         suites to try in order (default "forky sid trixie")
set -euo pipefail

CACHE="${CRIU_GDB_CACHE:-/var/cache/criu-gdb}"
ROOT="$CACHE/criu"
WRAPPER="$CACHE/bin/criu"
APTDIR="$CACHE/apt"
SUITES="${CRIU_GDB_SUITES:-forky sid trixie}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIN_VERSION=4.2

log() { printf 'install-criu: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

criu_works() {
  [ -x "$WRAPPER" ] || return 1
  local out
  out="$("$WRAPPER" check 2>&1)" || return 1
  grep -q 'Looks good\.' <<<"$out"
}

if criu_works; then
  log "already installed: $("$WRAPPER" --version 2>&1 | head -n1)"
  echo "$WRAPPER"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (criu itself needs root)"
[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is supported"

# Tools this script needs from the system: apt-get, dpkg-deb, gpgv and the Debian archive keyring.
# They are part of a normal Debian install; if one is missing, install it from the system's own sources.
missing=()
command -v gpgv >/dev/null 2>&1 || missing+=(gpgv)
[ -r "$KEYRING" ] || missing+=(debian-archive-keyring)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} from the system's sources"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Debian archive to use: the one that serves the system's own release, unless overridden.
find_mirror() {
  local codename files f
  codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  [ -n "$codename" ] || return 1
  files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 1
  awk -v codename="$codename" '
    # a new file ends the previous deb822 stanza
    FNR == 1 { if (uris != "" && suites_ok && types_ok) { print uris; exit } uris = ""; suites_ok = 0; types_ok = 0 }
    # one-line format: deb [options] URI suite components...
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if ($(i + 1) == codename) { print $i; exit }
    }
    # deb822 format: stanzas separated by blank lines
    /^[ \t]*$/ { if (uris != "" && suites_ok && types_ok) { print uris; exit } uris = ""; suites_ok = 0; types_ok = 0; next }
    tolower($1) == "types:" { for (j = 2; j <= NF; j++) if ($j == "deb") types_ok = 1 }
    tolower($1) == "uris:" { uris = $2 }
    tolower($1) == "suites:" { for (j = 2; j <= NF; j++) if ($j == codename) suites_ok = 1 }
    END { if (uris != "" && suites_ok && types_ok) print uris }
  ' "${files[@]}" | head -n1
}
MIRROR="${CRIU_GDB_DEBIAN_MIRROR:-$(find_mirror || true)}"
[ -n "$MIRROR" ] || die "cannot find the Debian archive in the system's apt sources; set CRIU_GDB_DEBIAN_MIRROR"
MIRROR="${MIRROR%/}"

# A private apt configuration. APT_CONFIG is read before anything else, and it points every
# directory (including apt.conf.d) away from the system's, so nothing of the system's apt state is
# read or written.
mkdir -p "$APTDIR"/{etc/apt.conf.d,etc/sources.list.d,etc/preferences.d,etc/trusted.gpg.d,lists/partial,archives/partial,cache,state,log}
: >"$APTDIR/etc/empty.conf"
: >"$APTDIR/status"
cat >"$APTDIR/etc/apt.conf" <<EOF
Dir::Etc::main "$APTDIR/etc/empty.conf";
Dir::Etc::parts "$APTDIR/etc/apt.conf.d";
Dir::Etc::SourceList "$APTDIR/etc/sources.list";
Dir::Etc::SourceParts "$APTDIR/etc/sources.list.d";
Dir::Etc::Preferences "$APTDIR/etc/preferences";
Dir::Etc::PreferencesParts "$APTDIR/etc/preferences.d";
Dir::Etc::Trusted "$APTDIR/etc/trusted.gpg";
Dir::Etc::TrustedParts "$APTDIR/etc/trusted.gpg.d";
Dir::State "$APTDIR/state";
Dir::State::Lists "$APTDIR/lists";
Dir::State::status "$APTDIR/status";
Dir::Cache "$APTDIR/cache";
Dir::Cache::Archives "$APTDIR/archives";
Dir::Log "$APTDIR/log";
Debug::NoLocking "true";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
EOF
export APT_CONFIG="$APTDIR/etc/apt.conf"
# Never let the private configuration leak into commands this script does not mean it for.
papt_get() { APT_CONFIG="$APTDIR/etc/apt.conf" apt-get "$@"; }
papt_cache() { APT_CONFIG="$APTDIR/etc/apt.conf" apt-cache "$@"; }
unset APT_CONFIG

candidate_version() {
  papt_cache policy criu 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'
}

chosen=""
fallback=""
for suite in $SUITES; do
  log "trying suite $suite"
  printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$suite" >"$APTDIR/etc/sources.list"
  rm -rf "$APTDIR/lists" "$APTDIR/cache"
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache"
  if ! papt_get update -qq >"$APTDIR/log/update-$suite.log" 2>&1; then
    log "apt-get update for $suite failed (see $APTDIR/log/update-$suite.log)"
    continue
  fi
  if grep -qE '^(W|E):' "$APTDIR/log/update-$suite.log"; then
    log "apt-get update for $suite warned: $(grep -E '^(W|E):' "$APTDIR/log/update-$suite.log" | head -n3)"
  fi
  version="$(candidate_version)"
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    log "no criu in $suite"
    continue
  fi
  if dpkg --compare-versions "$version" ge "$MIN_VERSION"; then
    chosen="$suite"
    log "using criu $version from $suite"
    break
  fi
  log "criu in $suite is only $version"
  [ -n "$fallback" ] || fallback="$suite"
done

if [ -z "$chosen" ]; then
  [ -n "$fallback" ] || die "no usable criu found in any of: $SUITES"
  kernel="$(uname -r)"
  log "WARNING: no criu >= $MIN_VERSION found; using the older one from $fallback."
  if dpkg --compare-versions "${kernel%%-*}" ge 6.16; then
    log "WARNING: on kernel $kernel (>= 6.16) it cannot dump TCP/UDP sockets"
    log "WARNING: (SO_PASSCRED/SO_PASSSEC 'Operation not supported'): socket checkpoints will fail."
  fi
  chosen="$fallback"
  printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$chosen" >"$APTDIR/etc/sources.list"
  rm -rf "$APTDIR/lists" "$APTDIR/cache"
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache"
  papt_get update -qq >"$APTDIR/log/update-$chosen.log" 2>&1 || die "apt-get update for $chosen failed"
fi

# With an empty dpkg status file, a simulated install lists the whole runtime closure.
sim="$(papt_get -s --no-install-recommends install criu libcompel1 2>&1)" || { printf '%s\n' "$sim" >&2; die "simulated install failed"; }
mapfile -t pkgs < <(awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2 "=" v }' <<<"$sim")
[ "${#pkgs[@]}" -gt 0 ] || { printf '%s\n' "$sim" >&2; die "simulated install listed no packages"; }
log "closure: ${#pkgs[@]} packages"

# Download (verified against the signed index) into the private archives directory.
debdir="$APTDIR/archives"
find "$debdir" -maxdepth 1 -name '*.deb' -delete
(cd "$debdir" && papt_get download -qq "${pkgs[@]}" >"$APTDIR/log/download.log" 2>&1) || { cat "$APTDIR/log/download.log" >&2; die "download failed"; }
mapfile -t debs < <(find "$debdir" -maxdepth 1 -name '*.deb' | sort)
[ "${#debs[@]}" -eq "${#pkgs[@]}" ] || die "expected ${#pkgs[@]} .deb files, found ${#debs[@]}"

# Unpack into a fresh tree, then move it into place.
staging="$CACHE/criu.new"
rm -rf "$staging"
mkdir -p "$staging"
for deb in "${debs[@]}"; do
  dpkg-deb -x "$deb" "$staging"
done
loader="usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -e "$staging/$loader" ] || die "the unpacked tree has no $loader"
[ -x "$staging/usr/sbin/criu" ] || die "the unpacked tree has no usr/sbin/criu"
rm -rf "$ROOT"
mv "$staging" "$ROOT"

# The wrapper runs criu with the private tree's loader and libraries. --library-path (unlike
# LD_LIBRARY_PATH) is not inherited by the programs criu starts (sh, ip, iptables, tar), so they
# keep the system's libc.
mkdir -p "$(dirname "$WRAPPER")"
cat >"$WRAPPER.new" <<EOF
#!/bin/sh
# Generated by criu-gdb's test/setup/install-criu.sh: runs the private CRIU ($chosen) in $ROOT.
ROOT='$ROOT'
exec "\$ROOT/$loader" --library-path "\$ROOT/usr/lib/x86_64-linux-gnu:\$ROOT/lib/x86_64-linux-gnu" "\$ROOT/usr/sbin/criu" "\$@"
EOF
chmod 755 "$WRAPPER.new"
mv "$WRAPPER.new" "$WRAPPER"

# The package lists and downloads are only needed to install; keep the cache small.
find "$debdir" -maxdepth 1 -name '*.deb' -delete
rm -rf "$APTDIR/lists" "$APTDIR/cache"

out="$("$WRAPPER" check 2>&1)" || true
if ! grep -q 'Looks good\.' <<<"$out"; then
  printf '%s\n' "$out" >&2
  die "criu check failed"
fi
log "installed: $("$WRAPPER" --version 2>&1 | head -n1)"
echo "$WRAPPER"
