//! hale's HTTP surface over a real socket: TLS and mutual TLS with certificates made here,
//! bcrypt basic-auth users with roles, the webhook's token kept apart from users, failed-auth
//! and webhook rate limits, the web config re-read on change and on SIGHUP (a bad file keeps
//! the old one), the refusal to heal unauthenticated on a network address, header, connection
//! and request limits against slow clients, and no secret in logs, answers or the audit log.
//! curl is the client for TLS (it is what an operator would try first).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::servers::poll;
use common::{get_with, post_with, run_hale, stderr_of, temp_file, Hale};

const TOKEN: &str = "webhook-s3cret-token";
const PROM_PASSWORD: &str = "prom-pa55word";
const ALICE_PASSWORD: &str = "alice-pa55word";

/// `curl` against hale; returns the HTTP status, or `None` when no HTTP answer came (TLS refused).
fn curl(url: &str, args: &[&str]) -> Option<u16> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl (scripts/test.sh installs it)");
    let code: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (out.status.success() && code != 0).then_some(code)
}

/// Writes the web config file and starts hale on it.
fn with_web_config(path: &Path, yaml: &str) -> Hale {
    std::fs::write(path, yaml).unwrap();
    Hale::start(&[&format!("--web.config.file={}", path.display())])
}

fn bcrypt(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn tls_and_mutual_tls_with_client_sans() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let servers = Pki::new(d, "server-ca");
    servers.issue("server", &["localhost", "127.0.0.1"]);
    let clients = Pki::new(d, "client-ca");
    clients.issue("prometheus", &["prometheus.example"]);
    clients.issue("intruder", &["intruder.example"]);
    let strangers = Pki::new(d, "stranger-ca");
    strangers.issue("stranger", &["prometheus.example"]);

    // Server TLS only; relative paths are relative to the web config file.
    let web = d.join("web.yml");
    let hale = with_web_config(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n",
    );
    let url = format!("https://{}/metrics", hale.address);
    let ca = d.join("server-ca.crt");
    let ca = ca.to_str().unwrap();
    assert_eq!(curl(&url, &["--cacert", ca]), Some(200));
    assert_eq!(curl(&url, &["--cacert", ca, "--tlsv1.3"]), Some(200));
    // An untrusted server certificate, and plain HTTP on the TLS port, get no HTTP answer.
    assert_eq!(curl(&url, &[]), None);
    assert_eq!(curl(&format!("http://{}/metrics", hale.address), &[]), None);
    drop(hale);

    // Mutual TLS: a verified client certificate carrying an allowed SAN.
    let hale = with_web_config(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.crt\n  client_allowed_sans: [prometheus.example]\n",
    );
    let url = format!("https://{}/metrics", hale.address);
    let with = |name: &str| {
        let cert = d.join(format!("{name}.crt"));
        let key = d.join(format!("{name}.key"));
        curl(
            &url,
            &[
                "--cacert",
                ca,
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        )
    };
    assert_eq!(with("prometheus"), Some(200));
    assert_eq!(
        with("intruder"),
        Some(403),
        "verified, but not an allowed SAN"
    );
    assert_eq!(
        with("stranger"),
        None,
        "a certificate from another CA fails the handshake"
    );
    assert_eq!(curl(&url, &["--cacert", ca]), None, "no client certificate");
    drop(hale);

    // What rustls cannot do is refused at start, by name.
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n",
    )
    .unwrap();
    let out = run_hale(&[&format!("--web.config.file={}", web.display())]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("TLS10"), "{}", stderr_of(&out));
}

