#!/usr/bin/env bash
# The Alertmanager webhook under load: hale with one heal rule, wrk POSTing one payload over and
# over. The first delivery executes (a no-op `true`); every later one is Alertmanager's retry of
# the same firing, so it is decided `skipped_duplicate` and recorded, each answer only after its
# decision is committed to the SQLite WAL with synchronous=FULL (one fsync per request). This is
# the path an HA pair of Alertmanagers takes on every repeat. Target (issue 5): p99 < 5 ms.
#
#   bench/webhook.sh                  # 10 s at 1 connection, then 8
#   DURATION=30s AUDIT_DIR=/var/lib/hale bench/webhook.sh   # measure on the real disk
#
# Needs: cargo, wrk, curl (scripts/test.sh installs wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=${DURATION:-10s}
PORT=${PORT:-19933}
THREADS=${THREADS:-1}
WORK=$(mktemp -d)
AUDIT_DIR=${AUDIT_DIR:-$WORK}
need wrk curl
cargo build --release --quiet

# wrk is one client far over the default per-client webhook rate; the bench measures the
# receiver itself, so the limit is lifted.
cat >"$WORK/hale.yml" <<YAML
web: {rate_limit: {webhook: {per_second: 0, burst: 0}}}
heal:
  auth: {bearer_token: bench-token}
  audit: {path: $AUDIT_DIR/bench-heal.db}
  rules:
    - name: note
      match: {alertname: BenchAlert}
      action: exec
      argv: ['true']
YAML
cat >"$WORK/payload.json" <<'JSON'
{"version":"4","receiver":"hale","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"BenchAlert","instance":"host-1:9100","name":"web-1","severity":"critical"},"annotations":{"summary":"bench"},"startsAt":"2026-11-23T04:00:00.000Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"b3nchb3nchb3nch0"}],"groupLabels":{"alertname":"BenchAlert"},"commonLabels":{"alertname":"BenchAlert"},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","groupKey":"{}:{alertname=\"BenchAlert\"}","truncatedAlerts":0}
JSON
cat >"$WORK/post.lua" <<LUA
local f = io.open("$WORK/payload.json")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"
LUA

target/release/hale --config "$WORK/hale.yml" --web.listen-address="127.0.0.1:$PORT" \
  --log.level=error --collector.disable-defaults --collector.heal &
HALE_PID=$!
trap 'kill $HALE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_up "http://127.0.0.1:$PORT/metrics"
url="http://127.0.0.1:$PORT/webhook/alertmanager"
first=$(curl -s -H 'Authorization: Bearer bench-token' --data-binary @"$WORK/payload.json" "$url")
grep -q '"executed"' <<<"$first" || { echo "bench: first delivery was not executed: $first" >&2; exit 1; }

printf '%-12s %12s %10s %10s\n' connections requests/s p50_ms p99_ms
for c in 1 8; do
  out=$(wrk -t"$THREADS" -c"$c" -d"$DURATION" --latency -s "$WORK/post.lua" "$url")
  non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' <<<"$out" | grep -o '[0-9]*$' || echo 0)
  printf '%-12s %12s %10s %10s   non-2xx: %s\n' "$c" "$(wrk_rps <<<"$out")" "$(wrk_ms 50% <<<"$out")" "$(wrk_ms 99% <<<"$out")" "$non2xx"
done
dups=$(curl -s "http://127.0.0.1:$PORT/metrics" | grep 'result="skipped_duplicate"' | awk '{print $2}')
echo "skipped_duplicate decisions recorded: $dups; audit log on $(df --output=fstype "$AUDIT_DIR" | tail -1); hale RSS $(rss_kib "$HALE_PID") KiB"
