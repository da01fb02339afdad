//! Fleet mode end to end, with the real servers: two Debian `prometheus-alertmanager`s
//! clustered over loopback gossip, running the shipped `deploy/fleet/alertmanager.yml`; a real
//! Prometheus (1 s scrapes and evaluations, the shipped `rules/containers.yml`) sending to both
//! and scraping three hales through file-based service discovery, each target labelled with
//! its `hale_host`; three hales standing for three hosts, each pulling its own host's alerts
//! (`heal.pull`) with the webhook off, each over its own containers on the real Docker engine.
//!
//! Unhealthy containers on two hosts are restarted once each, by their own host's hale only,
//! though both peers report them; a silence on `heal=~".+"` (the kill switch) made on one peer
//! stops the third host's hale until it expires; with one peer killed, healing goes on through
//! the other; the webhook answers 404 whatever credentials it is sent. Then: peers that restart
//! empty, all peers down, and Prometheus gone cause no second decision and none from absence;
//! a partitioned pair neither doubles an action nor loses one side's silence; a lying or hung
//! peer is counted and logged and acted on never; TLS and basic auth as Alertmanager's own
//! web config requires them.

mod common;

use std::time::Duration;

use common::docker::{start_connected, Scope};
use common::servers::{poll, Alertmanager, Prometheus};
use common::{free_port, get_with, post_with, temp_file, Hale};
use serde_json::Value;

const TOKEN: &str = "fleet-t0ken";
const STEP: Duration = Duration::from_secs(240);

struct Host {
    name: &'static str,
    scope: Scope,
    hale: Hale,
    _config: tempfile::NamedTempFile,
}

impl Host {
    fn web(&self) -> String {
        self.scope.name("web")
    }

