//! The hostile and unlucky cases of issue 13, each pinned by a test named after what it holds:
//! a header that aborted hale, a request dropped while its decision was written, a labelled
//! container replaced under its name, a full audit disk, ghost targets that filled the queue, a
//! restart slower than its timeout, and wrong passwords on public endpoints. Each runs the real
//! binary against a real Docker engine (and a real tmpfs for the full disk).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::docker::Scope;
use common::heal::*;
use common::{get_with, post_with, temp_file, value, Hale};
use serde_json::json;

/// Issue 13.1: `X-Prometheus-Scrape-Timeout-Seconds: 1e20` made `Duration::from_secs_f64`
/// panic, and `panic = "abort"` ended hale.
#[test]
fn any_scrape_timeout_header_answers_200_and_hale_stays_up() {
    let mut hale = Hale::start(&["--collector.disable-defaults", "--collector.loadavg"]);
    for v in [
        "1e20", "NaN", "inf", "-inf", "-1", "1e309", "", "0", "abc", "1e-300", "10",
    ] {
        let r = get_with(
            &hale.url("/metrics"),
            &[("X-Prometheus-Scrape-Timeout-Seconds", v)],
        );
        assert_eq!(r.status, 200, "{v:?}: {}", r.body);
        assert!(r.body.contains("node_load1 "), "{v:?}: {}", r.body);
    }
    assert!(
        hale.child.try_wait().unwrap().is_none(),
        "hale is still running"
    );
    // The longest durations the flags accept do not overflow a clock either.
    let longest = Hale::start(&[
        "--scrape.collector-timeout=292y",
        "--web.request-timeout=292y",
        "--web.read-header-timeout=292y",
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    let r = get_with(
        &longest.url("/metrics"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1e20")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// An exec rule whose command appends a line to `out` (and, for `extra`, runs more shell).
fn exec_rule(name: &str, alertname: &str, script: &str) -> String {
    format!(
        "  - name: {name}\n    match: {{alertname: {alertname}}}\n    target_label: instance\n    action: exec\n    argv: ['/bin/sh', '-c', {}]\n    timeout: 1m\n",
        serde_json::to_string(script).unwrap()
    )
}

fn firing(fingerprint: &str, starts_at: &str, alertname: &str, instance: &str) -> String {
    notification(vec![alert(
        fingerprint,
        starts_at,
        json!({"alertname": alertname, "instance": instance}),
        "firing",
    )])
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

/// Polls until `ready`; the deadline only guards against a hang.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !ready() {
        assert!(Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 13.2: when the webhook request ended while its decision was being written, the
/// `executed` row was committed but the action never ran, and the target stayed "already
/// queued"; the timeout case answered 408, which Alertmanager does not retry.
#[test]
fn a_request_dropped_while_sqlite_is_busy_still_runs_its_recorded_action() {
    let scope = Scope::new("hostile-dropped");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("runs");
    let rules = format!(
        "cooldown: 0s\nrules:\n{}",
        exec_rule(
            "note",
            "Note",
            &format!("echo \"$HALE_TARGET\" >> {}", out.display())
        )
    );
    let h = Healing::start_in(
        &scope,
        tempfile::tempdir().unwrap(),
        &rules,
        "",
        &["--web.request-timeout=1s", "--log.level=debug"],
    );
    // hale logs this when a notification has reached the decision, which then waits for the
    // lock: the point at which a dropped request used to lose its action.
    let deciding = || {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let line = h
                .hale
                .log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("hale logs each decision");
            if line.contains("deciding a notification") {
                return;
            }
        }
    };

    // Another writer holds SQLite's write lock (hale waits up to 5 s for it).
    let db = rusqlite::Connection::open(h.db()).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    // 1. The request timeout fires while the decision waits: a retryable 503.
    let r = h.post(&firing("fp-1", "2026-11-23T04:00:00Z", "Note", "timeout"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers_contain("retry-after", "10"), "{:?}", r.headers);
    deciding();
    // 2. A client that sends its request and hangs up at once.
    let body = firing("fp-2", "2026-11-23T04:00:00Z", "Note", "hangup");
    let mut s = TcpStream::connect(&h.hale.address).unwrap();
    write!(
        s,
        "POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    deciding();
    drop(s);
    db.execute_batch("ROLLBACK").unwrap();

    // Both decisions were recorded, so both actions run.
    wait_until("both actions ran", || lines(&out) == 2);
    let events = h.wait_events("both succeeded", "", |e| count(e, "succeeded", None) == 2);
    assert_eq!(count(&events, "executed", None), 2, "{events:#?}");
    // Alertmanager's retry of the timed-out request is a duplicate, not a second action.
    assert_eq!(
        h.accepted(&firing("fp-1", "2026-11-23T04:00:00Z", "Note", "timeout")),
        ["skipped_duplicate"]
    );
    // And neither target is stuck "already queued": a new firing acts.
    for (fp, target) in [("fp-1", "timeout"), ("fp-2", "hangup")] {
        assert_eq!(
            h.accepted(&firing(fp, "2026-11-23T05:00:00Z", "Note", target)),
            ["executed"]
        );
    }
    wait_until("the new firings ran", || lines(&out) == 4);
}

/// A rule whose command waits until `go` exists: it holds the only worker for as long as the
/// test wants, with no timing involved.
fn hold_rule(go: &Path) -> String {
    exec_rule(
        "hold",
        "Hold",
        &format!("while [ ! -e {} ]; do sleep 0.05; done", go.display()),
    )
}

/// Issue 13.3: the queued action found its container by name, so an unlabelled container
/// started under the name of a removed labelled one was restarted.
#[test]
fn a_container_replaced_under_the_same_name_is_not_touched() {
    let scope = Scope::new("hostile-replaced");
    let svc = scope.name("svc");
    scope.run(
        "svc",
        &["--label", "hale.heal=true", "--stop-timeout", "1"],
        &["sleep", "100000"],
    );
    let work = tempfile::tempdir().unwrap();
    let go = work.path().join("go");
    let rules = format!(
        "workers: 1\nrules:\n{}  - name: restart-labelled\n    match: {{alertname: ContainerUnhealthy}}\n    action: restart\n    allow: {{label: 'hale.heal=true'}}\n",
        hold_rule(&go)
    );
    let h = Healing::start(&scope, &rules);
    assert_eq!(
        h.accepted(&firing("hold", "2026-11-23T04:00:00Z", "Hold", "x")),
        ["executed"]
    );
    assert_eq!(
        h.accepted(&unhealthy("fp", "2026-11-23T04:00:00Z", &svc)),
        ["executed"]
    );
    // While the restart waits for the worker, the labelled container is replaced by an
    // unlabelled one of the same name.
    scope.docker(&["rm", "-f", &svc]);
    scope.run("svc", &["--stop-timeout", "1"], &["sleep", "100000"]);
    let started = scope.inspect(&svc, "{{.State.StartedAt}}");
    std::fs::write(&go, "").unwrap();

    let events = h.wait_events("the restart decided", &format!("target={svc}"), |e| {
        count(e, "denied", None) == 1
    });
    let denied = events.iter().find(|e| e["result"] == "denied").unwrap();
    assert!(
        denied["detail"].as_str().unwrap().contains("is gone"),
        "{denied:#}"
    );
    assert_eq!(count(&events, "succeeded", None), 0, "{events:#?}");
    assert_eq!(
        scope.inspect(&svc, "{{.State.StartedAt}}"),
        started,
        "the replacement was not restarted"
    );
}

/// A tmpfs of a few MiB mounted on a temporary directory, unmounted on drop: a disk that
/// really fills.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new() -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount (the tests run as root)");
        assert!(status.success(), "mounting a tmpfs needs root");
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Issue 13.4: budget 3, backoff 1 s, the disk fills after the first decision: the failing
/// command ran 12 times in 12 s with no record. Now no attempt runs unless its `executed` row
/// is committed, the webhook answers 503 while the log cannot be written, and a metric says so.
#[test]
fn on_a_full_audit_disk_no_action_runs_without_its_record() {
    let scope = Scope::new("hostile-full-disk");
    let disk = SmallDisk::new();
    let work = tempfile::tempdir().unwrap();
    let (out, mark, fill) = (
        work.path().join("runs"),
        work.path().join("filled"),
        disk.dir.path().join("fill"),
    );
    // The first attempt fills the disk before it fails, so its `failed` row and the retry's
    // `executed` row meet a full disk.
    let script = format!(
        "echo run >> {out}; [ -e {mark} ] || {{ touch {mark}; cat /dev/zero > {fill}; }}; exit 1",
        out = out.display(),
        mark = mark.display(),
        fill = fill.display()
    );
    let audit_dir = tempfile::Builder::new()
        .tempdir_in(disk.dir.path())
        .unwrap();
    let rules = format!(
        "cooldown: 0s\nbudget: {{attempts: 3, window: 1h}}\nbackoff: {{initial: 1s, max: 1s}}\nrules:\n{}",
        exec_rule("flaky", "Flaky", &script)
    );
    let h = Healing::start_in(&scope, audit_dir, &rules, "", &[]);
    assert_eq!(
        h.accepted(&firing("fp", "2026-11-23T04:00:00Z", "Flaky", "svc")),
        ["executed"]
    );
    let audit_errors = || value(&h.metrics(), "hale_heal_audit_errors_total", &[]).unwrap_or(0.0);
    // The failed row and the retry's executed row could not be written...
    wait_until("two failed audit writes", || audit_errors() >= 2.0);
    // ...so the retry did not run.
    assert_eq!(lines(&out), 1, "only the recorded attempt ran");
    // While the log cannot be written, the webhook answers a retryable 503 and records nothing.
    let r = h.post(&firing("fp", "2026-11-23T05:00:00Z", "Flaky", "svc"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers_contain("retry-after", "10"), "{:?}", r.headers);
    assert!(r.body.contains("audit log cannot be written"), "{}", r.body);
    assert!(
        !r.body.contains("SQLite") && !r.body.contains("database"),
        "{}",
        r.body
    );

    // Space again: decisions are recorded and acted on, within the budget.
    std::fs::remove_file(&fill).unwrap();
    assert_eq!(
        h.accepted(&firing("fp", "2026-11-23T05:00:00Z", "Flaky", "svc")),
        ["executed"]
    );
    let events = h.wait_events("the budget spent", "target=svc", |e| {
        count(e, "gave_up", None) == 1
    });
    let executed = count(&events, "executed", None);
    assert_eq!(
        lines(&out),
        executed,
        "actions run == executed rows: {events:#?}"
    );
    assert!(executed <= 3, "within the budget: {events:#?}");
}

/// Issue 13.8: alerts naming containers that do not exist (but match an allow glob) were
/// `executed` and sat in the queue through their retries, so a real alert got 503.
#[test]
fn ghost_containers_are_denied_and_take_no_queue_slot() {
    let scope = Scope::new("hostile-ghosts");
    let web = scope.name("web");
    scope.run("web", &["--stop-timeout", "1"], &["sleep", "100000"]);
    let rules = format!(
        "queue_size: 2\nrules:\n  - name: restart-web\n    match: {{alertname: ContainerUnhealthy}}\n    action: restart\n    allow: {{names: ['{}']}}\n",
        scope.name("*")
    );
    let h = Healing::start(&scope, &rules);
    let ghosts: Vec<_> = (0..64)
        .map(|i| {
            alert(
                &format!("ghost-{i}"),
                "2026-11-23T04:00:00Z",
                json!({"alertname": "ContainerUnhealthy", "name": scope.name(&format!("ghost-{i}"))}),
                "firing",
            )
        })
        .collect();
    let r = h.post(&notification(ghosts));
    assert_eq!(results(&r), vec!["denied"; 64]);
    assert!(r.body.contains("no such container"), "{}", r.body);
    assert_eq!(
        h.accepted(&unhealthy("real", "2026-11-23T04:00:00Z", &web)),
        ["executed"]
    );
    h.wait_events("the real one restarted", &format!("target={web}"), |e| {
        count(e, "succeeded", None) == 1
    });
}

/// Issue 13.8: one rule flooded with alerts cannot take the whole queue from the others.
#[test]
fn one_rule_cannot_starve_another_of_queue_slots() {
    let scope = Scope::new("hostile-share");
    let work = tempfile::tempdir().unwrap();
    let go = work.path().join("go");
    let rules = format!(
        "queue_size: 4\nrules:\n{}{}",
        hold_rule(&go),
        exec_rule("other", "Other", "true")
    );
    let h = Healing::start(&scope, &rules);
    // Two rules: each may hold 2 of the 4 slots.
    for target in ["a", "b"] {
        assert_eq!(
            h.accepted(&firing(target, "2026-11-23T04:00:00Z", "Hold", target)),
            ["executed"]
        );
    }
    let r = h.post(&firing("c", "2026-11-23T04:00:00Z", "Hold", "c"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains(r#"\"hold\" holds its share"#), "{}", r.body);
    assert_eq!(
        h.accepted(&firing("o", "2026-11-23T04:00:00Z", "Other", "o")),
        ["executed"]
    );
    std::fs::write(&go, "").unwrap();
    h.wait_events("all three done", "result=succeeded", |e| e.len() == 3);
}

/// Issue 13.11: a restart slower than the rule's timeout was recorded `failed` and retried, so
/// one alert restarted the container twice.
#[test]
fn a_restart_slower_than_its_timeout_restarts_once() {
    let scope = Scope::new("hostile-slow-restart");
    let svc = scope.name("svc");
    // busybox `sleep` as PID 1 ignores SIGTERM: a restart takes the 3 s stop timeout.
    let id = scope.run("svc", &["--stop-timeout", "3"], &["sleep", "100000"]);
    let rules = format!(
        "backoff: {{initial: 1s, max: 1s}}\nrules:\n  - name: restart-svc\n    match: {{alertname: ContainerUnhealthy}}\n    action: restart\n    timeout: 1s\n    allow: {{names: ['{svc}']}}\n"
    );
    let h = Healing::start(&scope, &rules);
    let since = scope.docker(&["info", "--format", "{{.SystemTime}}"]);
    assert_eq!(
        h.accepted(&unhealthy("fp", "2026-11-23T04:00:00Z", &svc)),
        ["executed"]
    );
    let events = h.wait_events("the restart decided", &format!("target={svc}"), |e| {
        count(e, "succeeded", None) + count(e, "failed", None) > 0
    });
    let done = events.iter().find(|e| e["result"] == "succeeded");
    assert!(
        done.is_some_and(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains("after the 1s timeout")),
        "{events:#?}"
    );
    assert_eq!(count(&events, "executed", None), 1, "{events:#?}");
    let until = scope.docker(&["info", "--format", "{{.SystemTime}}"]);
    let starts = scope.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={id}"),
        "--filter",
        "event=start",
        "--format",
        "{{.Status}}",
    ]);
    assert_eq!(starts.lines().count(), 1, "one start: {starts:?}");
}

/// Issue 13.7: wrong Basic credentials on `/health/live` ran bcrypt on every request and were
/// not counted as failed authentications.
#[test]
fn wrong_passwords_on_probes_cost_nothing_and_on_health_they_count() {
    // Cost 12: about a quarter of a second of CPU per check, so ten checks would show.
    let hash = bcrypt::hash("right", 12).unwrap();
    let web = temp_file(&format!("basic_auth_users:\n  alice: {hash}\n"));
    let config = temp_file("web:\n  rate_limit:\n    failed_auth: {per_minute: 1, burst: 5}\n");
    let hale = Hale::start(&[
        &format!("--web.config.file={}", web.path().display()),
        &format!("--config={}", config.path().display()),
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    let basic = |user: &str, password: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let wrong = basic("alice", "wrong");
    let right = basic("alice", "right");
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", hale.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    for path in ["/health/live", "/health/ready"] {
        for _ in 0..10 {
            let r = get_with(&hale.url(path), &[("Authorization", &wrong)]);
            assert!(r.status == 200 || r.status == 503, "{path}: {}", r.status);
        }
    }
    let ticks = cpu() - before;
    // 20 bcrypt checks at cost 12 take seconds of CPU; without them, a few ticks.
    assert!(ticks < 100, "{ticks} clock ticks of CPU for 20 probes");
    // The probes counted nothing: the right password still works.
    let r = get_with(&hale.url("/metrics"), &[("Authorization", &right)]);
    assert_eq!(r.status, 200, "{}", r.body);
    // On /health each wrong password counts: past the burst the client is blocked.
    for _ in 0..6 {
        let r = get_with(&hale.url("/health"), &[("Authorization", &wrong)]);
        assert!(r.status == 200 || r.status == 503, "{}", r.status);
    }
    let r = get_with(&hale.url("/metrics"), &[("Authorization", &right)]);
    assert_eq!(r.status, 429, "{}", r.body);
    // A blocked client still gets /health's summary, without a password check.
    let r = get_with(&hale.url("/health"), &[("Authorization", &wrong)]);
    assert!(r.status == 200 || r.status == 503, "{}", r.status);
    let mut s = TcpStream::connect(&hale.address).unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Issue 13.14: a webhook alert with a label key twice was read with the last one winning.
#[test]
fn a_webhook_alert_with_a_duplicate_label_key_is_refused() {
    let scope = Scope::new("hostile-duplicate-key");
    let web = scope.name("web");
    let h = Healing::start(
        &scope,
        &format!("rules:\n{}", exec_rule("note", "Note", "true")),
    );
    let body = format!(
        r#"{{"version":"4","status":"firing","alerts":[{{"status":"firing","labels":{{"alertname":"Note","instance":"a","instance":"{web}"}},"startsAt":"2026-11-23T04:00:00Z","fingerprint":"f"}}]}}"#
    );
    let r = post_with(
        &h.hale.url("/webhook/alertmanager"),
        &[BEARER],
        body.as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("appears twice"), "{}", r.body);
    assert_eq!(h.events(""), Vec::<serde_json::Value>::new());
}

/// Issue 13.9: 48 clients trickling headers against `--web.max-connections=16` held every slot,
/// and `/health/live` waited seconds for one. One client address now holds at most its share
/// (a quarter of the slots by default); its other connections are closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_slow_connections_from_one_address_leaves_room_for_probes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An hour to send headers: without the per-client cap the probe would wait that long.
    let hale = Hale::start(&[
        "--web.max-connections=16",
        "--web.read-header-timeout=1h",
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    let addr: std::net::SocketAddr = hale.address.parse().unwrap();
    let mut flood = Vec::new();
    for _ in 0..48 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        // Headers that never end.
        let _ = s
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            .await;
        flood.push(s);
    }
    // A probe from another address is served now, not when a slot frees up.
    let probe = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        // A guard against a hang, not a performance assertion.
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(probe.starts_with("HTTP/1.1 200"), "{probe:?}");
    // The flood kept its share, 4 of the 16 slots; the rest was closed at once.
    let mut closed = 0;
    for s in &mut flood {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert_eq!(closed, 44, "48 slow connections, 4 kept");
}
