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

/// The host collectors both have that read only the fixture tree (not the clock, statfs or
/// uname), with node_exporter's flags for hale's defaults.
const TREE_COLLECTORS: &[&str] = &[
    "cpu",
    "meminfo",
    "diskstats",
    "netdev",
    "loadavg",
    "stat",
    "vmstat",
    "filefd",
    "entropy",
    "pressure",
    "conntrack",
    "sockstat",
    "netstat",
    "softnet",
    "os",
    "netclass",
    "mdadm",
    "arp",
    "udp_queues",
    "schedstat",
    "thermal_zone",
    "cpufreq",
    "edac",
    "bonding",
    "rapl",
    "dmi",
    "nvme",
    "hwmon",
    "powersupplyclass",
    "tapestats",
    "xfs",
    "zfs",
    "ipvs",
    "bcache",
    "fibrechannel",
    "infiniband",
    "nfs",
    "nfsd",
];

/// node_exporter's options beyond its defaults, the same flags on both.
const OPTIONS: &[&str] = &[
    "--collector.cpu.info",
    "--collector.cpu.info.flags-include=^(aes|avx.*|sse4_2)$",
    "--collector.cpu.info.bugs-include=^spectre_",
    "--collector.stat.softirq",
];

/// hale's series node_exporter in /proc/net/dev mode has not (its default netlink mode has).
const HALE_ONLY: &[&str] = &["node_network_receive_nohandler_total"];

/// node_exporter's series hale does not have (README, compatibility): none.
const NODE_EXPORTER_ONLY: &[&str] = &[];

/// Debian's node_exporter 1.5 over hale's own fixture tree: every series it exports, hale
/// exports with the same labels, value and type, and no other.
#[test]
fn hale_matches_node_exporter_run_on_the_fixture_tree() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut args = vec![
        format!("--path.procfs={dir}/proc"),
        format!("--path.sysfs={dir}/sys"),
        format!("--path.rootfs={dir}/rootfs"),
        format!("--path.udev.data={dir}/udev/data"),
        "--collector.disable-defaults".into(),
    ];
    args.extend(common::node_exporter_as_hale());
    args.extend(TREE_COLLECTORS.iter().map(|c| format!("--collector.{c}")));
    args.extend(OPTIONS.iter().map(|o| o.to_string()));
    let (_ne, url) = common::node_exporter(&args);
    let theirs = get(&url, None).body;
    let mut hale_args = fixture_args();
    hale_args.push("--collector.disable-defaults".into());
    hale_args.extend(TREE_COLLECTORS.iter().map(|c| format!("--collector.{c}")));
    hale_args.extend(OPTIONS.iter().map(|o| o.to_string()));
    let hale = Hale::start(&hale_args.iter().map(String::as_str).collect::<Vec<_>>());
    let ours = get(&hale.url("/metrics"), None).body;

    let host = |name: &str| {
        name.starts_with("node_")
            && !name.starts_with("node_scrape_collector_")
            && !name.starts_with("node_exporter_")
    };
    let key = |s: &common::Series| format!("{}{:?}", s.name, s.labels);
    let index = |body: &str| -> BTreeMap<String, f64> {
        parse(body)
            .iter()
            .filter(|s| host(&s.name))
            .map(|s| (key(s), s.value))
            .collect()
    };
    let (ne, us) = (index(&theirs), index(&ours));
    assert!(ne.len() > 200, "node_exporter's series: {}", ne.len());
    let mut problems = Vec::new();
    for (k, v) in &ne {
        let family = k.split('{').next().unwrap_or(k);
        match us.get(k) {
            None if NODE_EXPORTER_ONLY.contains(&family) => {}
            None => problems.push(format!("hale lacks {k}")),
            Some(h) if (h - v).abs() > 1e-9 * v.abs().max(1.0) => {
                problems.push(format!("{k}: hale {h}, node_exporter {v}"))
            }
            Some(_) => {}
        }
    }
    for k in us.keys().filter(|k| !ne.contains_key(*k)) {
        if !HALE_ONLY.contains(&k.split('{').next().unwrap_or(k)) {
            problems.push(format!("hale has {k}, node_exporter does not"));
        }
    }
    // The same type for every family both have.
    for line in theirs.lines().filter(|l| l.starts_with("# TYPE node_")) {
        let name = line.split_whitespace().nth(2).unwrap_or("");
        if host(name)
            && us.keys().any(|k| k.split('{').next() == Some(name))
            && !ours.contains(line)
        {
            problems.push(format!("type differs: node_exporter says {line:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} difference(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
