//! The floor for `bench/cpu.sh`: the kernel reads a scrape of the host collectors hale had
//! before drop-in parity (cpu, meminfo, filesystem, diskstats, netdev, loadavg, stat, time,
//! vmstat, filefd, uname) makes, done in a tight loop
//! with nothing else: open, read, close each file, statfs each mount node_exporter's default
//! filters keep, one uname(2). Prints the CPU time (user + system) one pass costs, in µs.
//!
//!   cargo run --release --example read_floor -- [PASSES]

use std::io::Read as _;

const FILES: &[&str] = &[
    "/proc/stat",
    "/proc/meminfo",
    "/proc/diskstats",
    "/proc/net/dev",
    "/proc/loadavg",
    "/proc/vmstat",
    "/proc/sys/fs/file-nr",
    "/proc/1/mounts",
    "/sys/devices/system/clocksource/clocksource0/available_clocksource",
    "/sys/devices/system/clocksource/clocksource0/current_clocksource",
];

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
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut one_pass = || {
        for f in FILES {
            if let Ok(mut file) = std::fs::File::open(f) {
                buf.clear();
                let _ = file.read_to_end(&mut buf);
            }
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