    fn events(&self, query: &str) -> Vec<Value> {
        let r = get_with(
            &self.hale.url(&format!("/heal/events?{query}")),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        v["events"].as_array().cloned().unwrap_or_default()
    }

    fn count(&self, result: &str) -> usize {
        self.events(&format!("result={result}")).len()
    }

    fn wait_count(&self, result: &str, n: usize) -> Vec<Value> {
        poll(&format!("{} with {n} {result}", self.name), STEP, || {
            let e = self.events(&format!("result={result}"));
            if e.len() >= n {
                Ok(e)
            } else {
                Err(format!("{:?}", self.events("")))
            }
        })
    }

    fn started_at(&self) -> String {
        self.scope.inspect(&self.web(), "{{.State.StartedAt}}")
    }

    fn sicken(&self) {
        self.scope
            .docker(&["exec", &self.web(), "touch", "/run/sick"]);
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let r = common::get(&self.hale.url("/metrics"), None);
        common::value(&common::parse(&r.body), name, labels)
    }
}

fn start_host(
    name: &'static str,
    dir: &std::path::Path,
    peers: &[&Alertmanager],
    dry_run: bool,
) -> Host {
    let scope = Scope::new(&format!("fleet-{name}"));
    // Healthy while /run/sick is absent; /run is a tmpfs, so a restart makes it healthy again.
    scope.run(
        "web",
        &[
            "--tmpfs",
            "/run",
            "--health-cmd",
            "test ! -e /run/sick",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--stop-timeout",
            "1",
        ],
        &["sleep", "100000"],
    );
    let urls: Vec<String> = peers.iter().map(|p| p.url()).collect();
    let config = temp_file(&format!(
        "{selection}  state_file: null
heal:
  webhook: false
  dry_run: {dry_run}
  cooldown: 0s
  auth: {{bearer_token: {TOKEN}}}
  audit: {{path: {db}}}
  pull:
    alertmanagers: {urls:?}
    host: {name}
    receiver: hale
    interval: 1s
    timeout: 2s
  rules:
    - name: restart-unhealthy
      match: {{alertname: ContainerUnhealthy}}
      target_label: name
      action: restart
      allow: {{names: ['{prefix}*']}}
",
        selection = scope.selection(),
        db = dir.join(format!("{name}.db")).display(),
        prefix = scope.name(""),
    ));
    let hale = start_connected(&[
        &format!("--config={}", config.path().display()),
        "--collector.disable-defaults",
        "--collector.docker",
        "--collector.heal",
    ]);
    Host {
        name,
        scope,
        hale,
        _config: config,
    }
}

/// Prometheus (the shipped container rules) scraping `hosts` by file-based discovery, each
/// target labelled with its `hale_host`, sending to the Alertmanagers on `alertmanagers`; it is
/// returned once every host's container is healthy in it.
fn prometheus_for(
    dir: &std::path::Path,
    hosts: &[Host],
    alertmanagers: &[u16],
    extra: &[&str],
) -> Prometheus {
    let targets = dir.join("targets.json");
    let groups: Vec<Value> = hosts
        .iter()
        .map(|h| serde_json::json!({"targets": [h.hale.address.to_string()], "labels": {"hale_host": h.name}}))
        .collect();
    std::fs::write(&targets, serde_json::to_string(&groups).unwrap()).unwrap();
    let rules = std::fs::canonicalize("rules/containers.yml").unwrap();
    let ams: Vec<String> = alertmanagers
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let prometheus = Prometheus::start_with(
        &format!(
            "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ['{rules}']
alerting:
  alertmanagers:
    - static_configs:
        - targets: {ams:?}
scrape_configs:
  - job_name: hale
    file_sd_configs:
      - files: ['{targets}']
        refresh_interval: 1s
",
            rules = rules.display(),
            targets = targets.display(),
        ),
        extra,
    );
    for h in hosts {
        prometheus.wait_for(
            "each host's container healthy in Prometheus",
            &format!(
                r#"hale_container_health_status{{job="hale",hale_host="{}",name="{}",status="healthy"}} == 1"#,
                h.name,
                h.web()
            ),
        );
    }
    prometheus
}

#[test]
fn three_hosts_pull_their_own_alerts_from_a_clustered_pair() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string("deploy/fleet/alertmanager.yml").unwrap();
    let (web1, web2, gossip1, gossip2) = (free_port(), free_port(), free_port(), free_port());
    let am1 = Alertmanager::start_peer(&shipped, web1, gossip1, &[gossip2]);
    let am2 = Alertmanager::start_peer(&shipped, web2, gossip2, &[gossip1]);
    let hosts: Vec<Host> = ["h1", "h2", "h3"]
        .into_iter()
        .map(|h| start_host(h, dir.path(), &[&am1, &am2], false))
        .collect();
    let [h1, h2, h3] = &hosts[..] else {
        unreachable!()
    };

    let _prometheus = prometheus_for(dir.path(), &hosts, &[web1, web2], &[]);

