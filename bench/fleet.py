#!/usr/bin/env python3
"""Fleet simulation (issue 16): POLLERS hales in pull mode (collectors off) against one
clustered Alertmanager pair holding ALERTS active alerts, on this one machine.

Reported, over a WINDOW-second steady state:
  - each Alertmanager's CPU (cores) and its GET /api/v2/alerts and /api/v2/status latency
    (mean, from its own alertmanager_http_request_duration_seconds);
  - the pollers' CPU per poller (ms/s) and resident memory (mean and max);
  - then one new alert per host fires at once: the time from its startsAt to the action
    (an exec of /bin/true) recorded in each hale's audit log, p50 and p99.

  bench/fleet.sh                            # 500 pollers, 5000 alerts, 30 s interval
  POLLERS=100 INTERVAL=10 bench/fleet.sh
"""
import json, os, shutil, signal, socket, sqlite3, subprocess, sys, tempfile, threading, time
import urllib.parse, urllib.request

POLLERS = int(os.environ.get("POLLERS", "500"))
ALERTS = int(os.environ.get("ALERTS", "5000"))
INTERVAL = int(os.environ.get("INTERVAL", "30"))
WINDOW = int(os.environ.get("WINDOW", "60"))
HALE = os.path.abspath("target/release/hale")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def refused(port):
    """GETs Alertmanager refused past --web.get-concurrency (answered 503)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith('alertmanager_http_concurrency_limit_exceeded_total{method="get"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def sample_gets(port, host, seconds):
    """One extra poller's GET /api/v2/alerts (hale's query) every second: latencies in ms.
    (Alertmanager 0.25 does not time its API v2 handlers itself.)"""
    q = urllib.parse.urlencode([("active", "true"), ("silenced", "true"), ("inhibited", "true"),
                                ("unprocessed", "false"), ("filter", f'hale_host="{host}"')])
    out, refused = [], 0
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts?{q}", timeout=30).read()
            out.append((time.perf_counter() - t) * 1000)
        except urllib.error.HTTPError:
            refused += 1
        time.sleep(1.0)
    return sorted(out) or [float("nan")], refused


def main():
    work = tempfile.mkdtemp(prefix="hale-fleet-")
    procs = []

    def stop(*_):
        for p in procs:
            try:
                p.kill()
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(1)))
    try:
        run(work, procs)
    finally:
        stop()


def run(work, procs):
    am_config = os.path.join(work, "alertmanager.yml")
    open(am_config, "w").write("route: {receiver: hale, group_by: [hale_host]}\nreceivers: [{name: hale}]\n")
    web = [free_port(), free_port()]
    gossip = [free_port(), free_port()]
    ams = []
    for i in range(2):
        p = subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={am_config}",
             f"--storage.path={work}/am{i}", f"--web.listen-address=127.0.0.1:{web[i]}",
             f"--cluster.listen-address=127.0.0.1:{gossip[i]}", f"--cluster.peer=127.0.0.1:{gossip[1 - i]}",
             "--cluster.settle-timeout=2s", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        ams.append(p)
    for port in web:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
    hosts = [f"h{i}" for i in range(POLLERS)]
    now = time.time()
    alerts = [{"labels": {"alertname": f"Bench{i // POLLERS}", "hale_host": hosts[i % POLLERS],
                          "instance": f"{hosts[i % POLLERS]}:9929"},
               "annotations": {"summary": "bench"}, "startsAt": rfc3339(now),
               "endsAt": rfc3339(now + 7200)} for i in range(ALERTS)]
    for port in web:  # peers do not share alerts: every one gets them all, as from Prometheus
        for i in range(0, len(alerts), 1000):
            post(f"http://127.0.0.1:{port}/api/v2/alerts", alerts[i:i + 1000])
    print(f"fleet: {len(ams)} Alertmanagers (0.25, clustered), {ALERTS} active alerts, "
          f"{POLLERS} pollers every {INTERVAL}s", flush=True)

    pollers = []
    for h in hosts:
        cfg = os.path.join(work, f"{h}.yml")
        open(cfg, "w").write(f"""heal:
  webhook: false
  audit: {{path: {work}/{h}.db}}
  pull:
    alertmanagers: ['http://127.0.0.1:{web[0]}', 'http://127.0.0.1:{web[1]}']
    host: {h}
    interval: {INTERVAL}s
  rules:
    - name: bench
      match: {{alertname: BenchFire}}
      target_label: instance
      action: exec
      argv: [/bin/true]