/// A web config with two users, and hale's config with roles, `failed_auth` and healing.
fn users_config(dir: &Path, failed_auth: &str) -> (std::path::PathBuf, tempfile::NamedTempFile) {
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "basic_auth_users:\n  prometheus: {}\n  alice: {}\n",
            bcrypt(PROM_PASSWORD),
            bcrypt(ALICE_PASSWORD)
        ),
    )
    .unwrap();
    let config = temp_file(&format!(
        "web:\n  roles:\n    events: [alice]\n  rate_limit:\n    failed_auth: {failed_auth}\nheal:\n  auth: {{bearer_token: {TOKEN}}}\n  audit: {{path: {}}}\n  rules:\n    - name: note\n      match: {{alertname: Note}}\n      action: exec\n      argv: ['true']\n",
        dir.join("heal.db").display(),
    ));
    (web, config)
}

#[test]
fn users_roles_the_webhook_token_and_failed_auth_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (web, config) = users_config(dir.path(), "{per_minute: 1, burst: 5}");
    let hale = Hale::start(&[
        &format!("--web.config.file={}", web.display()),
        &format!("--config={}", config.path().display()),
        "--log.level=debug",
    ]);
    let get = |path: &str, auth: Option<String>| {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        get_with(&hale.url(path), &headers)
    };
    let prom = || Some(basic("prometheus", PROM_PASSWORD));
    let alice = || Some(basic("alice", ALICE_PASSWORD));

    let r = get("/metrics", None);
    assert_eq!(r.status, 401);
    assert!(r.headers_contain("www-authenticate", "Basic"), "{r:?}");
    assert_eq!(
        get("/metrics", Some(basic("prometheus", "wrong"))).status,
        401
    );
    assert_eq!(get("/metrics", Some(basic("nobody", "x"))).status, 401);
    assert_eq!(get("/metrics", prom()).status, 200);
    assert_eq!(get("/", prom()).status, 200);
    // Roles: events only for alice.
    assert_eq!(get("/heal/events", prom()).status, 403);
    assert_eq!(get("/heal/events", alice()).status, 200);
    // The webhook's token is for the webhook only, and users are not the webhook's.
    assert_eq!(
        get("/heal/events", Some(format!("Bearer {TOKEN}"))).status,
        401
    );
    let payload = r#"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Note"},"startsAt":"2026-11-23T04:00:00Z","fingerprint":"f1"}]}"#;
    let post = |auth: &str| {
        post_with(
            &hale.url("/webhook/alertmanager"),
            &[("Authorization", auth)],
            payload.as_bytes(),
        )
        .status
    };
    assert_eq!(post(&basic("alice", ALICE_PASSWORD)), 401, "no heal role");
    assert_eq!(post(&format!("Bearer {TOKEN}")), 202);
    // /health: the status for anyone, the details for a metrics user; probes stay open.
    let summary = get("/health", None);
    assert_eq!(summary.status, 200);
    assert!(!summary.body.contains("\"checks\""), "{}", summary.body);
    assert!(get("/health", prom()).body.contains("\"checks\""));
    assert_eq!(get("/health/live", None).status, 200);

    let landing = get("/", prom()).body;
    assert!(landing.contains("<h1>hale</h1>"), "{landing}");

    // Failed authentications: past the burst the client is refused before its credentials
    // are even checked, right ones included.
    for _ in 0..6 {
        get("/metrics", Some(basic("prometheus", "guess")));
    }
    let r = get("/metrics", prom());
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.headers_contain("retry-after", ""), "{r:?}");
    // Open endpoints stay open to a blocked address; the webhook says "later" with a 503,
    // which Alertmanager retries, even with the right token.
    assert_eq!(get("/health/live", None).status, 200);
    assert_eq!(post(&format!("Bearer {TOKEN}")), 503);

    // No secret in the answers, the landing page, the audit log or the log.
    let events = get_with(&hale.url("/heal/events"), &[]).body;
    for body in [summary.body, events, landing] {
        for secret in [TOKEN, PROM_PASSWORD, ALICE_PASSWORD] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
    }
    let mut hale = hale;
    let _ = hale.child.kill();
    let _ = hale.child.wait();
    let log = hale.drain_log().join("\n");
    for secret in [TOKEN, PROM_PASSWORD, ALICE_PASSWORD, "$2b$", "$2y$"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn the_web_config_reloads_on_change_and_sighup_and_a_bad_file_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    // Polling with the new password before the reload lands fails; do not block for it.
    let (web, config) = users_config(dir.path(), "{per_minute: 0, burst: 0}");
    let hale = Hale::start(&[
        &format!("--web.config.file={}", web.display()),
        &format!("--config={}", config.path().display()),
    ]);
    let metrics = |user: &str, password: &str| {
        get_with(
            &hale.url("/metrics"),
            &[("Authorization", &basic(user, password))],
        )
        .status
    };
    assert_eq!(metrics("alice", ALICE_PASSWORD), 200);
    // A new password for alice: picked up when the file changes.
    std::fs::write(
        &web,
        format!(
            "basic_auth_users:\n  prometheus: {}\n  alice: {}\n",
            bcrypt(PROM_PASSWORD),
            bcrypt("rotated")
        ),
    )
    .unwrap();
    poll(
        "the changed file in force",
        Duration::from_secs(60),
        || match metrics("alice", "rotated") {
            200 => Ok(()),
            s => Err(s.to_string()),
        },
    );
    // A broken file: an error in the log, and the settings in force stay.
    std::fs::write(&web, "basic_auth_users:\n  alice: not-a-hash\n").unwrap();
    let log = poll("the reload error", Duration::from_secs(60), || {
        let line = hale
            .log
            .recv_timeout(Duration::from_secs(1))
            .map_err(|e| e.to_string())?;
        if line.contains("web config reload failed") {
            Ok(line)
        } else {
            Err(line)
        }
    });
    assert!(
        log.contains("not a bcrypt hash") && !log.contains("not-a-hash"),
        "{log}"
    );
    assert_eq!(metrics("alice", "rotated"), 200);
    // SIGHUP reloads at once.
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  alice: {}\n", bcrypt("third")),
    )
    .unwrap();
    let pid = hale.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    poll(
        "the SIGHUP reload",
        Duration::from_secs(60),
        || match metrics("alice", "third") {
            200 => Ok(()),
            s => Err(s.to_string()),
        },
    );
    // SIGHUP did not stop hale, and the removed user is gone.
    assert_eq!(metrics("prometheus", PROM_PASSWORD), 401);
}

