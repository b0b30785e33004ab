#!/bin/busybox sh
# /init of the emulated arm64 guest that test/setup/make-arm64-fixtures.sh boots (busybox sh, no systemd).
# Loads the 9p modules, mounts the host's output directory (virtio 9p, tag "out") on /out, then for each
# line "NAME PROCESSES BINARY [ARGS...]" of /etc/criu-gdb-arm64/programs: starts the program in its own
# session, waits for its "ready" line and for every thread to block, stops the tree with SIGSTOP, records
# the raw truth (/proc files, memory, ptrace registers, live gdb) and dumps it with criu into
# /out/NAME/. The host turns that raw record into truth.json. Powers off at the end.
export PATH=/bbin:/usr/sbin:/usr/bin
/usr/bin/busybox mkdir -p /bbin
/usr/bin/busybox --install -s /bbin
mkdir -p /proc /sys /dev /tmp /out /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# criu's kernel feature checks need the loopback interface (no other network device exists).
ifconfig lo 127.0.0.1 up
boot_seconds=$(cut -d' ' -f1 /proc/uptime)
log() { echo "criu-gdb-guest: $*"; }

for m in $(cat /etc/criu-gdb-arm64/modules); do insmod "/usr/lib/modules/$(uname -r)/$m" || log "insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out || { log "cannot mount the 9p share"; poweroff -f; }
OUT=/out/$(cat /etc/criu-gdb-arm64/run-name)
mkdir -p "$OUT"
exec >"$OUT/guest.log" 2>&1
log "booted in ${boot_seconds}s"
{
  echo "kernel $(uname -r)"
  echo "machine $(uname -m)"
  echo "pagesize $(awk '/^KernelPageSize:/ { print $2 * 1024; exit }' /proc/self/smaps)"
  echo "criu $(criu --version | head -n1)"
  echo "gdb $(gdb --version | head -n1)"
  echo "boot_seconds $boot_seconds"
} >"$OUT/system.txt"
cp /proc/cpuinfo "$OUT/cpuinfo.txt"
criu check >"$OUT/criu-check.txt" 2>&1

uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# The process tree under $1, breadth-first, children by pid.
tree_of() {
  local queue="$1" all="" next p c
  while [ -n "$queue" ]; do
    next=""
    for p in $queue; do
      all="$all $p"
      for c in $(cat /proc/"$p"/task/*/children 2>/dev/null | tr ' ' '\n' | sort -n); do next="$next $c"; done
    done
    queue="$next"
  done
  echo $all
}

# True when every thread of the processes $2... is in state $1.
all_in_state() {
  local want="$1" p s
  shift
  for p in "$@"; do
    for s in /proc/"$p"/task/*/stat; do
      [ "$(sed 's/.*) //' "$s" | cut -d' ' -f1)" = "$want" ] || return 1
    done
  done
}

wait_until() {
  local tries=0
  while ! "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 600 ] || return 1
    sleep 0.1
  done
}

stopped_untraced() {
  grep -q '^TracerPid:[[:space:]]*0$' /proc/"$1"/status && all_in_state T "$1"
}

record_process() {
  local pid="$1" dir="$2" t f n
  mkdir -p "$dir/task" "$dir/fd" "$dir/fdinfo"
  for f in maps smaps status stat cmdline environ comm auxv mountinfo; do cat /proc/"$pid"/$f >"$dir/$f" 2>/dev/null; done
  for f in exe cwd root; do readlink /proc/"$pid"/$f >"$dir/$f.link"; done
  for t in /proc/"$pid"/task/*; do
    n=${t##*/}
    mkdir -p "$dir/task/$n"
    for f in comm stat syscall status; do cat "$t/$f" >"$dir/task/$n/$f" 2>/dev/null; done
  done
  for f in /proc/"$pid"/fd/*; do
    n=${f##*/}
    readlink "$f" >"$dir/fd/$n"
    cat /proc/"$pid"/fdinfo/"$n" >"$dir/fdinfo/$n"
  done
  # Memory goes to tmpfs first (the 9p share is slow for many megabytes under emulation): every mapping's
  # sha256 is recorded, and only the bytes of mappings up to 1 MiB are kept.
  mkdir -p "$dir/mem" /tmp/mem-"$pid"
  guest-probe mem "$pid" /tmp/mem-"$pid" || log "memory probe of $pid failed"
  (cd /tmp/mem-"$pid" && sha256sum *.bin >"$dir/mem/sha256.txt" && cp *.unreadable "$dir/mem/" &&
    find . -name '*.bin' -size -1025k -exec cp {} "$dir/mem/" \;)
  rm -rf /tmp/mem-"$pid"
}

