#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run_bench.sh -- one command, one benchmark run of modbus-mux on 127.0.0.1.
#
# Starts the device simulator (tests/sim/tcp_slave) and measures, with
# tests/bench/loadgen, the serialized link directly against the simulator
# (1 client; 10 and 60 for reference, as the simulator takes at most 64
# connections), then 1/10/100/1000/10000 clients through the proxy
# (max_inflight = 1, distinct addresses so nothing can be coalesced), the
# latency the proxy adds, and the proxy's memory with 10,000 idle clients.
# Prints the machine, one line per run and a final table with the project's
# targets.
# See tests/bench/README.md.
#
# Environment:
#   BUILD_DIR=dir      use the binaries of this build as they are; default:
#                      configure and build build-bench/ (Release, BUILD_TESTS=ON)
#   LOADGEN= SIM= PROXY=   override single binaries
#   BENCH_DURATION=5   seconds measured per run; BENCH_WARMUP=1
#   BENCH_LAT_PAIRS=3  interleaved 1-client direct/proxy pairs for the latency
#   BENCH_LAT_DURATION=3   seconds per run of those pairs
#   BENCH_PREHEAT=3    seconds of unmeasured load before the first run
#   BENCH_IDLE_CLIENTS=10000
#   BENCH_PROXY_CLIENTS="1 10 100 1000 10000"   the proxy-N runs
#   STRICT=1           also exit 1 when a target is missed
# Exit status: 0 when every run completed with every reply verified (no wrong
# reply, no closed connection, no timeout); 1 otherwise.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init bench

DUR=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
IDLE_N=${BENCH_IDLE_CLIENTS:-10000}
LAT_PAIRS=${BENCH_LAT_PAIRS:-3}
LAT_DUR=${BENCH_LAT_DURATION:-3}
SLOW_DUR=${BENCH_SLOW_DURATION:-4}
PREHEAT=${BENCH_PREHEAT:-3}
STRICT=${STRICT:-0}
read -r -a PROXY_CLIENTS <<<"${BENCH_PROXY_CLIENTS:-1 10 100 1000 10000}"
DIRECT_CLIENTS=(10 60)          # the simulator accepts at most 64 connections
SIM_MAX_CLIENTS=64
# a run's bound: warm-up + measurement + connect and drain allowances
RUN_LIMIT_S=$(awk -v d="$DUR" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 90 }')

FAILED=0
declare -A RES=()

# ---- binaries ---------------------------------------------------------------

bench_binaries
SIM=${SIM:-$BUILD_DIR/tests/sim/tcp_slave}
[[ -x $SIM ]] || die "not found or not executable: $SIM"

# ---- helpers ----------------------------------------------------------------

# run_load NAME PORT CLIENTS [SECONDS]: one timed loadgen run; its result
# line goes to RES[NAME].
run_load() {
    local name=$1 port=$2 clients=$3 secs=${4:-$DUR} rc=0 line
    # in the background, so that a signal stops the run at once (cleanup)
    timeout "$RUN_LIMIT_S" "$LOADGEN" --target "127.0.0.1:$port" \
        --clients "$clients" --pipeline 1 --addr-mode distinct \
        --duration "$secs" --warmup "$WARMUP" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    wait "$!" || rc=$?
    line=$(grep -m1 '^clients=' "$WORK/$name.out" || true)
    RES[$name]=$line
    printf '%-12s %s\n' "$name" "${line:-<no result, exit $rc>}"
    if [[ $rc -ne 0 || -z $line || $(kv "$line" timeouts) != 0 ]]; then
        FAILED=1
        echo "  !! $name: exit $rc; loadgen stderr:" >&2
        head -5 "$WORK/$name.err" >&2 || true
    fi
}

# ---- processes --------------------------------------------------------------

# start_sim [ARGS...]: a simulator with extra options; sets SIM_PID/PORT.
start_sim() {
    "$SIM" --listen 127.0.0.1:0 --units 1 "$@" >"$WORK/sim.out" 2>"$WORK/sim.err" &
    SIM_PID=$!
    SIM_PORT=$(wait_line "$WORK/sim.out" '^PORT [0-9]+' "$SIM_PID" 10 | awk '{ print $2 }')
}

