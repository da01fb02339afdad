//! hale and Debian's process-exporter (0.7.10) side by side on the same `process_names` config
//! and the same real processes: two single-threaded `sleep`s and a `python3` with three
//! threads, each under a name of its own. Every family process-exporter exports, hale exports with the same type and the same
//! label sets; gauges agree (read between two process-exporter scrapes); counters are at least
//! process-exporter's, since process-exporter starts its counters at 0 and hale includes what
//! the processes used before it started (README, compatibility).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use common::{get, parse, temp_file, Hale, KillOnDrop};

/// hale's own addition (README): the group's smallest RLIMIT_NOFILE.
const HALE_ONLY: &[&str] = &["namedprocess_namegroup_limit_filedesc"];

/// Counted over every process of the host by process-exporter, over the watched groups' by
/// hale (README, compatibility): compared by presence only.
const ERROR_COUNTERS: &[&str] = &[
    "namedprocess_scrape_errors",
    "namedprocess_scrape_procread_errors",
    "namedprocess_scrape_partial_errors",
];

type Families = BTreeMap<String, BTreeMap<BTreeMap<String, String>, f64>>;

fn families(body: &str) -> Families {
    let mut out: Families = BTreeMap::new();
    for s in parse(body) {
        if s.name.starts_with("namedprocess_") {
            out.entry(s.name).or_default().insert(s.labels, s.value);
        }
    }
    out
}

fn is_counter(name: &str) -> bool {
    name.ends_with("_total") || ERROR_COUNTERS.contains(&name)
}

/// How far a gauge may move between the two exporters' reads.
fn slack(name: &str, labels: &BTreeMap<String, String>, v: f64) -> f64 {
    match (name, labels.get("memtype").map(String::as_str)) {
        // The proportional set size shares pages with every process mapping them, so it moves
        // when any process starts or exits, the exporters included.
        ("namedprocess_namegroup_memory_bytes", Some(m)) if m.starts_with("proportional") => {
            v.abs() * 0.05 + 64.0 * 1024.0
        }
        ("namedprocess_namegroup_memory_bytes", _) => 1024.0 * 1024.0,
        ("namedprocess_namegroup_oldest_start_time_seconds", _) => 1.0,
        _ => 1e-9,
    }
}

