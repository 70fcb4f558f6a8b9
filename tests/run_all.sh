#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every test, as CI runs them: a warning-free build with the unit and
# integration tests, the same tests under ASan/UBSan, then each fuzz target
# for about a minute. About 12 minutes on 2 cores.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 60; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== build (-Wall -Wextra -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== the Docker image (podman; prints SKIP where it cannot run)"
tests/docker/test_image.sh

echo "== build with AddressSanitizer and UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON -DWERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan/UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"

if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
    echo "== fuzzing, ${FUZZ_SECONDS:-60} s per target"
    tests/fuzz/run_fuzz.sh "${FUZZ_SECONDS:-60}"
fi
echo "== all tests passed"
