#!/usr/bin/env bash
# CPU per scrape as one Prometheus sees it: one sequential client over a kept-alive connection,
# SCRAPES scrapes, the server's user + system CPU time (from /proc/PID/stat) divided by them.
# In the same run:
#   - the floor: examples/read_floor.rs, the same kernel reads as the host collectors hale had
#     before drop-in parity (ORIGINAL below), in a tight loop;
#   - hale and Debian's node_exporter with those collectors (the same filters);
#   - hale with every default collector (docker off: no engine is needed here) and
#     node_exporter with every default collector.
# Targets (issue 14): hale on the original collectors within 1.3x of the floor; hale with its
# defaults at most 1/4 of node_exporter's with its defaults.
#
#   bench/cpu.sh                 # 2000 scrapes each
#   SCRAPES=5000 bench/cpu.sh
#
# Needs: cargo, python3, prometheus-node-exporter (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

SCRAPES=${SCRAPES:-2000}
PORT=${PORT:-19941}
ORIGINAL="cpu meminfo filesystem diskstats netdev loadavg stat time vmstat filefd uname"
need python3 prometheus-node-exporter curl
cargo build --release --quiet
cargo build --release --quiet --example read_floor

MP_EXCLUDE='^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)'
FS_EXCLUDE='^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$'
ne_filters=(--collector.filesystem.mount-points-exclude="$MP_EXCLUDE" --collector.filesystem.fs-types-exclude="$FS_EXCLUDE"
  --collector.netdev.device-exclude='^veth' --no-collector.netdev.netlink --collector.netclass.ignored-devices='^veth')

# per_scrape CMD...: starts the server on $PORT, scrapes it $SCRAPES times in sequence after a
# warm-up, stops it, prints its CPU µs per scrape.
per_scrape() {
  "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_up "http://127.0.0.1:$PORT/metrics"
  cpu_per_scrape "$pid" "$PORT" "$SCRAPES"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

hale=(target/release/hale --web.listen-address="127.0.0.1:$PORT" --log.level=warn --no-collector.docker)
ne=(prometheus-node-exporter --web.listen-address="127.0.0.1:$PORT" "${ne_filters[@]}")
only=(--collector.disable-defaults)
for c in $ORIGINAL; do only+=("--collector.$c"); done

floor=$(target/release/examples/read_floor "$SCRAPES")
hale_orig=$(per_scrape "${hale[@]}" "${only[@]}")
ne_orig=$(per_scrape "${ne[@]}" "${only[@]}")
hale_all=$(per_scrape "${hale[@]}")
ne_all=$(per_scrape "${ne[@]}")

echo "CPU per scrape, one sequential client, $SCRAPES scrapes (µs):"
echo "  floor (same reads, tight loop)         $floor"
echo "  hale, original collectors              $hale_orig  ($(python3 -c "print(f'{$hale_orig/$floor:.2f}')")x the floor)"
echo "  node_exporter, the same collectors     $ne_orig"
echo "  hale, every default collector          $hale_all"
echo "  node_exporter, every default collector $ne_all  (hale uses $(python3 -c "print(f'{$hale_all/$ne_all:.2f}')") of it)"
