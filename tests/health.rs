//! `/health`, `/health/live` and `/health/ready` over a real socket: every document is validated
//! against the project's JSON Schema of draft-inadarei-api-health-check-06
//! (`tests/schema/health-check-06.json`); thresholds are driven through a copy of the fixture
//! /proc tree; probes run against real local TCP and HTTP servers (up, down, slow, wrong status)
//! and real commands; and details can be restricted to holders of a token.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{get, get_with, temp_file as config, Hale};
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("schema/health-check-06.json")).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

/// GETs a health endpoint, checks its headers and validates it; returns status and document.
fn health(hale: &Hale, path: &str, token: Option<&str>) -> (u16, Value) {
    let reply = match token {
        None => get(&hale.url(path), None),
        Some(t) => get_with(
            &hale.url(path),
            &[("Authorization", &format!("Bearer {t}"))],
        ),
    };
    assert_eq!(reply.content_type, "application/health+json", "{path}");
    let doc: Value = serde_json::from_str(&reply.body).expect("JSON");
    let v = validator();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{path} breaks the draft: {errors:?}\n{doc:#}"
    );
    let expected = if doc["status"] == "fail" { 503 } else { 200 };
    assert_eq!(reply.status, expected, "{path}: {doc:#}");
    (reply.status, doc)
}

/// The one object of `key` whose componentId is `id`.
fn check<'a>(doc: &'a Value, key: &str, id: &str) -> Option<&'a Value> {
    doc["checks"][key]
        .as_array()?
        .iter()
        .find(|c| c["componentId"] == id)
}

/// Polls `/health` until `ready` holds (a guard against a hang, not a timing assertion).
fn wait_health(hale: &Hale, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc: Value = serde_json::from_str(&get(&hale.url("/health"), None).body).unwrap();
        if ready(&doc) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}: {doc:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A copy of the fixture /proc tree whose meminfo the test rewrites.
struct Proc(tempfile::TempDir);

impl Proc {
    fn new() -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc/.");
        let status = std::process::Command::new("cp")
            .args(["-a", src])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        Proc(dir)
    }

    /// Sets memory use to `used` percent of 1000 MiB.
    fn memory_used(&self, used: u64) {
        let total = 1000 * 1024;
        let available = total * (100 - used) / 100;
        // Atomically, so a sample never reads half a file.
        let tmp = self.0.path().join("meminfo.tmp");
        std::fs::write(
            &tmp,
            format!("MemTotal: {total} kB\nMemFree: 1000 kB\nMemAvailable: {available} kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"),
        )
        .unwrap();
        std::fs::rename(tmp, self.0.path().join("meminfo")).unwrap();
    }
}

fn hale_on(proc: &Proc, yaml: &str) -> (Hale, tempfile::NamedTempFile) {
    let config = config(yaml);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let hale = Hale::start(&[
        &format!("--path.procfs={}", proc.0.path().display()),
        &format!("--path.sysfs={dir}/sys"),
        &format!("--path.rootfs={dir}/rootfs"),
        &format!("--config={}", config.path().display()),
        "--no-collector.docker",
    ]);
    (hale, config)
}

/// Thresholds for the parts of the fixture host this test does not drive: never breached.
const QUIET: &str = "  disk: {warn: 101, fail: 102, critical: true}\n  fd: {warn: 101, fail: 102, critical: true}\n";

