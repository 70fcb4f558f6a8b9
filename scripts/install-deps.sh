#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one list of the Debian packages modbus-mux needs, by purpose, and
# their installation. demo.sh, tests/run_all.sh (and so .ci/run) and the
# Dockerfile's build stage call it, so the lists cannot drift apart.
#
#   scripts/install-deps.sh [--no-install] [--list] SET
#
# SET is one of:
#   image  what the Docker image's build stage needs (the binary only)
#   demo   the binary and the simulators (./demo.sh), and mbpoll to try it
#   test   everything tests/run_all.sh uses: the demo's, clang and its
#          sanitizer runtime (fuzzing), socat, promtool, chromium and
#          podman with runc and debootstrap (the image tests)
#
# Packages already installed are left alone; when nothing is missing it
# prints nothing and exits 0. Otherwise it says what it is about to install
# and runs apt-get (through sudo when not root). With --no-install, or
# where apt-get or sudo is missing, it prints the exact apt-get line and
# exits 1. --list prints the set's packages, one per line, and exits.
# Debian 12 and Ubuntu 22.04 or later; a package the system does not offer
# at all (chromium is a snap on Ubuntu) is left out with a warning, and the
# tests that need it say so.
#
# Environment: INSTALL_DEPS_EXTRA adds packages to the set (the tests use it
# to ask for one that does not exist).
set -euo pipefail

pkgs_image=(build-essential cmake pkg-config libuv1-dev libmodbus-dev
            libinih-dev libhttp-parser-dev libcap2-bin)
pkgs_demo=(build-essential cmake pkg-config libuv1-dev libmodbus-dev
           libinih-dev libhttp-parser-dev libcriterion-dev mbpoll)
pkgs_test=("${pkgs_demo[@]}" clang libclang-rt-14-dev socat prometheus
           chromium fonts-dejavu-core podman runc debootstrap)

usage() {
    echo "usage: $0 [--no-install] [--list] image|demo|test" >&2
    exit 2
}

install=yes
list=no
set_name=
for arg in "$@"; do
    case "$arg" in
    --no-install) install=no ;;
    --list) list=yes ;;
    image | demo | test) set_name=$arg ;;
    *) usage ;;
    esac
done
[ -n "$set_name" ] || usage
eval "want=(\"\${pkgs_${set_name}[@]}\")"
# shellcheck disable=SC2206  # a list of package names, split on blanks
want+=(${INSTALL_DEPS_EXTRA:-})

if [ "$list" = yes ]; then
    printf '%s\n' "${want[@]}"
    exit 0
fi

# installed PKG: true if dpkg has PKG installed.
installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
if command -v dpkg-query >/dev/null; then
    for p in "${want[@]}"; do
        installed "$p" || missing+=("$p")
    done
else
    missing=("${want[@]}")
fi
[ "${#missing[@]}" -gt 0 ] || exit 0

if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
line="${sudo:+sudo }apt-get install -y --no-install-recommends ${missing[*]}"
tell() {
    echo "modbus-mux needs these packages for '$set_name' (missing: ${#missing[@]}):" >&2
    echo "    ${sudo:+sudo }apt-get update" >&2
    echo "    $line" >&2
}
if [ "$install" = no ]; then
    tell
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "$0: apt-get not found: this is not a Debian or Ubuntu system." >&2
    tell
    exit 1
fi
if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
    echo "$0: not root and sudo not found." >&2
    tell
    exit 1
fi

echo "modbus-mux: installing ${#missing[@]} package(s) for '$set_name': ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Leave out what this system does not offer at all; apt-get would refuse
# the whole line for one of them.
# the libraries and tools without which nothing builds
required=" ${pkgs_image[*]} libcriterion-dev "
offered=()
lacking=()
for p in "${missing[@]}"; do
    cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/{print $2; exit}')
    if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
        offered+=("$p")
    elif [[ "$required" == *" $p "* ]]; then
        lacking+=("$p")
    else
        echo "$0: warning: $p is not available here; what needs it will say so" >&2
    fi
done
if [ "${#lacking[@]}" -gt 0 ]; then
    echo "$0: not available from this system's package sources: ${lacking[*]}" >&2
    exit 1
fi
if [ "${#offered[@]}" -gt 0 ]; then
    $sudo apt-get install -y -qq --no-install-recommends "${offered[@]}" >/dev/null
fi
echo "modbus-mux: packages installed"
