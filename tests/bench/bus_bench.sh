#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bus_bench.sh -- how well modbus-mux uses a slow RS485 bus: answered
# requests per second through the proxy against the bus's limit,
# 1 / (min_spacing_ms + transaction time), with 1, 10 and 50 clients.
#
# The bus is tests/sim/rtu_slave on a pty (one "generic" device, unit 1)
# behind an rtu backend with min_spacing_ms = SPACING_MS (default 100, so
# a run takes seconds, not minutes; the ratio is what matters). The
# transaction time (request sent -> response read, silence detection of
# the simulator included) is measured first with one client and no
# spacing. Everything is on this machine; the script stops what it starts.
#
#   BUILD_DIR=build-rel SPACING_MS=100 DURATION=10 tests/bench/bus_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD_DIR=${BUILD_DIR:-build}
SPACING_MS=${SPACING_MS:-100}
DURATION=${DURATION:-10}
LOADGEN=$BUILD_DIR/tests/bench/loadgen
SIM=$BUILD_DIR/tests/sim/rtu_slave
PROXY=$BUILD_DIR/modbus-mux
for bin in "$LOADGEN" "$SIM" "$PROXY"; do
    [[ -x $bin ]] || { echo "bus_bench: build first: missing $bin" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/mux-busbench.XXXXXX)
PIDS=()
cleanup() {
    # only our children still running: a pid we already reaped may belong
    # to someone else by now
    local p
    for p in $(jobs -rp); do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() {    # FILE REGEX: poll, 10 s at most
    for _ in $(seq 200); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bus_bench: timed out waiting for '$2' in $1" >&2
    exit 1
}

start_proxy() {     # SPACING: a proxy in front of the bus
    cat >"$WORK/mux.ini" <<EOT
[server]
listen = 127.0.0.1:0
request_timeout_ms = 600000
client_max_pending = 4
log_level = info
[backend bus]
type = rtu
device = $WORK/bus
min_spacing_ms = $1
timeout_ms = 1000
queue_depth = 1000
[route]
1 = bus
EOT
    "$PROXY" -c "$WORK/mux.ini" 2>"$WORK/mux-$1.log" &
    MUX_PID=$!
    PIDS+=("$MUX_PID")
    wait_for "$WORK/mux-$1.log" 'listening on'
    wait_for "$WORK/mux-$1.log" 'B:bus: connected'
    PORT=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/mux-$1.log" | sed 's/.*://')
}

kv() {          # LINE KEY
    for tok in $1; do [[ $tok == "$2="* ]] && { echo "${tok#*=}"; return; }; done
}

"$SIM" --link "$WORK/bus" --unit 1:generic >"$WORK/sim.out" 2>"$WORK/sim.err" &
PIDS+=("$!")
wait_for "$WORK/sim.out" '^LINK '

echo "== modbus-mux RS485 bus utilisation $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"

start_proxy 0
line=$("$LOADGEN" --target "127.0.0.1:$PORT" --clients 1 --duration 3 --warmup 0.5)
txn_us=$(kv "$line" mean_us)
echo "transaction time (1 client, no spacing): mean ${txn_us} us, p50 $(kv "$line" p50_us) us"
kill "$MUX_PID"; wait "$MUX_PID" 2>/dev/null || true

start_proxy "$SPACING_MS"
limit=$(awk -v s="$SPACING_MS" -v t="$txn_us" 'BEGIN { printf "%.2f", 1e6 / (s * 1000 + t) }')
echo "bus limit 1 / (${SPACING_MS} ms + ${txn_us} us) = ${limit} req/s"
printf '%-8s %10s %12s %10s %8s\n' clients "req/s" utilisation "p50 ms" wrong
for n in 1 10 50; do
    line=$("$LOADGEN" --target "127.0.0.1:$PORT" --clients "$n" \
        --duration "$DURATION" --warmup 1 || true)
    rps=$(kv "$line" rps)
    util=$(awk -v r="$rps" -v l="$limit" 'BEGIN { printf "%.3f", r / l }')
    p50=$(awk -v p="$(kv "$line" p50_us)" 'BEGIN { printf "%.1f", p / 1000 }')
    printf '%-8s %10s %12s %10s %8s\n' "$n" "$rps" "$util" "$p50" "$(kv "$line" wrong)"
done
