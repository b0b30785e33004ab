#!/usr/bin/env bash
# What `npm test` runs before vitest: installs gdb, a C compiler and the private CRIU 4.2 if they are
# missing, then makes (or keeps, when up to date) the real CRIU checkpoints the tests read.
# Tests find CRIU and the checkpoints through test/helpers/checkpoints.ts; nothing is exported here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ "$(id -u)" -ne 0 ]; then
  echo "prepare-tests: error: must run as root (CRIU dumps and gdb attaches need it)" >&2
  exit 1
fi

bash "$here/install-gdb.sh"
bash "$here/install-gdb-versions.sh" >/dev/null

# lldb opens the exported core files in test/integration/coredump.test.ts (from the system's own sources).
if ! command -v lldb >/dev/null 2>&1; then
  echo "prepare-tests: installing lldb" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lldb >/dev/null
fi

# gdb-multiarch opens arm64 checkpoints and cores on this x86-64 machine (test/integration/arch-aarch64*.test.ts).
if ! command -v gdb-multiarch >/dev/null 2>&1; then
  echo "prepare-tests: installing gdb-multiarch" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdb-multiarch >/dev/null || echo "prepare-tests: gdb-multiarch could not be installed; its tests will skip" >&2
fi

# The test programs are C: gcc, nm (binutils) and libc.a (libc6-dev, for the -static ones).
if ! command -v gcc >/dev/null 2>&1 || ! command -v nm >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ]; then
  echo "prepare-tests: installing gcc, binutils and libc6-dev" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev binutils >/dev/null
fi

# cxx_values is C++ (g++; libstdc++'s gdb printers come with libstdc++6), and py_stack runs on Debian's python3.11,
# whose gdb extension (py-bt) and debug info come with python3.11-dbg.
if ! command -v g++ >/dev/null 2>&1 || [ ! -e /usr/share/gdb/auto-load/usr/bin/python3.11-gdb.py ] || [ ! -x /usr/bin/python3.11 ]; then
  echo "prepare-tests: installing g++ and python3.11-dbg" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ python3.11 python3.11-dbg >/dev/null
fi

# tls_values reads errno, whose type gdb takes from libc's debug info (libc6-dbg); the TLS descriptor test
# checks libc's layout descriptors against the structure offsets in that debug info.
if ! dpkg -s libc6-dbg >/dev/null 2>&1; then
  echo "prepare-tests: installing libc6-dbg" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libc6-dbg >/dev/null
fi

# tls_musl is linked with musl (musl-gcc): thread-local storage of a libc without libthread_db descriptors.
if ! command -v musl-gcc >/dev/null 2>&1; then
  echo "prepare-tests: installing musl-tools" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools >/dev/null ||
    echo "prepare-tests: warning: musl-tools could not be installed; the musl TLS tests will be skipped" >&2
fi

# The build-id tests run a real debuginfod server on the loopback address.
if ! command -v debuginfod >/dev/null 2>&1; then
  echo "prepare-tests: installing debuginfod" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debuginfod >/dev/null ||
    echo "prepare-tests: warning: debuginfod could not be installed; its tests will be skipped" >&2
fi

# The archive tests make tar.gz and tar.zst checkpoint archives with the system's gzip and zstd.
if ! command -v zstd >/dev/null 2>&1 || ! command -v gzip >/dev/null 2>&1; then
  echo "prepare-tests: installing zstd and gzip" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zstd gzip >/dev/null
fi

bash "$here/install-criu.sh" >/dev/null

# checkpointctl (with its plugin support) runs the package's checkpointctl-gdb in test/integration/package.test.ts.
bash "$here/install-checkpointctl.sh"

cd "$repo"
npx tsx test/setup/make-checkpoints.ts
npx tsx test/setup/make-archives.ts