write_proxy_ini() {
    write_serial_ini "$WORK/mux.ini" "$SIM_PORT"
}

# start_proxy TAG: a fresh proxy logging to proxy-TAG.log; sets PROXY_PID/PORT.
start_proxy() {
    local log="$WORK/proxy-$1.log"
    "$PROXY" -c "$WORK/mux.ini" >/dev/null 2>"$log" &
    PROXY_PID=$!
    PROXY_PORT=$(wait_line "$log" 'listening on 127\.0\.0\.1:[0-9]+' "$PROXY_PID" 10 \
        | grep -oE 'listening on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')
}

stop_proxy() {
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
}

# ---- the measurements -------------------------------------------------------

measure_direct() {
    local n
    echo "-- a/d. direct to the simulator (port $SIM_PORT)"
    # an idle VM answers slower than a busy one: do not measure the first
    # seconds of load
    run_load preheat "$SIM_PORT" 1 "$PREHEAT"
    run_load direct-1 "$SIM_PORT" 1
    for n in "${DIRECT_CLIENTS[@]}"; do
        run_load "direct-$n" "$SIM_PORT" "$n"
    done
}

measure_proxy() {
    local n
    start_proxy load
    echo "-- b/c. through modbus-mux (port $PROXY_PORT), max_inflight = 1"
    for n in "${PROXY_CLIENTS[@]}"; do
        run_load "proxy-$n" "$PROXY_PORT" "$n"
    done
    measure_latency
    stop_proxy
    # its counters at exit: with distinct addresses nothing may be coalesced
    grep -E 'stats:' "$WORK/proxy-load.log" | sed 's/^/  proxy: /' || true
}

# c. Loopback latency drifts (CPU wake-ups, other load), so the 1-client runs
# are repeated as interleaved direct/proxy pairs and judged by their median.
measure_latency() {
    local k
    echo "-- c. 1-client latency: $LAT_PAIRS interleaved direct/proxy pairs of ${LAT_DUR} s"
    for ((k = 1; k <= LAT_PAIRS; k++)); do
        run_load "lat-direct-$k" "$SIM_PORT" 1 "$LAT_DUR"
        run_load "lat-proxy-$k" "$PROXY_PORT" 1 "$LAT_DUR"
    done
}

# f. The same serialized link against a device that takes 1 ms per
# transaction, as real ones take milliseconds: here the proxy's own hop
# (a few us) is small against the device time, which is what the 0.95 target
# is about. With the simulator answering in 7 us on the same 2 cores as the
# proxy and the load generator, b. measures wake-up latency of one more
# process on the critical path more than anything the proxy does.
measure_slow_device() {
    local fast_pid=$SIM_PID fast_port=$SIM_PORT
    start_sim --delay-ms 1
    write_proxy_ini
    start_proxy slow
    echo "-- f. a device taking 1 ms per transaction (port $SIM_PORT)"
    run_load slow-direct-1 "$SIM_PORT" 1 "$SLOW_DUR"
    run_load slow-proxy-100 "$PROXY_PORT" 100 "$SLOW_DUR"
    stop_proxy
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
    SIM_PID=$fast_pid
    SIM_PORT=$fast_port
    write_proxy_ini
}

print_slow_device() {
    local d=${RES[slow-direct-1]:-} p=${RES[slow-proxy-100]:-} ratio
    [[ -n $d && -n $p ]] || return 0
    ratio=$(awk -v a="$(kv "$p" rps)" -v b="$(kv "$d" rps)" 'BEGIN { printf "%.3f", a / b }')
    verdict "$ratio >= 0.95"
    echo "throughput, 1 ms device: proxy rps at 100 clients $(kv "$p" rps) /" \
         "direct 1 client $(kv "$d" rps) = $ratio (target >= 0.95) $VERDICT"
}

# wait_accepted PID WANT: until the proxy holds WANT descriptors (30 s max).
wait_accepted() {
    local tries=600
    while (($(fd_count "$1") < $2)); do
        ((tries-- > 0)) || { echo "  !! proxy holds $(fd_count "$1") of $2 fds" >&2; return 1; }
        sleep 0.05
    done
}

