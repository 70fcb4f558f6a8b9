#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# giv_listener_bench.sh -- many GivEnergy clients on one dongle through the
# GivEnergy listener ([listener] type = givenergy).
#
# CLIENTS (50) giv_clients, each refreshing GivTCP's five banks (IR(0,60),
# IR(180,60), HR(0,60), HR(60,60), HR(120,60) of the inverter) every 5 s,
# requests 0.25 s apart, for DURATION (60) seconds, through modbus-mux in
# front of the dongle simulator answering in 250 ms (the real one's pace)
# with the cloud polling every 10 s. Reports the frames that reached the
# dongle per minute (the goal: at most one per bank per cache TTL, whatever
# the number of clients), the clients' answer latency (p50 and p99 of each
# client: the median and the worst), timeouts and wrong values (every value
# and serial is checked by giv_client). The proxy's RSS at the end.
#
#   DURATION=60 CLIENTS=50 tests/bench/giv_listener_bench.sh
# (BUILD_DIR: as in lib.sh, build-bench/ built when unset)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init givlistener

DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-50}
TTL_MS=${TTL_MS:-5000}
bench_binaries giv_dongle giv_client
SIM=$BUILD_DIR/tests/sim/giv_dongle
CLIENT=$BUILD_DIR/tests/sim/giv_client

stat() {        # KEY: from the simulator's stats file
    awk -v k="$1" '$1 == k { print $2 }' "$WORK/sim.stats"
}

"$SIM" --listen 127.0.0.1:0 --plain-image --delay-ms 250 --cloud-ms 10000 \
    --heartbeat-ms 180000 --stats "$WORK/sim.stats" \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
wait_for "$WORK/sim.out" '^PORT ' "$!"
SIM_PORT=$(awk '/^PORT /{print $2}' "$WORK/sim.out")

cat >"$WORK/mux.ini" <<EOT
[server]
listen = none
max_clients = 1000
log_level = info
[listener dongle]
type = givenergy
listen = 127.0.0.1:0
backend = giv
[backend giv]
type = givenergy
host = 127.0.0.1
port = $SIM_PORT
cache_ttl_ms = $TTL_MS
queue_depth = 1000
EOT
"$PROXY" -c "$WORK/mux.ini" 2>"$WORK/mux.log" &
MUX_PID=$!
wait_for "$WORK/mux.log" 'B:giv: connected' "$MUX_PID"
PORT=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/mux.log" | head -1 | sed 's/.*://')

echo "== modbus-mux GivEnergy listener $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: nproc=$(nproc) load=$(loadavg)"
echo "-- $CLIENTS GivEnergy clients x 5 banks every 5 s for ${DURATION} s (cache_ttl_ms = $TTL_MS; the dongle answers in 250 ms)"
before=$(stat requests)
pids=()
for i in $(seq "$CLIENTS"); do
    "$CLIENT" --port "$PORT" --plain-image --duration-s "$DURATION" \
        --interval-ms 5000 --gap-ms 250 --timeout-ms 3000 \
        --stats "$WORK/c$i.stats" >"$WORK/c$i.out" 2>"$WORK/c$i.err" &
    pids+=($!)
    nap 0.1             # not all in the same 250 ms, as real clients
done
for p in "${pids[@]}"; do wait "$p" || true; done
after=$(stat requests)
rss=$(rss_kb "$MUX_PID")
kill "$MUX_PID"; wait "$MUX_PID" 2>/dev/null || true

sum() {         # KEY: over every client's stats
    cat "$WORK"/c*.stats | awk -F= -v k="$1" '$1 == k { s += $2 } END { print s + 0 }'
}
col() {         # KEY: every client's value, sorted
    cat "$WORK"/c*.stats | awk -F= -v k="$1" '$1 == k { print $2 }' | sort -n
}
median() { awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
frames=$((after - before))
echo "client requests: $(sum sent), answered $(sum answered), timeouts $(sum timeouts), errors $(sum errors), wrong values $(sum mismatches), bad serials $(sum bad_serial)"
echo "fanned-out frames taken by the clients: $(sum fanout)"
echo "latency per client (ms): p50 median $(col p50_ms | median), p99 median $(col p99_ms | median), p99 worst $(col p99_ms | tail -1), max $(col max_ms | tail -1)"
echo "frames to the dongle: $frames in ${DURATION} s = $(awk -v f="$frames" -v d="$DURATION" 'BEGIN{printf "%.1f", f * 60 / d}')/min (goal <= 5 banks x 60 s / ${TTL_MS} ms = $(awk -v t="$TTL_MS" 'BEGIN{printf "%.0f", 5 * 60000 / t}')/min; without the proxy: $CLIENTS x 5 x 12 = $((CLIENTS * 60))/min)"
echo "dongle: connections $(stat connections), cloud polls $(stat cloud_polls)"
echo "proxy RSS at the end: ${rss} kB"
