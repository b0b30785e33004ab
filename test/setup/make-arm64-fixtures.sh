#!/usr/bin/env bash
# Makes the arm64 checkpoint fixtures (test/fixtures/arm64-*) in an emulated arm64 Debian system; not run by
# `npm test`. Needs root, network access to the Debian archive and about 2 GB of disk.
#
#   bash test/setup/make-arm64-fixtures.sh [4k|16k|4k-pac]...     (default: 4k 16k 4k-pac)
#
# 1. Downloads, with a private apt configuration (lib/private-apt.sh, PAPT_ARCH=arm64), Debian trixie's arm64
#    criu, gdb and busybox-static with their whole runtime closure, and the 4 KiB and 16 KiB page kernels
#    (linux-image-arm64, linux-image-arm64-16k). Nothing of the system's apt state is touched.
# 2. Cross-compiles the test programs with Debian's gcc-aarch64-linux-gnu (installed if missing).
# 3. Builds an initramfs: the unpacked closure, /init = arm64/guest-init.sh, the programs under
#    /opt/criu-gdb-arm64, the guest probe and the kernel's 9p modules (uncompressed).
# 4. Boots it with qemu-system-aarch64 (TCG: -machine virt -cpu max,pauth=off -smp 2 -m 2G, serial console, the kernel
#    given with -kernel, no firmware, no network). The guest runs each program, records the raw truth, dumps
#    it with criu and writes everything to a 9p share, then powers off.
# 5. `npx tsx test/setup/arm64-fixtures.ts` turns each raw record into test/fixtures/arm64-<name>/.
#
# Time on a 2-core x86_64 host: 2-6 minutes per kernel (the guest boots in 11-80 s, depending on the host's
# load; each criu dump takes 10-25 s under emulation).
#
# Environment: CRIU_GDB_CACHE (default /var/cache/criu-gdb), CRIU_GDB_DEBIAN_MIRROR, ARM64_SUITE (default
# trixie), ARM64_WORK (default test/.work/arm64), ARM64_CPU (qemu -cpu, default max,pauth=off), QEMU_TIMEOUT
# (seconds, default 1500).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
CACHE="${CRIU_GDB_CACHE:-/var/cache/criu-gdb}/arm64"
SUITE="${ARM64_SUITE:-trixie}"
WORK="${ARM64_WORK:-$repo/test/.work/arm64}"
QEMU_TIMEOUT="${QEMU_TIMEOUT:-1500}"
# Without pointer authentication, return addresses on the stack are plain (Debian's libraries are built
# with branch protection, which signs them on CPUs that have it); max still has the 16 KiB granule.
CPU="${ARM64_CPU:-max,pauth=off}"
OPT=/opt/criu-gdb-arm64
FLAVOURS=("$@")
[ "${#FLAVOURS[@]}" -gt 0 ] || FLAVOURS=(4k 16k 4k-pac)