#[test]
fn thresholds_drive_status_and_http_code() {
    let proc = Proc::new();
    proc.memory_used(50);
    // The fixture's process groups, for the per-group fd checks.
    let groups = include_str!("fixtures/config.yml");
    let (hale, _config) = hale_on(
        &proc,
        &format!("{groups}\nhealth:\n  interval: 100ms\n  consecutive: 1\n{QUIET}"),
    );
    let doc = wait_health(&hale, "the first sample", |d| {
        check(d, "memory:utilization", "memory").is_some()
    });
    assert_eq!(doc["status"], "pass", "{doc:#}");
    let (_, doc) = health(&hale, "/health", None);
    for key in [
        "cpu:utilization",
        "memory:utilization",
        "swap:utilization",
        "disk:utilization",
        "fd:utilization",
        "uptime",
    ] {
        assert!(doc["checks"][key].is_array(), "{key} missing: {doc:#}");
    }
    // nginx's 3 open fds of a 1024 limit (tests/fixtures/proc/4242).
    let nginx = check(&doc, "fd:utilization", "process:nginx").expect("per-group fd check");
    assert_eq!(nginx["observedValue"], 0.29);
    assert!(check(&doc, "fd:utilization", "process:app:8080").is_some());
    assert!(check(&doc, "fd:utilization", "system").is_some());
    let mem = check(&doc, "memory:utilization", "memory").unwrap();
    assert_eq!(mem["observedValue"], 50.0);
    assert_eq!(mem["observedUnit"], "percent");
    assert!(mem.get("output").is_none());
    assert!(doc.get("output").is_none(), "no output when pass");
    assert_eq!(doc["links"]["self"], "/health");
    assert!(get(&hale.url("/health"), None)
        .body
        .contains("\"releaseId\""));
    let (code, live) = health(&hale, "/health/live", None);
    assert_eq!((code, live["status"].as_str()), (200, Some("pass")));
    let (code, _) = health(&hale, "/health/ready", None);
    assert_eq!(code, 200);

    proc.memory_used(90);
    wait_health(&hale, "warn", |d| d["status"] == "warn");
    let (code, doc) = health(&hale, "/health", None);
    assert_eq!(code, 200, "warn is still 200");
    let mem = check(&doc, "memory:utilization", "memory").unwrap();
    assert_eq!(mem["status"], "warn");
    assert!(
        mem["output"].as_str().unwrap().contains("90.0% used"),
        "{mem}"
    );
    assert!(doc["output"]
        .as_str()
        .unwrap()
        .contains("memory:utilization"));

    proc.memory_used(98);
    wait_health(&hale, "fail", |d| d["status"] == "fail");
    let (code, _) = health(&hale, "/health", None);
    assert_eq!(code, 503);
    let (code, ready) = health(&hale, "/health/ready", None);
    assert_eq!(code, 503);
    assert!(ready["output"]
        .as_str()
        .unwrap()
        .contains("memory:utilization"));
    let (code, _) = health(&hale, "/health/live", None);
    assert_eq!(code, 200, "alive while failing");

    // The check is mirrored as metrics.
    let series = common::parse(&get(&hale.url("/metrics"), None).body);
    assert_eq!(
        common::value(
            &series,
            "hale_health_status",
            &[("check", "memory:utilization"), ("status", "fail")]
        ),
        Some(1.0)
    );

    proc.memory_used(10);
    wait_health(&hale, "pass again", |d| d["status"] == "pass");
}

#[test]
fn a_breach_must_hold_before_the_status_changes() {
    let proc = Proc::new();
    proc.memory_used(50);
    let (hale, _config) = hale_on(
        &proc,
        &format!("health:\n  interval: 300ms\n  consecutive: 3\n{QUIET}"),
    );
    wait_health(&hale, "pass", |d| {
        check(d, "memory:utilization", "memory").is_some() && d["status"] == "pass"
    });
    proc.memory_used(98);
    // While the breach is unconfirmed, the raw value shows and the status holds.
    let pending = wait_health(&hale, "a pending breach", |d| {
        check(d, "memory:utilization", "memory").is_some_and(|m| m["observedValue"] == 98.0)
    });
    // One sample at 98 % cannot confirm a breach that needs three.
    let mem = check(&pending, "memory:utilization", "memory").unwrap();
    assert_eq!(mem["status"], "pass", "{pending:#}");
    assert_eq!(pending["status"], "pass");
    wait_health(&hale, "the confirmed fail", |d| d["status"] == "fail");
    proc.memory_used(10);
    let cleared = wait_health(&hale, "the raw value back down", |d| {
        check(d, "memory:utilization", "memory").is_some_and(|m| m["observedValue"] == 10.0)
    });
    // The first sample below the threshold cannot clear a 3-sample debounce.
    assert_eq!(cleared["status"], "fail", "{cleared:#}");
    let mem = check(&cleared, "memory:utilization", "memory").unwrap();
    assert!(
        mem["output"].as_str().unwrap().contains("now pass"),
        "{mem}"
    );
    wait_health(&hale, "pass after 3 samples", |d| d["status"] == "pass");
}

/// A one-thread HTTP server answering every request with `status` and `body`, after `delay`.
fn http_server(status: u16, body: &'static str, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                std::thread::sleep(delay);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    format!("http://{addr}/")
}