""")
        p = subprocess.Popen([HALE, f"--config={cfg}", "--collector.disable-defaults",
                              f"--web.listen-address=127.0.0.1:{free_port()}", "--log.level=error"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        pollers.append(p)
    time.sleep(2 * INTERVAL + 5)  # every poller has polled (its first poll is within an interval)
    dead = [p for p in pollers if p.poll() is not None]
    if dead:
        sys.exit(f"fleet: {len(dead)} pollers exited")

    am_cpu0 = [cpu_seconds(p.pid) for p in ams]
    refused0 = [refused(port) for port in web]
    hale_cpu0 = [cpu_seconds(p.pid) for p in pollers]
    samples = [None, None]
    def sampler(i):
        samples[i] = sample_gets(web[i], hosts[0], WINDOW - 1)
    threads = [threading.Thread(target=sampler, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(WINDOW)
    for t in threads:
        t.join()
    am_cpu1 = [cpu_seconds(p.pid) for p in ams]
    refused1 = [refused(port) for port in web]
    hale_cpu1 = [cpu_seconds(p.pid) for p in pollers]
    rss = [rss_kib(p.pid) for p in pollers]
    polls = POLLERS / INTERVAL + 1  # the sampler's own
    for i in range(2):
        s, sampler_refused = samples[i]
        pct = lambda q: s[min(len(s) - 1, int(q * len(s)))]
        cores = (am_cpu1[i] - am_cpu0[i]) / WINDOW
        print(f"fleet: alertmanager-{i + 1}: CPU {cores:.3f} cores for ~{polls:.1f} polls/s "
              f"({cores / polls * 1000:.2f} ms per poll of status + alerts); GET /api/v2/alerts p50 "
              f"{pct(0.5):.2f} ms, p99 {pct(0.99):.2f} ms; {refused1[i] - refused0[i]:.0f} GETs refused (503), {sampler_refused} of the sampler's")
    per = sorted((b - a) / WINDOW * 1000 for a, b in zip(hale_cpu0, hale_cpu1))
    print(f"fleet: pollers: CPU per poller mean {sum(per) / len(per):.3f} ms/s, max {per[-1]:.3f} ms/s; "
          f"all {sum(per) / 1000:.3f} cores; RSS mean {sum(rss) / len(rss) / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB")

    fired = time.time()
    fire = [{"labels": {"alertname": "BenchFire", "hale_host": h, "instance": f"{h}:9929"},
             "startsAt": rfc3339(fired), "endsAt": rfc3339(fired + 3600)} for h in hosts]
    for port in web:
        post(f"http://127.0.0.1:{port}/api/v2/alerts", fire)
    latencies = {}
    deadline = time.time() + 4 * INTERVAL + 60
    while len(latencies) < len(hosts) and time.time() < deadline:
        time.sleep(1)
        for h in hosts:
            if h in latencies:
                continue
            try:
                db = sqlite3.connect(f"file:{work}/{h}.db?mode=ro", uri=True, timeout=1)
                row = db.execute("SELECT min(time) FROM decisions WHERE outcome='executed'").fetchone()
                db.close()
            except sqlite3.Error:
                continue
            if row and row[0]:
                latencies[h] = row[0] - fired
    lat = sorted(latencies.values())
    if len(lat) < len(hosts):
        sys.exit(f"fleet: only {len(lat)} of {len(hosts)} hales acted")
    executed = 0
    for h in hosts:
        db = sqlite3.connect(f"file:{work}/{h}.db?mode=ro", uri=True)
        executed += db.execute("SELECT count(*) FROM decisions WHERE outcome='executed'").fetchone()[0]
        db.close()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"fleet: firing to action: p50 {pick(0.5):.1f} s, p99 {pick(0.99):.1f} s, max {lat[-1]:.1f} s; "
          f"{executed} actions for {len(hosts)} firings (each hale acted once, although both peers report it)")


if __name__ == "__main__":
    main()
