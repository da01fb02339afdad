# Helpers shared by the benchmark scripts; sourced, not run.

# wrk_ms PERCENT: a latency percentile ("99%", "50%") of wrk --latency output on stdin, in ms.
wrk_ms() {
  awk -v p="$1" '$1==p {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'
}

# wrk_rps: requests/second of wrk output on stdin.
wrk_rps() { awk '/^Requests\/sec:/ {print $2}'; }

# wait_up URL: wait up to 10 s for URL to answer 2xx, or stop the script.
wait_up() {
  for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "bench: $1 did not answer" >&2
  exit 1
}

# rss_kib PID, hwm_kib PID: resident and peak resident memory.
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# need TOOL...: stop the script unless every tool is on PATH.
need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (run scripts/test.sh or apt-get install $tool)" >&2; exit 1; }
  done
}
