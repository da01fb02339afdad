//! A source that never answers (here a FIFO with no writer standing in for `/proc/loadavg`, the
//! way a dead network mount behaves) fails its own collector at the time budget; the scrape still
//! answers with every other collector, and later scrapes do not pile up threads on it.

mod common;

use common::{parse, request, value};
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
    // Unblock the stuck readers however the test ends, so the runtime can shut down.
    let _release = Release(proc.join("loadavg"));
    let app = common::app_for(&args, &Config::default());
    for scrape in 0..3 {
        let reply = request(app.clone(), "/metrics", None).await;
        assert_eq!(reply.status, 200);
        let series = parse(&reply.body);
        let success = |c: &str| {
            value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", c)],
            )
        };
        assert_eq!(success("loadavg"), Some(0.0));
        assert_eq!(success("cpu"), Some(1.0));
        assert!(value(&series, "node_load1", &[]).is_none());
        // In the first scrape, meminfo waits behind loadavg on the shared thread and misses the
        // deadline; from then on the stuck loadavg is skipped and meminfo runs.
        if scrape > 0 {
            assert_eq!(success("meminfo"), Some(1.0), "scrape {scrape}");
            assert!(value(&series, "node_memory_MemTotal_bytes", &[]).is_some());
        }
    }
}

struct Release(std::path::PathBuf);
impl Drop for Release {
    fn drop(&mut self) {
        for _ in 0..3 {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags_nonblock()
                .open(&self.0);
        }
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
