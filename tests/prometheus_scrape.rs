//! A real Prometheus (Debian's `prometheus`, installed by scripts/test.sh) scrapes hale: it
//! negotiates OpenMetrics, ingests every series without a parse error, and the node_exporter
//! names arrive as node_exporter's (`node_cpu_seconds_total`, not `node_cpu_seconds`).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, get, Hale, KillOnDrop};

/// Runs an instant query and returns the JSON `result` array as text.
fn query(port: u16, q: &str) -> String {
    let url = format!("http://127.0.0.1:{port}/api/v1/query?query={}", encode(q));
    get(&url, None).body
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_ingests_hale_openmetrics() {
    let hale = Hale::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: hale\n    static_configs:\n      - targets: ['{}']\n",
            hale.address
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus must be installed (scripts/test.sh installs it)");
    let _prometheus = KillOnDrop(child);

    // Wait (bounded) until a scrape has landed.
    let mut up = String::new();
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = query(port, "up{job=\"hale\"}");
            if up.contains(r#""value":["#) && up.contains(r#","1"]"#) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        up.contains(r#","1"]"#),
        "hale never came up in Prometheus: {up}"
    );

    // The target reports no scrape error and the series arrive under node_exporter's names.
    let targets = get(&format!("http://127.0.0.1:{port}/api/v1/targets"), None).body;
    assert!(
        targets.contains(r#""lastError":"""#),
        "scrape error: {targets}"
    );
    let cpu = query(port, "count(node_cpu_seconds_total)");
    assert!(cpu.contains(r#""result":[{"#), "{cpu}");
    let wrong = query(port, "count({__name__=~\"node_cpu_seconds|node_uname\"})");
    assert!(
        wrong.contains(r#""result":[]"#),
        "OpenMetrics family names leaked as series: {wrong}"
    );
    let info = query(port, "node_uname_info");
    assert!(info.contains(r#""sysname":"Linux""#), "{info}");
    let success = query(port, "min(hale_scrape_collector_success)");
    assert!(success.contains(r#","1"]"#), "{success}");
}
