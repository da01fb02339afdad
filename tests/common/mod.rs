//! Shared helpers for hale's integration tests: running the real binary on a loopback port,
//! HTTP requests, driving the app in-process, and a small exposition-text parser for assertions.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod docker;
pub mod heal;
pub mod pki;
pub mod servers;

/// A `hale` process listening on a loopback port; killed on drop.
pub struct Hale {
    pub child: Child,
    pub address: String,
    /// Everything hale logged after the `listening` line.
    pub log: mpsc::Receiver<String>,
}

impl Drop for Hale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hale {
    /// Starts the binary with `args` (plus a loopback listen address on port 0) and waits for the
    /// `listening` log line to learn the port.
    pub fn start(args: &[&str]) -> Hale {
        Hale::start_with_env(args, &[])
    }

    /// [`Hale::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Hale {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hale"))
            .args(["--web.listen-address=127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hale");
        let stderr = child.stderr.take().expect("stderr piped");
        let (addr_tx, addr_rx) = mpsc::channel();
        let (log_tx, log_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut addr_tx = Some(addr_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(tx) = addr_tx.as_ref() {
                    // logfmt: `address=127.0.0.1:1234`; json: `"address":"127.0.0.1:1234"`.
                    let addr = line
                        .split("address=")
                        .nth(1)
                        .map(|a| a.split_whitespace().next().unwrap_or(""))
                        .or_else(|| {
                            line.split(r#""address":""#)
                                .nth(1)
                                .and_then(|a| a.split('"').next())
                        });
                    if let Some(addr) = addr {
                        let _ = tx.send(addr.to_string());
                        addr_tx = None;
                        continue;
                    }
                }
                let _ = log_tx.send(line);
            }
        });
        // A generous guard against a hale that never starts, not a performance assertion.
        let address = match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => address,
            Err(e) => {
                // Not yet a `Hale`, so no Drop: kill it here or it outlives the test.
                let _ = child.kill();
                let _ = child.wait();
                panic!("hale never logged its listen address: {e}");
            }
        };
        Hale {
            child,
            address,
            log: log_rx,
        }
    }

    /// Every log line after the `listening` line, once hale has exited (the reader thread ends at
    /// EOF of stderr, which closes the channel).
    pub fn drain_log(&self) -> Vec<String> {
        let mut lines = Vec::new();
        // The timeout only guards against a hang; EOF ends the loop.
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(30)) {
            lines.push(line);
        }
        lines
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// Whether the header is present and its value contains `part`.
    pub fn headers_contain(&self, name: &str, part: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n == name && v.contains(part))
    }
}

/// GETs `url` with an optional Accept header; non-2xx statuses are returned, not errors.
pub fn get(url: &str, accept: Option<&str>) -> Reply {
    match accept {
        Some(a) => get_with(url, &[("Accept", a)]),
        None => get_with(url, &[]),
    }
}

/// GETs `url` with these request headers; non-2xx statuses are returned, not errors.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    reply(req.call().unwrap_or_else(|e| panic!("GET {url}: {e}")))
}

fn reply(mut resp: ureq::http::Response<ureq::Body>) -> Reply {
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.body_mut().read_to_string().expect("utf-8 body");
    Reply {
        status,
        content_type,
        body,
        headers,
    }
}

/// POSTs `body` to `url` with these request headers; non-2xx statuses are returned, not errors.
pub fn post_with(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    reply(req.send(body).unwrap_or_else(|e| panic!("POST {url}: {e}")))
}

/// A temporary `.yml` file holding `text` (a config, a payload), removed on drop.
pub fn temp_file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new().suffix(".yml").tempfile().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

/// Runs the binary to completion (a subcommand, or a serve that must refuse to start).
pub fn run_hale(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(args)
        .output()
        .expect("run hale")
}

