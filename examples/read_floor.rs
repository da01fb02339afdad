//! The floor for `bench/cpu.sh`: the kernel reads a scrape of the host collectors hale had
//! before drop-in parity (cpu, meminfo, filesystem, diskstats, netdev, loadavg, stat, time,
//! vmstat, filefd, uname) makes, done in a tight loop with nothing else. The set is the one
//! `strace` shows a hale scrape making (and node_exporter 1.5's makes too):
//!
//! - read from offset 0 until a read returns 0, through descriptors kept open across passes as
//!   hale keeps them: `/proc/{stat,meminfo,diskstats,net/dev,loadavg,vmstat,sys/fs/file-nr}`,
//!   `/proc/stat` twice (the cpu and stat collectors each read it, as node_exporter's do);
//! - open, read, close: `/proc/1/mounts`, the clocksource files;
//! - per CPU: `topology/{physical_package_id,core_id}` and `thermal_throttle/{core,package}_
//!   throttle_count` (absent on VMs: the failed open is the cost), after listing
//!   `/sys/devices/system/cpu`;
//! - per disk the diskstats filter keeps: `/run/udev/data/b<major>:<minor>`;
//! - per network device the netdev filter keeps: `statistics/rx_nohandler`;
//! - a listing of `/sys/devices/system/clocksource`, a statfs of each mount the filesystem
//!   collector's default filters keep, one uname(2).
//!
//! Prints the CPU time (user + system) one pass costs, in µs.
//!
//!   cargo run --release --example read_floor -- [PASSES]

use std::io::Read as _;

/// The files hale keeps open between scrapes (`hale::paths::read_kept`).
const KEPT: &[&str] = &[
    "/proc/stat",
    "/proc/stat",
    "/proc/meminfo",
    "/proc/diskstats",
    "/proc/net/dev",
    "/proc/loadavg",
    "/proc/vmstat",
    "/proc/sys/fs/file-nr",
];

/// The files hale opens at every scrape.
const OPENED: &[&str] = &["/proc/1/mounts"];

/// Every per-device file a scrape opens, found once from this host's CPUs, disks, interfaces
/// and clock sources with hale's default filters.
fn device_files() -> Vec<String> {
    use hale::collector::diskstats::DEFAULT_DISKSTATS_EXCLUDE;
    use hale::collector::netdev::DEFAULT_NETDEV_EXCLUDE;
    let mut out = Vec::new();
    for cpu in list("/sys/devices/system/cpu") {
        if cpu
            .strip_prefix("cpu")
            .is_some_and(|n| n.parse::<u32>().is_ok())
        {
            let dir = format!("/sys/devices/system/cpu/{cpu}");
            for f in [
                "topology/physical_package_id",
                "topology/core_id",
                "thermal_throttle/core_throttle_count",
                "thermal_throttle/package_throttle_count",
            ] {
                out.push(format!("{dir}/{f}"));
            }
        }
    }
    if let Ok(skip) = regex::Regex::new(DEFAULT_DISKSTATS_EXCLUDE) {
        let disks = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
        for l in disks.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let [major, minor, name, ..] = f.as_slice() {
                if !skip.is_match(name) {
                    out.push(format!("/run/udev/data/b{major}:{minor}"));
                }
            }
        }
    }
    if let Ok(skip) = regex::Regex::new(DEFAULT_NETDEV_EXCLUDE) {
        let dev = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
        for l in dev.lines().skip(2) {
            if let Some((name, _)) = l.split_once(':') {
                let name = name.trim();
                if !skip.is_match(name) {
                    out.push(format!("/sys/class/net/{name}/statistics/rx_nohandler"));
                }
            }
        }
    }
    for cs in list("/sys/devices/system/clocksource") {
        if cs.starts_with("clocksource") {
            for f in ["available_clocksource", "current_clocksource"] {
                out.push(format!("/sys/devices/system/clocksource/{cs}/{f}"));
            }
        }
    }
    out
}

/// The names in a directory (a listing is part of the pass too).
fn list(dir: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0;
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field(11) + field(12)) / ticks
}

/// The mounts hale's filesystem collector statfs's: hale's default exclusions, its own regexes.
fn mounts() -> Vec<String> {
    use hale::collector::filesystem::{DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE};
    let (Ok(skip_mount), Ok(skip_fs)) = (
        regex::Regex::new(DEFAULT_MOUNT_POINTS_EXCLUDE),
        regex::Regex::new(DEFAULT_FS_TYPES_EXCLUDE),
    ) else {
        return Vec::new();
    };
    std::fs::read_to_string("/proc/1/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, target, fstype) = (f.next()?, f.next()?, f.next()?);
            (!skip_fs.is_match(fstype) && !skip_mount.is_match(target)).then(|| target.to_string())
        })
        .collect()
}

fn main() {
    let passes: usize = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(5000);
    let mounts = mounts();
    let files: Vec<String> = OPENED
        .iter()
        .map(|f| f.to_string())
        .chain(device_files())
        .collect();
    let kept: Vec<std::fs::File> = KEPT
        .iter()
        .filter_map(|f| std::fs::File::open(f).ok())
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut one_pass = || {
        for file in &kept {
            use std::os::unix::fs::FileExt as _;
            let mut at = 0;
            while let Ok(n @ 1..) = file.read_at(&mut buf, at) {
                at += n as u64;
            }
        }
        for f in &files {
            // Read until end of file, as a parser must: the data, then a read returning 0.
            if let Ok(mut file) = std::fs::File::open(f) {
                while matches!(file.read(&mut buf), Ok(n) if n > 0) {}
            }
        }
        for dir in ["/sys/devices/system/cpu", "/sys/devices/system/clocksource"] {
            std::hint::black_box(list(dir));
        }
        for m in &mounts {
            let _ = rustix::fs::statfs(m.as_str());
        }
        let _ = rustix::system::uname();
    };
    for _ in 0..100 {
        one_pass();
    }
    let start = cpu_seconds();
    for _ in 0..passes {
        one_pass();
    }
    let spent = cpu_seconds() - start;
    println!("{:.1}", spent / passes as f64 * 1e6);
}
