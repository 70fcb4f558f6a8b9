#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo: builds modbus-mux if needed, starts the TCP simulator (a
# "Sigenergy plant" that wants 1000 ms between requests) on a free port,
# and runs the proxy in front of it on 127.0.0.1:5020 with conf/demo.ini.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x build/modbus-mux ] || [ ! -x build/tests/sim/tcp_slave ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j"$(nproc)" --target modbus-mux tcp_slave >/dev/null
fi

work=$(mktemp -d /tmp/modbus-mux-demo.XXXXXX)
sim_pid=
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

build/tests/sim/tcp_slave --listen 127.0.0.1:0 --units 1,2,247 \
    --min-gap-ms 1000 --stats "$work/sim.stats" >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
    grep -q '^PORT ' "$work/sim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err"; exit 1; }
    sleep 0.05
done
port=$(awk '/^PORT /{print $2}' "$work/sim.out")
sed "s/@SIM_PORT@/$port/" conf/demo.ini >"$work/demo.ini"

cat <<EOT
modbus-mux demo: proxy on 127.0.0.1:5020 -> simulated plant on 127.0.0.1:$port
Try, in other terminals (several at once: the plant still sees >= 1000 ms
between requests, so give clients a timeout longer than that: -o 5):
  mbpoll -m tcp -p 5020 -o 5 -a 1 -t 4 -r 1 -c 4 127.0.0.1      # unit 1 -> plant (247)
  mbpoll -m tcp -p 5020 -o 5 -a 2 -t 3 -r 1 -c 2 127.0.0.1      # unit 2 -> inverter 1
  mbpoll -m tcp -p 5020 -o 5 -a 9 -t 4 -r 1 -c 1 -1 127.0.0.1   # no route: 0x0A
The simulator counts requests that came too early: cat $work/sim.stats
Ctrl-C stops everything.
EOT
build/modbus-mux -c "$work/demo.ini" &
mux_pid=$!
trap 'kill -TERM $mux_pid 2>/dev/null' INT TERM
wait "$mux_pid" || true
wait "$mux_pid" 2>/dev/null || true
echo "requests that came too early at the plant: $(awk '/^early /{print $2}' "$work/sim.stats")"
