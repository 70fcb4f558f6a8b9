#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# giv_bench.sh -- what the register cache does for a GivEnergy dongle.
#
#  a. cache-hit throughput: 100 clients reading IR(0,60) of the inverter
#     through modbus-mux with cache_ttl_ms = 5000, against the same in the
#     same run with the cache off (every read goes to the dongle simulator,
#     which answers in 250 ms, like the real one);
#  b. 20 clients hammering the three main banks (IR(0,60) and HR(0,60) of
#     the inverter, IR(0,60) of the battery) for DURATION seconds: how many
#     frames reach the dongle per minute, against the goal of at most one
#     per bank per TTL, whatever the number of clients.
# Every reply is checked by the load generator. Loopback only; the script
# stops what it starts.
#
#   DURATION=30 tests/bench/giv_bench.sh
# (BUILD_DIR: as in lib.sh, build-bench/ built when unset)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init givbench

DURATION=${DURATION:-30}
TTL_MS=${TTL_MS:-5000}
bench_binaries giv_dongle
SIM=$BUILD_DIR/tests/sim/giv_dongle

stat() {        # KEY: from the simulator's stats file
    awk -v k="$1" '$1 == k { print $2 }' "$WORK/sim.stats"
}

# The dongle: formula values (what loadgen checks: client unit 17 is
# device 0x11, unit 50 device 0x32), 250 ms per answer, heartbeats.
"$SIM" --listen 127.0.0.1:0 --plain-image --delay-ms 250 --heartbeat-ms 10000 \
    --stats "$WORK/sim.stats" >"$WORK/sim.out" 2>"$WORK/sim.err" &
wait_for "$WORK/sim.out" '^PORT ' "$!"
SIM_PORT=$(awk '/^PORT /{print $2}' "$WORK/sim.out")

start_proxy() {     # TAG TTL_MS
    cat >"$WORK/mux-$1.ini" <<EOT
[server]
listen = 127.0.0.1:0
max_clients = 1000
request_timeout_ms = 120000
log_level = info
[backend giv]
type = givenergy
host = 127.0.0.1
port = $SIM_PORT
cache_ttl_ms = $2
queue_depth = 1000
[route]
17 = giv:0x11
50 = giv:0x32
EOT
    "$PROXY" -c "$WORK/mux-$1.ini" 2>"$WORK/mux-$1.log" &
    MUX_PID=$!
    wait_for "$WORK/mux-$1.log" 'B:giv: connected' "$MUX_PID"
    PORT=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/mux-$1.log" | sed 's/.*://')
}

stop_proxy() {
    kill "$MUX_PID"; wait "$MUX_PID" 2>/dev/null || true
}

echo "== modbus-mux GivEnergy cache $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc) load=$(loadavg)"

echo "-- a. 100 clients, IR(0,60) of the inverter"
row() {         # LABEL LOADGEN-LINE DONGLE-FRAMES
    printf '%-34s %10s %10s %8s %14s\n' "$1" "$(kv "$2" rps)" \
        "$(awk -v p="$(kv "$2" p50_us)" 'BEGIN{printf "%.2f", p/1000}')" \
        "$(kv "$2" wrong)" "$3"
}
s0=$(stat requests)
start_proxy hit "$TTL_MS"
hit=$("$LOADGEN" --target "127.0.0.1:$PORT" --clients 100 --unit 17 --fc 4 \
    --count 60 --addr-mode same --duration 10 --warmup 1)
stop_proxy
s1=$(stat requests)
start_proxy nocache 0
miss=$("$LOADGEN" --target "127.0.0.1:$PORT" --clients 100 --unit 17 --fc 4 \
    --count 60 --addr-mode same --duration 10 --warmup 1 || true)
stop_proxy
s2=$(stat requests)
printf '%-34s %10s %10s %8s %14s\n' "" "req/s" "p50 ms" wrong "dongle frames"
row "cache on (ttl ${TTL_MS} ms)" "$hit" $((s1 - s0))
row "cache off (identical reads share)" "$miss" $((s2 - s1))
echo "the dongle itself: one answer per 250 ms delay + 250 ms spacing = 2 req/s"
echo "cache on / the dongle's own rate: $(awk -v a="$(kv "$hit" rps)" 'BEGIN{printf "%.0f", a/2}') x"

echo "-- b. 20 clients on the three main banks for ${DURATION} s"
start_proxy banks "$TTL_MS"
before=$(stat requests)
"$LOADGEN" --target "127.0.0.1:$PORT" --clients 7 --unit 17 --fc 4 --count 60 \
    --addr-mode same --duration "$DURATION" --warmup 0 >"$WORK/b1" &
l1=$!
"$LOADGEN" --target "127.0.0.1:$PORT" --clients 7 --unit 17 --fc 3 --count 60 \
    --addr-mode same --duration "$DURATION" --warmup 0 >"$WORK/b2" &
l2=$!
"$LOADGEN" --target "127.0.0.1:$PORT" --clients 6 --unit 50 --fc 4 --count 60 \
    --addr-mode same --duration "$DURATION" --warmup 0 >"$WORK/b3" &
l3=$!
wait "$l1" "$l2" "$l3" || true
after=$(stat requests)
stop_proxy
reads=0
for f in b1 b2 b3; do reads=$((reads + $(kv "$(cat "$WORK/$f")" requests))); done
frames=$((after - before))
per_min=$(awk -v f="$frames" -v d="$DURATION" 'BEGIN{printf "%.1f", f * 60 / d}')
goal=$(awk -v t="$TTL_MS" 'BEGIN{printf "%.1f", 3 * 60000 / t}')
echo "client reads: $reads in ${DURATION} s; wrong: $(( $(kv "$(cat "$WORK/b1")" wrong) + $(kv "$(cat "$WORK/b2")" wrong) + $(kv "$(cat "$WORK/b3")" wrong) ))"
echo "frames to the dongle: $frames = ${per_min}/min (goal <= 3 banks x 60 s / ${TTL_MS} ms = ${goal}/min)"
echo "heartbeats: sent $(stat heartbeats_sent), answered $(stat heartbeats_answered), max reply $(stat heartbeat_max_reply_ms) ms"