#[test]
fn healing_without_credentials_on_a_network_address_needs_words() {
    let dir = tempfile::tempdir().unwrap();
    let heal = |consent: &str| {
        temp_file(&format!(
            "heal:\n  auth: {{disabled: true{consent}}}\n  audit: {{path: {}}}\n  rules:\n    - name: note\n      match: {{alertname: Note}}\n      action: exec\n      argv: ['true']\n",
            dir.path().join("heal.db").display()
        ))
    };
    let plain = heal("");
    let out = run_hale(&[
        &format!("--config={}", plain.path().display()),
        "--web.listen-address=:0",
    ]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("not a loopback address")
            && err.contains(hale::heal::auth::UNAUTHENTICATED_CONSENT),
        "{err}"
    );
    let wrong = heal(", allow_unauthenticated_from_network: 'yes'");
    let out = run_hale(&[
        &format!("--config={}", wrong.path().display()),
        "--web.listen-address=:0",
    ]);
    assert!(!out.status.success(), "the words, not any value");
    // On loopback it starts; with the words it starts anywhere.
    let _local = Hale::start(&[&format!("--config={}", plain.path().display())]);
    let agreed = heal(&format!(
        ", allow_unauthenticated_from_network: '{}'",
        hale::heal::auth::UNAUTHENTICATED_CONSENT
    ));
    let _open = Hale::start(&[
        &format!("--config={}", agreed.path().display()),
        "--web.listen-address=0.0.0.0:0",
    ]);
}

/// Opens a connection and sends part of a request, as a slowloris client does.
fn slow_client(address: &str) -> TcpStream {
    let mut s = TcpStream::connect(address).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    s
}

