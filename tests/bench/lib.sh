# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lib.sh -- what the scripts of tests/bench share. Sourced, never run:
#
#   . "$(dirname "$0")/lib.sh"; bench_init NAME; bench_binaries SIM...
#
#   bench_init NAME       cd to the top of the tree; WORK, a fresh
#                         /tmp/mux-NAME.XXXXXX; traps: on exit, stop what the
#                         script started that still runs, then remove WORK,
#                         or keep it and say so when the script failed
#   die MESSAGE...        "NAME: MESSAGE" on stderr, exit 1
#   bench_binaries SIM... BUILD_DIR unset: configure and build build-bench/
#                         (Release, tests on; make does nothing if it is up
#                         to date). BUILD_DIR set: use it as it is. Sets
#                         LOADGEN and PROXY (unless set already); each SIM
#                         (tcp_slave, rtu_slave, giv_dongle) must be in
#                         BUILD_DIR/tests/sim.
#   bg_wait CMD...        run CMD in a process group of its own and wait for
#                         it, so that a signal is handled at once (cleanup
#                         stops the whole group); CMD's status
#   nap SECONDS           a sleep that a signal interrupts at once
#   wait_for FILE ERE [PID] [SECONDS]
#                         poll until FILE has a line matching ERE (15 s at
#                         most); die if PID exits first
#   wait_line FILE ERE [PID] [SECONDS]
#                         the same, then print the first matching line
#   kv LINE KEY           the value of KEY=value among LINE's tokens; 0 if
#                         absent
#   rss_kb PID, fd_count PID, cpu_ticks PID (user + system), loadavg
#   write_serial_ini FILE SIM_PORT
#                         the proxy of the throughput and cost runs: one tcp
#                         backend "sim" on SIM_PORT, serialized
#                         (max_inflight = 1, no spacing, no retry), room for
#                         20,000 clients, unit 1 routed to it

bench_init() {
    BENCH_NAME=$1
    cd "$(dirname "$0")/../.." || exit 1
    WORK=$(mktemp -d "/tmp/mux-$BENCH_NAME.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    # Only what still runs: a pid of ours that has exited may belong to
    # someone else by now. A bg_wait job leads a process group: stop all of
    # it (a script and what it started); any other job is stopped alone.
    jobs -rp >"$WORK/.jobs" 2>/dev/null || true
    while read -r p; do
        kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    done <"$WORK/.jobs"
    wait 2>/dev/null || true
    if [[ $rc -eq 0 ]]; then
        rm -rf "$WORK"
    else
        echo "$BENCH_NAME: logs kept in $WORK" >&2
    fi
    exit "$rc"
}

die() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

bench_binaries() {
    local bin sim
    if [[ -z ${BUILD_DIR:-} ]]; then
        BUILD_DIR=build-bench
        cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTS=ON \
            >"$WORK/cmake.log" 2>&1 || { tail -20 "$WORK/cmake.log"; die "configure failed"; }
        cmake --build "$BUILD_DIR" -j "$(nproc)" >"$WORK/build.log" 2>&1 \
            || { tail -20 "$WORK/build.log"; die "build failed"; }
    fi
    export BUILD_DIR
    LOADGEN=${LOADGEN:-$BUILD_DIR/tests/bench/loadgen}
    PROXY=${PROXY:-$BUILD_DIR/modbus-mux}
    for bin in "$LOADGEN" "$PROXY"; do
        [[ -x $bin ]] || die "not found or not executable: $bin"
    done
    for sim in "$@"; do
        bin=$BUILD_DIR/tests/sim/$sim
        [[ -x $bin ]] || die "not found or not executable: $bin"
    done
}

bg_wait() {
    setsid "$@" &
    wait "$!"
}

nap() {
    sleep "$1" &
    wait "$!" || true
}

wait_for() {
    local file=$1 re=$2 pid=${3:-} tries=$((${4:-15} * 20))
    while ((tries-- > 0)); do
        grep -qE "$re" "$file" 2>/dev/null && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            cat "$file" >&2 || true
            die "pid $pid exited before '$re' in $file"
        fi
        sleep 0.05
    done
    die "timed out waiting for '$re' in $file"
}

wait_line() {
    wait_for "$@"
    grep -m1 -E "$2" "$1"
}

kv() {
    local tok
    for tok in $1; do
        if [[ $tok == "$2="* ]]; then
            echo "${tok#*=}"
            return
        fi
    done
    echo 0
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { local f=("/proc/$1/fd/"*); echo "${#f[@]}"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

write_serial_ini() {
    local port=$2
    cat >"$1" <<EOF
[server]
listen = 127.0.0.1:0
max_clients = 20000
request_timeout_ms = 10000
log_level = info

[backend sim]
type = tcp
host = 127.0.0.1
port = $port
min_spacing_ms = 0
timeout_ms = 2000
retries = 0
max_inflight = 1
queue_depth = 20000

[route]
1 = sim:1
EOF
}
