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
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(file_name);
        std::fs::write(&file, config).unwrap();
        let port = free_port();
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
        let server = Server::start(
            "prometheus",
            "prometheus.yml",
            "storage.tsdb.path",
            config,
            &[],
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

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the config and has Alertmanager reload it (`POST /-/reload`).
    pub fn reload(&self, config: &str) {
        std::fs::write(&self.server.config, config).unwrap();
        let r = super::post_with(&format!("{}/-/reload", self.url()), &[], b"");
        assert_eq!(r.status, 200, "alertmanager reload: {}", r.body);
    }
}
