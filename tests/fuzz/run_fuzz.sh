#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run_fuzz.sh -- build the libFuzzer targets with clang and run each one for
# a bounded time on a scratch copy of its seed corpus (the committed corpus
# in tests/fuzz/corpus/ is never written to).
#
#   tests/fuzz/run_fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 60 per target; TARGET defaults to all of them.
# Environment: BUILD_DIR (default build-fuzz), FUZZ_ARGS (extra libFuzzer
# flags, e.g. "-max_len=512 -jobs=2"), KEEP=1 keeps the scratch directory.
# Exits 1 if any target crashed; the crashing input and the log are kept.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_mbap fuzz_pdu fuzz_cfg fuzz_rtu fuzz_giv fuzz_fe_giv fuzz_tigo fuzz_http}

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mux-fuzz.XXXXXX")

if ! cmake -S "$root" -B "$build" -DFUZZ=ON -DBUILD_TESTS=OFF \
        -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        >"$scratch/configure.log" 2>&1; then
    tail -20 "$scratch/configure.log"
    echo "run_fuzz: configure failed (log in $scratch)"
    exit 1
fi
# shellcheck disable=SC2086
if ! cmake --build "$build" -j"$(nproc)" --target $targets \
        >"$scratch/build.log" 2>&1; then
    grep -E "error|Error" "$scratch/build.log" | head -20
    echo "run_fuzz: build failed (log in $scratch)"
    exit 1
fi

failed=0
printf '%-12s %6s %12s %10s %6s %s\n' target secs execs execs/s cov result
for t in $targets; do
    work=$scratch/$t
    mkdir -p "$work/corpus"
    cp "$root/tests/fuzz/corpus/$t/"* "$work/corpus/" 2>/dev/null || true
    rc=0
    # shellcheck disable=SC2086
    "$build/tests/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$work/" ${FUZZ_ARGS:-} "$work/corpus" \
        >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
    cov=$(grep -oE 'cov: [0-9]+' "$work/log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $rc)"
        failed=1
    fi
    printf '%-12s %6s %12s %10s %6s %s\n' "$t" "$secs" "${execs:-?}" \
        "${rate:-?}" "${cov:-?}" "$result"
    if [ "$rc" -ne 0 ]; then
        grep -E "ERROR:|check failed|SUMMARY:|runtime error" "$work/log" |
            head -5 | sed 's/^/    /'
        for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
                 "$work"/oom-*; do
            [ -e "$a" ] && echo "    input: $a"
        done
        echo "    log:   $work/log"
    fi
done

if [ "$failed" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$scratch"
else
    echo "run_fuzz: scratch kept in $scratch"
fi
exit "$failed"