/// A finished process's stderr as text.
pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The in-process app for `args` (as on the command line, without the program name). Keep it for
/// several requests when collector state between scrapes matters.
pub fn app_for(args: &[&str], config: &hale::config::Config) -> axum::Router {
    let args = std::iter::once("hale").chain(args.iter().copied());
    let (cli, matches) = hale::cli::try_parse_from(args).expect("args parse");
    let options = hale::cli::Options::from_cli(&cli, &matches, config).expect("valid options");
    let web = std::sync::Arc::new(hale::web::security::Web::open());
    let app = hale::app::build(&options, config, web).expect("app state");
    // Inside a runtime (the async tests) its tasks run detached; outside, a sync caller only
    // scrapes, and the parts that need tasks are not exercised.
    let state = match tokio::runtime::Handle::try_current() {
        Ok(_) => app.detach(),
        Err(_) => app.state,
    };
    hale::server::app(state)
}

/// One scrape of a fresh in-process app for `args`.
pub async fn scrape_in_process(
    args: &[&str],
    config: &hale::config::Config,
    accept: Option<&str>,
) -> Reply {
    request(app_for(args, config), "/metrics", accept).await
}

/// A child process (node_exporter, Prometheus) killed when the test ends, however it ends.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// node_exporter flags for hale's default filters (filesystem, diskstats, netdev, netclass), and its
/// /proc/net/dev mode, which hale reads: node_exporter then reads what hale reads.
pub fn node_exporter_as_hale() -> Vec<String> {
    vec![
        format!(
            "--collector.filesystem.mount-points-exclude={}",
            hale::collector::filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE
        ),
        format!(
            "--collector.filesystem.fs-types-exclude={}",
            hale::collector::filesystem::DEFAULT_FS_TYPES_EXCLUDE
        ),
        format!(
            "--collector.diskstats.device-exclude={}",
            hale::collector::diskstats::DEFAULT_DISKSTATS_EXCLUDE
        ),
        format!(
            "--collector.netdev.device-exclude={}",
            hale::collector::netdev::DEFAULT_NETDEV_EXCLUDE
        ),
        "--no-collector.netdev.netlink".to_string(),
        format!(
            "--collector.netclass.ignored-devices={}",
            hale::collector::netclass::DEFAULT_IGNORED_DEVICES
        ),
    ]
}

/// Debian's `prometheus-node-exporter` on a free loopback port with `args`, once it answers
/// `/metrics`; and that URL. It must be installed (scripts/test.sh installs it): never skipped.
pub fn node_exporter(args: &[String]) -> (KillOnDrop, String) {
    let port = free_port();
    let child = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-node-exporter must be installed (scripts/test.sh installs it)");
    let ne = KillOnDrop(child);
    let url = format!("http://127.0.0.1:{port}/metrics");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(&url, None).status == 200
        {
            return (ne, url);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("node_exporter did not come up on port {port}");
}

/// A loopback port that was free a moment ago, for servers that cannot report the port they bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends one GET through a router without a socket.
pub async fn request(app: axum::Router, path: &str, accept: Option<&str>) -> Reply {
    use tower::ServiceExt;
    let mut req = axum::http::Request::get(path);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = app
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    Reply {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
        headers,
    }
}

/// One parsed sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the sample lines of text-format or OpenMetrics exposition (comments skipped).
pub fn parse(text: &str) -> Vec<Series> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (head, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name.to_string(), parse_labels(rest.trim_end_matches('}'))),
                None => (head.to_string(), BTreeMap::new()),
            };
            Series {
                name,
                labels,
                value,
            }
        })
        .collect()
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(
            chars.next(),
            Some('"'),
            "label value must be quoted in {s:?}"
        );
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// The value of the one series of `name` whose labels include `labels`.
pub fn value(series: &[Series], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    series
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The fixture tree's flags.
pub fn fixture_args() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    vec![
        format!("--path.procfs={dir}/proc"),
        format!("--path.sysfs={dir}/sys"),
        format!("--path.rootfs={dir}/rootfs"),
        format!("--config={dir}/config.yml"),
        format!("--path.udev.data={dir}/udev/data"),
        // Containers come from a real engine (tests/docker.rs), not from the fixture tree.
        "--no-collector.docker".to_string(),
        // /health's sample is timed and includes the real disks; tests/health.rs covers it.
        "--no-collector.health".to_string(),
        // Healing needs a config and an audit log; tests/heal.rs covers it.
        "--no-collector.heal".to_string(),
        // The kernel's clock state comes from a syscall, not the tree; the side-by-side test
        // (tests/node_exporter_compat.rs) covers it.
        "--no-collector.timex".to_string(),
    ]
}
