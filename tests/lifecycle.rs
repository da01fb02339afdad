//! Process lifecycle: SIGTERM stops hale gracefully with exit code 0; logs come in the chosen format.

mod common;

use std::time::Duration;

use common::Hale;

fn terminate(hale: &mut Hale) -> std::process::ExitStatus {
    let pid = hale.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    // Guard against a hang, not a timing assertion.
    for _ in 0..600 {
        if let Some(status) = hale.child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("hale did not exit after SIGTERM");
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut hale = Hale::start(&[]);
    assert_eq!(common::get(&hale.url("/metrics"), None).status, 200);
    let status = terminate(&mut hale);
    assert_eq!(status.code(), Some(0));
    let log = hale.drain_log();
    assert!(log.iter().any(|l| l.contains("shutting down")), "{log:?}");
}

#[test]
fn json_logs_are_json() {
    let mut hale = Hale::start(&["--log.format=json"]);
    // Right after start-up: a SIGTERM this early must still be a clean stop.
    assert_eq!(terminate(&mut hale).code(), Some(0));
    let log = hale.drain_log();
    let line = log
        .iter()
        .find(|l| l.contains("shutting down"))
        .expect("shutdown logged");
    assert!(
        line.starts_with('{') && line.contains(r#""level":"INFO""#),
        "{line}"
    );
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // hale inherits this process's limits: a soft limit below the hard one, as systemd's 1024.
    let hard = getrlimit(Resource::Nofile)
        .maximum
        .expect("a finite hard limit on open files");
    assert!(hard >= 128, "hard limit {hard} too low for this test");
    let soft = hard / 2;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: Some(hard),
        },
    )
    .unwrap();
    let hale = Hale::start(&[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", hale.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(
        numbers,
        [hard, hard],
        "{line} (inherited soft limit {soft})"
    );
}
