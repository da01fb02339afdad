#!/usr/bin/env bash
# Scrape throughput, latency and memory: hale vs Debian's node_exporter, same collectors, same
# filters, one after the other on loopback under wrk. Prints scrapes/second, p99 latency and RSS
# for each, and the ratios. Target (issue 2): hale >= 10x node_exporter's scrapes/second with
# <= 1/3 of its RSS.
#
#   bench/scrape.sh                 # 20 s per server, 8 connections
#   DURATION=60s CONNECTIONS=16 bench/scrape.sh
#
# Needs: cargo, wrk, prometheus-node-exporter (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
HALE_PORT=${HALE_PORT:-19929}
NE_PORT=${NE_PORT:-19100}
COLLECTORS="cpu meminfo filesystem diskstats netdev loadavg stat time filefd uname"

need wrk prometheus-node-exporter

cargo build --release --quiet
HALE=target/release/hale

# The same filters for both: hale's defaults, spelled out for node_exporter.
MP_EXCLUDE='^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)'
FS_EXCLUDE='^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$'
NET_EXCLUDE='^veth'

ne_args=(--web.listen-address="127.0.0.1:$NE_PORT" --collector.disable-defaults
  --collector.filesystem.mount-points-exclude="$MP_EXCLUDE" --collector.filesystem.fs-types-exclude="$FS_EXCLUDE"
  --collector.netdev.device-exclude="$NET_EXCLUDE" --no-collector.netdev.netlink)
hale_args=(--web.listen-address="127.0.0.1:$HALE_PORT" --collector.disable-defaults --log.level=warn)
for c in $COLLECTORS; do ne_args+=("--collector.$c"); hale_args+=("--collector.$c"); done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

prometheus-node-exporter "${ne_args[@]}" 2>/dev/null & pids+=($!); NE_PID=$!
"$HALE" "${hale_args[@]}" & pids+=($!); HALE_PID=$!

wait_up "http://127.0.0.1:$NE_PORT/metrics"
wait_up "http://127.0.0.1:$HALE_PORT/metrics"

series() { curl -s "$1" | grep -v '^#' | grep -Ev '^(go_|process_|promhttp_|node_exporter_|node_scrape_|hale_)' | wc -l; }

run() { # name url connections -> "rps p99_ms"
  local out threads=$THREADS
  [ "$3" -lt "$threads" ] && threads=$3
  curl -s -o /dev/null "$2"   # warm-up
  out=$(wrk -t"$threads" -c"$3" -d"$DURATION" --latency "$2")
  local rps p99 errors
  rps=$(wrk_rps <<<"$out")
  p99=$(wrk_ms 99% <<<"$out")
  errors=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  [ -n "$errors" ] && echo "bench: $1 answered $errors non-2xx responses" >&2
  echo "$rps $p99"
}

echo "series per scrape (host families only): node_exporter $(series "http://127.0.0.1:$NE_PORT/metrics"), hale $(series "http://127.0.0.1:$HALE_PORT/metrics")"
report() { # connections
  local c=$1 ne_rps ne_p99 h_rps h_p99
  echo
  echo "== $c connection(s), $DURATION per server, on $(nproc) cores"
  read -r ne_rps ne_p99 < <(run node_exporter "http://127.0.0.1:$NE_PORT/metrics" "$c")
  read -r h_rps h_p99 < <(run hale "http://127.0.0.1:$HALE_PORT/metrics" "$c")
  printf '%-14s %12s %10s %12s %12s\n' server scrapes/s p99_ms rss_kib peak_rss_kib
  printf '%-14s %12s %10s %12s %12s\n' node_exporter "$ne_rps" "$ne_p99" "$(rss_kib "$NE_PID")" "$(hwm_kib "$NE_PID")"
  printf '%-14s %12s %10s %12s %12s\n' hale "$h_rps" "$h_p99" "$(rss_kib "$HALE_PID")" "$(hwm_kib "$HALE_PID")"
  awk -v a="$h_rps" -v b="$ne_rps" -v pa="$h_p99" -v pb="$ne_p99" 'BEGIN {
    printf "throughput hale/node_exporter: %.1fx (target >= 10x); p99 node_exporter/hale: %.1fx\n", a/b, pb/pa }'
}

report "$CONNECTIONS"
report 1
echo
awk -v c="$(hwm_kib "$HALE_PID")" -v d="$(hwm_kib "$NE_PID")" 'BEGIN {
  printf "peak RSS over the whole run: hale %d KiB, node_exporter %d KiB, ratio %.2f (target <= 0.33)\n", c, d, c/d }'
