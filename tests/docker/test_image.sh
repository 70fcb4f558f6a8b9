#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the Docker image (docker/Dockerfile) with podman and run it for real:
# a Modbus request answered through the container, the process's user, the
# file capability for port 502, /healthz and the HEALTHCHECK (when the build
# has the HTTP endpoint), and a clean exit 0 on SIGTERM.
#
# Prints "SKIP: <reason>" and exits 0 where podman cannot run a container
# (not installed, not root, no runc, no base image and no debootstrap).
# Needs: podman runc debootstrap (first run only) mbpoll, and
# build/tests/sim/tcp_slave and rtu_slave (built here if missing; without
# rtu_slave the serial port is not tried).
# Takes ~4 s when nothing changed, ~10 s after a source change (the build
# stage's apt layer is cached), ~65 s from nothing (debootstrap ~27 s,
# build ~30 s).
#
# Environment:
#   MUX_DOCKER_BASE   base image (default localhost/debian:bookworm-slim,
#                     made with debootstrap when missing; give
#                     docker.io/library/debian:bookworm-slim where a
#                     registry is reachable)
#   MUX_DOCKER_IMAGE  tag to build (default localhost/modbus-mux:test)
#   DEBIAN_MIRROR     for debootstrap (default http://deb.debian.org/debian)
#   BUILD_DIR         where tcp_slave is built (default build)
#   MUX_DOCKER_NETWORK=host  skip the bridge network, use the host's
set -euo pipefail
cd "$(dirname "$0")/../.."

t_start=$SECONDS
base=${MUX_DOCKER_BASE:-localhost/debian:bookworm-slim}
image=${MUX_DOCKER_IMAGE:-localhost/modbus-mux:test}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
build_dir=${BUILD_DIR:-build}
tag=mmtest-$$
work=$(mktemp -d /tmp/modbus-mux-docker.XXXXXX)
containers=()
sim_pid=
rtu_pid=

