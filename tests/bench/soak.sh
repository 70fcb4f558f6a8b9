#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# soak.sh -- minutes of load on one modbus-mux with every kind of backend at
# once, on 127.0.0.1 only, checking every reply and the proxy's memory.
#
# One proxy, three backends and their routes:
#   plant  type = tcp        -> tests/sim/tcp_slave (unit 1)
#   bus    type = rtu        -> tests/sim/rtu_slave on a pty (units 20, 21),
#                               min_spacing_ms = 20
#   giv    type = givenergy  -> tests/sim/giv_dongle (--plain-image, 100 ms
#                               per answer, heartbeats every 10 s, a cloud
#                               poll every 20 s), cache_ttl_ms = 5000
# and these clients (tests/bench/loadgen, every reply checked against
# tests/sim/sim_map.h; pollers wait --interval-ms after each reply):
#   tcp   2000 clients: 90 % poll every 2 s, 9.5 % every 100 ms (10
#         registers), 0.5 % read the same registers every 10 ms with 2 in
#         flight (coalesced reads)
#   giv   320 clients: the inverter's input registers 0-179 every 1 s, its
#         holding registers 0-59 every 500 ms, the battery's 0-119 every 1 s:
#         nearly all answered from the cache
#   rtu   40 clients, 20 per unit, every 2 s (about half the bus's capacity)
#   churn 100 clients connecting, polling for 3 s and leaving, over and over
# The proxy's VmRSS is sampled every SOAK_SAMPLE seconds and printed as a
# series. At the end it prints the clients' totals and the proxy's final
# counters.
#
# Exit status 1 when: any reply was wrong, any request was lost (no reply at
# the end, or none within 5 s), any exception, connection closed by the peer
# or failed connect; VmRSS grew more than 10 % + 2 MB from the sample after
# warm-up (SOAK_WARMUP) to the last sample under load; the proxy's counters
# do not balance (requests != replies + replies_dropped, or they differ from
# what the clients sent and got).
#
# Environment:
#   BUILD_DIR              binaries as they are (default: configure and
#                          build build-bench/, Release, tests on)
#   SOAK_SECONDS=180       length of the load
#   SOAK_WARMUP=30         seconds before the RSS baseline sample
#   SOAK_SAMPLE=10         RSS sample period, seconds
#   SOAK_TCP_CLIENTS=2000 SOAK_GIV_CLIENTS=320 SOAK_RTU_CLIENTS=40
#   SOAK_CHURN_CLIENTS=100 (0: no churn)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init soak

SOAK_SECONDS=${SOAK_SECONDS:-180}
SOAK_WARMUP=${SOAK_WARMUP:-30}
SOAK_SAMPLE=${SOAK_SAMPLE:-10}
TCP_N=${SOAK_TCP_CLIENTS:-2000}
GIV_N=${SOAK_GIV_CLIENTS:-320}
RTU_N=${SOAK_RTU_CLIENTS:-40}
CHURN_N=${SOAK_CHURN_CLIENTS:-100}
RSS_PCT=10                      # allowed growth: 10 % ...
RSS_SLACK_KB=2048               # ... + 2 MB
LG_LIMIT=$((SOAK_SECONDS + 60)) # hard bound of each load generator

FAILED=0
T_BEGIN=$(date +%s)

# ---- binaries ---------------------------------------------------------------

bench_binaries tcp_slave rtu_slave giv_dongle
TCP_SIM=$BUILD_DIR/tests/sim/tcp_slave
RTU_SIM=$BUILD_DIR/tests/sim/rtu_slave
GIV_SIM=$BUILD_DIR/tests/sim/giv_dongle

# ---- helpers ----------------------------------------------------------------

sim_stat() { awk -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null; }

# ---- simulators and the proxy -----------------------------------------------

