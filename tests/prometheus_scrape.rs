//! A real Prometheus (Debian's `prometheus`, installed by scripts/test.sh) scrapes hale: it
//! ingests every series without a parse error, the node_exporter names arrive as node_exporter's
//! (`node_cpu_seconds_total`, not `node_cpu_seconds`), and their type and help are filed under
//! those names, as node_exporter's are, so Grafana's metric browser finds them.

mod common;

use common::servers::Prometheus;
use common::{get, Hale};

#[test]
fn prometheus_ingests_hale_openmetrics() {
    let hale = Hale::start(&[]);
    let prometheus = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: hale\n    static_configs:\n      - targets: ['{}']\n",
        hale.address
    ));
    prometheus.wait_for("hale up in Prometheus", r#"up{job="hale"} == 1"#);
    let port = prometheus.port;
    let query = |q: &str| prometheus.query(q).to_string();

    // The target reports no scrape error and the series arrive under node_exporter's names.
    let targets = get(&format!("http://127.0.0.1:{port}/api/v1/targets"), None).body;
    assert!(
        targets.contains(r#""lastError":"""#),
        "scrape error: {targets}"
    );
    let cpu = query("count(node_cpu_seconds_total)");
    assert!(cpu.contains(r#""result":[{"#), "{cpu}");
    let wrong = query("count({__name__=~\"node_cpu_seconds|node_uname\"})");
    assert!(
        wrong.contains(r#""result":[]"#),
        "OpenMetrics family names leaked as series: {wrong}"
    );
    let info = query("node_uname_info");
    assert!(info.contains(r#""sysname":"Linux""#), "{info}");
    let success = query("min(hale_scrape_collector_success)");
    assert!(success.contains(r#","1"]"#), "{success}");
    // Metadata under the names dashboards query. Prometheus fills it from the scrape cache;
    // the targets above were scraped at least once.
    for (name, kind) in [
        ("node_cpu_seconds_total", "counter"),
        ("node_uname_info", "gauge"),
        ("hale_build_info", "gauge"),
        ("node_memory_MemTotal_bytes", "gauge"),
    ] {
        let meta = get(
            &format!("http://127.0.0.1:{port}/api/v1/metadata?metric={name}"),
            None,
        )
        .body;
        assert!(
            meta.contains(&format!(r#""type":"{kind}""#)),
            "{name}: {meta}"
        );
    }
}
