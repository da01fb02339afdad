#!/usr/bin/env bash
# The landing page must not slow the webhook (issue 13.10): an audit log holding ROWS decisions
# made in the last 24 hours, four clients reading / as fast as they can, and at the same time
# one Alertmanager posting a repeat (recorded, one fsync each). Reported: the webhook's latency
# alone and with the readers, and what / costs. Before, with 500,000 rows, / took 0.15-0.19 s
# and four readers pushed the webhook's p50 from 1 ms to 0.6 s.
#
#   bench/landing.sh                      # 500,000 rows, 10 s
#   ROWS=2000000 DURATION=30s bench/landing.sh
#
# Needs: cargo, wrk, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

ROWS=${ROWS:-500000}
DURATION=${DURATION:-10s}
PORT=${PORT:-19936}
WORK=$(mktemp -d)
need wrk curl python3
cargo build --release --quiet

# Unauthenticated healing on loopback, so the landing page shows the recent decisions too.
cat >"$WORK/hale.yml" <<YAML
web: {rate_limit: {webhook: {per_second: 0, burst: 0}}}
heal:
  auth: {disabled: true}
  audit: {path: $WORK/heal.db}
  rules:
    - name: note
      match: {alertname: BenchAlert}
      action: exec
      argv: ['true']
YAML
cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"version":"4","status":"firing","receiver":"hale","alerts":[{"status":"firing","labels":{"alertname":"BenchAlert"},"startsAt":"2026-11-23T04:00:00Z","fingerprint":"landing-bench"}]}'
wrk.headers["Content-Type"] = "application/json"
LUA
start() {
  target/release/hale --config "$WORK/hale.yml" --web.listen-address="127.0.0.1:$PORT" \
    --log.level=error --collector.disable-defaults --collector.heal &
  HALE_PID=$!
  wait_up "http://127.0.0.1:$PORT/metrics"
}
start
trap 'kill $HALE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
kill "$HALE_PID"; wait "$HALE_PID" 2>/dev/null || true
# A day of decisions, spread over the last 24 hours.
python3 - "$WORK/heal.db" "$ROWS" <<'PY'
import sqlite3, sys, time, random
db, rows = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
now = time.time()
outcomes = ["executed", "succeeded", "failed", "skipped_duplicate", "skipped_cooldown", "denied"]
db.executemany(
    "INSERT INTO decisions (time, rule, alertname, fingerprint, target, action, outcome) VALUES (?,?,?,?,?,?,?)",
    ((now - random.random() * 86400, "note", "BenchAlert", f"fp{i}", f"t{i % 500}", "exec", random.choice(outcomes)) for i in range(rows)))
db.commit()
PY
start
url="http://127.0.0.1:$PORT/webhook/alertmanager"
curl -s -o /dev/null --data-binary '{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"BenchAlert"},"startsAt":"2026-11-23T04:00:00Z","fingerprint":"landing-bench"}]}' "$url"

printf '%-28s %12s %10s %10s\n' case requests/s p50_ms p99_ms
out=$(wrk -t1 -c1 -d"$DURATION" --latency -s "$WORK/post.lua" "$url")
printf '%-28s %12s %10s %10s\n' "webhook alone" "$(wrk_rps <<<"$out")" "$(wrk_ms 50% <<<"$out")" "$(wrk_ms 99% <<<"$out")"
wrk -t1 -c4 -d"$DURATION" --latency "http://127.0.0.1:$PORT/" >"$WORK/landing.out" &
READERS=$!
out=$(wrk -t1 -c1 -d"$DURATION" --latency -s "$WORK/post.lua" "$url")
wait "$READERS"
printf '%-28s %12s %10s %10s\n' "webhook, 4 readers on /" "$(wrk_rps <<<"$out")" "$(wrk_ms 50% <<<"$out")" "$(wrk_ms 99% <<<"$out")"
printf '%-28s %12s %10s %10s\n' "/ (4 connections)" "$(wrk_rps <"$WORK/landing.out")" "$(wrk_ms 50% <"$WORK/landing.out")" "$(wrk_ms 99% <"$WORK/landing.out")"
echo "audit log: $ROWS decisions in the last 24 h; hale RSS $(rss_kib "$HALE_PID") KiB"
