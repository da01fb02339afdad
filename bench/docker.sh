#!/usr/bin/env bash
# Container scrape cost: hale's docker collector with 0, 10, 50 and 100 running containers.
# For each count it prints:
#   - hale's CPU per scrape as one Prometheus costs it (one sequential client, kept alive:
#     bench/lib.sh's cpu_per_scrape), against the read floor: examples/docker_read_floor.rs,
#     the same system calls on the same cgroup and /proc files in a tight loop (target, issue 14:
#     within 1.2x of it at 100 containers);
#   - scrapes/second, mean and p99 under wrk on one connection (every scrape a fresh collection);
#   - a sweep of Docker's stats API (one-shot, sequential, keep-alive: its best case), what an
#     exporter that asks Docker at scrape time pays for the same containers.
#
#   bench/docker.sh                          # 10 s of wrk and 300 CPU scrapes per count
#   DURATION=30s SCRAPES=1000 COUNTS="0 100 200" bench/docker.sh
#
# Needs: a running Docker engine, wrk, python3, busybox-static (scripts/test.sh sets them up).
# Creates containers labelled hale.bench=1 and removes them on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=${DURATION:-10s}
COUNTS=${COUNTS:-"0 10 50 100"}
PORT=${PORT:-19931}
ROUNDS=${ROUNDS:-3}   # stats API sweeps per count: each costs ~N seconds
SCRAPES=${SCRAPES:-300}
IMAGE=hale-test/busybox:1

need wrk docker python3 curl
docker version >/dev/null 2>&1 || { echo "bench: no Docker engine answers (start dockerd)" >&2; exit 1; }
IMAGE=$IMAGE scripts/test-image.sh
cargo build --release --quiet
cargo build --release --quiet --example docker_read_floor

config=$(mktemp)
trap 'rm -f "$config"; [ -n "${HALE_PID:-}" ] && kill "$HALE_PID" 2>/dev/null; docker ps -aq --filter label=hale.bench=1 | xargs -r docker rm -f >/dev/null' EXIT
printf 'docker:\n  include_labels: [hale.bench=1]\n' > "$config"

scale() { # n: make exactly n running bench containers
  local have
  have=$(docker ps -q --filter label=hale.bench=1 | wc -l)
  while [ "$have" -lt "$1" ]; do
    docker run -d --label hale.bench=1 --memory 32m "$IMAGE" sleep 1000000 >/dev/null
    have=$((have + 1))
  done
  if [ "$have" -gt "$1" ]; then
    docker ps -q --filter label=hale.bench=1 | tail -n +"$(($1 + 1))" | xargs -r docker rm -f >/dev/null
  fi
}


target/release/hale --web.listen-address="127.0.0.1:$PORT" --config="$config" \
  --collector.disable-defaults --collector.docker --log.level=warn &
HALE_PID=$!
url="http://127.0.0.1:$PORT/metrics"

printf '%-10s %10s %10s %8s %10s %10s %10s %12s %14s %14s\n' containers cpu_us floor_us ratio scrapes/s mean_ms p99_ms series stats_api_ms stats_p99_ms
for n in $COUNTS; do
  scale "$n"
  # Wait until hale's snapshot holds exactly n containers with resources (the root cgroup,
  # id="/", is the machine, not a container).
  for _ in $(seq 300); do
    got=$(curl -s "$url" | grep '^container_memory_usage_bytes{' | grep -vc 'id="/"' || true)
    [ "$got" -eq "$n" ] && break
    sleep 0.1
  done
  [ "$got" -eq "$n" ] || { echo "bench: hale shows $got containers, expected $n" >&2; exit 1; }
  series=$(curl -s "$url" | grep -vc '^#')
  pids=$(docker ps -q --filter label=hale.bench=1 | xargs -r docker inspect -f '{{.State.Pid}}')
  # Floor and hale one after the other, twice, each keeping its lower figure: this machine's
  # neighbours move either by 10-20% from one second to the next.
  floor="" cpu=""
  for _ in 1 2; do
    # shellcheck disable=SC2086
    f=$(target/release/examples/docker_read_floor "$SCRAPES" $pids)
    c=$(cpu_per_scrape "$HALE_PID" "$PORT" "$SCRAPES")
    { [ -z "$floor" ] || [ "$f" -lt "$floor" ]; } && floor=$f
    { [ -z "$cpu" ] || [ "$c" -lt "$cpu" ]; } && cpu=$c
  done
  ratio=$(awk -v c="$cpu" -v f="$floor" 'BEGIN {if (f > 0) printf "%.2f", c/f; else print "-"}')
  out=$(wrk -t1 -c1 -d"$DURATION" --latency "$url")
  rps=$(wrk_rps <<<"$out")
  p99=$(wrk_ms 99% <<<"$out")
  mean=$(awk -v r="$rps" 'BEGIN {printf "%.3f", 1000/r}')
  ids=$(docker ps -q --no-trunc --filter label=hale.bench=1)
  # shellcheck disable=SC2086
  read -r _ s_mean s_p99 < <(python3 bench/stats_api_sweep.py "$ROUNDS" $ids)
  printf '%-10s %10s %10s %8s %10s %10s %10s %12s %14s %14s\n' "$n" "$cpu" "$floor" "$ratio" "$rps" "$mean" "$p99" "$series" "$s_mean" "$s_p99"
done
echo "hale RSS after the run: $(rss_kib "$HALE_PID") KiB (peak $(hwm_kib "$HALE_PID") KiB)"