start_sims() {
    "$TCP_SIM" --listen 127.0.0.1:0 --units 1 >"$WORK/tcp.out" 2>"$WORK/tcp.err" &
    TCP_PID=$!
    "$RTU_SIM" --link "$WORK/bus" --unit 20:generic --unit 21:generic \
        --stats "$WORK/rtu.stats" >"$WORK/rtu.out" 2>"$WORK/rtu.err" &
    RTU_PID=$!
    "$GIV_SIM" --listen 127.0.0.1:0 --plain-image --delay-ms 100 \
        --heartbeat-ms 10000 --cloud-ms 20000 --stats "$WORK/giv.stats" \
        >"$WORK/giv.out" 2>"$WORK/giv.err" &
    GIV_PID=$!
    wait_for "$WORK/tcp.out" '^PORT [0-9]+' "$TCP_PID"
    wait_for "$WORK/rtu.out" '^LINK ' "$RTU_PID"
    wait_for "$WORK/giv.out" '^PORT [0-9]+' "$GIV_PID"
    TCP_PORT=$(awk '/^PORT/ { print $2; exit }' "$WORK/tcp.out")
    GIV_PORT=$(awk '/^PORT/ { print $2; exit }' "$WORK/giv.out")
}

start_proxy() {
    cat >"$WORK/mux.ini" <<EOF
[server]
listen = 127.0.0.1:0
max_clients = 20000
request_timeout_ms = 5000
log_level = info

[backend plant]
type = tcp
host = 127.0.0.1
port = $TCP_PORT
min_spacing_ms = 0
timeout_ms = 1000
retries = 1
max_inflight = 1
queue_depth = 5000

[backend bus]
type = rtu
device = $WORK/bus
min_spacing_ms = 20
timeout_ms = 1000
retries = 1
queue_depth = 1000

[backend giv]
type = givenergy
host = 127.0.0.1
port = $GIV_PORT
min_spacing_ms = 100
timeout_ms = 3000
cache_ttl_ms = 5000
queue_depth = 1000

[route]
1 = plant:1
20 = bus:20
21 = bus:21
17 = giv:0x11
50 = giv:0x32
EOF
    "$PROXY" -c "$WORK/mux.ini" >/dev/null 2>"$WORK/mux.log" &
    MUX_PID=$!
    wait_for "$WORK/mux.log" 'listening on 127\.0\.0\.1:[0-9]+' "$MUX_PID"
    wait_for "$WORK/mux.log" 'B:plant: connected' "$MUX_PID"
    wait_for "$WORK/mux.log" 'B:bus: connected' "$MUX_PID"
    wait_for "$WORK/mux.log" 'B:giv: connected' "$MUX_PID"
    MUX_PORT=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/mux.log" | head -1 | sed 's/.*://')
}

# ---- clients ----------------------------------------------------------------

LOADS=()        # names of the long-lived load generators

# load NAME CLIENTS LOADGEN-OPTIONS...: one poller population for the soak
load() {
    local name=$1 n=$2
    shift 2
    ((n > 0)) || return 0
    timeout "$LG_LIMIT" "$LOADGEN" --target "127.0.0.1:$MUX_PORT" --clients "$n" \
        --duration "$SOAK_SECONDS" --warmup 0 "$@" \
        >"$WORK/lg-$name.out" 2>"$WORK/lg-$name.err" &
    LOADS+=("$name:$!")
}

# churn: clients that come and go until the end of the soak; every run's
# line is appended to lg-churn.out.
churn() {
    local deadline=$1 child=
    trap '[[ -n $child ]] && kill "$child" 2>/dev/null; exit 0' TERM
    while (($(date +%s) + 4 < deadline)); do
        timeout 30 "$LOADGEN" --target "127.0.0.1:$MUX_PORT" --clients "$CHURN_N" \
            --interval-ms 20 --addr-mode distinct --duration 3 --warmup 0 \
            >>"$WORK/lg-churn.out" 2>>"$WORK/lg-churn.err" &
        child=$!
        wait "$child" || true
        child=
    done
}

