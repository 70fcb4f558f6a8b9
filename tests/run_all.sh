#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every test, as CI runs them: a warning-free build with the unit and
# integration tests, the same tests under ASan/UBSan, then each fuzz target
# for about a minute, and the demo set up from nothing in a bare Debian 12
# container. About 15 minutes on 2 cores.
#
# On a fresh Debian 12 or Ubuntu 22.04+ machine it first installs the
# packages the tests need (scripts/install-deps.sh test: it says what, and
# uses sudo when not root); --no-install only prints the apt-get line and
# exits 1 if anything is missing.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 60; 0 skips fuzzing)
#   MUX_FRESH=0      skip the fresh-container demo (tests/docker/test_fresh.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

install_flag=
for arg in "$@"; do
    case "$arg" in
    --no-install) install_flag=--no-install ;;
    *) echo "usage: $0 [--no-install]" >&2; exit 2 ;;
    esac
done
echo "== packages (scripts/install-deps.sh test)"
scripts/install-deps.sh $install_flag test

echo "== build (-Wall -Wextra -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== the Docker image (podman; prints SKIP where it cannot run)"
tests/docker/test_image.sh
if [ "${MUX_FRESH:-1}" != 0 ]; then
    echo "== the demo on a fresh Debian 12 container (podman; SKIP where it cannot run)"
    tests/docker/test_fresh.sh
fi

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
