#!/usr/bin/env bash
# hale under load while a slowloris client holds connections: wrk scrapes /metrics and posts
# webhooks (each a new alert, recorded in the audit log) at high concurrency for a bounded
# time on loopback, while bench/slowloris.py keeps SLOW connections trickling headers. Reports
# throughput and latency, whether hale kept answering, its RSS before and after, and whether
# every webhook answered 202 is in the audit log (nothing lost).
#
#   bench/load.sh          # 20 s each; /metrics at 32 connections, the webhook at 64; 300 slow
#   DURATION=60s CONNECTIONS=128 SLOW=400 bench/load.sh
#
# /metrics is scraped below --web.max-requests (40, node_exporter's default): above it hale
# answers 503 at once by design, which would measure the refusal, not the scrape.
#
# Needs: cargo, wrk, curl, python3 (scripts/test.sh installs wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
METRICS_CONNECTIONS=${METRICS_CONNECTIONS:-32}
SLOW=${SLOW:-300}
PORT=${PORT:-19934}
WORK=$(mktemp -d)
need wrk curl python3
cargo build --release --quiet

# One client address for everything: lift the per-client webhook rate so wrk measures hale.
cat >"$WORK/hale.yml" <<YAML
web: {rate_limit: {webhook: {per_second: 0, burst: 0}}}
heal:
  auth: {bearer_token: bench-token}
  audit: {path: $WORK/heal.db}
  queue_size: 100000
  rules:
    - name: note
      match: {alertname: LoadAlert}
      action: exec
      argv: ['true']
      dry_run: true
YAML
cat >"$WORK/post.lua" <<'LUA'
-- Every request is a new alert (its own fingerprint), so each is decided and recorded.
local counter, id = 0, 0
function setup(thread) id = id + 1; thread:set("id", id) end
function init() id = wrk.thread:get("id") end
function request()
  counter = counter + 1
  local body = string.format('{"version":"4","status":"firing","receiver":"hale","alerts":[{"status":"firing","labels":{"alertname":"LoadAlert"},"startsAt":"2026-11-23T04:00:00Z","fingerprint":"t%d-%d"}]}', id, counter)
  return wrk.format("POST", nil, {["Authorization"] = "Bearer bench-token", ["Content-Type"] = "application/json"}, body)
end
LUA

target/release/hale --config "$WORK/hale.yml" --web.listen-address="127.0.0.1:$PORT" --log.level=error &
HALE_PID=$!
SLOW_PID=
trap 'kill $HALE_PID $SLOW_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_up "http://127.0.0.1:$PORT/metrics"
rss_before=$(rss_kib "$HALE_PID")

# The attacker is a client of its own (127.0.0.2): hale's per-client connection cap keeps it to
# a quarter of --web.max-connections, and wrk's connections (127.0.0.1) to theirs.
python3 bench/slowloris.py 127.0.0.1 "$PORT" "$SLOW" 2 127.0.0.2 >"$WORK/slowloris.out" &
SLOW_PID=$!
sleep 3

printf '%-10s %12s %10s %10s %10s\n' endpoint requests/s p50_ms p99_ms errors
out=$(wrk -t2 -c"$METRICS_CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$PORT/metrics")
errs=$(grep -oE 'Socket errors: .*|Non-2xx or 3xx responses: [0-9]+' <<<"$out" | tr '\n' ' ' || true)
printf '%-10s %12s %10s %10s %s\n' /metrics "$(wrk_rps <<<"$out")" "$(wrk_ms 50% <<<"$out")" "$(wrk_ms 99% <<<"$out")" "${errs:-0}"
out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/post.lua" "http://127.0.0.1:$PORT/webhook/alertmanager")
errs=$(grep -oE 'Socket errors: .*|Non-2xx or 3xx responses: [0-9]+' <<<"$out" | tr '\n' ' ' || true)
requests=$(awk '/requests in/ {print $1}' <<<"$out")
printf '%-10s %12s %10s %10s %s\n' webhook "$(wrk_rps <<<"$out")" "$(wrk_ms 50% <<<"$out")" "$(wrk_ms 99% <<<"$out")" "${errs:-0}"

# Still answering with the slow clients attached.
live=$(curl -s -o /dev/null -w '%{http_code} in %{time_total}s' "http://127.0.0.1:$PORT/health/live")
rss_after=$(rss_kib "$HALE_PID")
hwm=$(hwm_kib "$HALE_PID")
kill "$SLOW_PID"; wait "$SLOW_PID" 2>/dev/null || true; SLOW_PID=
# Every webhook request wrk completed was answered 202 (no non-2xx above) and must be a row.
rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from decisions').fetchone()[0])" "$WORK/heal.db")
echo "/health/live during the attack: $live"
cat "$WORK/slowloris.out"
echo "hale RSS: ${rss_before} KiB before, ${rss_after} KiB after, peak ${hwm} KiB"
echo "webhook requests completed by wrk: $requests; decisions in the audit log: $rows"
if [ "$rows" -lt "$requests" ]; then
  echo "bench: decisions were lost" >&2
  exit 1
fi
