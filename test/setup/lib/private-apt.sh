# Private apt: download a package's whole runtime closure from another Debian suite and unpack it into a
# private root, without touching the system's apt sources, lists, dpkg database or libc.
# Sourced by test/setup/install-criu.sh and test/setup/install-gdb-versions.sh (bash only).
#
# How it works: APT_CONFIG points apt at a private configuration whose every directory (sources, lists,
# archives, apt.conf.d, the dpkg status file) is under one private directory. The status file is empty,
# so a simulated install lists every package the closure needs, libc included. Those are fetched with
# `apt-get download` (verified against the signed index) and unpacked with `dpkg-deb -x`. Programs in
# such a root run through the root's own loader: ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
# --library-path ... (see papt_loader and papt_library_path).
#
# Usage:
#   PAPT_NAME=my-script                 # prefix of the log lines (default private-apt)
#   source test/setup/lib/private-apt.sh
#   papt_check_host && papt_need_tools && papt_init "$CACHE/apt" "$CRIU_GDB_DEBIAN_MIRROR" &&
#     papt_use_suite trixie && papt_closure gdb && papt_unpack "$ROOT.new" "${PAPT_CLOSURE[@]}" || die "$PAPT_ERROR"
#
# Every function returns non-zero on failure with a one-line reason in PAPT_ERROR and logs nothing but
# progress, so a caller can either die with the reason or record it and carry on. Results come back in
# variables, not on stdout, so that PAPT_ERROR is not lost in a subshell. The functions check each step
# themselves: `set -e` does not apply inside a function that is called from `if`, `&&` or `||`.

PAPT_NAME="${PAPT_NAME:-private-apt}"
# Debian architecture of the packages to fetch (set before papt_init). amd64 for programs this machine runs;
# another one (arm64) only to unpack a foreign root, e.g. an emulated guest's (papt_unpack then checks that
# root's own loader).
PAPT_ARCH="${PAPT_ARCH:-amd64}"
PAPT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PAPT_DIR=""
PAPT_MIRROR=""
PAPT_SUITE=""
PAPT_ERROR=""
PAPT_CLOSURE=()

papt_log() { printf '%s: %s\n' "$PAPT_NAME" "$*" >&2; }

# Records the reason of a failure; the caller then returns 1.
papt_fail() { PAPT_ERROR="$*"; }

# Root on amd64: the only host these installers support.
papt_check_host() {
  if [ "$(id -u)" -ne 0 ]; then papt_fail "must run as root"; return 1; fi
  if [ "$(dpkg --print-architecture 2>/dev/null)" != amd64 ]; then papt_fail "only amd64 is supported"; return 1; fi
}

# The tools needed from the system: apt-get, dpkg-deb, gpgv and the Debian archive keyring. They are part
# of a normal Debian install; a missing one is installed from the system's own sources.
papt_need_tools() {
  local missing=()
  command -v gpgv >/dev/null 2>&1 || missing+=(gpgv)
  [ -r "$PAPT_KEYRING" ] || missing+=(debian-archive-keyring)
  [ "${#missing[@]}" -gt 0 ] || return 0
  papt_log "installing ${missing[*]} from the system's sources"
  if ! apt-get update -qq >/dev/null 2>&1 ||
    ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    papt_fail "cannot install ${missing[*]} from the system's apt sources"
    return 1
  fi
}

# Sets PAPT_MIRROR to the Debian archive URI that serves the system's own release (one-line or deb822
# sources).
papt_find_mirror() {
  local codename files f uri
  codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  if [ -z "$codename" ]; then papt_fail "/etc/os-release names no VERSION_CODENAME"; return 1; fi
  files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  if [ "${#files[@]}" -eq 0 ]; then papt_fail "the system has no apt sources"; return 1; fi
  uri="$(awk -v codename="$codename" '
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
  ' "${files[@]}" | head -n1)"
  if [ -z "$uri" ]; then
    papt_fail "cannot find the Debian archive for $codename in the system's apt sources; set CRIU_GDB_DEBIAN_MIRROR"
    return 1
  fi
  PAPT_MIRROR="${uri%/}"
}

