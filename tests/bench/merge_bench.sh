#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# merge_bench.sh -- more data per transaction on a paced link.
#
# 10 clients, each polling 40 scattered 2-register ranges (12 registers
# apart, within 480 registers of one unit) in turn, through modbus-mux in
# front of the Modbus TCP simulator with min_spacing_ms = 200 (a paced
# link: 5 transactions a second at most), for DURATION (30) seconds, in
# three runs: merging off, merge_reads = yes, and merge_reads with the 40
# ranges polled by the backend (poll = ...) and cache_ttl_ms. Reports the
# device transactions a second, the client answers a second, the answer
# latency, and the refresh of the ranges: for each range, the longest time
# between two device reads that carried it (from the simulator's request
# log), the worst over the 40 ranges -- how old the data a client gets can
# be. Every reply is checked by loadgen.
#
#   DURATION=30 tests/bench/merge_bench.sh
# (BUILD_DIR: as in lib.sh, build-bench/ built when unset)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init mergebench

DURATION=${DURATION:-30}
bench_binaries tcp_slave
SIM=$BUILD_DIR/tests/sim/tcp_slave
RANGES=40
STRIDE=12

echo "== modbus-mux merged reads and polling $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc) load=$(loadavg)"
echo "-- 10 clients x $RANGES ranges of 2 registers, $STRIDE apart; min_spacing_ms = 200; ${DURATION} s each"
printf '%-22s %8s %8s %9s %9s %13s\n' run "dev tx/s" "answers/s" "p50 ms" "p99 ms" "refresh max s"

run() {     # TAG EXTRA-KEYS
    local tag=$1 keys=$2 log="$WORK/$1.log" out
    : >"$log"
    "$SIM" --listen 127.0.0.1:0 --log "$log" --stats "$WORK/$tag.stats" \
        >"$WORK/$tag.sim" 2>"$WORK/$tag.sim.err" &
    local sim=$!
    wait_for "$WORK/$tag.sim" '^PORT ' "$sim"
    local port
    port=$(awk '/^PORT /{print $2}' "$WORK/$tag.sim")
    cat >"$WORK/$tag.ini" <<EOT
[server]
listen = 127.0.0.1:0
request_timeout_ms = 60000
log_level = info
[backend dev]
type = tcp
host = 127.0.0.1
port = $port
min_spacing_ms = 200
queue_depth = 1000
$keys
[route]
1 = dev:1
EOT
    "$PROXY" -c "$WORK/$tag.ini" 2>"$WORK/$tag.mux" &
    local mux=$!
    wait_for "$WORK/$tag.mux" 'B:dev: connected' "$mux"
    local mport
    mport=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/$tag.mux" | head -1 | sed 's/.*://')
    out=$("$LOADGEN" --target "127.0.0.1:$mport" --clients 10 --unit 1 --fc 3 \
        --count 2 --ranges "$RANGES" --stride "$STRIDE" --duration "$DURATION" \
        --warmup 0 || true)
    kill "$mux"; wait "$mux" 2>/dev/null || true
    kill "$sim"; wait "$sim" 2>/dev/null || true
    echo "$out" >"$WORK/$tag.lg"
    # the simulator's log: "T_US CONN UNIT FC ADDR COUNT GAP"; each range's
    # longest gap between two device reads covering it
    local refresh
    refresh=$(awk -v n="$RANGES" -v s="$STRIDE" '
        $4 == 3 { t = $1 / 1e6; a = $5; c = $6
                  for (i = 0; i < n; i++) { r = i * s
                      if (r >= a && r + 2 <= a + c) {
                          if (last[i] != "" && t - last[i] > gap[i]) gap[i] = t - last[i]
                          if (first == "") first = t
                          last[i] = t } } }
        END { m = 0; for (i = 0; i < n; i++) { if (last[i] == "") { m = -1; break }
                                                if (gap[i] > m) m = gap[i] }
              printf "%.1f", m }' "$log")
    local tx
    tx=$(awk -v d="$DURATION" '{n++} END {printf "%.1f", n / d}' "$log")
    printf '%-22s %8s %8s %9s %9s %13s\n' "$tag" "$tx" "$(kv "$out" rps)" \
        "$(awk -v p="$(kv "$out" p50_us)" 'BEGIN{printf "%.0f", p/1000}')" \
        "$(awk -v p="$(kv "$out" p99_us)" 'BEGIN{printf "%.0f", p/1000}')" \
        "$refresh"
    [[ $(kv "$out" wrong) == 0 ]] || die "$tag: $(kv "$out" wrong) wrong replies"
    grep -oE 'merged_reads=[0-9]+ merged_requests=[0-9]+ registers_read=[0-9]+' \
        "$WORK/$tag.mux" | tail -1 | sed 's/^/    /' || true
}

run off ""
run merge_reads "merge_reads = yes"
run merge+poll "merge_reads = yes
cache_ttl_ms = 1500
poll = 1:holding:0-$((RANGES * STRIDE - 1))@1000"
echo "the link's ceiling: 5 transactions a second; without merging each carries one client read"
