//! A source that never answers (here a FIFO with no writer standing in for `/proc/loadavg`, the
//! way a dead network mount behaves) fails its own collector at the time budget; the scrape still
//! answers with every other collector, and later scrapes do not pile up threads on it.

mod common;

use common::{parse, scrape_in_process, value};
use hale::config::Config;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_source_fails_only_its_collector() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let proc = tmp.path().join("proc");
    copy_dir(&fixtures.join("proc"), &proc);
    std::fs::remove_file(proc.join("loadavg")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(proc.join("loadavg"))
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo");

    let args = [
        format!("--path.procfs={}", proc.display()),
        format!("--path.sysfs={}", fixtures.join("sys").display()),
        "--scrape.collector-timeout=300ms".to_string(),
        "--collector.disable-defaults".to_string(),
        "--collector.loadavg".to_string(),
        "--collector.meminfo".to_string(),
        "--collector.cpu".to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for _ in 0..3 {
        let reply = scrape_in_process(&args, &Config::default(), None).await;
        assert_eq!(reply.status, 200);
        let series = parse(&reply.body);
        assert_eq!(
            value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", "loadavg")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", "meminfo")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", "cpu")]
            ),
            Some(1.0)
        );
        assert!(value(&series, "node_load1", &[]).is_none());
        assert!(value(&series, "node_memory_MemTotal_bytes", &[]).is_some());
    }
    // Release the blocked readers so the test's threads end.
    for _ in 0..3 {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags_nonblock()
            .open(proc.join("loadavg"));
    }
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(0o4000) // O_NONBLOCK
    }
}
