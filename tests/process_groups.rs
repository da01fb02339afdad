//! Process groups against real processes: a group counts its processes, threads and FDs, reports
//! the smallest FD soft limit, keeps CPU counters monotonic, and disappears when its last process
//! exits.

mod common;

use std::process::{Child, Command};

use common::{parse, value};
use hale::config::Config;

/// Starts `sleep` under a distinctive argv[0] with the given FD soft limit.
fn sleeper(marker: &str, nofile: u32) -> Child {
    Command::new("bash")
        .args([
            "-c",
            &format!("ulimit -S -n {nofile}; exec -a {marker} sleep 600"),
        ])
        .spawn()
        .expect("spawn sleeper")
}

struct Killed(Vec<Child>);
impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One app for the whole test, as in a running hale: the collector keeps CPU history between scrapes.
fn app(config: &Config) -> axum::Router {
    common::app_for(
        &["--collector.disable-defaults", "--collector.processes"],
        config,
    )
}

async fn scrape(app: &axum::Router) -> Vec<common::Series> {
    parse(&common::request(app.clone(), "/metrics", None).await.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_tracks_its_processes_and_stays_at_zero_when_they_exit() {
    let marker = format!("hale-group-test-{}", std::process::id());
    let config = Config::parse(
        &format!("process_names:\n  - name: 'sleepers'\n    cmdline: ['^{marker} ']\n"),
        std::path::Path::new("inline"),
    )
    .unwrap();
    let app = app(&config);
    let mut children = Killed(vec![sleeper(&marker, 321), sleeper(&marker, 300)]);
    // Wait until both have exec'd (their cmdline shows the marker).
    let mut series = Vec::new();
    for _ in 0..100 {
        series = scrape(&app).await;
        if value(
            &series,
            "namedprocess_namegroup_num_procs",
            &[("groupname", "sleepers")],
        ) == Some(2.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let g = [("groupname", "sleepers")];
    assert_eq!(
        value(&series, "namedprocess_namegroup_num_procs", &g),
        Some(2.0)
    );
    assert_eq!(
        value(&series, "namedprocess_namegroup_num_threads", &g),
        Some(2.0)
    );
    assert_eq!(
        value(&series, "namedprocess_namegroup_limit_filedesc", &g),
        Some(300.0)
    );
    let fds = value(&series, "namedprocess_namegroup_open_filedesc", &g).unwrap();
    assert!(
        fds >= 6.0,
        "each sleeper has at least stdin, stdout, stderr: {fds}"
    );
    let ratio = value(&series, "namedprocess_namegroup_worst_fd_ratio", &g).unwrap();
    assert!(ratio > 0.0 && ratio < 1.0);
    assert!(
        value(
            &series,
            "namedprocess_namegroup_memory_bytes",
            &[("groupname", "sleepers"), ("memtype", "resident")]
        )
        .unwrap()
            > 0.0
    );
    let start = value(
        &series,
        "namedprocess_namegroup_oldest_start_time_seconds",
        &g,
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - start).abs() < 3600.0,
        "start time {start} is near now {now}"
    );

    // One process exits: the group stays, with one process.
    let mut first = children.0.remove(0);
    first.kill().unwrap();
    first.wait().unwrap();
    let series = scrape(&app).await;
    assert_eq!(
        value(&series, "namedprocess_namegroup_num_procs", &g),
        Some(1.0)
    );
    // The process with limit 321 exited; the one left has 300.
    assert_eq!(
        value(&series, "namedprocess_namegroup_limit_filedesc", &g),
        Some(300.0)
    );

    // The last one exits: the group stays, at zero, so "not running" can alert.
    drop(children);
    let series = scrape(&app).await;
    assert_eq!(
        value(&series, "namedprocess_namegroup_num_procs", &g),
        Some(0.0)
    );
    assert_eq!(
        value(&series, "namedprocess_namegroup_open_filedesc", &g),
        Some(0.0)
    );
    // No process, no limit and no start time to speak of.
    assert_eq!(
        value(&series, "namedprocess_namegroup_limit_filedesc", &g),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_groups_show_at_zero_and_per_pid_groups_are_dropped() {
    let marker = format!("hale-pid-test-{}", std::process::id());
    let config = Config::parse(
        &format!(
            "process_names:\n  - comm: [hale-no-such-1, hale-no-such-2]\n    name: '{{{{.Comm}}}}'\n  - name: 'absent'\n    exe: [hale-never]\n  - name: 'p-{{{{.PID}}}}'\n    cmdline: ['^{marker} ']\n"
        ),
        std::path::Path::new("inline"),
    )
    .unwrap();
    let app = app(&config);
    let series = scrape(&app).await;
    for name in ["hale-no-such-1", "hale-no-such-2", "absent"] {
        assert_eq!(
            value(
                &series,
                "namedprocess_namegroup_num_procs",
                &[("groupname", name)]
            ),
            Some(0.0),
            "{name}"
        );
    }
    let child = Killed(vec![sleeper(&marker, 300)]);
    let pid = child.0[0].id();
    let g = [("groupname", format!("p-{pid}"))];
    let g = [(g[0].0, g[0].1.as_str())];
    let mut seen = None;
    for _ in 0..100 {
        seen = value(&scrape(&app).await, "namedprocess_namegroup_num_procs", &g);
        if seen == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(1.0));
    drop(child);
    let series = scrape(&app).await;
    assert_eq!(value(&series, "namedprocess_namegroup_num_procs", &g), None);
    assert_eq!(
        value(
            &series,
            "namedprocess_namegroup_num_procs",
            &[("groupname", "absent")]
        ),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_counters_do_not_drop_when_a_member_exits() {
    let marker = format!("hale-cpu-test-{}", std::process::id());
    let config = Config::parse(
        &format!("process_names:\n  - name: 'busy'\n    cmdline: ['^{marker}']\n"),
        std::path::Path::new("inline"),
    )
    .unwrap();
    let app = app(&config);
    // Two shells that burn a little CPU and then sleep.
    let spawn = || {
        Command::new("bash")
            .args(["-c", &format!("exec -a {marker} bash -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 600'")])
            .spawn()
            .unwrap()
    };
    let mut children = Killed(vec![spawn(), spawn()]);
    let cpu = |s: &[common::Series]| {
        value(
            s,
            "namedprocess_namegroup_cpu_seconds_total",
            &[("groupname", "busy"), ("mode", "user")],
        )
        .unwrap_or(0.0)
            + value(
                s,
                "namedprocess_namegroup_cpu_seconds_total",
                &[("groupname", "busy"), ("mode", "system")],
            )
            .unwrap_or(0.0)
    };
    let mut before = 0.0;
    for _ in 0..200 {
        let s = scrape(&app).await;
        before = cpu(&s);
        if value(
            &s,
            "namedprocess_namegroup_num_procs",
            &[("groupname", "busy")],
        ) == Some(2.0)
            && before > 0.1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(before > 0.0, "the busy loops used CPU");
    let mut first = children.0.remove(0);
    first.kill().unwrap();
    first.wait().unwrap();
    let after = cpu(&scrape(&app).await);
    assert!(
        after >= before,
        "group CPU went from {before} down to {after} when a member exited"
    );
}