# papt_init DIR [MIRROR]: writes the private apt configuration under DIR (kept between runs; lists and
# downloads are removed by papt_clean). Without MIRROR, the system's own archive is used. APT_CONFIG is
# read before anything else and points every directory, apt.conf.d included, away from the system's, so
# nothing of the system's apt state is read or written. APT_CONFIG itself is never exported: only
# papt_get and papt_cache use it.
papt_init() {
  PAPT_DIR="$1"
  PAPT_MIRROR="${2:-}"
  PAPT_MIRROR="${PAPT_MIRROR%/}"
  PAPT_SUITE=""
  if [ -z "$PAPT_MIRROR" ]; then
    papt_find_mirror || return 1
  fi
  if ! mkdir -p "$PAPT_DIR"/{etc/apt.conf.d,etc/sources.list.d,etc/preferences.d,etc/trusted.gpg.d,lists/partial,archives/partial,cache,state,log}; then
    papt_fail "cannot create $PAPT_DIR"
    return 1
  fi
  : >"$PAPT_DIR/etc/empty.conf"
  : >"$PAPT_DIR/status"
  cat >"$PAPT_DIR/etc/apt.conf" <<EOF
Dir::Etc::main "$PAPT_DIR/etc/empty.conf";
Dir::Etc::parts "$PAPT_DIR/etc/apt.conf.d";
Dir::Etc::SourceList "$PAPT_DIR/etc/sources.list";
Dir::Etc::SourceParts "$PAPT_DIR/etc/sources.list.d";
Dir::Etc::Preferences "$PAPT_DIR/etc/preferences";
Dir::Etc::PreferencesParts "$PAPT_DIR/etc/preferences.d";
Dir::Etc::Trusted "$PAPT_DIR/etc/trusted.gpg";
Dir::Etc::TrustedParts "$PAPT_DIR/etc/trusted.gpg.d";
Dir::State "$PAPT_DIR/state";
Dir::State::Lists "$PAPT_DIR/lists";
Dir::State::status "$PAPT_DIR/status";
Dir::Cache "$PAPT_DIR/cache";
Dir::Cache::Archives "$PAPT_DIR/archives";
Dir::Log "$PAPT_DIR/log";
Debug::NoLocking "true";
APT::Architecture "$PAPT_ARCH";
APT::Architectures { "$PAPT_ARCH"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
EOF
}

papt_get() { APT_CONFIG="$PAPT_DIR/etc/apt.conf" apt-get "$@"; }
papt_cache() { APT_CONFIG="$PAPT_DIR/etc/apt.conf" apt-cache "$@"; }

# papt_use_suite SUITE: points the private sources at SUITE (main) and fetches its package lists.
# The apt output is in DIR/log/update-SUITE.log; warnings (e.g. a stale signature) are logged.
papt_use_suite() {
  local suite="$1" logf="$PAPT_DIR/log/update-$1.log"
  PAPT_SUITE=""
  printf 'deb [signed-by=%s] %s %s main\n' "$PAPT_KEYRING" "$PAPT_MIRROR" "$suite" >"$PAPT_DIR/etc/sources.list"
  rm -rf "$PAPT_DIR/lists" "$PAPT_DIR/cache"
  mkdir -p "$PAPT_DIR/lists/partial" "$PAPT_DIR/cache"
  # apt-get update exits 0 when it cannot connect at all, so success means: a package list arrived.
  if ! papt_get update -qq >"$logf" 2>&1 || ! find "$PAPT_DIR/lists" -maxdepth 1 -name '*_Packages*' | grep -q .; then
    papt_fail "apt-get update for $suite from $PAPT_MIRROR failed: $(grep -E '^(W|E):' "$logf" | head -n1 | cut -c1-200)"
    return 1
  fi
  if grep -qE '^(W|E):' "$logf"; then
    papt_log "apt-get update for $suite warned: $(grep -E '^(W|E):' "$logf" | head -n3)"
  fi
  PAPT_SUITE="$suite"
}

# papt_candidate PKG: prints the version of PKG in the current suite, or nothing.
papt_candidate() {
  local v
  v="$(papt_cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')"
  [ "$v" = "(none)" ] || printf '%s\n' "$v"
}

# papt_closure PKG...: sets PAPT_CLOSURE to the whole runtime closure of PKG... (Depends and
# Pre-Depends, no Recommends), as `name=version` words. With the empty dpkg status file a simulated
# install lists everything, libc included.
papt_closure() {
  local sim
  if ! sim="$(papt_get -s --no-install-recommends install "$@" 2>&1)"; then
    printf '%s\n' "$sim" >"$PAPT_DIR/log/simulate.log"
    papt_fail "simulated install of $* from $PAPT_SUITE failed: $(grep -E '^E:' <<<"$sim" | head -n1 | cut -c1-200)"
    return 1
  fi
  mapfile -t PAPT_CLOSURE < <(awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2 "=" v }' <<<"$sim")
  if [ "${#PAPT_CLOSURE[@]}" -eq 0 ]; then
    papt_fail "simulated install of $* from $PAPT_SUITE listed no packages"
    return 1
  fi
}

# papt_unpack DEST NAME=VERSION...: downloads the packages (verified against the signed index) and
# unpacks all of them into DEST, which is created afresh. The .deb files are deleted afterwards.
papt_unpack() {
  local dest="$1" debdir="$PAPT_DIR/archives" deb
  shift
  local -a debs
  find "$debdir" -maxdepth 1 -name '*.deb' -delete
  if ! (cd "$debdir" && papt_get download -qq "$@" >"$PAPT_DIR/log/download.log" 2>&1); then
    papt_fail "download from $PAPT_SUITE failed: $(grep -E '^(W|E):' "$PAPT_DIR/log/download.log" | head -n1 | cut -c1-200)"
    return 1
  fi
  mapfile -t debs < <(find "$debdir" -maxdepth 1 -name '*.deb' | sort)
  if [ "${#debs[@]}" -ne "$#" ]; then
    papt_fail "expected $# .deb files from $PAPT_SUITE, found ${#debs[@]}"
    return 1
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  for deb in "${debs[@]}"; do
    if ! dpkg-deb -x "$deb" "$dest"; then
      papt_fail "cannot unpack $(basename "$deb")"
      return 1
    fi
  done
  find "$debdir" -maxdepth 1 -name '*.deb' -delete
  if [ ! -e "$dest/$(papt_loader)" ]; then
    papt_fail "the unpacked tree has no $(papt_loader)"
    return 1
  fi
}

# The loader and library path of a private root, relative to the root: run programs as
#   ROOT/$(papt_loader) --library-path "$(papt_library_path ROOT)" ROOT/usr/bin/PROG ...
# --library-path (unlike LD_LIBRARY_PATH) is not inherited by the programs PROG starts, so they keep
# the system's libc.
papt_loader() {
  case "$PAPT_ARCH" in
    arm64) printf 'usr/lib/ld-linux-aarch64.so.1' ;;
    *) printf 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' ;;
  esac
}
papt_library_path() {
  local triplet=x86_64-linux-gnu
  [ "$PAPT_ARCH" = arm64 ] && triplet=aarch64-linux-gnu
  printf '%s/usr/lib/%s:%s/lib/%s' "$1" "$triplet" "$1" "$triplet"
}

# Package lists and downloads are only needed while installing; keep the cache small.
papt_clean() {
  [ -n "$PAPT_DIR" ] || return 0
  find "$PAPT_DIR/archives" -maxdepth 1 -name '*.deb' -delete 2>/dev/null || true
  rm -rf "$PAPT_DIR/lists" "$PAPT_DIR/cache"
}