    // The webhook is off: 404 with valid credentials, and nothing recorded.
    let r = post_with(
        &h1.hale.url("/webhook/alertmanager"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        common::heal::unhealthy("f1", "2026-12-01T00:00:00Z", &h1.web()).as_bytes(),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(h1.events("").is_empty());

    // --- Two hosts' containers unhealthy: each restarted once, by its own hale.
    let before = [h1.started_at(), h2.started_at()];
    h1.sicken();
    h2.sicken();
    let mut decided = Vec::new();
    for h in [h1, h2] {
        let succeeded = h.wait_count("succeeded", 1);
        assert_eq!(succeeded[0]["target"], h.web());
        assert_eq!(succeeded[0]["source"], "pull");
        decided.push(succeeded[0]["peer"].as_str().unwrap_or("").to_string());
    }
    assert_ne!(h1.started_at(), before[0], "h1's container restarted");
    assert_ne!(h2.started_at(), before[1], "h2's container restarted");
    // Both peers reported them (the decisions name the peers), and they acted once.
    for peer in &decided {
        assert!(
            peer.contains(&am1.url()) && peer.contains(&am2.url()),
            "{peer}"
        );
    }
    std::thread::sleep(Duration::from_secs(5));
    for h in [h1, h2] {
        let executed = h.events("result=executed");
        assert_eq!(executed.len(), 1, "{}: acted once: {executed:?}", h.name);
        assert!(
            h.events("").iter().all(|e| e["target"] == h.web()),
            "only its own"
        );
    }
    assert!(h3.events("").is_empty(), "h3 had nothing to do");

    // --- The kill switch: one silence, made on one peer, stops every hale.
    let silence = am2.silence(&[("heal", ".+", true)]);
    poll("the silence gossiped to the other peer", STEP, || {
        if am1.silences().iter().any(|s| s["id"] == silence.as_str()) {
            Ok(())
        } else {
            Err(format!("{:?}", am1.silences()))
        }
    });
    let before = h3.started_at();
    h3.sicken();
    poll("h3's alert firing and muted", STEP, || {
        match h3.metric("hale_heal_pull_alerts", &[("state", "muted")]) {
            Some(v) if v >= 1.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let muted_alert = am1
        .alerts()
        .into_iter()
        .find(|a| a["labels"]["hale_host"] == "h3")
        .expect("am1 holds h3's alert");
    assert_eq!(muted_alert["status"]["state"], "suppressed");
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        h3.events("").is_empty(),
        "nothing decided under the kill switch"
    );
    assert_eq!(h3.started_at(), before);

    // Lifting it lets h3's hale act, once.
    am1.expire(&silence);
    let succeeded = h3.wait_count("succeeded", 1);
    assert_eq!(succeeded[0]["target"], h3.web());
    // hale keys alerts by the fingerprint it computes from the labels: Alertmanager's.
    assert_eq!(succeeded[0]["fingerprint"], muted_alert["fingerprint"]);
    assert_ne!(h3.started_at(), before);

    // --- One peer killed mid-run: healing goes on through the other.
    poll("h1's first alert resolved on am2", STEP, || {
        let open = am2
            .alerts()
            .into_iter()
            .filter(|a| a["labels"]["hale_host"] == "h1")
            .count();
        if open == 0 {
            Ok(())
        } else {
            Err(format!("{open} open"))
        }
    });
    drop(am1);
    let before = h1.started_at();
    h1.sicken();
    let succeeded = h1.wait_count("succeeded", 2);
    assert_eq!(
        succeeded[0]["peer"],
        am2.url(),
        "decided on am2's word alone"
    );
    assert_ne!(h1.started_at(), before);
    assert_eq!(h1.count("executed"), 2, "one action per firing");
    let refused = h1
        .metric(
            "hale_heal_pull_errors_total",
            &[
                ("peer", &format!("http://127.0.0.1:{web1}")),
                ("reason", "connect"),
            ],
        )
        .unwrap_or(0.0);
    assert!(refused >= 1.0, "the dead peer's polls count as errors");
    assert_eq!(h2.count("executed"), 1);
    assert_eq!(h3.count("executed"), 1);
}

/// Peers that restart empty, settle, and get the alert again from Prometheus (which resends
/// every second here) cause no second decision: the alert stays firing throughout (hale is in
/// dry-run, so the container stays unhealthy), and polls with no ready peer change nothing.
#[test]
fn peers_restarting_empty_or_all_down_cause_no_second_decision() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string("deploy/fleet/alertmanager.yml").unwrap();
    let (web1, web2, gossip1, gossip2) = (free_port(), free_port(), free_port(), free_port());
    let am1 = Alertmanager::start_peer(&shipped, web1, gossip1, &[gossip2]);
    let am2 = Alertmanager::start_peer(&shipped, web2, gossip2, &[gossip1]);
    let hosts = vec![start_host("r1", dir.path(), &[&am1, &am2], true)];
    let h = &hosts[0];
    let prometheus = prometheus_for(
        dir.path(),
        &hosts,
        &[web1, web2],
        &["--rules.alert.resend-delay=1s"],
    );
    h.sicken();
    let first = h.wait_count("dry_run", 1);
    let fingerprint = first[0]["fingerprint"].clone();
    let has_it = |am: &Alertmanager| {
        am.alerts()
            .iter()
            .any(|a| a["labels"]["hale_host"] == "r1" && a["fingerprint"] == fingerprint)
    };

    // One peer restarts with an empty store; Prometheus refills it.
    drop(am1);
    poll("hale sees am1 gone", STEP, || {
        match h.metric(
            "hale_heal_pull_peer_cluster_status",
            &[
                ("peer", &format!("http://127.0.0.1:{web1}")),
                ("status", "unknown"),
            ],
        ) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let am1 = Alertmanager::start_peer(&shipped, web1, gossip1, &[gossip2]);
    poll("am1 has the alert again", STEP, || {
        if has_it(&am1) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    // Both peers down for longer than resolve_after polls, then back, empty.
    drop(am1);
    drop(am2);
    std::thread::sleep(Duration::from_secs(6));
    let am1 = Alertmanager::start_peer(&shipped, web1, gossip1, &[gossip2]);
    let am2 = Alertmanager::start_peer(&shipped, web2, gossip2, &[gossip1]);
    poll("both peers have the alert again", STEP, || {
        if has_it(&am1) && has_it(&am2) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    std::thread::sleep(Duration::from_secs(5));
    let all = h.events("");
    assert_eq!(all.len(), 1, "one decision for one firing: {all:?}");
    assert_eq!(
        prometheus
            .vector(r#"ALERTS{alertname="ContainerUnhealthy",alertstate="firing",hale_host="r1"}"#)
            .len(),
        1,
        "it never stopped firing"
    );

    // Prometheus goes away: the alert expires from both peers (its endsAt passes), which ends
    // the episode and decides nothing.
    drop(prometheus);
    poll("the alert expired from both peers", STEP, || {
        if !has_it(&am1) && !has_it(&am2) {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
    poll("hale sees no active alert", STEP, || {
        match h.metric("hale_heal_pull_alerts", &[("state", "active")]) {
            Some(0.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    std::thread::sleep(Duration::from_secs(5));
    let all = h.events("");
    assert_eq!(all.len(), 1, "absence decided nothing: {all:?}");
}

/// A partition: two peers that do not gossip (each clustered, neither knowing the other), so a
/// silence made on one is unknown to the other. hale holds back while either mutes the alert,
/// and acts once when neither does, although both report it and share no notification log.
#[test]
fn a_partitioned_pair_neither_doubles_an_action_nor_loses_a_silence() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string("deploy/fleet/alertmanager.yml").unwrap();
    let (web1, web2) = (free_port(), free_port());
    let am1 = Alertmanager::start_peer(&shipped, web1, free_port(), &[]);
    let am2 = Alertmanager::start_peer(&shipped, web2, free_port(), &[]);
    let hosts = vec![start_host("p1", dir.path(), &[&am1, &am2], false)];
    let h = &hosts[0];
    let _prometheus = prometheus_for(dir.path(), &hosts, &[web1, web2], &[]);
    let silence = am1.silence(&[("hale_host", "p1", false)]);
    let before = h.started_at();
    h.sicken();
    let state_on = |am: &Alertmanager| {
        am.alerts()
            .into_iter()
            .find(|a| a["labels"]["hale_host"] == "p1")
            .map(|a| a["status"]["state"].as_str().unwrap_or("").to_string())
    };
    poll("firing on both sides of the partition", STEP, || {
        match (state_on(&am1).as_deref(), state_on(&am2).as_deref()) {
            (Some("suppressed"), Some("active")) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    poll("hale sees it muted", STEP, || {
        match h.metric("hale_heal_pull_alerts", &[("state", "muted")]) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        h.events("").is_empty(),
        "one peer's silence holds hale back"
    );
    assert_eq!(h.started_at(), before);
    am1.expire(&silence);
    let succeeded = h.wait_count("succeeded", 1);
    let peers = succeeded[0]["peer"].as_str().unwrap_or("");
    assert!(
        peers.contains(&am1.url()) && peers.contains(&am2.url()),
        "{peers}"
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(h.count("executed"), 1, "one action, not one per peer");
}

/// A peer that lies: what it answers is set per test step. Nothing real answers garbage, so
/// this one is scripted.
struct LyingPeer {
    url: String,
    mode: std::sync::Arc<parking_lot::Mutex<&'static str>>,
}

impl LyingPeer {
    fn start() -> LyingPeer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = std::sync::Arc::new(parking_lot::Mutex::new("ok"));
        let shared = std::sync::Arc::clone(&mode);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mode = *shared.lock();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let status_call = head.starts_with("GET /api/v2/status");
                    let alert = r#"{"labels":{"alertname":"ContainerUnhealthy","hale_host":"liar","name":"x"},"annotations":{},"startsAt":"2026-12-01T00:00:00Z","status":{"state":"active","silencedBy":[],"inhibitedBy":[]}}"#;
                    let (code, body): (u16, String) = match (mode, status_call) {
                        ("hang", _) => {
                            std::thread::sleep(Duration::from_secs(30));
                            return;
                        }
                        ("unauthorized", _) => (401, "no".into()),
                        ("v1", _) => (404, "404 page not found".into()),
                        ("settling", true) => (200, r#"{"cluster":{"status":"settling"}}"#.into()),
                        ("settling", false) => (200, format!("[{alert}]")),
                        (_, true) => (200, r#"{"cluster":{"status":"ready"}}"#.into()),
                        ("garbage", false) => (200, "<html>not json".into()),
                        ("huge", false) => (200, format!("[{}]", vec![alert; 20_000].join(","))),
                        ("foreign", false) => {
                            (200, format!("[{}]", alert.replace("liar", "someone-else")))
                        }
                        (_, false) => (200, "[]".into()),
                    };
                    let _ = write!(
                        s,
                        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        LyingPeer { url, mode }
    }

    fn set(&self, mode: &'static str) {
        *self.mode.lock() = mode;
    }
}

#[test]
fn a_lying_or_hung_peer_gets_a_metric_and_a_log_line_and_no_action() {
    let peer = LyingPeer::start();
    let scope = Scope::new("fleet-liar");
    let dir = tempfile::tempdir().unwrap();
    let config = temp_file(&format!(
        "{selection}  state_file: null
heal:
  webhook: false
  audit: {{path: {db}}}
  auth: {{bearer_token: {TOKEN}}}
  pull:
    alertmanagers: ['{url}']
    host: liar
    interval: 1s
    timeout: 1s
    max_body_bytes: 65536
  rules:
    - name: restart
      match: {{alertname: ContainerUnhealthy}}
      action: restart
      allow: {{names: ['*']}}
",
        selection = scope.selection(),
        db = dir.path().join("heal.db").display(),
        url = peer.url,
    ));
    let hale = Hale::start(&[
        &format!("--config={}", config.path().display()),
        "--collector.disable-defaults",
        "--collector.heal",
    ]);
    let errors = |reason: &str| {
        let r = common::get(&hale.url("/metrics"), None);
        common::value(
            &common::parse(&r.body),
            "hale_heal_pull_errors_total",
            &[("peer", &peer.url), ("reason", reason)],
        )
        .unwrap_or(0.0)
    };
    let mut log: Vec<String> = Vec::new();
    for (mode, reason) in [
        ("garbage", "decode"),
        ("huge", "too_large"),
        ("v1", "http_status"),
        ("unauthorized", "auth"),
        ("hang", "timeout"),
    ] {
        peer.set(mode);
        poll(
            &format!("{mode} counted and logged as {reason}"),
            STEP,
            || {
                log.extend(hale.log.try_iter());
                let logged = log.iter().any(|l| {
                    l.contains("polling an Alertmanager peer failed")
                        && l.contains(&format!("reason={reason}"))
                });
                if errors(reason) >= 1.0 && logged {
                    Ok(())
                } else {
                    Err(log.join("\n"))
                }
            },
        );
    }
    // A settling peer's answer is not used: its alert (for this host) is not decided.
    peer.set("settling");
    poll("the peer seen settling", STEP, || {
        let r = common::get(&hale.url("/metrics"), None);
        match common::value(
            &common::parse(&r.body),
            "hale_heal_pull_peer_cluster_status",
            &[("peer", &peer.url), ("status", "settling")],
        ) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    std::thread::sleep(Duration::from_secs(3));
    // Alerts for another host are dropped even when the peer ignores the filter.
    peer.set("foreign");
    poll("foreign alerts counted", STEP, || {
        let r = common::get(&hale.url("/metrics"), None);
        match common::value(
            &common::parse(&r.body),
            "hale_heal_pull_peer_foreign_alerts",
            &[("peer", &peer.url)],
        ) {
            Some(v) if v >= 1.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    // Through all of it: no decision, and hale serves.
    let r = get_with(
        &hale.url("/heal/events"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["events"].as_array().map(Vec::len), Some(0), "{}", r.body);
}

/// hale reaches an Alertmanager behind its own web config (`--web.config.file`: TLS and basic
/// auth, bcrypt): with the CA and the password it polls; with a wrong password it counts
/// `auth`; without the CA it cannot verify the peer and counts `connect`.
#[test]
fn tls_and_basic_auth_as_alertmanagers_web_config_requires() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = common::pki::Pki::new(d, "ca");
    pki.issue("am", &["127.0.0.1"]);
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config: {{cert_file: {0}/am.crt, key_file: {0}/am.key}}\nbasic_auth_users: {{hale: '{1}'}}\n",
            d.display(),
            bcrypt::hash("am-pa55", 4).unwrap()
        ),
    )
    .unwrap();
    let am_config = d.join("am.yml");
    std::fs::write(
        &am_config,
        "route: {receiver: hale}\nreceivers: [{name: hale}]\n",
    )
    .unwrap();
    let port = free_port();
    let _am = common::KillOnDrop(
        std::process::Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!("--storage.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.config.file={}", web.display()))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager (scripts/test.sh installs it)"),
    );
    poll("alertmanager listening", STEP, || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let url = format!("https://127.0.0.1:{port}");
    let start = |name: &str, password: &str, ca: bool| {
        let password_file = d.join(format!("{name}.password"));
        std::fs::write(&password_file, format!("{password}\n")).unwrap();
        let tls = if ca {
            format!("    tls_config: {{ca_file: {}/ca.crt}}\n", d.display())
        } else {
            String::new()
        };
        let config = temp_file(&format!(
            "heal:
  webhook: false
  audit: {{path: {db}}}
  pull:
    alertmanagers: ['{url}']
    host: {name}
    interval: 1s
    timeout: 2s
    basic_auth: {{username: hale, password_file: {pw}}}
{tls}  rules:
    - name: note
      match: {{alertname: Never}}
      action: exec
      argv: [/bin/true]
",
            db = d.join(format!("{name}.db")).display(),
            pw = password_file.display(),
        ));
        let hale = Hale::start(&[
            &format!("--config={}", config.path().display()),
            "--collector.disable-defaults",
            "--collector.heal",
        ]);
        (hale, config)
    };
    let metric = |hale: &Hale, name: &str, labels: &[(&str, &str)]| {
        let r = common::get(&hale.url("/metrics"), None);
        common::value(&common::parse(&r.body), name, labels).unwrap_or(0.0)
    };
    let (good, _c1) = start("good", "am-pa55", true);
    poll("the right credentials poll", STEP, || {
        let ok = metric(
            &good,
            "hale_heal_pull_last_success_timestamp_seconds",
            &[("peer", &url)],
        );
        let disabled = metric(
            &good,
            "hale_heal_pull_peer_cluster_status",
            &[("peer", &url), ("status", "disabled")],
        );
        if ok > 0.0 && disabled == 1.0 {
            Ok(())
        } else {
            Err(format!("last success {ok}, disabled {disabled}"))
        }
    });
    let (wrong, _c2) = start("wrong", "not-it", true);
    let (no_ca, _c3) = start("noca", "am-pa55", false);
    for (hale, reason) in [(&wrong, "auth"), (&no_ca, "connect")] {
        poll(&format!("counted as {reason}"), STEP, || {
            let n = metric(
                hale,
                "hale_heal_pull_errors_total",
                &[("peer", &url), ("reason", reason)],
            );
            if n >= 1.0 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        });
        assert_eq!(
            metric(
                hale,
                "hale_heal_pull_last_success_timestamp_seconds",
                &[("peer", &url)]
            ),
            0.0
        );
    }
}