#[test]
fn probes_against_real_servers() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap();
    let down_addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let ok = http_server(200, "all good", Duration::ZERO);
    let broken = http_server(500, "oops", Duration::ZERO);
    let slow = http_server(200, "late", Duration::from_secs(5));
    let proc = Proc::new();
    proc.memory_used(50);
    let probes = format!(
        "  probes:
    - {{name: tcp_up, tcp: '{up_addr}'}}
    - {{name: tcp_down, tcp: '{down_addr}', critical: false}}
    - {{name: http_ok, http: {{url: '{ok}', body_regex: 'good'}}}}
    - {{name: http_status, http: {{url: '{broken}'}}, critical: false}}
    - {{name: http_body, http: {{url: '{ok}', body_regex: 'bad'}}, critical: false}}
    - {{name: http_slow, http: {{url: '{slow}'}}, timeout: 300ms, critical: false}}
    - {{name: cmd_ok, command: {{argv: ['true']}}}}
    - {{name: cmd_bad, command: {{argv: ['sh', '-c', 'exit 3']}}, critical: false}}
"
    );
    let (hale, _config) = hale_on(
        &proc,
        &format!("health:\n  interval: 100ms\n  consecutive: 1\n{QUIET}{probes}"),
    );
    let names = [
        "tcp_up",
        "tcp_down",
        "http_ok",
        "http_status",
        "http_body",
        "http_slow",
        "cmd_ok",
        "cmd_bad",
    ];
    let doc = wait_health(&hale, "every probe", |d| {
        names
            .iter()
            .all(|n| d["checks"][format!("{n}:responseTime")].is_array())
    });
    let probe = |n: &str| &doc["checks"][format!("{n}:responseTime")][0];
    for n in ["tcp_up", "http_ok", "cmd_ok"] {
        assert_eq!(probe(n)["status"], "pass", "{n}: {}", probe(n));
        assert_eq!(probe(n)["observedUnit"], "ms");
    }
    for n in [
        "tcp_down",
        "http_status",
        "http_body",
        "http_slow",
        "cmd_bad",
    ] {
        assert_eq!(probe(n)["status"], "fail", "{n}: {}", probe(n));
    }
    assert!(probe("http_status")["output"]
        .as_str()
        .unwrap()
        .contains("status 500, expected 200"));
    assert!(probe("http_slow")["output"]
        .as_str()
        .unwrap()
        .contains("no answer within 300ms"));
    assert!(probe("cmd_bad")["output"]
        .as_str()
        .unwrap()
        .contains("exited 3"));
    assert!(probe("http_body")["output"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    // Only non-critical probes fail: warn, 200.
    assert_eq!(doc["status"], "warn");
    let (code, _) = health(&hale, "/health", None);
    assert_eq!(code, 200);

    let series = common::parse(&get(&hale.url("/metrics"), None).body);
    assert_eq!(
        common::value(&series, "hale_probe_success", &[("probe", "tcp_up")]),
        Some(1.0)
    );
    assert_eq!(
        common::value(&series, "hale_probe_success", &[("probe", "http_slow")]),
        Some(0.0)
    );
    let slow_took = common::value(
        &series,
        "hale_probe_duration_seconds",
        &[("probe", "http_slow")],
    )
    .unwrap();
    assert!(
        slow_took >= 0.3,
        "the slow probe ran to its timeout: {slow_took}"
    );

    // A critical probe that fails fails the service.
    let (critical, _c) = hale_on(
        &proc,
        &format!(
            "health:\n  interval: 100ms\n  consecutive: 1\n{QUIET}  probes:\n    - {{name: db, tcp: '{down_addr}'}}\n"
        ),
    );
    wait_health(&critical, "the critical probe", |d| d["status"] == "fail");
    let (code, _) = health(&critical, "/health", None);
    assert_eq!(code, 503);
    let (code, _) = health(&critical, "/health/ready", None);
    assert_eq!(code, 503);
    drop(up);
}

#[test]
fn details_can_be_restricted_to_a_token() {
    let proc = Proc::new();
    proc.memory_used(50);
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "s3cret-token\n").unwrap();
    let (hale, _config) = hale_on(
        &proc,
        &format!(
            "health:\n  interval: 100ms\n  show_details: false\n  details_token_file: {}\n{QUIET}",
            token.path().display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, doc) = health(&hale, "/health", Some("s3cret-token"));
        if doc["checks"]["memory:utilization"].is_array() {
            break;
        }
        assert!(Instant::now() < deadline, "no sample: {doc:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, anonymous) = health(&hale, "/health", None);
    assert!(anonymous.get("checks").is_none(), "{anonymous:#}");
    assert_eq!(anonymous["status"], "pass");
    let (_, wrong) = health(&hale, "/health", Some("s3cret-tokeX"));
    assert!(wrong.get("checks").is_none());
    let body = get(&hale.url("/health"), None).body;
    assert!(!body.contains("s3cret"));
}

#[test]
fn http_probe_tls_verification_on_and_off() {
    // A real TLS server with a self-signed certificate: OpenSSL's s_server answering HTTP.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .output()
        .expect("openssl (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = common::free_port();
    let _server = common::KillOnDrop(
        std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "s_server", "-quiet", "-www", "-cert", "cert.pem", "-key", "key.pem",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let proc = Proc::new();
    proc.memory_used(50);
    let url = format!("https://127.0.0.1:{port}/");
    let (hale, _config) = hale_on(
        &proc,
        &format!(
            "health:\n  interval: 100ms\n  consecutive: 1\n{QUIET}  probes:\n    - {{name: strict, http: {{url: '{url}'}}, interval: 200ms, critical: false}}\n    - {{name: lax, http: {{url: '{url}', tls_verify: false}}, interval: 200ms, critical: false}}\n"
        ),
    );
    let doc = wait_health(&hale, "both TLS probes, the lax one passing", |d| {
        d["checks"]["strict:responseTime"].is_array()
            && d["checks"]["lax:responseTime"][0]["status"] == "pass"
    });
    let strict = &doc["checks"]["strict:responseTime"][0];
    assert_eq!(strict["status"], "fail", "{strict}");
    assert!(
        strict["output"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{strict}"
    );
}

#[test]
fn a_hung_host_read_is_reported_not_frozen() {
    let proc = Proc::new();
    let meminfo = proc.0.path().join("meminfo");
    std::fs::remove_file(&meminfo).ok();
    // Reading a FIFO without a writer blocks, like a read stuck in the kernel.
    let status = std::process::Command::new("mkfifo")
        .arg(&meminfo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let (hale, _config) = hale_on(
        &proc,
        &format!("health:\n  interval: 100ms\n  consecutive: 1\n{QUIET}"),
    );
    let doc = wait_health(&hale, "the stuck read reported", |d| {
        d["checks"]["host:sampling"].is_array()
    });
    assert_eq!(doc["status"], "warn", "{doc:#}");
    let (code, _) = health(&hale, "/health", None);
    assert_eq!(code, 200);
    // Unblock it: the stuck reader (already waiting in open) gets its data; then a regular file
    // replaces the FIFO for the next reads.
    {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(&meminfo)
            .unwrap();
        w.write_all(b"MemTotal: 1000 kB\nMemAvailable: 500 kB\n")
            .unwrap();
    }
    proc.memory_used(50);
    wait_health(&hale, "sampling again", |d| {
        d["checks"]["host:sampling"].is_null() && check(d, "memory:utilization", "memory").is_some()
    });
}

#[test]
fn a_host_without_docker_warns_and_logs_the_failure_once() {
    let proc = Proc::new();
    proc.memory_used(50);
    let config = config(&format!(
        "docker:\n  host: unix:///nonexistent/docker.sock\nhealth:\n  interval: 100ms\n  consecutive: 1\n{QUIET}"
    ));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let hale = Hale::start(&[
        &format!("--path.procfs={}", proc.0.path().display()),
        &format!("--path.sysfs={dir}/sys"),
        &format!("--path.rootfs={dir}/rootfs"),
        &format!("--config={}", config.path().display()),
    ]);
    let doc = wait_health(&hale, "the docker check", |d| {
        d["checks"]["docker:responseTime"][0]["output"]
            .as_str()
            .is_some_and(|o| o.contains("has not answered since hale started"))
    });
    // No engine has ever answered: a warning, not a failed host.
    assert_eq!(doc["checks"]["docker:responseTime"][0]["status"], "warn");
    let (code, _) = health(&hale, "/health", None);
    assert_eq!(code, 200);
    for _ in 0..5 {
        assert_eq!(get(&hale.url("/metrics"), None).status, 200);
    }
    let mut hale = hale;
    hale.child.kill().unwrap();
    hale.child.wait().unwrap();
    let failures = hale
        .drain_log()
        .iter()
        .filter(|l| l.contains("collector failed") && l.contains("collector=docker"))
        .count();
    assert_eq!(failures, 1, "the same error is logged at error once");
}
