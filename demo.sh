#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo: builds modbus-mux and the simulators if needed, starts a
# Sigenergy plant (Modbus TCP, 1000 ms between requests), an RS485 bus
# with an EV charger and a PV inverter (RTU on a pty, 1 s between
# requests) and a GivEnergy dongle (heartbeats, cloud polls copied to
# every client), then modbus-mux in front of all three on 127.0.0.1:5020
# (and, for GivTCP and the GivEnergy app, a dongle of its own on
# 127.0.0.1:8899) with its status page on http://127.0.0.1:8502/status.
# Ctrl-C stops all.
#
# On a fresh Debian 12 or Ubuntu 22.04+ machine it first installs the
# packages it lacks (scripts/install-deps.sh demo: it says what, and uses
# sudo when not root). With --no-install it only prints the apt-get line
# and exits 1 if anything is missing.
set -euo pipefail
cd "$(dirname "$0")"

install_flag=
for arg in "$@"; do
    case "$arg" in
    --no-install) install_flag=--no-install ;;
    -h | --help) sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--no-install]" >&2; exit 2 ;;
    esac
done
scripts/install-deps.sh $install_flag demo

# Incremental: quick when nothing changed, and never a stale binary.
echo "building modbus-mux and the simulators in build/ ..."
mkdir -p build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build/demo-build.log 2>&1 \
    && cmake --build build -j"$(nproc)" --target modbus-mux tcp_slave \
        rtu_slave giv_dongle giv_client >>build/demo-build.log 2>&1 \
    || { tail -n 30 build/demo-build.log >&2
         echo "demo: the build failed (see build/demo-build.log)" >&2; exit 1; }

work=$(mktemp -d /tmp/modbus-mux-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# wait_for FILE REGEX PID: poll until FILE has the line, or PID died.
wait_for() {
    for _ in $(seq 200); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { cat "$1" "$1.err" 2>/dev/null; exit 1; }
        sleep 0.05
    done
    echo "demo: $1 never said '$2'" >&2
    exit 1
}

build/tests/sim/tcp_slave --listen 127.0.0.1:0 --units 1,2,247 \
    --min-gap-ms 1000 --stats "$work/plant.stats" \
    >"$work/plant" 2>"$work/plant.err" &
pids+=($!)
wait_for "$work/plant" '^PORT ' $!
build/tests/sim/rtu_slave --link "$work/bus" --unit 1:evcharger \
    --unit 2:pvinverter --min-gap-ms 1000 --stats "$work/bus.stats" \
    >"$work/bus.out" 2>"$work/bus.err" &
pids+=($!)
wait_for "$work/bus.out" '^LINK ' $!
build/tests/sim/giv_dongle --listen 127.0.0.1:0 --heartbeat-ms 30000 \
    --cloud-ms 10000 --stats "$work/giv.stats" \
    >"$work/giv" 2>"$work/giv.err" &
pids+=($!)
wait_for "$work/giv" '^PORT ' $!

sed -e "s|@PLANT_PORT@|$(awk '/^PORT /{print $2}' "$work/plant")|" \
    -e "s|@BUS@|$work/bus|" \
    -e "s|@GIV_PORT@|$(awk '/^PORT /{print $2}' "$work/giv")|" \
    conf/demo.ini >"$work/demo.ini"

cat <<EOT
modbus-mux demo: 127.0.0.1:5020 in front of a Sigenergy plant (TCP), an RS485
bus with an EV charger and a PV inverter, and a GivEnergy dongle.
Status page: http://127.0.0.1:8502/status   (metrics: /metrics, health: /healthz)
Try, in other terminals (several at once; give clients a timeout above the
devices' 1 s spacing: -o 5):
  mbpoll -m tcp -p 5020 -o 5 -a 1 -t 4 -r 1 -c 4 127.0.0.1            # plant (unit 247)
  mbpoll -m tcp -p 5020 -o 5 -a 10 -t 3 -r 1 -c 4 -0 127.0.0.1        # EV charger, input regs 0..3
  mbpoll -m tcp -p 5020 -o 5 -a 11 -t 4 -r 0x1001 -c 2 -0 127.0.0.1   # PV inverter
  mbpoll -m tcp -p 5020 -o 5 -a 20 -t 3 -r 0 -c 60 -0 -1 127.0.0.1    # GivEnergy, from the cache
  mbpoll -m tcp -p 5020 -o 5 -a 10 -t 4 -r 0x0640 -0 -1 127.0.0.1 9   # refused: deny_write (0x02)
  mbpoll -m tcp -p 5020 -o 5 -a 99 -t 4 -r 1 -c 1 -1 127.0.0.1        # no route: 0x0A
GivEnergy programs (GivTCP, the GivEnergy app) go to 127.0.0.1:8899, as to a
dongle; a GivTCP-like client, three at once if you like:
  build/tests/sim/giv_client --port 8899 --rounds 3 --no-check
The simulators count requests that came too early: cat $work/*.stats
Ctrl-C stops everything.
EOT
build/modbus-mux -c "$work/demo.ini" &
mux_pid=$!
trap 'kill -TERM $mux_pid 2>/dev/null' INT TERM
wait "$mux_pid" || true
wait "$mux_pid" 2>/dev/null || true
echo "requests too early at the plant: $(awk '/^early /{print $2}' "$work/plant.stats"), on the bus: $(awk '/^early /{print $2}' "$work/bus.stats")"
