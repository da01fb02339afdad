//! The floor for `bench/docker.sh`: the kernel reads one scrape of the `docker` collector makes
//! for the running containers whose main PIDs are given, done in a tight loop with nothing else
//! (no parsing, no metric families, no HTTP). The reads are the ones `strace` shows a scrape
//! making, through the same system calls (a directory handle per cgroup controller, one
//! `openat` per file, reads until a short one):
//!
//! - cgroup v1, per container: `memory/{memory.usage_in_bytes,memory.stat,cgroup.procs,tasks,
//!   memory.oom_control,memory.kmem.usage_in_bytes,memory.max_usage_in_bytes,memory.failcnt}`,
//!   `cpuacct/{cpuacct.stat,cpuacct.usage}`, `cpu/cpu.stat`, `pids/{pids.current,pids.max}` and
//!   blkio's byte and operation counts; v2: the unified directory's equivalents, with
//!   `memory.events`, `io.stat` and the three pressure files;
//! - per thread of the cgroup `/proc/<tid>/stat` (task states); per process a listing of
//!   `/proc/<pid>/fd` and a `readlink` of each descriptor (sockets);
//! - `/proc/<pid>/net/dev` of the container's main process;
//! - the root cgroup's CPU, memory and block I/O files (cAdvisor's `id="/"`).
//!
//! Prints the CPU time (user + system) one pass costs, in µs.
//!
//!   cargo run --release --example docker_read_floor -- PASSES PID...

use hale::docker::cgroup::Layout;
use hale::paths::HostPaths;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};

const V1: &[(&str, &[&str])] = &[
    (
        "memory",
        &[
            "memory.usage_in_bytes",
            "memory.stat",
            "cgroup.procs",
            "tasks",
            "memory.oom_control",
            "memory.kmem.usage_in_bytes",
            "memory.max_usage_in_bytes",
            "memory.failcnt",
        ],
    ),
    ("cpuacct", &["cpuacct.stat", "cpuacct.usage"]),
    ("cpu", &["cpu.stat"]),
    ("pids", &["pids.current", "pids.max"]),
];

const V2: &[&str] = &[
    "memory.current",
    "memory.stat",
    "cpu.stat",
    "memory.events",
    "cgroup.procs",
    "cgroup.threads",
    "pids.current",
    "pids.max",
    "memory.swap.current",
    "memory.peak",
    "io.stat",
    "cpu.pressure",
    "memory.pressure",
    "io.pressure",
];

/// The blkio files that exist on this kernel (v1): the first of the CFQ, BFQ and throttle sets.
fn blkio_files(root: &std::path::Path) -> Vec<String> {
    for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
        let files = [
            format!("{prefix}io_service_bytes_recursive"),
            format!("{prefix}io_serviced_recursive"),
        ];
        if files.iter().all(|f| root.join("blkio").join(f).exists()) {
            return files.to_vec();
        }
    }
    Vec::new()
}

fn open_dir(path: &std::path::Path) -> Option<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Reads `name` under `dir` into `buf` until a short read, as hale does; returns the length.
fn read_at(dir: &OwnedFd, name: &str, buf: &mut [u8]) -> usize {
    let Ok(fd) = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
    else {
        return 0;
    };
    let mut len = 0;
    while let Some(rest) = buf.get_mut(len..) {
        match rustix::io::read(&fd, rest) {
            Ok(n) if n > 0 => len += n,
            _ => break,
        }
        if len < buf.len() {
            break;
        }
    }
    len
}