start_clients() {
    local slow=$((TCP_N * 90 / 100)) same=$((TCP_N / 200)) fast
    fast=$((TCP_N - slow - same))
    load tcp-slow "$slow" --unit 1 --fc 3 --count 2 --interval-ms 2000
    load tcp-fast "$fast" --unit 1 --fc 4 --count 10 --interval-ms 100
    load tcp-same "$same" --unit 1 --fc 3 --count 2 --addr-mode same \
        --pipeline 2 --interval-ms 10
    load giv-ir "$((GIV_N * 25 / 32))" --unit 17 --fc 4 --count 10 \
        --addr-span 180 --interval-ms 1000
    load giv-hr "$((GIV_N * 5 / 32))" --unit 17 --fc 3 --count 60 \
        --addr-mode same --interval-ms 500
    load giv-bat "$((GIV_N - GIV_N * 25 / 32 - GIV_N * 5 / 32))" --unit 50 \
        --fc 4 --count 30 --addr-span 120 --interval-ms 1000
    load rtu-20 "$((RTU_N / 2))" --unit 20 --fc 3 --count 4 --interval-ms 2000
    load rtu-21 "$((RTU_N - RTU_N / 2))" --unit 21 --fc 4 --count 2 \
        --addr-span 1000 --interval-ms 2000
    if ((CHURN_N > 0)); then
        churn "$(($(date +%s) + SOAK_SECONDS))" &
        CHURN_PID=$!
    fi
}

# ---- the run ----------------------------------------------------------------

SERIES=()       # "t rss fds cpu%" per sample

sample() {      # T: one line of the RSS series
    local t=$1 rss fds ticks cpu
    rss=$(rss_kb "$MUX_PID")
    fds=$(fd_count "$MUX_PID")
    ticks=$(cpu_ticks "$MUX_PID")
    cpu=$(awk -v a="$ticks" -v b="$LAST_TICKS" -v d="$2" -v hz="$HZ" \
        'BEGIN { printf "%.0f", (d > 0 ? (a - b) * 100 / hz / d : 0) }')
    LAST_TICKS=$ticks
    SERIES+=("$t $rss $fds $cpu")
    printf '  t=%4ss  VmRSS %6s kB  fds %5s  proxy cpu %3s%%\n' "$t" "$rss" "$fds" "$cpu"
}

main() {
    local t0 t next elapsed i
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    HZ=$(getconf CLK_TCK)
    echo "== modbus-mux soak $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
         "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "machine: nproc=$(nproc) cpu=\"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)\"" \
         "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "load: ${SOAK_SECONDS} s; clients: tcp $TCP_N, givenergy $GIV_N, rtu $RTU_N," \
         "churn $CHURN_N at a time; RSS every ${SOAK_SAMPLE} s, baseline at ${SOAK_WARMUP} s"
    start_sims
    start_proxy
    LAST_TICKS=$(cpu_ticks "$MUX_PID")
    RSS_START=$(rss_kb "$MUX_PID")
    echo "proxy pid $MUX_PID on port $MUX_PORT: VmRSS at start ${RSS_START} kB (no client yet)"
    echo "-- RSS series (proxy cpu: share of one CPU over the period)"
    sample 0 0
    t0=$(date +%s.%N)
    start_clients
    next=$SOAK_SAMPLE
    # sample while the load runs; the last sample just before it ends
    while :; do
        elapsed=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { print a - b }')
        if awk -v e="$elapsed" -v n="$next" -v s="$SOAK_SECONDS" 'BEGIN { exit !(n <= s - 1) }'; then
            nap "$(awk -v e="$elapsed" -v n="$next" 'BEGIN { d = n - e; print (d > 0 ? d : 0) }')"
            sample "$next" "$SOAK_SAMPLE"
            next=$((next + SOAK_SAMPLE))
        else
            break
        fi
    done
    t=$((next - SOAK_SAMPLE))
    nap "$(awk -v e="$elapsed" -v s="$SOAK_SECONDS" 'BEGIN { d = s - 1 - e; print (d > 0 ? d : 0) }')"
    sample "$((SOAK_SECONDS - 1))" "$((SOAK_SECONDS - 1 - t))"
    RSS_END_LOADED=$(rss_kb "$MUX_PID")
    # the clients finish their measurement, drain and leave
    for i in "${LOADS[@]}"; do
        wait "${i#*:}" || true
    done
    if [[ -n ${CHURN_PID:-} ]]; then wait "$CHURN_PID" || true; fi
    sleep 1
    RSS_END_IDLE=$(rss_kb "$MUX_PID")
    echo "proxy VmRSS after every client left: ${RSS_END_IDLE} kB, fds $(fd_count "$MUX_PID")"
    report_clients
    stop_proxy
    report_rss
    report_counters
    echo "wall time: $(($(date +%s) - T_BEGIN)) s"
    if ((FAILED)); then
        echo "soak: FAILED" >&2
        exit 1
    fi
    echo "soak: PASS"
}