# e. a fresh proxy, RSS before; IDLE_N silent clients; RSS while held.
measure_idle() {
    local lg_pid base_fds line rc=0
    start_proxy idle
    sleep 0.5
    RSS_BEFORE=$(rss_kb "$PROXY_PID")
    base_fds=$(fd_count "$PROXY_PID")
    echo "-- e. $IDLE_N idle clients through modbus-mux (port $PROXY_PORT)"
    "$LOADGEN" --target "127.0.0.1:$PROXY_PORT" --clients "$IDLE_N" --idle \
        --duration 120 >"$WORK/idle.out" 2>"$WORK/idle.err" &
    lg_pid=$!
    wait_line "$WORK/idle.out" '^connected [0-9]+' "$lg_pid" 90 >/dev/null
    wait_accepted "$PROXY_PID" $((base_fds + IDLE_N)) || FAILED=1
    sleep 1
    RSS_HELD=$(rss_kb "$PROXY_PID")
    kill -INT "$lg_pid"
    wait "$lg_pid" || rc=$?
    line=$(grep -m1 '^clients=' "$WORK/idle.out" || true)
    printf '%-12s %s\n' "idle-$IDLE_N" "${line:-<no result, exit $rc>}"
    IDLE_CONNECTED=$(kv "$line" connected)
    [[ $rc -eq 0 && $IDLE_CONNECTED == "$IDLE_N" ]] || FAILED=1
    stop_proxy
}

# ---- report -----------------------------------------------------------------

