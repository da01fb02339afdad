//! node_exporter's own end-to-end fixtures: hale over node_exporter v1.5.0's fixture files
//! (copied into `tests/fixtures`, see `tests/fixtures/NOTICE.md`) exports exactly the series
//! node_exporter's `e2e-output.txt` has for the collectors both have, with the same type and
//! help, up to float formatting.

mod common;

use std::collections::BTreeMap;

use common::{fixture_args, get, parse, Hale};

/// The collectors whose e2e lines are in `tests/fixtures/node_exporter_e2e.txt`.
const COLLECTORS: &[&str] = &[
    "entropy",
    "pressure",
    "conntrack",
    "os",
    "sockstat",
    "netstat",
    "softnet",
];

#[test]
fn hale_matches_node_exporters_e2e_output() {
    let expected_text = std::fs::read_to_string("tests/fixtures/node_exporter_e2e.txt").unwrap();
    let mut args = fixture_args();
    args.push("--collector.disable-defaults".into());
    args.extend(COLLECTORS.iter().map(|c| format!("--collector.{c}")));
    let hale = Hale::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let body = get(&hale.url("/metrics"), None).body;

    let key = |s: &common::Series| format!("{}{:?}", s.name, s.labels);
    let got: BTreeMap<String, f64> = parse(&body).iter().map(|s| (key(s), s.value)).collect();
    let expected = parse(&expected_text);
    assert!(
        expected.len() >= 17,
        "the fixture lines: {}",
        expected.len()
    );
    for s in &expected {
        let v = got
            .get(&key(s))
            .unwrap_or_else(|| panic!("hale lacks {}: {body}", key(s)));
        assert!(
            (v - s.value).abs() <= 1e-9 * s.value.abs().max(1.0),
            "{}: hale {v}, node_exporter {}",
            key(s),
            s.value
        );
    }
    // Same families, no more: every node_* series hale has here, node_exporter has too.
    for s in parse(&body).iter().filter(|s| s.name.starts_with("node_")) {
        if s.name.starts_with("node_scrape_collector_") {
            continue;
        }
        assert!(
            expected.iter().any(|e| key(e) == key(s)),
            "hale has {} which node_exporter does not",
            key(s)
        );
    }
    // Type and help lines as node_exporter's.
    for line in expected_text.lines().filter(|l| l.starts_with("# ")) {
        assert!(body.contains(line), "{line} missing in {body}");
    }
}