log() { printf 'make-arm64-fixtures: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PAPT_NAME=make-arm64-fixtures
PAPT_ARCH=arm64
# shellcheck source=lib/private-apt.sh
. "$here/lib/private-apt.sh"
papt_need_tools || die "$PAPT_ERROR"

ROOT="$CACHE/root-$SUITE"
KERNELS="$CACHE/kernels-$SUITE"
if [ ! -x "$ROOT/usr/sbin/criu" ] || [ ! -d "$KERNELS/4k" ] || [ ! -d "$KERNELS/16k" ]; then
  papt_init "$CACHE/apt" "${CRIU_GDB_DEBIAN_MIRROR:-}" || die "$PAPT_ERROR"
  trap papt_clean EXIT
  papt_use_suite "$SUITE" || die "$PAPT_ERROR"
  log "downloading criu $(papt_candidate criu), gdb $(papt_candidate gdb) and their closure from $SUITE"
  papt_closure criu gdb busybox-static || die "$PAPT_ERROR"
  papt_unpack "$ROOT.new" "${PAPT_CLOSURE[@]}" || die "$PAPT_ERROR"
  printf '%s\n' "${PAPT_CLOSURE[@]}" >"$ROOT.new/packages.txt"
  rm -rf "$ROOT" && mv "$ROOT.new" "$ROOT"
  rm -rf "$KERNELS" && mkdir -p "$KERNELS"
  for flavour in 4k 16k; do
    meta=linux-image-arm64
    [ "$flavour" = 16k ] && meta=linux-image-arm64-16k
    pkg="$(papt_cache depends "$meta" | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')"
    [ -n "$pkg" ] || die "$meta in $SUITE depends on no kernel image"
    log "downloading $pkg"
    (cd "$CACHE/apt/archives" && papt_get download -qq "$pkg") || die "cannot download $pkg"
    mkdir -p "$KERNELS/$flavour"
    dpkg-deb -x "$CACHE"/apt/archives/"$pkg"_*.deb "$KERNELS/$flavour"
    rm -f "$CACHE"/apt/archives/"$pkg"_*.deb
    echo "$pkg" >"$KERNELS/$flavour/package.txt"
  done
fi

# --- the programs ---------------------------------------------------------------------------------------
BUILD="$WORK/build"
rm -rf "$BUILD" && mkdir -p "$BUILD$OPT"
CC=aarch64-linux-gnu-gcc
cd "$repo"
# Built from the repository root with relative paths and the root mapped to ".", so the debug info names
# test/programs/... and gdb finds the sources from the repository. compile-NAME.txt keeps the command line with
# the guest's paths.
cc() {
  local key="$1"
  shift
  printf '%s\n' "${@//$BUILD/}" >"$BUILD/compile-$key.txt"
  "$CC" "-fdebug-prefix-map=$repo=." "$@"
}
cc named_threads -g -O0 -pthread -o "$BUILD$OPT/named_threads" test/programs/named_threads.c
cc fork_tree -g -O0 -o "$BUILD$OPT/fork_tree" test/programs/fork_tree.c
cc neon_regs -g -O0 -o "$BUILD$OPT/neon_regs" test/programs/neon_regs.c
cc libcriugdbchain -g -O0 -fPIC -shared -o "$BUILD$OPT/libcriugdbchain.so" test/programs/lib_chain_lib.c
cc lib_chain -g -O0 -o "$BUILD$OPT/lib_chain" test/programs/lib_chain.c -L"$BUILD$OPT" -lcriugdbchain '-Wl,-rpath,$ORIGIN'
"$CC" -O2 -static -o "$BUILD/guest-probe" "$here/arm64/guest-probe.c"

# NAME PROCESSES BINARY ARGS: run in this order by the guest.
programs_for() {
  case "$1" in
    4k)
      echo "threads 1 $OPT/named_threads"
      echo "libchain 1 $OPT/lib_chain"
      echo "neon 1 $OPT/neon_regs"
      echo "forktree 4 $OPT/fork_tree"
      ;;
    16k)
      echo "16k-libchain 1 $OPT/lib_chain"
      echo "16k-neon 1 $OPT/neon_regs"
      ;;
    4k-pac)
      echo "pac-libchain 1 $OPT/lib_chain"
      ;;
  esac
}

# The kernel (4k or 16k) and qemu CPU of a run: 4k-pac is the 4 KiB kernel on a CPU with pointer
# authentication (-cpu max), so that libc's return addresses on the stack are signed.
kernel_of() { case "$1" in 16k*) echo 16k ;; *) echo 4k ;; esac; }
cpu_of() { case "$1" in *-pac) echo max ;; *) echo "$CPU" ;; esac; }

