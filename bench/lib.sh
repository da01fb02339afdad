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

# cpu_per_scrape PID PORT N: scrapes http://127.0.0.1:PORT/metrics N times in sequence over one
# kept-alive connection (after 50 to warm up), as one Prometheus does, and prints the server's
# user + system CPU time per scrape from /proc/PID/stat, in µs.
cpu_per_scrape() {
  python3 - "$1" "$2" "$3" <<'PY'
import http.client, os, sys
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
c = http.client.HTTPConnection("127.0.0.1", port)
def scrape():
    c.request("GET", "/metrics")
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
for _ in range(50):
    scrape()
start = cpu()
for _ in range(n):
    scrape()
print(f"{(cpu() - start) / n * 1e6:.0f}")
PY
}
