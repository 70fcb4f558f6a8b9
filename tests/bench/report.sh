#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# report.sh -- the whole benchmark report of modbus-mux in one command, on
# 127.0.0.1 only (about 6 minutes on 2 cores; bounded; stops what it starts).
#
#   1. the machine: CPUs, kernel, load average, what else was using the CPUs
#   2. run_bench.sh: throughput and latency, direct and through the proxy, 1 to
#      10,000 clients on one serialized link; the proxy's hop; memory with
#      10,000 idle clients; a 1 ms device
#   3. noise: the spread of the 1-client direct runs of step 2
#   4. coalescing: 1, 10, 100, 1000 clients all reading the SAME registers
#      through a tcp backend to a device that takes 5 ms; client requests per
#      second against device transactions per second
#   5. the cost curve: a fresh proxy per point, 1 to 10,000 clients (distinct
#      registers, pipeline 1): proxy CPU time per request and RSS per client
#   6. bus_bench.sh: RS485 bus utilisation
#   7. giv_bench.sh: GivEnergy register cache
#   8. a summary with the ratios measured in this run
#
# Environment: BUILD_DIR (default: configure and build build-bench/, Release),
# REPORT_DURATION=5 (seconds measured per run of steps 4 and 5),
# REPORT_COST_REPEATS=3 (rounds of step 5; medians are reported),
# REPORT_STEPS (a subset of: machine bench noise coalescing cost_curve
# other_benches summary; default all, in that order). The exit
# status is 1 when a step failed (a wrong reply, a lost one, a script error).
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init report

DUR=${REPORT_DURATION:-5}
COALESCE_CLIENTS=(1 10 100 1000)
COST_CLIENTS=(1 10 100 1000 10000)
COST_REPEATS=${REPORT_COST_REPEATS:-3}
FAILED=0
T_BEGIN=$(date +%s)
declare -A RES=()

# ---- binaries ---------------------------------------------------------------

bench_binaries tcp_slave rtu_slave giv_dongle
SIM=$BUILD_DIR/tests/sim/tcp_slave

# ---- helpers ----------------------------------------------------------------

# cpu_snapshot: "busy nice total" jiffies of all CPUs from /proc/stat
cpu_snapshot() {
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i;
                   print $2 + $3 + $4 + $7 + $8, $3, t }' /proc/stat
}

# cpu_share "A" "B": busy % and nice % of all CPUs between two snapshots
cpu_share() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = y[3] - x[3]; if (t <= 0) t = 1;
        printf "%.0f%% busy, of which %.0f%% niced", (y[1] - x[1]) * 100 / t,
               (y[2] - x[2]) * 100 / t }'
}

# every process: "pid utime+stime nice comm" (comm may hold spaces: cut
# the fields after its closing parenthesis)
proc_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk '{
        pid = $1; comm = $0; sub(/^[^(]*\(/, "", comm); sub(/\) .*$/, "", comm);
        gsub(/ /, "_", comm); rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ");
        print pid, f[12] + f[13], f[17], comm }' | sort
}

# the processes (not ours) using the CPUs over 2 s: "name(pid, nice, % of a CPU)"
busy_others() {
    local a b
    a=$(proc_ticks)
    sleep 2
    b=$(proc_ticks)
    join <(echo "$a") <(echo "$b") | awk -v hz="$(getconf CLK_TCK)" -v me="$$" '{
        pct = ($5 - $2) * 100 / hz / 2;
        if (pct >= 5 && $1 != me) printf "%s(pid %s, nice %s, %.0f%% of a CPU) ", $4, $1, $3, pct }'
}

start_sim() {   # TAG [ARGS...]: sets SIM_PID SIM_PORT
    local tag=$1
    shift
    "$SIM" --listen 127.0.0.1:0 --units 1 "$@" >"$WORK/sim-$tag.out" 2>"$WORK/sim-$tag.err" &
    SIM_PID=$!
    wait_for "$WORK/sim-$tag.out" '^PORT [0-9]+' "$SIM_PID"
    SIM_PORT=$(awk '/^PORT/ { print $2; exit }' "$WORK/sim-$tag.out")
}

start_proxy() { # TAG: a fresh proxy in front of SIM_PORT; sets MUX_PID MUX_PORT
    write_serial_ini "$WORK/mux-$1.ini" "$SIM_PORT"
    "$PROXY" -c "$WORK/mux-$1.ini" >/dev/null 2>"$WORK/mux-$1.log" &
    MUX_PID=$!
    wait_for "$WORK/mux-$1.log" 'listening on 127\.0\.0\.1:[0-9]+' "$MUX_PID"
    wait_for "$WORK/mux-$1.log" 'B:sim: connected' "$MUX_PID"
    MUX_PORT=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/mux-$1.log" | head -1 | sed 's/.*://')
}

