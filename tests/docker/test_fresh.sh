#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command on a truly fresh machine: a bare Debian 12
# container (the debootstrap minbase image of test_image.sh: no compiler,
# no libraries, no cmake) gets a copy of this checkout and runs ./demo.sh,
# which must install what it lacks, build, and start the proxy in front of
# the simulators; then Modbus reads through the demo's proxy, from inside
# the container, must answer with the simulated devices' values, and
# stopping it (SIGTERM, like Ctrl-C) must stop it all.
#
# Prints "SKIP: <reason>" and exits 0 where podman cannot run a container
# (see tests/docker/podman.sh). Takes 2 to 4 minutes, most of it apt-get
# and the build inside the container.
#
# Environment:
#   MUX_DOCKER_BASE   base image (default localhost/debian:bookworm-slim,
#                     made with debootstrap when missing)
#   DEBIAN_MIRROR     for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/../.."

t_start=$SECONDS
base=${MUX_DOCKER_BASE:-localhost/debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
name=mmfresh-$$
work=$(mktemp -d /tmp/modbus-mux-fresh.XXXXXX)
started=no

say() { printf '== %s\n' "$*"; }
skip() { echo "SKIP: $*"; exit 0; }
fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/*.log; do
        [ -s "$f" ] || continue
        echo "---- $(basename "$f")" >&2
        tail -n 40 "$f" >&2
    done
    exit 1
}
cleanup() {
    set +e
    [ "$started" = no ] || pm rm -f -t 0 "$name" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# shellcheck source=tests/docker/podman.sh
. tests/docker/podman.sh

# ---- the checkout: what a clone has (tracked files, and new ones not
# ignored), never the build directories ------------------------------------
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c '[ -e "$1" ] && printf "%s\0" "$1"' _ {} \
        | tar --null -T - -cf "$work/src.tar"
else
    tar --exclude='./build*' -cf "$work/src.tar" .
fi
chmod 644 "$work/src.tar"

# ---- what runs inside: ./demo.sh from nothing, then the client ----------
cat >"$work/inside.sh" <<'EOF'
set -eu
SECONDS=0
log=/out/demo.log
mkdir /src && tar -C /src -xf /out/src.tar && cd /src
for tool in gcc cmake pkg-config mbpoll; do
    if command -v "$tool" >/dev/null; then
        echo "not a fresh machine: $tool is installed already"; exit 1
    fi
done
./demo.sh >"$log" 2>&1 </dev/null &
demo=$!
# apt-get and the build first: up to 15 minutes on a slow mirror.
i=0
until grep -q 'listening on 127.0.0.1:5020' "$log" 2>/dev/null; do
    kill -0 "$demo" 2>/dev/null || { echo "demo.sh exited before the proxy listened"; exit 1; }
    i=$((i + 1)); [ "$i" -lt 1800 ] || { echo "the proxy never listened"; exit 1; }
    sleep 0.5
done
echo "demo up after $SECONDS s"
# read ADDR-ARGS EXPECTED: mbpoll through the proxy until it answers (the
# backends may still be connecting), then compare the values.
read_regs() {
    want=$1; shift
    i=0
    until mbpoll -m tcp -p 5020 -o 5 -1 "$@" 127.0.0.1 >/out/mbpoll.log 2>&1; do
        i=$((i + 1)); [ "$i" -lt 30 ] || { echo "no answer: $*"; cat /out/mbpoll.log; exit 1; }
        sleep 0.5
    done
    got=$(awk '/^\[[0-9]+\]:/{printf "%s%s", sep, $2; sep=" "}' /out/mbpoll.log)
    echo "mbpoll $*: $got"
    [ "$got" = "$want" ] || { echo "expected $want"; exit 1; }
}
# The plant (unit 1 -> its unit 247): holding register a = 247 * 1000 + a,
# modulo 2^16 (tests/sim/sim_map.h).
read_regs "50393 50394" -a 1 -t 4 -r 1 -c 2 -0
# The EV charger on the RS485 pty bus (unit 10 -> bus address 1): input
# register a = 1 * 1000 + a + 0x8000.
read_regs "33768 33769" -a 10 -t 3 -r 0 -c 2 -0
# A GivTCP-like client on the demo's GivEnergy listener: every bank
# answered with the right values and serials.
i=0
until build/tests/sim/giv_client --port 8899 --rounds 1 --banks 11:4:0:60,11:3:0:60 \
        --stats /out/giv_client.stats >/out/giv_client.log 2>&1 &&
      grep -q '^answered=2$' /out/giv_client.stats; do
    i=$((i + 1)); [ "$i" -lt 10 ] || { echo "the GivEnergy listener did not answer"; cat /out/giv_client.log; exit 1; }
    sleep 0.5
done
grep -q '^mismatches=0$' /out/giv_client.stats \
    || { echo "the GivEnergy listener answered wrong values"; cat /out/giv_client.log; exit 1; }
echo "giv_client on 127.0.0.1:8899: $(cat /out/giv_client.log)"
# SIGTERM, as Ctrl-C's SIGINT is ignored by a job started in the background
# of a script; demo.sh stops both the same way.
kill -TERM "$demo"
i=0
while kill -0 "$demo" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "demo.sh did not stop within 10 s"; exit 1; }
    sleep 0.1
done
grep -q 'info stopped' "$log" || { echo "the proxy did not stop cleanly"; exit 1; }
echo "demo.sh stopped on SIGTERM, the proxy logged 'stopped'"
EOF
chmod 644 "$work/inside.sh"

say "./demo.sh in a fresh $base container (apt-get and a build: a few minutes)"
started=yes
PM_TIMEOUT=1200 pm run --name "$name" "${run_flags[@]}" --network=host \
    -v "$work:/out" "$base" bash /out/inside.sh >"$work/container.log" 2>&1 \
    || fail "the demo did not come up and answer in a fresh container"
cat "$work/container.log"
grep -m 1 'installing' "$work/demo.log" \
    || fail "demo.sh did not say what it installs"
echo "PASS: demo on a fresh Debian 12 container ($((SECONDS - t_start)) s)"
