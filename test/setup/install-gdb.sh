#!/usr/bin/env bash
# Installs gdb from the system's own Debian sources when it is missing. Idempotent.
set -euo pipefail

if command -v gdb >/dev/null 2>&1; then
  printf 'install-gdb: already installed: %s\n' "$(gdb --version | head -n1)" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  printf 'install-gdb: error: gdb is missing and only root can install it (apt-get install gdb)\n' >&2
  exit 1
fi
printf 'install-gdb: installing gdb\n' >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdb >/dev/null
printf 'install-gdb: installed: %s\n' "$(gdb --version | head -n1)" >&2