# median NUMBERS...: the middle one, or the mean of the middle two
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) { print v[(NR + 1) / 2] } else { printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# proxy_stats TAG [BACKEND]: the last counters line in the proxy's log
proxy_stats() {
    if [[ -n ${2:-} ]]; then
        grep " B:$2: stats: " "$WORK/mux-$1.log" | tail -1 | sed 's/.*stats: *//'
    else
        grep ' info stats: ' "$WORK/mux-$1.log" | tail -1 | sed 's/.*stats: *//'
    fi
}

# usr1_stats TAG: make the proxy log its counters now, wait for the line
usr1_stats() {
    local n i
    n=$(grep -c ' info stats: ' "$WORK/mux-$1.log" || true)
    kill -USR1 "$MUX_PID"
    for ((i = 0; i < 100; i++)); do
        (($(grep -c ' info stats: ' "$WORK/mux-$1.log" || true) > n)) && { sleep 0.05; return 0; }
        sleep 0.02
    done
    die "no counters after SIGUSR1"
}

# run_lg NAME LOADGEN-ARGS...: one bounded loadgen run, result in RES[NAME]
run_lg() {
    local name=$1 rc=0 line
    shift
    bg_wait timeout 150 "$LOADGEN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    line=$(grep -m1 '^clients=' "$WORK/$name.out" || true)
    RES[$name]=$line
    if [[ $rc -ne 0 || -z $line || $(kv "$line" timeouts) != 0 || $(kv "$line" unanswered) != 0 ]]; then
        FAILED=1
        echo "  !! $name: exit $rc: ${line:-no result}" >&2
        head -5 "$WORK/$name.err" >&2 || true
    fi
}

section() { echo; echo "### $*"; }

# ---- 1. the machine ---------------------------------------------------------

machine() {
    local s0 s1
    section "1. machine"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "nproc=$(nproc); cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);" \
         "kernel $(uname -r); memory $(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"
    echo "binaries: $BUILD_DIR ($(grep -m1 '^CMAKE_BUILD_TYPE' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | cut -d= -f2))"
    LOAD_BEFORE=$(loadavg)
    s0=$(cpu_snapshot)
    OTHERS_BEFORE=$(busy_others)
    s1=$(cpu_snapshot)
    echo "load average before: $LOAD_BEFORE"
    echo "CPU use before we start (2 s): $(cpu_share "$s0" "$s1")"
    echo "other processes using CPU: ${OTHERS_BEFORE:-none}"
    SNAP_BEGIN=$(cpu_snapshot)
}

# ---- 2./3. run_bench.sh and its noise -----------------------------------------

bench() {
    local rc=0
    section "2. run_bench.sh: direct and through modbus-mux, 1 to 10,000 clients"
    bg_wait tests/bench/run_bench.sh >"$WORK/run_bench.txt" 2>&1 || rc=$?
    cat "$WORK/run_bench.txt"
    if ((rc != 0)); then
        echo "  !! run_bench.sh exited $rc" >&2
        FAILED=1
    fi
}

noise() {
    section "3. noise: the same 1-client direct run, repeated"
    awk '$1 ~ /^(direct-1|lat-direct-[0-9]+)$/ && $2 ~ /^clients=1$/ {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            n++; r[n] = v["rps"]; p[n] = v["p50_us"]; m[n] = v["mean_us"];
            printf "  %-14s rps %9.1f  p50 %4d us  mean %6.1f us  p99 %4d us\n",
                   $1, v["rps"], v["p50_us"], v["mean_us"], v["p99_us"] }
        END {
            if (n < 2) exit;
            lo = hi = r[1]; s = 0; plo = phi = p[1];
            for (i = 1; i <= n; i++) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i];
                s += r[i]; if (p[i] < plo) plo = p[i]; if (p[i] > phi) phi = p[i] }
            printf "  %d runs: rps %.0f .. %.0f (spread %.1f%% of the mean %.0f); p50 %d .. %d us\n",
                   n, lo, hi, (hi - lo) * 100 / (s / n), s / n, plo, phi }' "$WORK/run_bench.txt"
}

# ---- 4. coalescing ----------------------------------------------------------