# ---- results ----------------------------------------------------------------

CL_SENT=0 CL_REPLIES=0 CL_WRONG=0 CL_LOST=0 CL_SLOW=0 CL_EXC=0 CL_CLOSED=0 CL_CONNERR=0

tally() {       # NAME LINE: one loadgen result into the totals and the table
    local name=$1 line=$2
    CL_SENT=$((CL_SENT + $(kv "$line" sent)))
    CL_REPLIES=$((CL_REPLIES + $(kv "$line" replies)))
    CL_WRONG=$((CL_WRONG + $(kv "$line" wrong)))
    CL_LOST=$((CL_LOST + $(kv "$line" unanswered)))
    CL_SLOW=$((CL_SLOW + $(kv "$line" timeouts)))
    CL_EXC=$((CL_EXC + $(kv "$line" exceptions)))
    CL_CLOSED=$((CL_CLOSED + $(kv "$line" closed)))
    CL_CONNERR=$((CL_CONNERR + $(kv "$line" connect_errors)))
}

report_clients() {
    local i name line runs=0 creq=0 cworst=0
    echo "-- clients (every reply checked; latency from request to reply)"
    printf '%-9s %6s %9s %9s %9s %8s %8s %8s %6s %5s %5s %5s\n' load clients interval \
        replies "req/s" "p50 ms" "p99 ms" "max ms" wrong lost exc slow
    for i in "${LOADS[@]}"; do
        name=${i%%:*}
        line=$(grep -m1 '^clients=' "$WORK/lg-$name.out" || true)
        if [[ -z $line ]]; then
            echo "  !! $name: no result line; stderr:" >&2
            head -5 "$WORK/lg-$name.err" >&2 || true
            FAILED=1
            continue
        fi
        tally "$name" "$line"
        awk -v n="$name" -v c="$(kv "$line" clients)" -v iv="$(kv "$line" interval_ms)" \
            -v r="$(kv "$line" replies)" -v rps="$(kv "$line" rps)" \
            -v p50="$(kv "$line" p50_us)" -v p99="$(kv "$line" p99_us)" \
            -v mx="$(kv "$line" max_us)" -v w="$(kv "$line" wrong)" \
            -v l="$(kv "$line" unanswered)" -v e="$(kv "$line" exceptions)" \
            -v s="$(kv "$line" timeouts)" 'BEGIN {
            printf "%-9s %6d %7d ms %9d %9.1f %8.2f %8.2f %8.1f %6d %5d %5d %5d\n",
                n, c, iv, r, rps, p50 / 1000, p99 / 1000, mx / 1000, w, l, e, s }'
        if [[ -s $WORK/lg-$name.err ]]; then
            sed "s/^/  $name: /" "$WORK/lg-$name.err" | head -5
        fi
    done
    if [[ -s $WORK/lg-churn.out ]]; then
        while read -r line; do
            [[ $line == clients=* ]] || continue
            runs=$((runs + 1))
            tally churn "$line"
            creq=$((creq + $(kv "$line" replies)))
            if (($(kv "$line" max_us) > cworst)); then cworst=$(kv "$line" max_us); fi
        done <"$WORK/lg-churn.out"
        printf '%-9s %6s %9s %9d   (%d runs of %d clients for 3 s; worst latency %.1f ms)\n' \
            churn "$CHURN_N" "20 ms" "$creq" "$runs" "$CHURN_N" \
            "$(awk -v m="$cworst" 'BEGIN { print m / 1000 }')"
        if [[ -s $WORK/lg-churn.err ]]; then
            sed 's/^/  churn: /' "$WORK/lg-churn.err" | head -5
        fi
    fi
    echo "clients in total: sent $CL_SENT requests, got $CL_REPLIES replies;" \
         "wrong $CL_WRONG, lost (no reply at all) $CL_LOST, exceptions $CL_EXC," \
         "slower than 5 s $CL_SLOW, closed by the proxy $CL_CLOSED, failed connects $CL_CONNERR"
    echo "wrong + lost = $((CL_WRONG + CL_LOST)) (must be 0)"
    if ((CL_WRONG + CL_LOST + CL_EXC + CL_SLOW + CL_CLOSED + CL_CONNERR > 0)); then
        echo "  !! some replies were wrong, lost, late or refused" >&2
        FAILED=1
    fi
}