/// Reads until the server closes the connection; the deadline only guards against a hang.
fn closed_by_server(mut s: TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn slow_clients_lose_their_connection_and_limits_answer() {
    let hale = Hale::start(&[
        "--web.read-header-timeout=1s",
        "--web.request-timeout=2s",
        "--web.max-connections=2",
        // All three clients are 127.0.0.1: give it every slot, to test the header timeout
        // alone (tests/hostile.rs covers the per-client cap).
        "--web.max-connections-per-client=2",
        "--web.max-header-bytes=8192",
    ]);
    // Two slow clients take every connection slot; a third request waits for a slot, and gets
    // one when the header timeout drops them.
    let a = slow_client(&hale.address);
    let b = slow_client(&hale.address);
    let started = Instant::now();
    let r = common::get(&hale.url("/health/live"), None);
    assert_eq!(r.status, 200);
    assert!(closed_by_server(a), "the slow client was dropped");
    assert!(closed_by_server(b));
    eprintln!(
        "a request behind two slow clients waited {:?}",
        started.elapsed()
    );

    // Headers over the cap: 431.
    let big = "x".repeat(10_000);
    let r = get_with(&hale.url("/metrics"), &[("X-Big", &big)]);
    assert_eq!(r.status, 431, "{}", r.body);

    // A body that trickles in: the request timeout answers 408.
    let mut s = TcpStream::connect(&hale.address).unwrap();
    s.write_all(b"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    // No healing configured here: the 404 comes without waiting for the body
    // (a_trickling_webhook_body_times_out covers the timeout).
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[test]
fn a_trickling_webhook_body_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = temp_file(&format!(
        "heal:\n  auth: {{bearer_token: {TOKEN}}}\n  audit: {{path: {}}}\n  rules:\n    - name: note\n      match: {{alertname: Note}}\n      action: exec\n      argv: ['true']\n",
        dir.path().join("heal.db").display()
    ));
    let hale = Hale::start(&[
        &format!("--config={}", config.path().display()),
        "--web.request-timeout=1s",
    ]);
    let mut s = TcpStream::connect(&hale.address).unwrap();
    s.write_all(
        format!("POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{").as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    // 503, not 408: Alertmanager retries a 5xx and drops a 4xx.
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 10"),
        "{answer}"
    );
    let events = get_with(
        &hale.url("/heal/events"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(events.body, r#"{"events":[]}"#, "nothing recorded");
}

#[test]
fn the_webhook_rate_is_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let config = temp_file(&format!(
        "web:\n  rate_limit:\n    webhook: {{per_second: 1, burst: 2}}\nheal:\n  auth: {{bearer_token: {TOKEN}}}\n  audit: {{path: {}}}\n  rules:\n    - name: note\n      match: {{alertname: Note}}\n      action: exec\n      argv: ['true']\n",
        dir.path().join("heal.db").display()
    ));
    let hale = Hale::start(&[&format!("--config={}", config.path().display())]);
    let post = |fp: &str| {
        let body = format!(
            r#"{{"version":"4","status":"firing","alerts":[{{"status":"firing","labels":{{"alertname":"Note"}},"startsAt":"2026-11-23T04:00:00Z","fingerprint":"{fp}"}}]}}"#
        );
        post_with(
            &hale.url("/webhook/alertmanager"),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            body.as_bytes(),
        )
    };
    assert_eq!(post("a").status, 202);
    assert_eq!(post("b").status, 202);
    let r = post("c");
    // 503, not 429: Alertmanager retries a 5xx and drops a 4xx.
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers_contain("retry-after", ""), "{r:?}");
    // The refused request was not recorded; Alertmanager's retry will be judged afresh.
    let events = get_with(
        &hale.url("/heal/events"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
    .body;
    assert!(
        events.contains("\"a\"") && !events.contains("\"c\""),
        "{events}"
    );
    // Other endpoints are not rate-limited.
    assert_eq!(get_with(&hale.url("/metrics"), &[]).status, 200);
}