#[test]
fn families_both_expose_agree_with_process_exporter() {
    let spawn = |cmd: &mut Command| {
        KillOnDrop(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn"),
        )
    };
    // Names of their own, so other tests' processes (containers run `sleep` too) stay out of
    // the groups: `sleep` through a symlink (the kernel names a process after the file it
    // ran), python3 renaming itself before it starts its threads.
    let id = std::process::id() % 100_000;
    let (sleep_name, python_name) = (format!("hpes{id}"), format!("hpep{id}"));
    let dir = tempfile::tempdir().unwrap();
    let sleep = dir.path().join(&sleep_name);
    let real_sleep = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v sleep"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(real_sleep.trim(), &sleep).unwrap();
    let _sleeps = [
        spawn(Command::new(&sleep).arg("1000")),
        spawn(Command::new(&sleep).arg("1001")),
    ];
    let _python = spawn(Command::new("python3").args([
        "-c",
        &format!(
            "import ctypes,threading,time\nctypes.CDLL(None).prctl(15, b'{python_name}', 0, 0, 0)\nfor _ in range(3): threading.Thread(target=time.sleep, args=(1000,)).start()\ntime.sleep(1000)"
        ),
    ]));
    // Until python3 runs its three threads.
    let threads_of = |comm: &str| -> u64 {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == comm)
            })
            .filter_map(|e| std::fs::read_dir(e.path().join("task")).ok())
            .map(|d| d.count() as u64)
            .sum()
    };
    for _ in 0..100 {
        if threads_of(&python_name) >= 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        threads_of(&python_name) >= 4,
        "python3 never started its threads"
    );

    let config = temp_file(&format!(
        "process_names:\n  - comm: [{sleep_name}]\n  - comm: [{python_name}]\n"
    ));
    let port = common::free_port();
    let _pe = spawn(
        Command::new("prometheus-process-exporter")
            .arg(format!("-config.path={}", config.path().display()))
            .arg(format!("-web.listen-address=127.0.0.1:{port}")),
    );
    let pe_url = format!("http://127.0.0.1:{port}/metrics");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let hale = Hale::start(&[
        &format!("--config={}", config.path().display()),
        "--collector.disable-defaults",
        "--collector.processes",
    ]);

    let before = families(&get(&pe_url, None).body);
    let ours_body = get(&hale.url("/metrics"), None).body;
    let ours = families(&ours_body);
    let after = families(&get(&pe_url, None).body);
    let theirs_body = get(&pe_url, None).body;

    assert!(
        before.len() >= 20,
        "process-exporter's families: {before:?}"
    );
    // The README's compatibility section lists exactly the families process-exporter exported,
    // and hale's addition.
    let readme = std::fs::read_to_string("README.md").unwrap();
    let section = readme
        .split_once("### process-exporter")
        .and_then(|(_, rest)| rest.split_once("How it is held"))
        .map(|(s, _)| s)
        .expect("the README's process-exporter section");
    let listed: BTreeSet<&str> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| w.starts_with("namedprocess_"))
        .collect();
    let exported: BTreeSet<&str> = before
        .keys()
        .map(String::as_str)
        .chain(HALE_ONLY.iter().copied())
        .collect();
    assert_eq!(listed, exported, "the README's process-exporter families");
    let mut problems = Vec::new();
    for (name, b) in &before {
        let Some(h) = ours.get(name) else {
            problems.push(format!("hale lacks {name}"));
            continue;
        };
        if ERROR_COUNTERS.contains(&name.as_str()) {
            continue;
        }
        let a = after.get(name).unwrap_or(b);
        let (theirs_labels, hale_labels): (BTreeSet<_>, BTreeSet<_>) =
            (b.keys().chain(a.keys()).collect(), h.keys().collect());
        // A wait channel can change between the reads; the others must not.
        if name != "namedprocess_namegroup_threads_wchan" && theirs_labels != hale_labels {
            problems.push(format!(
                "{name}: label sets differ\n  process-exporter: {theirs_labels:?}\n  hale: {hale_labels:?}"
            ));
            continue;
        }
        for (labels, hv) in h {
            let (Some(bv), Some(av)) = (b.get(labels), a.get(labels)) else {
                continue;
            };
            if is_counter(name) {
                // process-exporter counts from its own start; hale from the processes'.
                if *hv + 1e-9 < bv.min(*av) {
                    problems.push(format!(
                        "{name}{labels:?}: hale {hv} below process-exporter's {bv}"
                    ));
                }
            } else {
                let s = slack(name, labels, *hv);
                let (lo, hi) = (bv.min(*av) - s, bv.max(*av) + s);
                if !(lo..=hi).contains(hv) {
                    problems.push(format!(
                        "{name}{labels:?}: hale {hv}, process-exporter {bv} then {av}"
                    ));
                }
            }
        }
    }
    for name in ours.keys() {
        if !before.contains_key(name) && !HALE_ONLY.contains(&name.as_str()) {
            problems.push(format!("hale has {name}, process-exporter does not"));
        }
    }
    // The same type for every family.
    for line in theirs_body
        .lines()
        .filter(|l| l.starts_with("# TYPE namedprocess_"))
    {
        if !ours_body.contains(line) {
            problems.push(format!("type differs: process-exporter says {line:?}"));
        }
    }
    // The groups are what the processes are: two sleeps, one python3 of four threads.
    let gauge = |name: &str, group: &str| {
        ours[name]
            .iter()
            .find(|(l, _)| l.get("groupname").map(String::as_str) == Some(group))
            .map(|(_, v)| *v)
    };
    assert_eq!(
        gauge("namedprocess_namegroup_num_procs", &sleep_name),
        Some(2.0)
    );
    assert_eq!(
        // process-exporter's default name is argv[0]'s base name, not the renamed comm.
        gauge("namedprocess_namegroup_num_threads", "python3"),
        Some(4.0)
    );
    assert!(
        problems.is_empty(),
        "{} difference(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
