//! The floor for `bench/docker.sh`: the kernel reads one scrape of the `docker` collector makes
//! for the running containers whose main PIDs are given, done in a tight loop with nothing else
//! (no parsing, no metric families, no HTTP). The reads are the ones `strace` shows a scrape
//! making, through the same system calls (a directory handle per cgroup controller, one
//! `openat` per file, reads until a short one, or for the lists the kernel writes an entry at
//! a time, `cgroup.procs`, `tasks`, `cgroup.threads` and `net/dev`, until a read returns 0):
//!
//! - cgroup v1, per container: `memory/{memory.usage_in_bytes,memory.stat,cgroup.procs,tasks,
//!   memory.oom_control,memory.kmem.usage_in_bytes,memory.max_usage_in_bytes,memory.failcnt}`,
//!   `cpuacct/{cpuacct.stat,cpuacct.usage}`, `cpu/cpu.stat`, `pids/{pids.current,pids.max}` and
//!   blkio's byte and operation counts (the set the kernel has); v2: the unified directory's
//!   equivalents, with `memory.events`, `io.stat` and the three pressure files (see [`V1`] and
//!   [`V2`]);
//! - per thread of the cgroup `/proc/<tid>/stat` (task states); per process a listing of
//!   `/proc/<pid>/fd` and a `readlink` of each descriptor (sockets);
//! - `/proc/<pid>/net/dev` of the container's main process;
//! - the root cgroup's CPU, memory and block I/O files (cAdvisor's `id="/"`), and on v2
//!   `/proc/meminfo` (the root's memory usage).
//!
//! Prints the CPU time (user + system) one pass costs, in µs.
//!
//!   cargo run --release --example docker_read_floor -- PASSES PID...

use hale::docker::cgroup::Layout;
use hale::paths::HostPaths;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};

/// Whose cgroup a file is read for: every one, or containers only (the root cgroup, cAdvisor's
/// `id="/"`, reports CPU, memory and block I/O only, as hale reads it).
#[derive(Clone, Copy, PartialEq)]
enum For {
    All,
    Containers,
}
use For::{All, Containers};

const V1: &[(&str, &[(&str, For)])] = &[
    (
        "memory",
        &[
            ("memory.usage_in_bytes", All),
            ("memory.stat", All),
            ("cgroup.procs", Containers),
            ("tasks", Containers),
            ("memory.oom_control", Containers),
            ("memory.kmem.usage_in_bytes", Containers),
            ("memory.max_usage_in_bytes", All),
            ("memory.failcnt", All),
        ],
    ),
    ("cpuacct", &[("cpuacct.stat", All), ("cpuacct.usage", All)]),
    ("cpu", &[("cpu.stat", All)]),
    (
        "pids",
        &[("pids.current", Containers), ("pids.max", Containers)],
    ),
];

const V2: &[(&str, For)] = &[
    ("memory.current", Containers),
    ("memory.stat", All),
    ("cpu.stat", All),
    ("memory.events", Containers),
    ("cgroup.procs", Containers),
    ("cgroup.threads", Containers),
    ("pids.current", Containers),
    ("pids.max", Containers),
    ("memory.swap.current", Containers),
    ("memory.peak", Containers),
    ("io.stat", All),
    ("cpu.pressure", Containers),
    ("memory.pressure", Containers),
    ("io.pressure", Containers),
];

/// Buffers a pass reuses, and the lengths of the last process and thread lists read.
struct Scratch {
    buf: Vec<u8>,
    procs: Vec<u8>,
    threads: Vec<u8>,
    procs_len: usize,
    threads_len: usize,
    numbers: Vec<u32>,
}

impl Scratch {
    /// Reads the files of `files` that apply to this cgroup from `dir`, keeping the process
    /// and thread lists for [`processes`].
    fn read_all(&mut self, dir: &OwnedFd, files: &[(&str, For)], root: bool) {
        for &(f, who) in files {
            if root && who == Containers {
                continue;
            }
            match f {
                "cgroup.procs" => self.procs_len = read_at(dir, f, &mut self.procs, true),
                "tasks" | "cgroup.threads" => {
                    self.threads_len = read_at(dir, f, &mut self.threads, true);
                }
                _ => {
                    read_at(dir, f, &mut self.buf, false);
                }
            }
        }
    }

    /// The processes and threads of the lists last read.
    fn processes(&mut self) {
        let (procs, threads) = (
            self.procs.get(..self.procs_len).unwrap_or_default(),
            self.threads.get(..self.threads_len).unwrap_or_default(),
        );
        processes(procs, threads, &mut self.buf, &mut self.numbers);
    }
}

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

/// Reads `name` under `dir` into `buf` until a short read, or with `list` until a read returns
/// 0, as hale does; returns the length.
fn read_at(dir: &OwnedFd, name: &str, buf: &mut [u8], list: bool) -> usize {
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
        if !list && len < buf.len() {
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
    let mut scratch = Scratch {
        buf: vec![0u8; 64 * 1024],
        procs: vec![0u8; 64 * 1024],
        threads: vec![0u8; 64 * 1024],
        procs_len: 0,
        threads_len: 0,
        numbers: Vec::new(),
    };
    let blkio: Vec<(String, For)> = match &layout {
        Layout::V1(root) => blkio_files(root).into_iter().map(|f| (f, All)).collect(),
        Layout::V2(_) => Vec::new(),
    };
    let blkio: Vec<(&str, For)> = blkio.iter().map(|(f, w)| (f.as_str(), *w)).collect();
    let mut one_pass = || {
        for (pid, cgroup) in std::iter::once(&(0, "/".to_string())).chain(&cgroups) {
            let rel = cgroup.trim_start_matches('/');
            let root = *pid == 0;
            match &layout {
                Layout::V1(base) => {
                    for (controller, files) in V1 {
                        if root && files.iter().all(|(_, who)| *who == Containers) {
                            continue;
                        }
                        if let Some(dir) = open_dir(&base.join(controller).join(rel)) {
                            scratch.read_all(&dir, files, root);
                        }
                    }
                    if let Some(dir) = open_dir(&base.join("blkio").join(rel)) {
                        scratch.read_all(&dir, &blkio, root);
                    }
                }
                Layout::V2(base) => {
                    let Some(dir) = open_dir(&base.join(rel)) else {
                        continue;
                    };
                    scratch.read_all(&dir, V2, root);
                    if root {
                        if let Ok(mut f) = std::fs::File::open("/proc/meminfo") {
                            use std::io::Read as _;
                            while matches!(f.read(&mut scratch.buf), Ok(n) if n > 0) {}
                        }
                    }
                }
            }
            if !root {
                scratch.processes();
                if let Some(dir) = open_dir(std::path::Path::new(&format!("/proc/{pid}/net"))) {
                    read_at(&dir, "dev", &mut scratch.buf, true);
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
