//! hale on the real `/proc` and `/sys` of the machine running the tests: every default collector
//! succeeds and every family has the shape node_exporter gives it. Values are checked for sense,
//! not equality (the compatibility test compares them with node_exporter's).

mod common;

use common::{parse, request, scrape_in_process, value, Hale};
use hale::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_collector_succeeds_on_the_real_host() {
    let reply = scrape_in_process(&[], &Config::default(), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let series = parse(&reply.body);
    for spec in hale::collector::SPECS
        .iter()
        // Docker's own test (tests/docker.rs) waits for the engine; here the first scrape may
        // come before the watcher's first list, which is an honest failure.
        .filter(|s| s.enabled_by_default && s.name != "docker")
    {
        assert_eq!(
            value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", spec.name)]
            ),
            Some(1.0),
            "collector {} failed on the real host:\n{}",
            spec.name,
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_host_families_have_node_exporter_shape() {
    let reply = scrape_in_process(&[], &Config::default(), None).await;
    let series = parse(&reply.body);
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let cpu_series: Vec<_> = series
        .iter()
        .filter(|s| s.name == "node_cpu_seconds_total")
        .collect();
    assert_eq!(cpu_series.len(), cpus * 8, "8 modes per CPU");
    assert!(cpu_series
        .iter()
        .all(|s| s.labels.keys().eq(["cpu", "mode"].iter())));
    assert!(
        value(
            &series,
            "node_cpu_seconds_total",
            &[("cpu", "0"), ("mode", "idle")]
        )
        .unwrap()
            > 0.0
    );

    let mem_total = value(&series, "node_memory_MemTotal_bytes", &[]).unwrap();
    let meminfo_kb: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(mem_total, meminfo_kb * 1024.0);
    assert!(
        series
            .iter()
            .any(|s| s.name == "node_memory_HugePages_Total"),
        "unitless fields keep their name"
    );

    let root = value(
        &series,
        "node_filesystem_size_bytes",
        &[("mountpoint", "/")],
    )
    .expect("/ is reported");
    assert!(root > 0.0);
    assert!(!series
        .iter()
        .any(|s| s.name.starts_with("node_filesystem")
            && s.labels["mountpoint"].starts_with("/proc")));
    assert!(series
        .iter()
        .any(|s| s.name == "node_network_receive_bytes_total" && s.labels["device"] == "lo"));
    assert!(value(&series, "node_boot_time_seconds", &[]).unwrap() > 1.0e9);
    assert!(value(&series, "node_filefd_maximum", &[]).unwrap() > 0.0);
    assert!(value(&series, "node_load1", &[]).unwrap() >= 0.0);
    let uname = series.iter().find(|s| s.name == "node_uname_info").unwrap();
    assert_eq!(uname.labels["sysname"], "Linux");
    assert!(value(&series, "process_open_fds", &[]).unwrap() > 0.0);
    assert!(value(&series, "process_threads", &[]).unwrap() >= 1.0);
    assert!(value(&series, "process_resident_memory_bytes", &[]).unwrap() > 0.0);
    let build = series.iter().find(|s| s.name == "hale_build_info").unwrap();
    assert_eq!(build.labels["version"], env!("CARGO_PKG_VERSION"));
    assert!(build.labels.contains_key("revision") && build.labels.contains_key("rustc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_is_served_when_enabled_and_asked_for() {
    let accept = Some("application/openmetrics-text;version=1.0.0");
    let plain = scrape_in_process(&[], &Config::default(), accept).await;
    assert_eq!(
        plain.content_type, "text/plain; version=0.0.4; charset=utf-8",
        "node_exporter's default: OpenMetrics is opt-in"
    );
    assert!(plain.body.contains("# TYPE node_uname_info gauge\n"));
    let reply = scrape_in_process(&["--web.enable-openmetrics"], &Config::default(), accept).await;
    assert_eq!(
        reply.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(reply
        .body
        .contains("# TYPE node_cpu_seconds counter\n# UNIT node_cpu_seconds seconds\n"));
    assert!(reply.body.ends_with("# EOF\n"));
    assert!(
        reply.body.contains("# TYPE node_uname_info gauge\n"),
        "an info family is a gauge in OpenMetrics too, as node_exporter's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_and_unknown_paths() {
    let app = common::app_for(&["--web.telemetry-path=/custom"], &Config::default());
    let landing = request(app.clone(), "/", None).await;
    assert_eq!(landing.status, 200);
    assert!(landing.content_type.starts_with("text/html"));
    assert!(landing.body.contains(r#"<a href="/custom">"#));
    assert!(landing.body.contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(request(app.clone(), "/custom", None).await.status, 200);
    assert_eq!(request(app, "/metrics", None).await.status, 404);
}

#[test]
fn real_socket_serves_metrics() {
    let hale = Hale::start(&[]);
    let reply = common::get(&hale.url("/metrics"), None);
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("\nnode_load1 "));
}
