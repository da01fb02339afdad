//! Golden test: hale over the fixture tree (`tests/fixtures/proc`, `sys`, `rootfs`) through the
//! real binary's `--path.*` flags, diffed against the expected exposition in both formats.
//! Values that depend on the machine running the test (statfs of the fixture directory, the
//! clock, durations, the build's revision) are masked. Regenerate with `UPDATE_GOLDEN=1`.

mod common;

use common::{fixture_args, get, Hale};

/// Families whose values depend on the machine, not on the fixture.
const MASKED: &[&str] = &[
    "hale_scrape_collector_duration_seconds",
    "node_scrape_collector_duration_seconds",
    "node_time_seconds",
    "node_filesystem_size_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
];

fn normalize(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("hale_build_info{") {
                return "hale_build_info{MASKED} 1".to_string();
            }
            let name = line.split(['{', ' ']).next().unwrap_or("");
            if !line.starts_with('#') && MASKED.contains(&name) {
                let (head, _) = line.rsplit_once(' ').unwrap();
                return format!("{head} MASKED");
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn check(actual: &str, golden: &str) {
    let path = format!("{}/tests/fixtures/{golden}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e);
        if let Some(n) = first {
            eprintln!("first difference at line {}", n + 1);
        }
        let diff: Vec<String> = expected
            .lines()
            .filter(|l| !actual.lines().any(|a| a == *l))
            .map(|l| format!("- {l}"))
            .chain(
                actual
                    .lines()
                    .filter(|l| !expected.lines().any(|e| e == *l))
                    .map(|l| format!("+ {l}")),
            )
            .collect();
        panic!(
            "exposition differs from {path} (UPDATE_GOLDEN=1 to accept):\n{}",
            diff.join("\n")
        );
    }
}

fn fixture_hale_with(extra: &[&str]) -> Hale {
    let mut args = fixture_args();
    args.extend([
        "--no-collector.self".to_string(),
        "--no-collector.uname".to_string(),
    ]);
    args.extend(extra.iter().map(|a| a.to_string()));
    // The zone of the machine running the test is not the fixture's.
    Hale::start_with_env(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("TZ", "UTC")],
    )
}

fn fixture_hale() -> Hale {
    fixture_hale_with(&[])
}

#[test]
fn fixture_tree_matches_golden_text_format() {
    let hale = fixture_hale();
    let reply = get(&hale.url("/metrics"), None);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    check(&normalize(&reply.body), "golden.prom");
}

#[test]
fn fixture_tree_matches_golden_openmetrics() {
    let prometheus_accept =
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
    // By default, text 0.0.4 whatever Prometheus prefers, as node_exporter.
    let plain = get(&fixture_hale().url("/metrics"), prometheus_accept);
    assert_eq!(
        plain.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    check(&normalize(&plain.body), "golden.prom");

    let hale = fixture_hale_with(&["--web.enable-openmetrics"]);
    let reply = get(&hale.url("/metrics"), prometheus_accept);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(reply.body.ends_with("# EOF\n"));
    check(&normalize(&reply.body), "golden.om.txt");
}