GDB_SECTIONS='info-threads|info threads
backtraces|thread apply all bt
backtraces-full|thread apply all bt full
all-registers|info all-registers
thread-registers|thread apply all info registers general
thread-tls|thread apply all info registers tpidr
thread-fp|thread apply all info registers fpsr fpcr
thread-names|thread apply all p $_thread
sharedlibrary|info sharedlibrary'

run_gdb() {
  local pid="$1" dir="$2" key cmd
  set -- -nx -batch -iex 'set debuginfod enabled off' -iex 'set pagination off' -iex 'set width 0' -p "$pid"
  while IFS='|' read -r key cmd; do
    set -- "$@" -ex "echo @@criu-gdb:$key\\n" -ex "$cmd"
  done <<SECTIONS
$GDB_SECTIONS
SECTIONS
  set -- "$@" -ex 'echo @@criu-gdb:end\n'
  printf '%s\n' "$@" >"$dir/gdb-command.txt"
  gdb "$@" >"$dir/gdb.txt" 2>"$dir/gdb-stderr.txt"
  echo "$?" >"$dir/gdb-status.txt"
}

run_program() {
  local name="$1" expected="$2" binary="$3" dir root tree p state t started ended status
  shift 3
  dir="$OUT/$name"
  mkdir -p "$dir"
  log "starting $name: $binary $*"
  printf '%s\n' "$@" >"$dir/args.txt"
  cd /
  : >"$dir/stdout.txt"
  setsid "$binary" "$@" </dev/null >"$dir/stdout.txt" 2>"$dir/stderr.txt" &
  if ! wait_until grep -q '^ready ' "$dir/stdout.txt"; then log "$name never became ready"; return 1; fi
  root=$(awk '$1 == "ready" { print $2; exit }' "$dir/stdout.txt")
  count_is() { [ "$(tree_of "$root" | wc -w)" -eq "$expected" ]; }
  if ! wait_until count_is; then log "$name: tree $(tree_of "$root"), expected $expected processes"; return 1; fi
  tree=$(tree_of "$root")
  if ! wait_until all_in_state S $tree; then log "$name: threads did not block"; fi
  echo "$tree" >"$dir/tree.txt"
  for p in $tree; do echo "$p $(sed 's/.*) //' /proc/"$p"/stat | cut -d' ' -f1)" >>"$dir/state-before-stop.txt"; done
  for p in $tree; do kill -STOP "$p"; done
  wait_until all_in_state T $tree || log "$name: not every thread stopped"
  for p in $tree; do record_process "$p" "$dir/proc/$p"; done
  for p in $tree; do
    guest-probe regs $(ls /proc/"$p"/task | sort -n) >"$dir/proc/$p/ptrace-regs.txt" 2>"$dir/proc/$p/ptrace-regs.err"
    wait_until stopped_untraced "$p" || log "$name: $p not stopped and untraced after the ptrace probe"
    run_gdb "$p" "$dir/proc/$p"
    wait_until stopped_untraced "$p" || log "$name: $p not stopped and untraced after gdb"
  done
  mkdir -p "$dir/checkpoint"
  echo "dump -t $root -D $dir/checkpoint -o dump.log -v4" >"$dir/criu-command.txt"
  started=$(uptime_ms)
  criu dump -t "$root" -D "$dir/checkpoint" -o dump.log -v4 >"$dir/criu-stdout.txt" 2>&1
  status=$?
  ended=$(uptime_ms)
  echo "$status $((ended - started))" >"$dir/criu-result.txt"
  log "$name: criu dump exited $status after $((ended - started)) ms"
  for p in $tree; do kill -KILL "$p" 2>/dev/null; done
}

while read -r line; do
  [ -n "$line" ] || continue
  set -- $line
  run_program "$@"
done </etc/criu-gdb-arm64/programs
log "done"
echo done >"$OUT/done"
sync
poweroff -f