# Module file names (relative to the modules directory) of MODULE and its dependencies, dependencies first.
module_closure() {
  local dir="$1" name="$2" file deps dep
  file="$(cd "$dir" && find kernel -name "$name.ko.xz" -print -quit)"
  [ -n "$file" ] || { log "no module $name"; return 0; }
  deps="$(xz -dc "$dir/$file" | tr '\0' '\n' | awk -F= '$1 == "depends" && !done { print $2; done = 1 }')"
  for dep in ${deps//,/ }; do module_closure "$dir" "$dep"; done
  echo "${file%.xz}"
}

for flavour in "${FLAVOURS[@]}"; do
  kdir="$KERNELS/$(kernel_of "$flavour")"
  cpu="$(cpu_of "$flavour")"
  kernel="$(ls "$kdir"/boot/vmlinuz-*)"
  release="${kernel##*/vmlinuz-}"
  mods="$kdir/usr/lib/modules/$release"
  stage="$WORK/initramfs-$flavour"
  log "building the initramfs for $release"
  rm -rf "$stage" && mkdir -p "$stage"
  cp -a "$ROOT"/. "$stage"/
  rm -rf "$stage"/usr/share/{doc,man,locale,info,zoneinfo,perl} "$stage/packages.txt"
  ln -sfn usr/bin "$stage/bin"
  ln -sfn usr/sbin "$stage/sbin"
  ln -sfn usr/lib "$stage/lib"
  mkdir -p "$stage/etc/criu-gdb-arm64" "$stage$OPT" "$stage/usr/local/bin"
  cp -a "$BUILD$OPT"/. "$stage$OPT"/
  cp "$BUILD/guest-probe" "$stage/usr/local/bin/guest-probe"
  ln -sfn /usr/local/bin/guest-probe "$stage/usr/bin/guest-probe"
  install -m 0755 "$here/arm64/guest-init.sh" "$stage/init"
  programs_for "$flavour" >"$stage/etc/criu-gdb-arm64/programs"
  echo "$flavour" >"$stage/etc/criu-gdb-arm64/run-name"
  : >"$stage/etc/criu-gdb-arm64/modules"
  # 9p for the share; the rest for criu's kernel feature checks (nf_tables: criu's kerndat fails without it).
  for m in 9p 9pnet_virtio unix_diag netlink_diag inet_diag tcp_diag udp_diag af_packet_diag nf_tables tun veth; do
    module_closure "$mods" "$m"
  done | awk '!seen[$0]++' | while read -r m; do
    mkdir -p "$stage/usr/lib/modules/$release/$(dirname "$m")"
    xz -dc "$mods/$m.xz" >"$stage/usr/lib/modules/$release/$m"
    echo "$m" >>"$stage/etc/criu-gdb-arm64/modules"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
  echo "root:x:0:" >"$stage/etc/group"
  (cd "$stage" && find . | cpio -o -H newc --quiet) >"$WORK/initramfs-$flavour.cpio"

  out="$WORK/raw"
  rm -rf "${out:?}/$flavour" && mkdir -p "$out"
  log "booting $release under qemu-system-aarch64 (TCG); serial console in $WORK/console-$flavour.log"
  started=$(date +%s)
  timeout "$QEMU_TIMEOUT" qemu-system-aarch64 -machine virt -cpu "$cpu" -smp 2 -m 2G -nographic -no-reboot \
    -kernel "$kernel" -initrd "$WORK/initramfs-$flavour.cpio" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" \
    -virtfs "local,path=$out,mount_tag=out,security_model=none,id=out" \
    -nic none </dev/null >"$WORK/console-$flavour.log" 2>&1 || log "qemu exited with $?"
  log "the guest ran $(($(date +%s) - started)) s"
  [ -f "$out/$flavour/done" ] || die "the $flavour guest did not finish: see $WORK/console-$flavour.log and $out/$flavour/guest.log"
  cp "$kdir/package.txt" "$out/$flavour/kernel-package.txt"
  echo "$cpu" >"$out/$flavour/cpu.txt"
  cp "$BUILD"/compile-*.txt "$out/$flavour/"
  cp -a "$BUILD$OPT" "$out/$flavour/opt"
done

cd "$repo"
npx tsx test/setup/arm64-fixtures.ts "$WORK/raw" "$ROOT" "${FLAVOURS[@]}"