coalescing() {
    local n name s0 s1 b0 b1 line dev tx co
    section "4. coalescing: N clients reading the SAME 2 registers, device takes 5 ms"
    start_sim coal --delay-ms 5 --stats "$WORK/coal.stats"
    run_lg coal-direct-1 --target "127.0.0.1:$SIM_PORT" --clients 1 --addr-mode same \
        --duration "$DUR" --warmup 0
    start_proxy coal
    for n in "${COALESCE_CLIENTS[@]}"; do
        usr1_stats coal
        b0=$(proxy_stats coal sim)
        s0=$(awk '$1 == "requests" { print $2 }' "$WORK/coal.stats")
        run_lg "coal-$n" --target "127.0.0.1:$MUX_PORT" --clients "$n" --addr-mode same \
            --duration "$DUR" --warmup 0
        s1=$(awk '$1 == "requests" { print $2 }' "$WORK/coal.stats")
        usr1_stats coal
        b1=$(proxy_stats coal sim)
        RES[coal-$n-dev]=$((s1 - s0))
        RES[coal-$n-tx]=$(($(kv "$b1" transactions) - $(kv "$b0" transactions)))
        RES[coal-$n-co]=$(($(kv "$b1" coalesced) - $(kv "$b0" coalesced)))
        RES[coal-$n-req]=$(($(kv "$b1" requests) - $(kv "$b0" requests)))
    done
    stop_pid "$MUX_PID"
    stop_pid "$SIM_PID"
    printf '%-10s %7s %12s %12s %12s %12s %10s %8s %8s %6s\n' run clients "client req/s" \
        "device tx/s" "proxy tx/s" "coalesced/s" "req per tx" "p50 ms" "p99 ms" wrong
    line=${RES[coal-direct-1]}
    awk -v r="$(kv "$line" rps)" -v d="$(kv "$line" duration_s)" -v p50="$(kv "$line" p50_us)" \
        -v p99="$(kv "$line" p99_us)" -v w="$(kv "$line" wrong)" 'BEGIN {
        printf "%-10s %7d %12.1f %12.1f %12s %12s %10.2f %8.2f %8.2f %6d\n",
               "direct", 1, r, r, "-", "-", 1, p50 / 1000, p99 / 1000, w }'
    for n in "${COALESCE_CLIENTS[@]}"; do
        line=${RES[coal-$n]}
        awk -v n="$n" -v r="$(kv "$line" rps)" -v d="$(kv "$line" duration_s)" \
            -v dev="${RES[coal-$n-dev]}" -v tx="${RES[coal-$n-tx]}" -v co="${RES[coal-$n-co]}" \
            -v req="${RES[coal-$n-req]}" -v p50="$(kv "$line" p50_us)" \
            -v p99="$(kv "$line" p99_us)" -v w="$(kv "$line" wrong)" 'BEGIN {
            if (d <= 0) d = 1;
            printf "%-10s %7d %12.1f %12.1f %12.1f %12.1f %10.2f %8.2f %8.2f %6d\n",
                   "proxy", n, r, dev / d, tx / d, co / d, (tx > 0 ? req / tx : 0),
                   p50 / 1000, p99 / 1000, w }'
    done
    echo "device tx/s: requests the simulator read (its --stats), per second of the run;"
    echo "proxy tx/s and coalesced/s: the backend's transactions and coalesced counters (SIGUSR1)"
    echo "before and after each run; req per tx: client requests per device transaction"
}

# ---- 5. the cost curve --------------------------------------------------------