say() { printf '== %s\n' "$*"; }
skip() { echo "SKIP: $*"; exit 0; }
fail() {
    local c
    echo "FAIL: $*" >&2
    for c in "${containers[@]}"; do
        pm logs "$c" >"$work/container-$c.log" 2>&1 || true
    done
    for f in "$work"/*.log; do
        [ -s "$f" ] || continue
        echo "---- $(basename "$f")" >&2
        tail -n 40 "$f" >&2
    done
    exit 1
}
cleanup() {
    local c p
    set +e
    for c in "${containers[@]}"; do
        pm rm -f -t 0 "$c" >/dev/null 2>&1
    done
    for p in $sim_pid $rtu_pid; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ---- can podman run a container here? -----------------------------------
# shellcheck source=tests/docker/podman.sh
. tests/docker/podman.sh
command -v mbpoll >/dev/null || skip "mbpoll is not installed"

# ---- the simulator ------------------------------------------------------
sim=$build_dir/tests/sim/tcp_slave
if [ ! -x "$sim" ]; then
    say "building $sim"
    [ -f "$build_dir/CMakeCache.txt" ] \
        || cmake -S . -B "$build_dir" >"$work/cmake.log" 2>&1 \
        || fail "cmake configure failed"
    cmake --build "$build_dir" --target tcp_slave rtu_slave >"$work/cmake.log" 2>&1 \
        || fail "cannot build the simulators"
fi

# ---- build --------------------------------------------------------------
say "building $image from $base"
old_id=$(pm image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
t0=$SECONDS
PM_TIMEOUT=500 pm build --format docker --network=host \
    --build-arg BASE="$base" -f docker/Dockerfile -t "$image" . \
    >"$work/build.log" 2>&1 || fail "podman build failed"
new_id=$(pm image inspect --format '{{.Id}}' "$image")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    pm rmi "$old_id" >/dev/null 2>&1 || true   # keep the store from growing
fi
size=$(pm image inspect --format '{{.Size}}' "$image")
echo "built in $((SECONDS - t0)) s, $((size / 1000000)) MB"

# ---- helpers ------------------------------------------------------------
# wait_log CONTAINER REGEX SECONDS: until the container's log matches; fails
# at once if the container stops.
wait_log() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        if pm logs "$1" 2>&1 | grep -Eq "$2"; then
            return 0
        fi
        if [ "$(pm inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" != true ]; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}
# http_status HOST PORT PATH: the status code of a GET, or "none".
http_status() {
    local code
    code=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$3" >&3
        read -r _ code _ <&3 && echo "$code"' _ "$1" "$2" "$3" 2>/dev/null) \
        || code=none
    echo "${code:-none}"
}
# free_port: a TCP port nothing listens on, on 127.0.0.1.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
# write_ini FILE LISTEN HTTP_LISTEN BACKEND_HOST: the simulator as unit 1,
# and the RS485 bus (when there is one) as unit 2.
write_ini() {
    {
        printf '[server]\nlisten = %s\n' "$2"
        [ -z "$3" ] || printf 'http_listen = %s\n' "$3"
        printf 'request_timeout_ms = 3000\n\n'
        printf '[backend sim]\ntype = tcp\nhost = %s\nport = %s\n' "$4" "$sim_port"
        printf 'connect_timeout_ms = 1000\n\n'
        [ -z "$pts" ] || printf '[backend bus]\ntype = rtu\ndevice = /dev/ttyUSB0\n\n'
        printf '[route]\n1 = sim\n'
        [ -z "$pts" ] || printf '2 = bus:1\n'
    } >"$1"
    chmod 644 "$1"
}
# modbus PORT UNIT: read holding registers 1-2 of UNIT through the proxy;
# both simulators give sim_holding(1, addr) = 1000 + addr.
modbus() {
    timeout 10 mbpoll -m tcp -p "$1" -o 2 -a "$2" -t 4 -r 1 -c 2 -0 -1 127.0.0.1 \
        >"$work/mbpoll.log" 2>&1 || return 1
    grep -Eq '^\[1\]:[[:space:]]+1001$' "$work/mbpoll.log" \
        && grep -Eq '^\[2\]:[[:space:]]+1002$' "$work/mbpoll.log"
}
answer() { awk '/^\[[12]\]:/{printf "%s%s", sep, $2; sep=" "}' "$work/mbpoll.log"; }
# start NAME INI ARGS...: run the image detached with INI as its
# configuration (and the serial port, if any).
start() {
    local name=$1 ini=$2
    shift 2
    containers+=("$name")
    pm run -d --name "$name" "${run_flags[@]}" "${serial_args[@]}" "$@" \
        -v "$ini:/etc/modbus-mux/modbus-mux.ini:ro" "$image" \
        >"$work/run-$name.log" 2>&1
}

# ---- the image as such: user, HTTP endpoint -----------------------------
ids=$(pm run --rm "${run_flags[@]}" --network=none --entrypoint id "$image" 2>/dev/null)
echo "image user: $ids"
case "$ids" in uid=0*) fail "the image runs as root" ;; esac
case "$ids" in *"(dialout)"*) ;; *) fail "the image user is not in group dialout" ;; esac

# Does this build have the HTTP endpoint? http_listen must be a known key
# and the binary must serve /healthz.
has_http=no
printf '[server]\nlisten = 127.0.0.1:0\nhttp_listen = 127.0.0.1:0\n[backend b]\ntype = tcp\nhost = 127.0.0.1\n[route]\n1 = b\n' \
    >"$work/http.ini"
chmod 644 "$work/http.ini"
if pm run --rm "${run_flags[@]}" --network=none \
        -v "$work/http.ini:/etc/modbus-mux/modbus-mux.ini:ro" "$image" \
        --check-config -c /etc/modbus-mux/modbus-mux.ini >/dev/null 2>&1 \
    && pm run --rm "${run_flags[@]}" --network=none --entrypoint grep "$image" \
        -q /healthz /usr/local/bin/modbus-mux >/dev/null 2>&1; then
    has_http=yes
fi

# ---- the simulators -------------------------------------------------------
# On all addresses: a container on the bridge reaches the host through the
# bridge's gateway (host.containers.internal), not through 127.0.0.1.
"$sim" --listen 0.0.0.0:0 --units 1 >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 100); do
    grep -q '^PORT ' "$work/sim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || fail "tcp_slave did not start"
    sleep 0.05
done
sim_port=$(awk '/^PORT /{print $2; exit}' "$work/sim.out")
[ -n "$sim_port" ] || fail "tcp_slave printed no PORT line"

# An RS485 bus: rtu_slave's pty, owned like a USB adapter (root:dialout
# 0660), at /dev/ttyUSB0 in the container. A pty cannot be recreated with
# mknod (podman --device), so it is bind-mounted with a device cgroup rule,
# as compose.yaml's variant for adapters that are unplugged and replugged.
pts=
serial_args=()
rtu=$build_dir/tests/sim/rtu_slave
if [ -x "$rtu" ]; then
    "$rtu" --link "$work/ttyUSB0" --unit 1:generic >"$work/rtu.out" 2>"$work/rtu.log" &
    rtu_pid=$!
    for _ in $(seq 100); do
        grep -q '^LINK ' "$work/rtu.out" 2>/dev/null && break
        kill -0 "$rtu_pid" 2>/dev/null || fail "rtu_slave did not start"
        sleep 0.05
    done
    pts=$(readlink -f "$work/ttyUSB0")
    [ -c "$pts" ] || fail "rtu_slave made no pty"
    chgrp 20 "$pts" && chmod 660 "$pts"
    serial_args=(-v "$pts:/dev/ttyUSB0"
        --device-cgroup-rule "c $((16#$(stat -c %t "$pts"))):$((16#$(stat -c %T "$pts"))) rw")
fi

# ---- run it: bridge network with published ports first ------------------
ctr=
mode=
http_port=
mb_port=
http_ini=
[ "$has_http" = no ] || http_ini=0.0.0.0:8502
write_ini "$work/bridge.ini" "0.0.0.0:502" "$http_ini" host.containers.internal
c=$tag-bridge
publish=(-p 127.0.0.1::502)
[ "$has_http" = no ] || publish+=(-p 127.0.0.1::8502)
bridge_why=
if [ "${MUX_DOCKER_NETWORK:-bridge}" = host ]; then
    bridge_why="MUX_DOCKER_NETWORK=host"
elif ! start "$c" "$work/bridge.ini" "${publish[@]}"; then
    bridge_why="podman run on the bridge failed: $(grep -v 'level=' "$work/run-$c.log" | tail -n 1)"
elif ! wait_log "$c" 'listening on 0\.0\.0\.0:502' 10; then
    fail "modbus-mux did not listen on port 502 as a non-root user"
elif ! wait_log "$c" 'B:sim: connected' 10; then
    bridge_why="the container cannot reach the simulator on the host"
else
    mb_port=$(pm port "$c" 502/tcp | sed -n 's/.*:\([0-9]*\)$/\1/p' | head -n 1)
    if [ -z "$mb_port" ] || ! modbus "$mb_port" 1; then
        bridge_why="no answer through the published port ${mb_port:-?}: $(tail -n 1 "$work/mbpoll.log" 2>/dev/null)"
    else
        ctr=$c
        mode="bridge network, published port 127.0.0.1:$mb_port -> 502"
        [ "$has_http" = no ] \
            || http_port=$(pm port "$c" 8502/tcp | sed -n 's/.*:\([0-9]*\)$/\1/p' | head -n 1)
    fi
fi
if [ -z "$ctr" ]; then
    pm logs "$c" >"$work/container-bridge.log" 2>&1 || true
    pm rm -f -t 0 "$c" >/dev/null 2>&1 || true
    echo "bridge network not used ($bridge_why); using --network=host"
    # Port 502 as non-root, in a network namespace of its own.
    write_ini "$work/cap.ini" "127.0.0.1:502" "" 127.0.0.1
    start "$tag-cap" "$work/cap.ini" --network=none \
        || fail "podman run --network=none failed"
    wait_log "$tag-cap" 'listening on 127\.0\.0\.1:502' 10 \
        || fail "modbus-mux did not listen on port 502 as a non-root user"
    pm rm -f -t 0 "$tag-cap" >/dev/null 2>&1 || true

    mb_port=$(free_port)
    http_env=()
    http_ini=
    if [ "$has_http" = yes ]; then
        http_port=$(free_port)
        http_ini=127.0.0.1:$http_port
        http_env=(-e "MODBUS_MUX_HTTP=$http_ini")
    fi
    write_ini "$work/host.ini" "127.0.0.1:$mb_port" "$http_ini" 127.0.0.1
    c=$tag-host
    start "$c" "$work/host.ini" --network=host "${http_env[@]}" \
        || fail "podman run --network=host failed"
    wait_log "$c" 'B:sim: connected' 10 \
        || fail "modbus-mux in the container did not connect to the simulator"
    modbus "$mb_port" 1 || fail "no Modbus answer on 127.0.0.1:$mb_port"
    ctr=$c
    mode="host network, 127.0.0.1:$mb_port"
fi
echo "network: $mode"
echo "modbus tcp: unit 1 holding registers 1-2 = $(answer) (expected 1001 1002)"

if [ -n "$pts" ]; then
    wait_log "$ctr" 'B:bus: connected' 10 \
        || fail "modbus-mux in the container cannot open the serial port"
    modbus "$mb_port" 2 || fail "no answer from the RS485 bus: $(tail -n 1 "$work/mbpoll.log")"
    echo "modbus rtu: unit 2 (/dev/ttyUSB0, group dialout) holding registers 1-2 = $(answer) (expected 1001 1002)"
else
    echo "modbus rtu: skipped: no $rtu"
fi

# ---- the process: user and capability -----------------------------------
status=$(pm exec "$ctr" cat /proc/1/status)
uid=$(awk '/^Uid:/{print $2}' <<<"$status")
capeff=$(awk '/^CapEff:/{print $2}' <<<"$status")
cmdline=$(pm exec "$ctr" cat /proc/1/cmdline | tr '\0' ' ')
echo "process: pid 1 uid $uid CapEff $capeff: $cmdline"
[ "$uid" != 0 ] || fail "modbus-mux runs as root in the container"
# bit 10: cap_net_bind_service, from the file capability (and nothing more)
[ "$((16#$capeff))" = 1024 ] \
    || fail "capabilities $capeff, expected cap_net_bind_service only (400)"
case "$cmdline" in /usr/local/bin/modbus-mux*) ;; *) fail "pid 1 is not modbus-mux" ;; esac

# ---- /healthz and the HEALTHCHECK --------------------------------------
if [ "$has_http" = yes ]; then
    code=$(http_status 127.0.0.1 "$http_port" /healthz)
    echo "healthz with every backend up: $code"
    [ "$code" = 200 ] || fail "/healthz answered $code with every backend up"
    pm healthcheck run "$ctr" >"$work/health.log" 2>&1 \
        || fail "the image's HEALTHCHECK fails with every backend up"
    echo "HEALTHCHECK: healthy"
    kill "$sim_pid"
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=
    for _ in $(seq 50); do
        code=$(http_status 127.0.0.1 "$http_port" /healthz)
        [ "$code" = 503 ] && break
        sleep 0.1
    done
    echo "healthz with the TCP backend down: $code"
    [ "$code" = 503 ] || fail "/healthz answered $code with a backend down"
    if pm healthcheck run "$ctr" >"$work/health.log" 2>&1; then
        fail "the image's HEALTHCHECK passes with a backend down"
    fi
    echo "HEALTHCHECK: unhealthy"
else
    echo "healthz: skipped: no http endpoint in this build"
fi

# ---- SIGTERM: clean stop, exit 0 -------------------------------------
t0=$(date +%s%N)
pm kill --signal TERM "$ctr" >/dev/null
rc=$(PM_TIMEOUT=15 pm wait "$ctr") || fail "the container did not stop within 15 s of SIGTERM"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "SIGTERM: exit $rc after $ms ms"
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
[ "$ms" -lt 5000 ] || fail "stopping took $ms ms"
pm logs "$ctr" 2>&1 | grep -q 'info stopped' || fail "no 'stopped' line in the log"

echo "PASS: docker image ($((SECONDS - t_start)) s)"