stop_proxy() {
    kill -TERM "$MUX_PID" 2>/dev/null || true
    wait "$MUX_PID" 2>/dev/null || true
}

report_rss() {
    local base
    base=$(printf '%s\n' "${SERIES[@]}" | awk -v w="$SOAK_WARMUP" '$1 >= w { print $2; exit }')
    base=${base:-$RSS_END_LOADED}
    echo "-- memory"
    echo "VmRSS: start ${RSS_START} kB; after warm-up (t >= ${SOAK_WARMUP} s) ${base} kB;" \
         "end under load ${RSS_END_LOADED} kB; after the clients left ${RSS_END_IDLE} kB"
    LIMIT=$((base + base * RSS_PCT / 100 + RSS_SLACK_KB))
    if ((RSS_END_LOADED > LIMIT)); then
        echo "RSS growth: $((RSS_END_LOADED - base)) kB > allowed $((LIMIT - base)) kB" \
             "(${RSS_PCT} % + ${RSS_SLACK_KB} kB): FAIL"
        FAILED=1
    else
        echo "RSS growth from warm-up to end: $((RSS_END_LOADED - base)) kB" \
             "(allowed $((LIMIT - base)) kB = ${RSS_PCT} % + ${RSS_SLACK_KB} kB): flat"
    fi
}

report_counters() {
    local srv req rep drop be
    echo "-- proxy counters at exit"
    srv=$(grep -E ' info stats: ' "$WORK/mux.log" | tail -1 | sed 's/.*stats: *//' || true)
    echo "server: $srv"
    for be in plant bus giv; do
        echo "$be: $(grep "B:$be: stats:" "$WORK/mux.log" | tail -1 | sed 's/.*stats: *//')"
    done
    req=$(kv "$srv" requests); rep=$(kv "$srv" replies); drop=$(kv "$srv" replies_dropped)
    if [[ -z $srv ]]; then
        echo "  !! no stats line in the proxy's log" >&2
        FAILED=1
    elif ((req == rep + drop)); then
        echo "requests $req == replies $rep + replies_dropped $drop: balanced"
    else
        echo "  !! requests $req != replies $rep + replies_dropped $drop" >&2
        FAILED=1
    fi
    if [[ -n $srv ]] && ((req != CL_SENT || rep != CL_REPLIES)); then
        echo "  !! the proxy counted $req requests / $rep replies, the clients sent" \
             "$CL_SENT and got $CL_REPLIES" >&2
        FAILED=1
    elif [[ -n $srv ]]; then
        echo "the clients sent $CL_SENT and got $CL_REPLIES: the same as the proxy counted"
    fi
    echo "rtu_slave: requests $(sim_stat "$WORK/rtu.stats" requests)," \
         "replies $(sim_stat "$WORK/rtu.stats" replies), crc errors $(sim_stat "$WORK/rtu.stats" crc_errors)," \
         "early $(sim_stat "$WORK/rtu.stats" early), min gap $(sim_stat "$WORK/rtu.stats" min_gap_us) us"
    echo "giv_dongle: requests $(sim_stat "$WORK/giv.stats" requests)," \
         "cloud polls $(sim_stat "$WORK/giv.stats" cloud_polls)," \
         "heartbeats sent $(sim_stat "$WORK/giv.stats" heartbeats_sent)," \
         "answered $(sim_stat "$WORK/giv.stats" heartbeats_answered)," \
         "dropped connections $(sim_stat "$WORK/giv.stats" heartbeat_drops)"
    echo "proxy log: $(grep -c '^[-0-9]* [0-9:.]* warn ' "$WORK/mux.log" || true) warning line(s)," \
         "$(grep -c '^[-0-9]* [0-9:.]* error ' "$WORK/mux.log" || true) error line(s)"
    grep -E '^[-0-9]* [0-9:.]* (warn|error) ' "$WORK/mux.log" | head -5 | sed 's/^/  /' || true
}

main "$@"
