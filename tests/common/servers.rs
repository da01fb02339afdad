//! Real Prometheus and Alertmanager servers (Debian's `prometheus` and `prometheus-alertmanager`,
//! installed by scripts/test.sh) on free loopback ports with throwaway storage, killed when the
//! test ends. Tests drive them through their HTTP APIs.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, get, KillOnDrop};

/// Polls `probe` until it returns `Some`; the deadline only guards against a hang, and the
/// panic shows the last state.
pub fn poll<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) => {
                assert!(Instant::now() < deadline, "never {what}; last: {last}");
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// One server process: its config file, port and storage in a temporary directory.
struct Server {
    port: u16,
    config: PathBuf,
    _child: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Writes `config` to `file_name`, starts `program` with `--config.file`, its storage flag
    /// pointing into the directory, a loopback `--web.listen-address` and `extra`, and waits
    /// until `/-/ready` answers.
    fn start(
        program: &str,
        file_name: &str,
        storage_flag: &str,
        config: &str,
        extra: &[&str],
    ) -> Server {
        Server::start_on(free_port(), program, file_name, storage_flag, config, extra)
    }

    fn start_on(
        port: u16,
        program: &str,
        file_name: &str,
        storage_flag: &str,
        config: &str,
        extra: &[&str],
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(file_name);
        std::fs::write(&file, config).unwrap();
        let child = Command::new(program)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--{storage_flag}={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test.sh installs it)"));
        let child = KillOnDrop(child);
        poll(&format!("{program} ready"), Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            let r = get(&format!("http://127.0.0.1:{port}/-/ready"), None);
            if r.status == 200 {
                Ok(())
            } else {
                Err(format!("{} {}", r.status, r.body))
            }
        });
        Server {
            port,
            config: file,
            _child: child,
            _dir: dir,
        }
    }
}

/// A running Prometheus.
pub struct Prometheus {
    pub port: u16,
    _server: Server,
}

impl Prometheus {
    /// Starts Prometheus on `config` (the text of prometheus.yml; rule files given by absolute
    /// path) and waits until it is ready.
    pub fn start(config: &str) -> Prometheus {
        Prometheus::start_with(config, &[])
    }

    /// [`Prometheus::start`] with more flags.
    pub fn start_with(config: &str, extra: &[&str]) -> Prometheus {
        let server = Server::start(
            "prometheus",
            "prometheus.yml",
            "storage.tsdb.path",
            config,
            extra,
        );
        Prometheus {
            port: server.port,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An instant query's whole JSON answer (`status`, `data` or `error`).
    pub fn query(&self, q: &str) -> Value {
        let r = get(
            &self.url(&format!(
                "/api/v1/query?{}",
                serde_urlencoded::to_string([("query", q)]).unwrap()
            )),
            None,
        );
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{q}: {e}: {}", r.body))
    }

    /// An instant query's result vector; panics on a query error.
    pub fn vector(&self, q: &str) -> Vec<Value> {
        let v = self.query(q);
        assert_eq!(v["status"], "success", "{q}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `q` returns at least one series.
    pub fn wait_for(&self, what: &str, q: &str) -> Vec<Value> {
        poll(what, Duration::from_secs(120), || {
            let r = self.vector(q);
            if r.is_empty() {
                Err(format!("{q} is empty"))
            } else {
                Ok(r)
            }
        })
    }

    /// `GET /api/v1/alerts`' alerts.
    pub fn alerts(&self) -> Vec<Value> {
        let r = get(&self.url("/api/v1/alerts"), None);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        v["data"]["alerts"].as_array().cloned().unwrap_or_default()
    }
}

/// A running Alertmanager, clustering off.
pub struct Alertmanager {
    pub port: u16,
    server: Server,
}

impl Alertmanager {
    /// Starts Alertmanager on `config` (the text of alertmanager.yml) and waits until it is ready.
    pub fn start(config: &str) -> Alertmanager {
        let server = Server::start(
            "prometheus-alertmanager",
            "alertmanager.yml",
            "storage.path",
            config,
            &["--cluster.listen-address="],
        );
        Alertmanager {
            port: server.port,
            server,
        }
    }

    /// Starts one peer of a cluster over loopback gossip: web on `port`, gossip on `gossip`,
    /// joining the peers whose gossip ports are `peers`. Waits until it is ready, not settled.
    pub fn start_peer(config: &str, port: u16, gossip: u16, peers: &[u16]) -> Alertmanager {
        let listen = format!("--cluster.listen-address=127.0.0.1:{gossip}");
        let mut extra = vec![listen, "--cluster.settle-timeout=2s".to_string()];
        extra.extend(
            peers
                .iter()
                .map(|p| format!("--cluster.peer=127.0.0.1:{p}")),
        );
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let server = Server::start_on(
            port,
            "prometheus-alertmanager",
            "alertmanager.yml",
            "storage.path",
            config,
            &extra,
        );
        Alertmanager { port, server }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v2/alerts` (active and muted).
    pub fn alerts(&self) -> Vec<Value> {
        let r = get(&format!("{}/api/v2/alerts", self.url()), None);
        serde_json::from_str(&r.body).unwrap_or_default()
    }

    /// `GET /api/v2/silences`' active ones.
    pub fn silences(&self) -> Vec<Value> {
        let r = get(&format!("{}/api/v2/silences", self.url()), None);
        let all: Vec<Value> = serde_json::from_str(&r.body).unwrap_or_default();
        all.into_iter()
            .filter(|s| s["status"]["state"] == "active")
            .collect()
    }

    /// Creates a silence of `matchers` ((name, value, is_regex)) for an hour; returns its ID.
    pub fn silence(&self, matchers: &[(&str, &str, bool)]) -> String {
        let now = time::OffsetDateTime::now_utc();
        let rfc3339 = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let body = serde_json::json!({
            "matchers": matchers.iter().map(|(n, v, re)| serde_json::json!({
                "name": n, "value": v, "isRegex": re, "isEqual": true
            })).collect::<Vec<_>>(),
            "startsAt": rfc3339(now - time::Duration::seconds(1)),
            "endsAt": rfc3339(now + time::Duration::hours(1)),
            "createdBy": "hale tests",
            "comment": "the kill switch",
        });
        let r = super::post_with(
            &format!("{}/api/v2/silences", self.url()),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "silence: {}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        v["silenceID"].as_str().unwrap().to_string()
    }

    /// Expires a silence (`DELETE /api/v2/silence/{id}`).
    pub fn expire(&self, id: &str) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let r = agent
            .delete(&format!("{}/api/v2/silence/{id}", self.url()))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "expire {id}");
    }

    /// Replaces the config and has Alertmanager reload it (`POST /-/reload`).
    pub fn reload(&self, config: &str) {
        std::fs::write(&self.server.config, config).unwrap();
        let r = super::post_with(&format!("{}/-/reload", self.url()), &[], b"");
        assert_eq!(r.status, 200, "alertmanager reload: {}", r.body);
    }
}