/// The numbers, one per line, of a `cgroup.procs` or `tasks` file.
fn ids(buf: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(buf)
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// A pass over one cgroup's processes: task states, descriptors and sockets.
fn processes(procs: &[u8], tasks: &[u8], buf: &mut [u8], numbers: &mut Vec<u32>) {
    for tid in ids(tasks) {
        // One read: the file fits, and hale stops at the short read too.
        if let Ok(mut f) = std::fs::File::open(format!("/proc/{tid}/stat")) {
            use std::io::Read as _;
            std::hint::black_box(f.read(buf).ok());
        }
    }
    for pid in ids(procs) {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(fd) = rustix::fs::open(format!("/proc/{pid}/fd"), flags, Mode::empty()) else {
            continue;
        };
        let Ok(mut dir) = rustix::fs::Dir::new(fd) else {
            continue;
        };
        numbers.clear();
        while let Some(Ok(e)) = dir.next() {
            if let Some(n) = e.file_name().to_str().ok().and_then(|n| n.parse().ok()) {
                numbers.push(n);
            }
        }
        let Ok(dirfd) = dir.fd() else { continue };
        for n in numbers.iter() {
            std::hint::black_box(rustix::fs::readlinkat(dirfd, n.to_string(), Vec::new()).ok());
        }
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field(11) + field(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let passes: usize = args.next().and_then(|p| p.parse().ok()).unwrap_or(1000);
    let pids: Vec<u32> = args.filter_map(|p| p.parse().ok()).collect();
    let paths = HostPaths::default();
    let layout = Layout::detect(&paths);
    let cgroups: Vec<(u32, String)> = pids
        .iter()
        .filter_map(|&pid| Some((pid, layout.path_of(&paths, pid)?)))
        .collect();
    assert_eq!(cgroups.len(), pids.len(), "every PID's cgroup is found");
    let (mut buf, mut procs, mut tasks) = (
        vec![0u8; 64 * 1024],
        vec![0u8; 64 * 1024],
        vec![0u8; 64 * 1024],
    );
    let mut numbers = Vec::new();
    let blkio = match &layout {
        Layout::V1(root) => blkio_files(root),
        Layout::V2(_) => Vec::new(),
    };
    let mut one_pass = || {
        for (pid, cgroup) in std::iter::once(&(0, "/".to_string())).chain(&cgroups) {
            let rel = cgroup.trim_start_matches('/');
            let root = *pid == 0;
            match &layout {
                Layout::V1(base) => {
                    let (mut np, mut nt) = (0, 0);
                    for (controller, files) in V1 {
                        let Some(dir) = open_dir(&base.join(controller).join(rel)) else {
                            continue;
                        };
                        for f in *files {
                            match *f {
                                // The root's processes are the whole host's: not counted.
                                "cgroup.procs" | "tasks" if root => {}
                                "cgroup.procs" => np = read_at(&dir, f, &mut procs),
                                "tasks" => nt = read_at(&dir, f, &mut tasks),
                                _ => {
                                    read_at(&dir, f, &mut buf);
                                }
                            }
                        }
                    }
                    if let Some(dir) = open_dir(&base.join("blkio").join(rel)) {
                        for f in &blkio {
                            read_at(&dir, f, &mut buf);
                        }
                    }
                    if !root {
                        processes(&procs[..np], &tasks[..nt], &mut buf, &mut numbers);
                    }
                }
                Layout::V2(base) => {
                    let Some(dir) = open_dir(&base.join(rel)) else {
                        continue;
                    };
                    let (mut np, mut nt) = (0, 0);
                    for f in V2 {
                        match *f {
                            "cgroup.procs" | "cgroup.threads" if root => {}
                            "cgroup.procs" => np = read_at(&dir, f, &mut procs),
                            "cgroup.threads" => nt = read_at(&dir, f, &mut tasks),
                            _ => {
                                read_at(&dir, f, &mut buf);
                            }
                        }
                    }
                    if root {
                        if let Ok(mut f) = std::fs::File::open("/proc/meminfo") {
                            use std::io::Read as _;
                            while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
                        }
                    } else {
                        processes(&procs[..np], &tasks[..nt], &mut buf, &mut numbers);
                    }
                }
            }
            if !root {
                if let Some(dir) = open_dir(std::path::Path::new(&format!("/proc/{pid}/net"))) {
                    read_at(&dir, "dev", &mut buf);
                }
            }
        }
    };
    for _ in 0..passes.min(50) {
        one_pass();
    }
    let start = cpu_seconds();
    for _ in 0..passes {
        one_pass();
    }
    println!("{:.0}", (cpu_seconds() - start) / passes as f64 * 1e6);
}
