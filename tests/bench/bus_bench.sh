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
# spacing (settle_ms = 0: the simulator never repeats an answer, and the
# pause after one is what min_spacing_ms sets). Everything is on this machine; the script stops what it starts.
#
#   SPACING_MS=100 DURATION=10 tests/bench/bus_bench.sh
# (BUILD_DIR: as in lib.sh, build-bench/ built when unset)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init busbench

SPACING_MS=${SPACING_MS:-100}
DURATION=${DURATION:-10}
bench_binaries rtu_slave
SIM=$BUILD_DIR/tests/sim/rtu_slave

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
settle_ms = 0
timeout_ms = 1000
queue_depth = 1000
[route]
1 = bus
EOT
    "$PROXY" -c "$WORK/mux.ini" 2>"$WORK/mux-$1.log" &
    MUX_PID=$!
    wait_for "$WORK/mux-$1.log" 'listening on' "$MUX_PID"
    wait_for "$WORK/mux-$1.log" 'B:bus: connected' "$MUX_PID"
    PORT=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/mux-$1.log" | sed 's/.*://')
}

"$SIM" --link "$WORK/bus" --unit 1:generic >"$WORK/sim.out" 2>"$WORK/sim.err" &
wait_for "$WORK/sim.out" '^LINK ' "$!"

echo "== modbus-mux RS485 bus utilisation $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc) load=$(loadavg)"

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
