#!/usr/bin/env python3
"""One sweep = ask Docker's stats API once for every container, sequentially, over one keep-alive
connection to the engine's socket (stream=false; one-shot=true unless --sample, which is what
`docker stats --no-stream` and most docker exporters do: Docker then waits for a second CPU
sample). This is the per-scrape cost of an exporter that asks Docker at scrape time, which hale
does not. Prints: sweeps mean_ms p99_ms.

    bench/stats_api_sweep.py ROUNDS [--sample] ID...
"""
import http.client
import socket
import statistics
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def main():
    rounds = int(sys.argv[1])
    args = sys.argv[2:]
    one_shot = "false" if "--sample" in args else "true"
    ids = [a for a in args if a != "--sample"]
    conn = UnixConnection("/var/run/docker.sock")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for cid in ids:
            conn.request("GET", f"/containers/{cid}/stats?stream=false&one-shot={one_shot}")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                sys.exit(f"stats for {cid}: HTTP {resp.status}")
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{rounds} {statistics.mean(times):.2f} {p99:.2f}")


if __name__ == "__main__":
    main()
