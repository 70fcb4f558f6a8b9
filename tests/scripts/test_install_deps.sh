#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/install-deps.sh as the README promises it: nothing to do when
# everything is installed; with --no-install and a package missing, the
# exact apt-get line and exit 1, and the same through demo.sh and
# tests/run_all.sh before they build anything. (The real installation on
# a bare machine is tests/docker/test_fresh.sh.)
set -uo pipefail
cd "$(dirname "$0")/../.."
fails=0
check() {           # check WHAT CONDITION...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for set in image demo test; do
    scripts/install-deps.sh --list "$set" >"$out"
    check "--list $set names packages" grep -qx cmake "$out"
done
check "--list test includes the demo's" grep -qx mbpoll <(scripts/install-deps.sh --list test)
scripts/install-deps.sh bogus >/dev/null 2>&1
check "an unknown set is a usage error (2)" [ $? = 2 ]

missing=mux-no-such-package-$$
INSTALL_DEPS_EXTRA=$missing scripts/install-deps.sh --no-install demo >"$out" 2>&1
rc=$?
check "--no-install with a package missing exits 1" [ "$rc" = 1 ]
check "it prints the apt-get line" \
    grep -q "apt-get install -y --no-install-recommends .*$missing" "$out"
check "it lists only what is missing" \
    bash -c "! grep -q 'install .*cmake' '$out' || ! dpkg-query -W cmake >/dev/null 2>&1"

INSTALL_DEPS_EXTRA=$missing ./demo.sh --no-install >"$out" 2>&1 </dev/null
rc=$?
check "demo.sh --no-install stops with 1 before building" [ "$rc" = 1 ]
check "demo.sh prints the line" grep -q "apt-get install .*$missing" "$out"
INSTALL_DEPS_EXTRA=$missing tests/run_all.sh --no-install >"$out" 2>&1 </dev/null
rc=$?
check "run_all.sh --no-install stops with 1 before building" [ "$rc" = 1 ]
check "run_all.sh prints the line" grep -q "apt-get install .*$missing" "$out"

[ "$fails" = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all install-deps checks passed"