# cost_run N K: one fresh proxy, N clients; prints one row, fills RES[cost-N-K-*]
cost_run() {
    local n=$1 k=$2 tag="cost-$1-$2" line rss0 rss t0 t1 ta tb wa wb ra rb_ base_fds i lg
    start_proxy "$tag"
    sleep 0.3
    rss0=$(rss_kb "$MUX_PID")
    base_fds=$(fd_count "$MUX_PID")
    t0=$(cpu_ticks "$MUX_PID")
    timeout 150 "$LOADGEN" --target "127.0.0.1:$MUX_PORT" --clients "$n" \
        --addr-mode distinct --duration "$DUR" --warmup 1 \
        >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
    lg=$!
    # the steady part: from 0.3 s into the measured window (all clients
    # connected, 1 s of warm-up) to 0.5 s before its end
    for ((i = 0; i < 600 && $(fd_count "$MUX_PID") < base_fds + n; i++)); do
        sleep 0.05
    done
    sleep 1.3
    wa=$(date +%s.%N)
    ta=$(cpu_ticks "$MUX_PID")
    usr1_stats "$tag"
    ra=$(kv "$(proxy_stats "$tag")" requests)
    sleep "$(awk -v d="$DUR" 'BEGIN { print (d > 1.2 ? d - 0.8 : 0.4) }')"
    wb=$(date +%s.%N)
    tb=$(cpu_ticks "$MUX_PID")
    usr1_stats "$tag"
    rb_=$(kv "$(proxy_stats "$tag")" requests)
    rss=$(rss_kb "$MUX_PID")
    wait "$lg" || true
    t1=$(cpu_ticks "$MUX_PID")
    stop_pid "$MUX_PID"
    line=$(grep -m1 '^clients=' "$WORK/$tag.out" || true)
    if [[ -z $line || $(kv "$line" wrong) != 0 || $(kv "$line" timeouts) != 0 ]]; then
        FAILED=1
        echo "  !! $tag: ${line:-no result}" >&2
    fi
    RES[$tag-cpu]=$(awk -v a="$ta" -v b="$tb" -v hz="$HZ" -v r="$((rb_ - ra))" \
        'BEGIN { printf "%.2f", (r > 0 ? (b - a) * 1e6 / hz / r : 0) }')
    RES[$tag-rps]=$(kv "$line" rps)
    RES[$tag-rss]=$(( (rss - rss0) * 1024 / n ))
    RES[$tag-kb]=$rss
    awk -v n="$n" -v k="$k" -v r="$(kv "$line" rps)" -v p50="$(kv "$line" p50_us)" \
        -v p99="$(kv "$line" p99_us)" -v a="$t0" -v b="$t1" -v hz="$HZ" \
        -v req="$(kv "$(proxy_stats "$tag")" requests)" -v rss0="$rss0" -v rss="$rss" \
        -v cpr="${RES[$tag-cpu]}" -v ta="$ta" -v tb="$tb" -v wa="$wa" -v wb="$wb" 'BEGIN {
        printf "%-8d %4d %10.1f %8.2f %8.2f %12.2f %12.2f %8.0f %% %10d %10.0f\n",
               n, k, r, p50 / 1000, p99 / 1000, cpr, (req > 0 ? (b - a) * 1e6 / hz / req : 0),
               (tb - ta) * 100 / hz / (wb > wa ? wb - wa : 1), rss, (rss - rss0) * 1024 / n }'
}

cost_curve() {
    local n k cpus rpss
    HZ=$(getconf CLK_TCK)
    section "5. cost curve: proxy CPU per request and memory per client (distinct registers, 0 ms device)"
    echo "$COST_REPEATS rounds over 1 to 10,000 clients, a fresh proxy for every run"
    start_sim cost
    printf '%-8s %4s %10s %8s %8s %12s %12s %10s %10s %10s\n' clients run "req/s" "p50 ms" \
        "p99 ms" "cpu/req us" "(whole run)" "proxy cpu" "VmRSS kB" "B/client"
    for ((k = 1; k <= COST_REPEATS; k++)); do
        for n in "${COST_CLIENTS[@]}"; do
            cost_run "$n" "$k"
        done
    done
    stop_pid "$SIM_PID"
    echo "cpu/req: the proxy's utime + stime (/proc/PID/stat) over the requests it counted"
    echo "(SIGUSR1), both over the same steady part of the measured window; (whole run): the"
    echo "same from before the clients connected to after they left (connects, warm-up and"
    echo "drain included). proxy cpu: share of one CPU in the steady part. VmRSS: at the end"
    echo "of the steady part; B/client: (that - the same fresh proxy's VmRSS before any client) / N."
    echo "-- per number of clients, over the $COST_REPEATS runs"
    printf '%-8s %14s %22s %12s\n' clients "median req/s" "cpu/req us median" "(min..max)"
    for n in "${COST_CLIENTS[@]}"; do
        cpus=() rpss=()
        for ((k = 1; k <= COST_REPEATS; k++)); do
            cpus+=("${RES[cost-$n-$k-cpu]}")
            rpss+=("${RES[cost-$n-$k-rps]}")
        done
        RES[cost-$n-cpu]=$(median "${cpus[@]}")
        RES[cost-$n-rss]=${RES[cost-$n-$COST_REPEATS-rss]}
        printf '%-8s %14s %22s %12s\n' "$n" "$(median "${rpss[@]}")" "${RES[cost-$n-cpu]}" \
            "($(printf '%s\n' "${cpus[@]}" | sort -g | head -1)..$(printf '%s\n' "${cpus[@]}" | sort -g | tail -1))"
    done
}

# ---- 6./7. the RS485 bus and the GivEnergy cache -------------------------------

