#!/usr/bin/env bash
# Probes during a connection flood (issue 13.9): hale with --web.max-connections=16 while one
# client address (127.0.0.2) holds 48 connections trickling headers (bench/slowloris.py). A
# probe from another address (127.0.0.1) asks /health/live REQUESTS times, one at a time;
# reported: its latency percentiles, and how many of the flood's connections hale closed.
# Before the per-client cap, the probe waited for a slot: p50 3.8 s.
#
#   bench/flood.sh
#   SLOW=200 MAX=64 bench/flood.sh
#
# Needs: cargo, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

SLOW=${SLOW:-48}
MAX=${MAX:-16}
REQUESTS=${REQUESTS:-50}
PORT=${PORT:-19935}
WORK=$(mktemp -d)
need curl python3
cargo build --release --quiet

target/release/hale --web.listen-address="127.0.0.1:$PORT" --log.level=error \
  --web.max-connections="$MAX" --collector.disable-defaults --collector.loadavg &
HALE_PID=$!
SLOW_PID=
trap 'kill $HALE_PID $SLOW_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_up "http://127.0.0.1:$PORT/health/live"
python3 bench/slowloris.py 127.0.0.1 "$PORT" "$SLOW" 2 127.0.0.2 >"$WORK/slowloris.out" &
SLOW_PID=$!
sleep 3
for _ in $(seq "$REQUESTS"); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 "http://127.0.0.1:$PORT/health/live"
done >"$WORK/probes"
kill "$SLOW_PID"; wait "$SLOW_PID" 2>/dev/null || true; SLOW_PID=
ok=$(grep -c '^200 ' "$WORK/probes" || true)
sort -k2 -n "$WORK/probes" | awk -v n="$REQUESTS" -v ok="$ok" '
  {t[NR]=$2*1000}
  END {printf "/health/live during the flood: %d of %d answered 200; p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", ok, n, t[int(NR*0.5)+1], t[int(NR*0.99)+ (NR*0.99>int(NR*0.99))], t[NR]}'
cat "$WORK/slowloris.out"
