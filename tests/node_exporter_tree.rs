//! hale and Debian's node_exporter 1.5 over node_exporter v1.5.0's own fixture tree
//! (`collector/fixtures`: its `proc`, its `sys.ttar` and `udev.ttar` unpacked, its `textfile`
//! cases; copied into `tests/fixtures/node_exporter`, see `tests/fixtures/NOTICE.md`), with the
//! flags node_exporter's `end-to-end-test.sh` gives: for every collector listed here, every
//! series node_exporter exports hale exports with the same labels and value, and no other, and
//! each family has node_exporter's type.

mod common;

use std::collections::BTreeMap;

use common::{get, parse, Hale};

const TREE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/node_exporter");

/// The collectors compared, each with a prefix of the series it must give on this tree (so a
/// collector that reads nothing on both sides cannot pass unseen).
const COLLECTORS: &[(&str, &str)] = &[
    ("textfile", "testmetric1_"),
    ("netclass", "node_network_speed_bytes"),
    ("mdadm", "node_md_blocks_synced"),
    ("arp", "node_arp_entries"),
    ("udp_queues", "node_udp_queues"),
    ("schedstat", "node_schedstat_waiting_seconds_total"),
    ("thermal_zone", "node_cooling_device_max_state"),
    ("cpufreq", "node_cpu_scaling_frequency_min_hertz"),
    ("edac", "node_edac_csrow_uncorrectable_errors_total"),
    ("bonding", "node_bonding_active"),
    ("rapl", "node_rapl_core_joules_total"),
    ("dmi", "node_dmi_info"),
    ("nvme", "node_nvme_info"),
    ("selinux", "node_selinux_enabled"),
    ("hwmon", "node_hwmon_temp_celsius"),
    ("powersupplyclass", "node_power_supply_energy_watthour"),
    ("tapestats", "node_tape_write_time_seconds_total"),
    ("fibrechannel", "node_fibrechannel_nos_total"),
    ("xfs", "node_xfs_read_calls_total"),
    ("btrfs", "node_btrfs_allocation_ratio"),
    ("ipvs", "node_ipvs_backend_weight"),
    ("bcache", "node_bcache_priority_stats_unused_percent"),
    ("zfs", "node_zfs_zpool_dataset_nread"),
    (
        "infiniband",
        "node_infiniband_legacy_data_received_bytes_total",
    ),
];

fn flags() -> Vec<String> {
    vec![
        format!("--path.procfs={TREE}/proc"),
        format!("--path.sysfs={TREE}/sys"),
        format!("--path.rootfs={TREE}"),
        format!("--path.udev.data={TREE}/udev/data"),
        format!("--collector.textfile.directory={TREE}/textfile/two_metric_files"),
        "--collector.netclass.ignored-devices=(dmz|int)".into(),
        "--collector.netclass.ignore-invalid-speed".into(),
        "--collector.bcache.priorityStats".into(),
        "--collector.arp.device-exclude=nope".into(),
        "--collector.disable-defaults".into(),
    ]
    .into_iter()
    .chain(COLLECTORS.iter().map(|(c, _)| format!("--collector.{c}")))
    .collect()
}

/// Series compared: all but the exporters' own.
fn compared(name: &str) -> bool {
    !(name.starts_with("go_")
        || name.starts_with("process_")
        || name.starts_with("promhttp_")
        || name.starts_with("hale_")
        || name.starts_with("node_exporter_")
        || name.starts_with("node_scrape_collector_duration"))
}

#[test]
fn hale_matches_node_exporter_on_its_own_fixture_tree() {
    let (_ne, url) = common::node_exporter(&flags());
    let theirs = get(&url, None).body;
    let hale = Hale::start(&flags().iter().map(String::as_str).collect::<Vec<_>>());
    let ours = get(&hale.url("/metrics"), None).body;

    let key = |s: &common::Series| format!("{}{:?}", s.name, s.labels);
    let index = |body: &str| -> BTreeMap<String, f64> {
        parse(body)
            .iter()
            .filter(|s| compared(&s.name))
            .map(|s| (key(s), s.value))
            .collect()
    };
    let (ne, us) = (index(&theirs), index(&ours));
    for (c, prefix) in COLLECTORS {
        let success = format!("node_scrape_collector_success{{\"collector\": \"{c}\"}}");
        assert_eq!(ne.get(&success), Some(&1.0), "node_exporter's {c} failed");
        assert!(
            ne.keys().any(|k| k.starts_with(prefix)),
            "node_exporter gave no {prefix}* on the tree"
        );
    }
    let mut problems = Vec::new();
    let same =
        |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0) || (a.is_nan() && b.is_nan());
    for (k, v) in &ne {
        match us.get(k) {
            None => problems.push(format!("hale lacks {k}")),
            Some(h) if !same(*h, *v) => problems.push(format!("{k}: hale {h}, node_exporter {v}")),
            Some(_) => {}
        }
    }
    for k in us.keys().filter(|k| !ne.contains_key(*k)) {
        problems.push(format!("hale has {k}, node_exporter does not"));
    }
    for line in theirs.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap_or("");
        if compared(name) && !ours.contains(line) {
            problems.push(format!("type differs: node_exporter says {line:?}"));
        }
    }
    assert!(
        ne.len() > COLLECTORS.len(),
        "node_exporter's series: {ne:?}"
    );
    assert!(
        problems.is_empty(),
        "{} difference(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every case of node_exporter's textfile tests (`collector/fixtures/textfile/*`): hale serves
/// what its `.out` file holds, up to float formatting and the mtime's value.
#[test]
fn textfile_cases_match_node_exporters_expected_output() {
    let cases = std::fs::read_dir(format!("{TREE}/textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".out").map(str::to_string))
        .collect::<Vec<_>>();
    assert!(cases.len() >= 14, "{cases:?}");
    for case in cases {
        let dir = format!("{TREE}/textfile/{case}");
        // node_exporter's test gives this case a glob of directories.
        let flag = match case.as_str() {
            "glob_extra_dimension" => format!("{TREE}/textfile/*_extra_dimension"),
            _ => dir.clone(),
        };
        let hale = Hale::start(&[
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={flag}"),
        ]);
        let ours = get(&hale.url("/metrics"), None)
            .body
            .replace(&format!("{TREE}/textfile"), "fixtures/textfile");
        let expected = std::fs::read_to_string(format!("{dir}.out")).unwrap();
        let key = |s: &common::Series| format!("{}{:?}", s.name, s.labels);
        let index = |body: &str| -> BTreeMap<String, f64> {
            parse(body)
                .iter()
                .filter(|s| !s.name.starts_with("hale_") && !s.name.starts_with("node_scrape"))
                .map(|s| {
                    let v = if s.name == "node_textfile_mtime_seconds" {
                        1.0
                    } else {
                        s.value
                    };
                    (key(s), v)
                })
                .collect()
        };
        assert_eq!(index(&ours), index(&expected), "case {case}: {ours}");
        for line in expected.lines().filter(|l| l.starts_with("# ")) {
            assert!(
                ours.contains(line),
                "case {case}: {line:?} missing in {ours}"
            );
        }
    }
}