# BASE_RPS: the ceiling of the serialized link, the median rps of all the
# direct 1-client runs (a and the latency pairs), so one run that hit a slow
# phase of the machine does not skew every ratio.
compute_baseline() {
    local name rps=()
    for name in direct-1 $(seq -f 'lat-direct-%g' 1 "$LAT_PAIRS"); do
        if [[ -n ${RES[$name]:-} ]]; then
            rps+=("$(kv "${RES[$name]}" rps)")
        fi
    done
    BASE_RPS=0
    if ((${#rps[@]} > 0)); then
        BASE_RPS=$(median "${rps[@]}")
    fi
    echo "baseline (a): median rps of the ${#rps[@]} direct 1-client runs" \
         "(${rps[*]}) = $BASE_RPS"
}

print_row() {
    local name=$1 line=${RES[$1]:-} base=$BASE_RPS
    if [[ -z $line ]]; then
        printf '%-12s %7s  %s\n' "$name" "-" "no result"
        return
    fi
    awk -v n="$name" -v c="$(kv "$line" clients)" -v r="$(kv "$line" rps)" \
        -v b="${base:-0}" -v p50="$(kv "$line" p50_us)" -v p99="$(kv "$line" p99_us)" \
        -v p999="$(kv "$line" p999_us)" -v mx="$(kv "$line" max_us)" \
        -v ex="$(kv "$line" exceptions)" -v w="$(kv "$line" wrong)" \
        -v cl="$(kv "$line" closed)" -v to="$(kv "$line" timeouts)" 'BEGIN {
            printf "%-12s %7d %10.1f %6.3f %7d %7d %7d %8d %5d %5d %6d %4d\n",
                n, c, r, (b > 0 ? r / b : 0), p50, p99, p999, mx, ex, w, cl, to }'
}

# verdict AWK-EXPR: sets VERDICT to PASS or MISS (and FAILED under STRICT=1).
verdict() {
    if awk "BEGIN { exit !($1) }"; then
        VERDICT=PASS
    else
        VERDICT=MISS
        if [[ $STRICT == 1 ]]; then
            FAILED=1
        fi
    fi
}

print_targets() {
    local d1=${RES[direct-1]:-} p1=${RES[proxy-1]:-} p100=${RES[proxy-100]:-}
    local ratio dp50 per_conn held_mb
    if [[ -n $d1 && -n $p100 ]]; then
        ratio=$(awk -v a="$(kv "$p100" rps)" -v b="$BASE_RPS" \
            'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
        verdict "$ratio >= 0.95"
        echo "throughput: proxy rps at 100 clients / baseline = $ratio" \
             "(target >= 0.95) $VERDICT"
    fi
    if [[ -n $d1 && -n $p1 ]]; then
        dp50=$(($(kv "$p1" p50_us) - $(kv "$d1" p50_us)))
        echo "latency: proxy p50 - direct p50 at 1 client, runs a/b = ${dp50} us" \
             "($(kv "$p1" p50_us) - $(kv "$d1" p50_us))"
    fi
    print_latency_pairs
    if [[ -n ${RSS_HELD:-} ]]; then
        per_conn=$(((RSS_HELD - RSS_BEFORE) * 1024 / IDLE_N))
        held_mb=$(awk -v k="$RSS_HELD" 'BEGIN { printf "%.1f", k / 1024 }')
        verdict "$RSS_HELD < 20480"
        echo "memory: proxy VmRSS ${RSS_BEFORE} kB before, ${RSS_HELD} kB with" \
             "${IDLE_CONNECTED:-?} idle clients = ${per_conn} B/client;" \
             "held ${held_mb} MB (target < 20 MB) $VERDICT"
    fi
}

# The latency target, judged on the median over the interleaved pairs.
print_latency_pairs() {
    local k d p med diffs=() means=()
    for ((k = 1; k <= LAT_PAIRS; k++)); do
        d=${RES[lat-direct-$k]:-}
        p=${RES[lat-proxy-$k]:-}
        [[ -n $d && -n $p ]] || continue
        diffs+=("$(($(kv "$p" p50_us) - $(kv "$d" p50_us)))")
        means+=("$(awk -v a="$(kv "$p" mean_us)" -v b="$(kv "$d" mean_us)" \
            'BEGIN { printf "%.1f", a - b }')")
    done
    ((${#diffs[@]} > 0)) || return 0
    med=$(median "${diffs[@]}")
    verdict "$med <= 20"
    echo "latency: proxy p50 - direct p50 at 1 client, interleaved pairs:" \
         "${diffs[*]} us; median ${med} us (target <= 20) $VERDICT"
    echo "         the same for the mean: ${means[*]} us; median $(median "${means[@]}") us"
}

# median NUMBERS...: the middle one, or the mean of the middle two.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) { print v[(NR + 1) / 2] } else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}

print_table() {
    local n
    echo
    compute_baseline
    echo "== results (ratio = rps / baseline rps; latencies in us)"
    printf '%-12s %7s %10s %6s %7s %7s %7s %8s %5s %5s %6s %4s\n' run clients rps \
        ratio p50 p99 p99.9 max exc wrong closed tmo
    print_row direct-1
    for n in "${DIRECT_CLIENTS[@]}"; do
        print_row "direct-$n"
    done
    printf '%-12s %7s  %s\n' direct-100 100 "n/a: the simulator takes $SIM_MAX_CLIENTS connections"
    printf '%-12s %7s  %s\n' direct-1000 1000 "n/a: the simulator takes $SIM_MAX_CLIENTS connections"
    printf '%-12s %7s  %s\n' direct-10000 10000 "n/a: the simulator takes $SIM_MAX_CLIENTS connections"
    for n in "${PROXY_CLIENTS[@]}"; do
        print_row "proxy-$n"
    done
    echo
    print_targets
}

main() {
    local limit n
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    limit=$(ulimit -n)
    if ((limit < IDLE_N + 64)); then
        echo "note: descriptor limit $limit, idle test reduced" >&2
        IDLE_N=$((limit - 64))
    fi
    for n in "${!PROXY_CLIENTS[@]}"; do
        if ((PROXY_CLIENTS[n] + 64 > limit)); then
            echo "note: descriptor limit $limit, proxy-${PROXY_CLIENTS[n]} reduced" >&2
            PROXY_CLIENTS[n]=$((limit - 64))
        fi
    done
    echo "== modbus-mux benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
         "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "machine: nproc=$(nproc) cpu=\"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)\"" \
         "kernel=$(uname -r)"
    echo "load average before: $(loadavg)"
    echo "binaries: loadgen=$LOADGEN sim=$SIM proxy=$PROXY"
    echo "each run: ${DUR} s measured after ${WARMUP} s warm-up, pipeline 1, distinct addresses"
    start_sim
    write_proxy_ini
    measure_direct
    measure_proxy
    measure_slow_device
    measure_idle
    print_table
    print_slow_device
    echo "load average after: $(loadavg)"
    if [[ $FAILED -ne 0 ]]; then
        echo "run_bench: FAILED (see messages above)" >&2
        exit 1
    fi
}

main "$@"
