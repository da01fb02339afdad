//! Side by side with Debian's `prometheus-node-exporter` on the same machine, with the same
//! collectors and filters: for every family both expose, the label sets match exactly, and values
//! agree: exactly for sizes and limits, and for everything that moves, within the range the
//! exporter itself reports in the scrapes just before and just after hale's (widened by a small,
//! stated tolerance for gauges that go up and down).
//!
//! The test needs `prometheus-node-exporter` on the PATH; the test command (scripts/test.sh)
//! installs it. Without it the test fails: it never skips.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{get, parse, Hale, KillOnDrop, Series};

const COLLECTORS: &[&str] = &[
    "cpu",
    "meminfo",
    "filesystem",
    "diskstats",
    "netdev",
    "loadavg",
    "stat",
    "time",
    "filefd",
    "uname",
    "entropy",
    "pressure",
    "conntrack",
    "os",
    "sockstat",
    "netstat",
    "softnet",
    "textfile",
    "timex",
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
    "fibrechannel",
    "infiniband",
    "nfs",
    "nfsd",
    "selinux",
];

/// node_exporter families of [`COLLECTORS`] that hale does not export, each listed with its
/// reason in the README's compatibility section: none now.
const DOCUMENTED_GAPS: &[&str] = &[];

/// Families whose values must be identical.
const EXACT: &[&str] = &[
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_HugePages_Total",
    "node_memory_Hugepagesize_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_memory_CommitLimit_bytes",
    "node_memory_DirectMap1G_bytes",
    "node_filefd_maximum",
    "node_boot_time_seconds",
    "node_uname_info",
    "node_time_clocksource_available_info",
    "node_time_clocksource_current_info",
];

/// Families that are the exporters' own, not the host's.
fn exporter_own(name: &str) -> bool {
    [
        "go_",
        "process_",
        "promhttp_",
        "node_exporter_",
        "node_scrape_",
        "hale_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Slack for gauges that move both ways between the three scrapes.
fn slack(name: &str, v: f64) -> f64 {
    let abs: f64 = match name {
        // Memory the kernel has promised: every process start (a parallel test run starts
        // many) moves it by hundreds of megabytes.
        "node_memory_Committed_AS_bytes" => 2048.0 * 1024.0 * 1024.0,
        n if n.starts_with("node_memory_") => 64.0 * 1024.0 * 1024.0,
        n if n.starts_with("node_filesystem_") && n.ends_with("_bytes") => 256.0 * 1024.0 * 1024.0,
        "node_filesystem_files_free" => 20_000.0,
        "node_load1" | "node_load5" | "node_load15" => 1.0,
        "node_procs_running" | "node_procs_blocked" | "node_disk_io_now" => 16.0,
        "node_filefd_allocated" => 2_000.0,
        n if n.starts_with("node_sockstat_") && n.ends_with("_bytes") => 64.0 * 1024.0 * 1024.0,
        n if n.starts_with("node_sockstat_") => 2_000.0,
        "node_nf_conntrack_entries" => 1_000.0,
        "node_netstat_Tcp_CurrEstab" => 2_000.0,
        "node_entropy_available_bits" => 4096.0,
        "node_time_seconds" => 5.0,
        // The clock discipline moves while NTP works (maxerror grows 500 ppm between updates).
        n if n.starts_with("node_timex_") && n.ends_with("_seconds") => 1.0,
        _ => 0.0,
    };
    abs.max(v.abs() * 0.001)
}

fn start_node_exporter() -> (KillOnDrop, String) {
    let mut args = vec!["--collector.disable-defaults".to_string()];
    args.extend(common::node_exporter_as_hale());
    args.extend(COLLECTORS.iter().map(|c| format!("--collector.{c}")));
    common::node_exporter(&args)
}

type Families = BTreeMap<String, BTreeMap<BTreeMap<String, String>, f64>>;

fn families(series: Vec<Series>) -> Families {
    let mut out: Families = BTreeMap::new();
    for s in series {
        if !exporter_own(&s.name) {
            out.entry(s.name).or_default().insert(s.labels, s.value);
        }
    }
    out
}

#[test]
fn families_both_expose_agree_with_node_exporter() {
    let (_ne, ne_url) = start_node_exporter();
    let mut hale_args = vec!["--collector.disable-defaults".to_string()];
    hale_args.extend(COLLECTORS.iter().map(|c| format!("--collector.{c}")));
    let hale = Hale::start(&hale_args.iter().map(String::as_str).collect::<Vec<_>>());

    let before = families(parse(&get(&ne_url, None).body));
    let ours = families(parse(&get(&hale.url("/metrics"), None).body));
    let after = families(parse(&get(&ne_url, None).body));

    let shared: BTreeSet<&String> = ours.keys().filter(|k| before.contains_key(*k)).collect();
    assert!(
        shared.len() >= 60,
        "expected most node_exporter families to be shared, got {}",
        shared.len()
    );
    let mut problems = Vec::new();
    for name in &shared {
        let (b, h, a) = (&before[*name], &ours[*name], &after[*name]);
        let ne_labels: BTreeSet<_> = b.keys().collect();
        let hale_labels: BTreeSet<_> = h.keys().collect();
        if ne_labels != hale_labels {
            problems.push(format!("{name}: label sets differ\n  node_exporter: {ne_labels:?}\n  hale:          {hale_labels:?}"));
            continue;
        }
        for (labels, hv) in h {
            let (bv, av) = (b[labels], a.get(labels).copied().unwrap_or(b[labels]));
            let ok = if EXACT.contains(&name.as_str()) {
                *hv == bv || *hv == av
            } else {
                let tol = slack(name, *hv);
                *hv >= bv.min(av) - tol && *hv <= bv.max(av) + tol
            };
            if !ok {
                problems.push(format!(
                    "{name}{labels:?}: hale {hv}, node_exporter {bv} then {av}"
                ));
            }
        }
    }
    let only_ne: Vec<_> = before.keys().filter(|k| !ours.contains_key(*k)).collect();
    eprintln!(
        "{} shared families compared; node_exporter only: {only_ne:?}",
        shared.len()
    );
    // The README's claim: of these collectors' families, hale lacks only the documented ones.
    let undocumented: Vec<_> = only_ne
        .iter()
        .filter(|k| !DOCUMENTED_GAPS.contains(&k.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "node_exporter families hale lacks and the README does not list: {undocumented:?}"
    );
    assert!(
        problems.is_empty(),
        "{} disagreement(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