other_benches() {
    local rc=0
    section "6. bus_bench.sh: RS485 bus utilisation (min_spacing_ms = 100)"
    bg_wait tests/bench/bus_bench.sh >"$WORK/bus.txt" 2>&1 || rc=$?
    cat "$WORK/bus.txt"
    ((rc == 0)) || { echo "  !! bus_bench.sh exited $rc" >&2; FAILED=1; }
    rc=0
    section "7. giv_bench.sh: GivEnergy register cache"
    bg_wait tests/bench/giv_bench.sh >"$WORK/giv.txt" 2>&1 || rc=$?
    cat "$WORK/giv.txt"
    ((rc == 0)) || { echo "  !! giv_bench.sh exited $rc" >&2; FAILED=1; }
}

# ---- 8. summary ---------------------------------------------------------------

rb() {          # NAME KEY: a value from run_bench.sh's line for run NAME
    kv "$(awk -v n="$1" '$1 == n { $1 = ""; print; exit }' "$WORK/run_bench.txt")" "$2"
}

summary() {
    local c1 c1000 n cpus rsss
    section "8. summary (ratios from this run)"
    touch "$WORK/run_bench.txt"
    grep -E '^(baseline|throughput|latency|memory|         the same)' "$WORK/run_bench.txt" || true
    awk -v p1="$(rb proxy-1 rps)" -v p10k="$(rb proxy-10000 rps)" -v p100="$(rb proxy-100 rps)" \
        -v l10k="$(rb proxy-10000 p50_us)" -v l10k99="$(rb proxy-10000 p99_us)" 'BEGIN {
        if (p1 > 0) printf "10,000 clients through the proxy: %.0f req/s = %.2f x one client through it, %.2f x 100 clients; p50 %.0f ms, p99 %.0f ms (each waits its turn)\n",
            p10k, p10k / p1, (p100 > 0 ? p10k / p100 : 0), l10k / 1000, l10k99 / 1000 }'
    c1=$(kv "${RES[coal-1]:-}" rps)
    c1000=$(kv "${RES[coal-1000]:-}" rps)
    awk -v d="$(kv "${RES[coal-direct-1]:-}" rps)" -v c1="$c1" -v c1000="$c1000" \
        -v dev="${RES[coal-1000-dev]:-0}" -v secs="$(kv "${RES[coal-1000]:-}" duration_s)" 'BEGIN {
        if (d > 0 && secs > 0) printf "coalescing, 5 ms device: 1000 clients get %.0f req/s = %.0f x what one client gets directly (%.0f), for %.0f device transactions/s\n",
            c1000, c1000 / d, d, dev / secs }'
    cpus=() rsss=()
    for n in "${COST_CLIENTS[@]}"; do
        [[ -n ${RES[cost-$n-cpu]:-} ]] || continue
        cpus+=("$n:${RES[cost-$n-cpu]}")
        rsss+=("$n:${RES[cost-$n-rss]}")
    done
    if ((${#cpus[@]} > 0)); then
        echo "proxy CPU per request, median of the step 5 runs (clients:us): ${cpus[*]}"
        printf '%s\n' "${cpus[@]}" | awk -F: 'NR == 1 || $2 < lo { lo = $2; ln = $1 }
            NR == 1 || $2 > hi { hi = $2; hn = $1 }
            END { if (lo > 0) printf "  cost per request %s: the most (%s clients) / the least (%s clients) = %.2f\n",
                  (hi / lo <= 1.25 ? "stays flat (within 25 %)" : "does NOT stay flat"), hn, ln, hi / lo }'
        echo "proxy RSS per client under load (B, clients:B): ${rsss[*]}"
    fi
    SNAP_END=$(cpu_snapshot)
    echo "CPU use during the whole report: $(cpu_share "$SNAP_BEGIN" "$SNAP_END") (niced: other work, e.g. fuzzers)"
    echo "load average before: $LOAD_BEFORE; after: $(loadavg)"
    echo "other processes using CPU at the end: $(busy_others)"
    echo "wall time: $(($(date +%s) - T_BEGIN)) s"
}

main() {
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    local step
    LOAD_BEFORE=$(loadavg)
    SNAP_BEGIN=$(cpu_snapshot)
    echo "== modbus-mux benchmark report"
    for step in ${REPORT_STEPS:-machine bench noise coalescing cost_curve other_benches summary}; do
        "$step"
    done
    if ((FAILED)); then
        echo "report: some step FAILED (see the messages above)" >&2
        exit 1
    fi
}

main "$@"
