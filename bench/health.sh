#!/usr/bin/env bash
# /health under load: hale on defaults (every collector, the local Docker engine if any), wrk on
# loopback against /health, /health/ready and /health/live. /health answers from the last
# rendered sample, so this measures the HTTP path, not the host. Target (issue 4): p99 < 1 ms.
#
#   bench/health.sh                    # 10 s per endpoint, 8 connections then 1
#   DURATION=30s CONNECTIONS=16 bench/health.sh
#
# Needs: cargo, wrk, curl (scripts/test.sh installs wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
PORT=${PORT:-19932}
# One wrk thread by default: on a 2-core machine two wrk threads take both cores and the tail
# measured is hale waiting for a CPU, not hale (p99 3 ms with -t2 vs 0.2 ms with -t1 at -c8).
THREADS=${THREADS:-1}
need wrk
cargo build --release --quiet
target/release/hale --web.listen-address="127.0.0.1:$PORT" --log.level=error &
HALE_PID=$!
trap 'kill $HALE_PID 2>/dev/null || true' EXIT
wait_up "http://127.0.0.1:$PORT/health/live"
# Measure the document of a real sample, not the placeholder before the first one.
for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$PORT/health" | grep -q '"time"' && break
  sleep 0.1
done

printf '%-16s %12s %12s %10s %10s\n' endpoint connections requests/s p50_ms p99_ms
for path in /health /health/ready /health/live; do
  for c in "$CONNECTIONS" 1; do
    out=$(wrk -t"$THREADS" -c"$c" -d"$DURATION" --latency "http://127.0.0.1:$PORT$path")
    rps=$(wrk_rps <<<"$out")
    p50=$(wrk_ms 50% <<<"$out")
    p99=$(wrk_ms 99% <<<"$out")
    printf '%-16s %12s %12s %10s %10s\n' "$path" "$c" "$rps" "$p50" "$p99"
  done
done
echo "body: $(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$PORT/health") bytes; hale RSS $(rss_kib "$HALE_PID") KiB"
