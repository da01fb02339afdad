//! A running container's resources read from its cgroup files, v1 or v2, the way cAdvisor
//! computes them: CPU from `cpuacct`/`cpu.stat`, memory usage and working set (usage minus
//! inactive file pages, floored at 0), RSS, CFS throttling,
//! OOM kills, threads (`pids.current`), open file descriptors (every process in the cgroup) and
//! the network counters of the container's own network namespace (`/proc/<pid>/net/dev`).
//!
//! The memory limit is not read here: `container_spec_memory_limit_bytes` is the container's
//! spec, which Docker's inspect gives (`HostConfig.Memory`, refreshed on `update` events), and
//! one file fewer per container per scrape counts (see bench/docker.sh).
//!
//! Reading files costs microseconds per container and never asks Docker, which is why this is
//! the default and the stats API only a fallback. A file the kernel does not provide (no `pids`
//! controller, an old kernel without `oom_kill`) leaves its field `None`, and the metric absent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::paths::{HostPaths, KernelDir, ReadError};

/// Network counters of one interface, as cAdvisor names them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interface {
    pub name: String,
    pub receive_bytes: u64,
    pub receive_packets: u64,
    pub receive_errors: u64,
    pub receive_dropped: u64,
    pub transmit_bytes: u64,
    pub transmit_packets: u64,
    pub transmit_errors: u64,
    pub transmit_dropped: u64,
}

/// One container's resource usage. `None` where the source does not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub cpu_usage_seconds: Option<f64>,
    pub cpu_user_seconds: Option<f64>,
    pub cpu_system_seconds: Option<f64>,
    pub cfs_periods: Option<u64>,
    pub cfs_throttled_periods: Option<u64>,
    pub cfs_throttled_seconds: Option<f64>,
    /// CFS burst (`nr_bursts`, and `burst_time` ns on v1 or `burst_usec` on v2, in seconds),
    /// where the kernel has it (5.14 and later).
    pub cfs_burst_periods: Option<u64>,
    pub cfs_burst_seconds: Option<f64>,
    /// Pressure stall totals in seconds, `(some, full)` for cpu, memory and io: v2's
    /// `<resource>.pressure`, which v1 does not have.
    pub pressure: [Option<(f64, f64)>; 3],
    pub memory_usage_bytes: Option<u64>,
    pub memory_working_set_bytes: Option<u64>,
    pub memory_rss_bytes: Option<u64>,
    pub oom_events: Option<u64>,
    pub threads: Option<u64>,
    /// `pids.max`, 0 for `max` (no limit), as cAdvisor shows it.
    pub threads_max: Option<u64>,
    /// Kernel memory (`memory.kmem.usage_in_bytes`, v1 only).
    pub memory_kernel_bytes: Option<u64>,
    pub file_descriptors: Option<u64>,
    pub interfaces: Vec<Interface>,
    /// Page cache (`total_cache` on v1, `file` on v2).
    pub memory_cache_bytes: Option<u64>,
    /// Swap in use (`total_swap` on v1, `memory.swap.current` on v2).
    pub memory_swap_bytes: Option<u64>,
    /// The peak usage (`memory.max_usage_in_bytes` on v1, `memory.peak` on v2 where the kernel
    /// has it).
    pub memory_max_usage_bytes: Option<u64>,
    /// How often usage hit the limit (`memory.failcnt` on v1, `max` of `memory.events` on v2).
    pub memory_failcnt: Option<u64>,
    /// Memory-mapped files (`total_mapped_file` on v1, `file_mapped` on v2).
    pub memory_mapped_file_bytes: Option<u64>,
    /// Processes in the cgroup (`cgroup.procs`).
    pub processes: Option<u64>,
    /// Open sockets of those processes.
    pub sockets: Option<u64>,
    /// The cgroup's threads by state, as cAdvisor's `container_tasks_state`: sleeping, running,
    /// stopped, uninterruptible, iowaiting (see [`TASK_STATES`]).
    pub task_states: Option<[u64; 5]>,
    /// The rest of cAdvisor's `memory.stat` families.
    pub memory_stat: MemoryStat,
    /// Block I/O per device (blkio on v1, `io.stat` on v2).
    pub block_io: Vec<BlockIo>,
}

/// The `memory.stat` (and v2 `memory.events`) figures behind cAdvisor's other memory families,
/// read under the keys cAdvisor reads: each `None` where the kernel does not give the key (the
/// v2-only ones on v1, where cAdvisor shows 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryStat {
    /// `total_active_file` on v1, `active_file` on v2.
    pub active_file: Option<u64>,
    /// `total_inactive_file` on v1, `inactive_file` on v2.
    pub inactive_file: Option<u64>,
    pub pgfault: Option<u64>,
    pub pgmajfault: Option<u64>,
    pub file_dirty: Option<u64>,
    pub file_writeback: Option<u64>,
    pub pgscan: Option<u64>,
    pub pgsteal: Option<u64>,
    pub workingset_refault_file: Option<u64>,
    pub workingset_refault_anon: Option<u64>,
    /// `high` and `max` of v2's `memory.events`.
    pub events_high: Option<u64>,
    pub events_max: Option<u64>,
}

impl MemoryStat {
    fn read(stat: &Keyed, events: &Keyed, v2: bool) -> MemoryStat {
        let field = |name: &str| stat.get(name);
        let event = |name: &str| events.get(name);
        let (active, inactive) = if v2 {
            ("active_file", "inactive_file")
        } else {
            ("total_active_file", "total_inactive_file")
        };
        MemoryStat {
            active_file: field(active),
            inactive_file: field(inactive),
            pgfault: field("pgfault"),
            pgmajfault: field("pgmajfault"),
            file_dirty: field("file_dirty"),
            file_writeback: field("file_writeback"),
            pgscan: field("pgscan"),
            pgsteal: field("pgsteal"),
            workingset_refault_file: field("workingset_refault_file"),
            workingset_refault_anon: field("workingset_refault_anon"),
            events_high: event("high"),
            events_max: event("max"),
        }
    }
}

/// One block device's I/O by a cgroup, as cAdvisor's `container_fs_{reads,writes}{_bytes,}_total`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockIo {
    pub major: u32,
    pub minor: u32,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub reads: u64,
    pub writes: u64,
}

impl BlockIo {
    /// Records `value` for device `major:minor`: bytes or operations (`is_bytes`), read or
    /// written (`op`, `Read`/`Write` in any case; others are ignored).
    pub fn record(
        devices: &mut Vec<BlockIo>,
        major: u32,
        minor: u32,
        is_bytes: bool,
        op: &str,
        value: u64,
    ) {
        let i = match devices
            .iter()
            .position(|b| b.major == major && b.minor == minor)
        {
            Some(i) => i,
            None => {
                devices.push(BlockIo {
                    major,
                    minor,
                    ..BlockIo::default()
                });
                devices.len() - 1
            }
        };
        let Some(b) = devices.get_mut(i) else { return };
        match (is_bytes, op.to_ascii_lowercase().as_str()) {
            (true, "read") => b.read_bytes = value,
            (true, "write") => b.write_bytes = value,
            (false, "read") => b.reads = value,
            (false, "write") => b.writes = value,
            _ => {}
        }
    }
}

/// Parses cgroup v1 blkio files (`MAJ:MIN Read 4096` lines; `Total` ignored): bytes from
/// `bytes`, operations from `ops`.
fn parse_blkio_v1(bytes: &str, ops: &str) -> Vec<BlockIo> {
    let mut out: Vec<BlockIo> = Vec::new();
    for (text, is_bytes) in [(bytes, true), (ops, false)] {
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(dev), Some(op), Some(v)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let Some((major, minor)) = dev.split_once(':') else {
                continue;
            };
            let (Ok(major), Ok(minor), Ok(v)) =
                (major.parse::<u32>(), minor.parse::<u32>(), v.parse::<u64>())
            else {
                continue;
            };
            BlockIo::record(&mut out, major, minor, is_bytes, op, v);
        }
    }
    out
}

/// Parses cgroup v2 `io.stat` (`MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..`).
fn parse_io_stat(text: &str) -> Vec<BlockIo> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (major, minor) = f.next()?.split_once(':')?;
            let mut b = BlockIo {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                ..BlockIo::default()
            };
            for kv in f {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(v) = v.parse::<u64>() else { continue };
                match k {
                    "rbytes" => b.read_bytes = v,
                    "wbytes" => b.write_bytes = v,
                    "rios" => b.reads = v,
                    "wios" => b.writes = v,
                    _ => {}
                }
            }
            Some(b)
        })
        .collect()
}

/// A container's limits as its cgroup holds them, the way cAdvisor reads its spec:
/// `container_spec_cpu_{period,quota,shares}`, `container_spec_memory_{reservation,swap}_limit_bytes`.
/// Read when Docker reports the container started or updated, not at every scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    pub cpu_period: u64,
    /// `None` without a quota.
    pub cpu_quota: Option<u64>,
    /// `cpu.shares` on v1; on v2, `cpu.weight` mapped back to shares as cAdvisor does.
    pub cpu_shares: u64,
    /// 0 when unlimited (as cAdvisor reports limits beyond 2^62).
    pub memory_reservation: u64,
    pub memory_swap_limit: u64,
}

/// cAdvisor's `specMemoryValue`: a "limit" beyond any real memory (unlimited) is 0.
fn spec_memory(v: u64) -> u64 {
    if v > 1 << 62 {
        0
    } else {
        v
    }
}

/// cAdvisor's reading of a cgroup number: `max` is `u64::MAX`, absent or odd is 0.
fn cgroup_u64(text: Option<String>) -> u64 {
    match text.as_deref().map(str::trim) {
        Some("max") => u64::MAX,
        Some(v) => v.parse().unwrap_or(0),
        None => 0,
    }
}

/// Interfaces cAdvisor leaves out of container network metrics.
pub fn ignored_interface(name: &str) -> bool {
    name == "lo" || name.starts_with("veth") || name.starts_with("docker")
}

/// Working set as cAdvisor defines it: usage minus inactive file pages, never below 0.
pub fn working_set(usage: u64, inactive_file: Option<u64>) -> u64 {
    usage.saturating_sub(inactive_file.unwrap_or(0))
}

/// The root of a cgroup v1 hierarchy, and which of blkio's file sets ([`BLKIO_SETS`]) this
/// kernel lacks, learnt at the first try: a kernel without CFQ never grows its files, and trying
/// them cost two failed opens per container per scrape. It reads as the root's path.
#[derive(Debug)]
pub struct V1Root {
    root: PathBuf,
    /// Bit `i` set: set `i` is not on this kernel.
    blkio_absent: AtomicU8,
}

impl Clone for V1Root {
    fn clone(&self) -> Self {
        V1Root {
            root: self.root.clone(),
            blkio_absent: AtomicU8::new(self.blkio_absent.load(Ordering::Relaxed)),
        }
    }
}

impl PartialEq for V1Root {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Eq for V1Root {}

impl std::ops::Deref for V1Root {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.root
    }
}

/// blkio's file sets, in the order runc reads them: CFQ, BFQ, then the throttle policy's.
const BLKIO_SETS: [[&str; 2]; 3] = [
    [
        "blkio.io_service_bytes_recursive",
        "blkio.io_serviced_recursive",
    ],
    [
        "blkio.bfq.io_service_bytes_recursive",
        "blkio.bfq.io_serviced_recursive",
    ],
    [
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.throttle.io_serviced_recursive",
    ],
];

/// Which cgroup hierarchy this machine mounts under `<sysfs>/fs/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1 (also the "hybrid" layout): one directory per controller.
    V1(V1Root),
    /// The unified cgroup v2 hierarchy.
    V2(PathBuf),
}

impl Layout {
    /// Detects the layout: v2 when the root has `cgroup.controllers`.
    pub fn detect(paths: &HostPaths) -> Layout {
        let root = paths.sys("fs/cgroup");
        if root.join("cgroup.controllers").exists() {
            Layout::V2(root)
        } else {
            Layout::V1(V1Root {
                root,
                blkio_absent: AtomicU8::new(0),
            })
        }
    }

    /// The directory of `controller` for the cgroup at `path` (v2 ignores the controller).
    fn dir(&self, controller: &str, path: &str) -> PathBuf {
        let rel = path.trim_start_matches('/');
        match self {
            Layout::V1(root) => root.join(controller).join(rel),
            Layout::V2(root) => root.join(rel),
        }
    }

    /// Whether the cgroup at `path` exists on this machine.
    pub fn has(&self, path: &str) -> bool {
        self.dir("memory", path).is_dir()
    }

    /// The cgroup's limits (see [`Spec`]); `None` when the cgroup is not on this machine.
    pub fn spec(&self, path: &str) -> Option<Spec> {
        match self {
            Layout::V1(_) => {
                let cpu = KernelDir::open(&self.dir("cpu", path)).ok();
                let cpu = |f: &str| cpu.as_ref().and_then(|d| d.read(f));
                let memory = KernelDir::open(&self.dir("memory", path)).ok()?;
                let quota = cpu("cpu.cfs_quota_us")
                    .and_then(|q| q.trim().parse::<u64>().ok())
                    .filter(|&q| q != 0);
                Some(Spec {
                    cpu_period: cgroup_u64(cpu("cpu.cfs_period_us")),
                    cpu_quota: quota,
                    cpu_shares: cgroup_u64(cpu("cpu.shares")),
                    memory_reservation: spec_memory(cgroup_u64(
                        memory.read("memory.soft_limit_in_bytes"),
                    )),
                    memory_swap_limit: spec_memory(cgroup_u64(
                        memory.read("memory.memsw.limit_in_bytes"),
                    )),
                })
            }
            Layout::V2(_) => {
                let dir = KernelDir::open(&self.dir("", path)).ok()?;
                let weight = cgroup_u64(dir.read("cpu.weight"));
                let shares = if (1..=10_000).contains(&weight) {
                    2 + ((weight - 1) * 262_142) / 9_999
                } else {
                    0
                };
                let (mut quota, mut period) = (None, 0);
                if let Some(max) = dir.read("cpu.max") {
                    if let Some((q, p)) = max.trim().split_once(' ') {
                        if q != "max" {
                            quota = q.parse::<u64>().ok().filter(|&q| q != 0);
                        }
                        period = cgroup_u64(Some(p.to_string()));
                    }
                }
                Some(Spec {
                    cpu_period: period,
                    cpu_quota: quota,
                    cpu_shares: shares,
                    memory_reservation: spec_memory(cgroup_u64(dir.read("memory.min"))),
                    memory_swap_limit: spec_memory(cgroup_u64(dir.read("memory.swap.max"))),
                })
            }
        }
    }

    /// The root cgroup's usage, cAdvisor's `id="/"` (the whole machine): CPU, memory and block
    /// I/O, without the per-process counts (they would walk every process of the host). On v2
    /// the root has no `memory.current`, so usage is `MemTotal - MemFree`, as runc computes it.
    pub fn read_root(&self, paths: &HostPaths) -> Option<Resources> {
        match self {
            Layout::V1(_) => {
                // Without the per-process counts: the root's cgroup.procs is every process of the
                // host, and counting their sockets would readlink every open fd at each scrape.
                self.read_v1(paths, "/", false).ok()
            }
            Layout::V2(_) => {
                let dir = KernelDir::open(&self.dir("", "/")).ok()?;
                let meminfo = crate::paths::read_text(paths.proc("meminfo")).ok()?;
                let kib = |key: &str| {
                    meminfo
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                        .map(|v| v.saturating_mul(1024))
                };
                let usage = kib("MemTotal:")?.saturating_sub(kib("MemFree:")?);
                let stat = dir.read("memory.stat");
                let stat = Keyed::new(stat.as_deref());
                let field = |name: &str| stat.get(name);
                let cpu = dir.read("cpu.stat");
                let usec = |name: &str| {
                    cpu.as_deref()
                        .and_then(|s| keyed(s, name))
                        .map(|us| us as f64 / 1e6)
                };
                Some(Resources {
                    cpu_usage_seconds: usec("usage_usec"),
                    cpu_user_seconds: usec("user_usec"),
                    cpu_system_seconds: usec("system_usec"),
                    memory_usage_bytes: Some(usage),
                    memory_working_set_bytes: Some(working_set(usage, field("inactive_file"))),
                    memory_rss_bytes: field("anon"),
                    memory_cache_bytes: field("file"),
                    memory_mapped_file_bytes: field("file_mapped"),
                    block_io: dir
                        .read("io.stat")
                        .map(|t| parse_io_stat(&t))
                        .unwrap_or_default(),
                    ..Resources::default()
                })
            }
        }
    }

    /// The cgroup path of a process, from `/proc/<pid>/cgroup`: the unified entry on v2, the
    /// memory controller's on v1.
    pub fn path_of(&self, paths: &HostPaths, pid: u32) -> Option<String> {
        let text = crate::paths::read_text(paths.proc(format!("{pid}/cgroup"))).ok()?;
        text.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let wanted = match self {
                Layout::V2(_) => controllers.is_empty(),
                Layout::V1(_) => controllers.split(',').any(|c| c == "memory"),
            };
            wanted.then(|| path.to_string())
        })
    }

    /// Reads the resources of the cgroup at `path`, whose main process is `pid`. Fails only
    /// when the cgroup itself is gone; a missing optional file leaves its field `None`.
    pub fn read(
        &self,
        paths: &HostPaths,
        path: &str,
        pid: Option<u32>,
        with_network: bool,
    ) -> Result<Resources, ReadError> {
        let mut r = match self {
            Layout::V1(_) => self.read_v1(paths, path, true)?,
            Layout::V2(_) => self.read_v2(paths, path)?,
        };
        if let (Some(pid), true) = (pid, with_network) {
            r.interfaces = network(paths, pid);
        }
        Ok(r)
    }

    fn read_v1(
        &self,
        paths: &HostPaths,
        path: &str,
        container: bool,
    ) -> Result<Resources, ReadError> {
        let memory_path = self.dir("memory", path);
        let memory = KernelDir::open(&memory_path)?;
        let usage = memory.read_u64("memory.usage_in_bytes")?;
        let stat = memory.read("memory.stat");
        let stat = Keyed::new(stat.as_deref());
        let field = |name: &str| stat.get(name);
        let cpuacct = KernelDir::open(&self.dir("cpuacct", path)).ok();
        let cpuacct = |name: &str| cpuacct.as_ref().and_then(|d| d.read(name));
        let ticks = procfs::ticks_per_second() as f64;
        let cpu_stat = cpuacct("cpuacct.stat");
        let cpu_stat = Keyed::new(cpu_stat.as_deref());
        let tick_field = |name: &str| cpu_stat.get(name).map(|t| t as f64 / ticks);
        let cfs = KernelDir::open(&self.dir("cpu", path))
            .ok()
            .and_then(|d| d.read("cpu.stat"));
        let cfs = Keyed::new(cfs.as_deref());
        let cfs_field = |name: &str| cfs.get(name);
        // The root cgroup (`container` false) reports CPU, memory and block I/O only: its
        // processes are the whole host's, and its OOM, kernel memory and pids files are not
        // exported, so they are not read.
        let procs = container
            .then(|| process_stats(&memory, "tasks", paths.procfs_root()))
            .flatten();
        let pids = container
            .then(|| KernelDir::open(&self.dir("pids", path)).ok())
            .flatten();
        let only_container = |name: &str| container.then(|| memory.read(name)).flatten();
        Ok(Resources {
            cpu_usage_seconds: cpuacct("cpuacct.usage")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|ns| ns as f64 / 1e9),
            cpu_user_seconds: tick_field("user"),
            cpu_system_seconds: tick_field("system"),
            cfs_periods: cfs_field("nr_periods"),
            cfs_throttled_periods: cfs_field("nr_throttled"),
            cfs_throttled_seconds: cfs_field("throttled_time").map(|ns| ns as f64 / 1e9),
            cfs_burst_periods: cfs_field("nr_bursts"),
            cfs_burst_seconds: cfs_field("burst_time").map(|ns| ns as f64 / 1e9),
            pressure: [None, None, None],
            memory_usage_bytes: Some(usage),
            memory_working_set_bytes: Some(working_set(usage, field("total_inactive_file"))),
            memory_rss_bytes: field("total_rss"),
            oom_events: only_container("memory.oom_control").and_then(|s| keyed(&s, "oom_kill")),
            threads: pids
                .as_ref()
                .and_then(|d| d.read("pids.current"))
                .and_then(|s| s.trim().parse().ok()),
            threads_max: pids
                .as_ref()
                .and_then(|d| d.read("pids.max"))
                .and_then(|s| pids_max(&s)),
            memory_kernel_bytes: only_container("memory.kmem.usage_in_bytes")
                .and_then(|s| s.trim().parse().ok()),
            file_descriptors: procs.map(|p| p.fds),
            interfaces: Vec::new(),
            memory_cache_bytes: field("total_cache"),
            memory_swap_bytes: field("total_swap"),
            memory_max_usage_bytes: memory
                .read("memory.max_usage_in_bytes")
                .and_then(|s| s.trim().parse().ok()),
            memory_failcnt: memory
                .read("memory.failcnt")
                .and_then(|s| s.trim().parse().ok()),
            memory_mapped_file_bytes: field("total_mapped_file"),
            memory_stat: MemoryStat::read(&stat, &Keyed::default(), false),
            processes: procs.map(|p| p.processes),
            sockets: procs.map(|p| p.sockets),
            task_states: procs.and_then(|p| p.task_states),
            block_io: self.blkio_v1(path),
        })
    }

    /// The cgroup's block I/O on v1, from the first of the CFQ, BFQ and throttle files that has
    /// any device (the order runc reads them in).
    fn blkio_v1(&self, path: &str) -> Vec<BlockIo> {
        let Layout::V1(root) = self else {
            return Vec::new();
        };
        let Ok(dir) = KernelDir::open(&self.dir("blkio", path)) else {
            return Vec::new();
        };
        for (i, [bytes, ops]) in BLKIO_SETS.iter().enumerate() {
            let bit = 1u8 << i;
            if root.blkio_absent.load(Ordering::Relaxed) & bit != 0 {
                continue;
            }
            let (bytes, ops) = match (dir.try_read(bytes), dir.try_read(ops)) {
                (Ok(bytes), Ok(ops)) => (bytes, ops),
                (Err(e), _) | (_, Err(e)) => {
                    // Not found in a container's cgroup may mean the container just went;
                    // the root cgroup, which never goes, says whether the kernel has the file.
                    let kernel_lacks = |f: &str| !self.dir("blkio", "/").join(f).exists();
                    if e.source.kind() == std::io::ErrorKind::NotFound
                        && (kernel_lacks(bytes) || kernel_lacks(ops))
                    {
                        root.blkio_absent.fetch_or(bit, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            let parsed = parse_blkio_v1(&bytes, &ops);
            if !parsed.is_empty() {
                return parsed;
            }
        }
        Vec::new()
    }

    fn read_v2(&self, paths: &HostPaths, path: &str) -> Result<Resources, ReadError> {
        let dir = KernelDir::open(&self.dir("", path))?;
        let usage = dir.read_u64("memory.current")?;
        let stat = dir.read("memory.stat");
        let stat = Keyed::new(stat.as_deref());
        let field = |name: &str| stat.get(name);
        let cpu = dir.read("cpu.stat");
        let cpu = Keyed::new(cpu.as_deref());
        let cpu_field = |name: &str| cpu.get(name);
        let usec = |name: &str| cpu_field(name).map(|us| us as f64 / 1e6);
        let events = dir.read("memory.events");
        let events = Keyed::new(events.as_deref());
        let procs = process_stats(&dir, "cgroup.threads", paths.procfs_root());
        Ok(Resources {
            cpu_usage_seconds: usec("usage_usec"),
            cpu_user_seconds: usec("user_usec"),
            cpu_system_seconds: usec("system_usec"),
            cfs_periods: cpu_field("nr_periods"),
            cfs_throttled_periods: cpu_field("nr_throttled"),
            cfs_throttled_seconds: usec("throttled_usec"),
            cfs_burst_periods: cpu_field("nr_bursts"),
            cfs_burst_seconds: usec("burst_usec"),
            pressure: ["cpu.pressure", "memory.pressure", "io.pressure"]
                .map(|f| dir.read(f).as_deref().and_then(parse_pressure)),
            memory_usage_bytes: Some(usage),
            memory_working_set_bytes: Some(working_set(usage, field("inactive_file"))),
            memory_rss_bytes: field("anon"),
            oom_events: events.get("oom_kill"),
            threads: dir.read("pids.current").and_then(|s| s.trim().parse().ok()),
            threads_max: dir.read("pids.max").and_then(|s| pids_max(&s)),
            memory_kernel_bytes: None,
            file_descriptors: procs.map(|p| p.fds),
            interfaces: Vec::new(),
            memory_cache_bytes: field("file"),
            memory_swap_bytes: dir
                .read("memory.swap.current")
                .and_then(|s| s.trim().parse().ok()),
            memory_max_usage_bytes: dir.read("memory.peak").and_then(|s| s.trim().parse().ok()),
            memory_failcnt: events.get("max"),
            memory_mapped_file_bytes: field("file_mapped"),
            memory_stat: MemoryStat::read(&stat, &events, true),
            processes: procs.map(|p| p.processes),
            sockets: procs.map(|p| p.sockets),
            task_states: procs.and_then(|p| p.task_states),
            block_io: dir
                .read("io.stat")
                .map(|t| parse_io_stat(&t))
                .unwrap_or_default(),
        })
    }
}

/// `pids.max`: a number, or `max` for no limit, which cAdvisor (through runc) shows as 0.
fn pids_max(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => Some(0),
        n => n.parse().ok(),
    }
}

/// A PSI file's `some` and `full` totals (microseconds in the file), in seconds. A kernel that
/// has no `full` line for cpu (before 5.13) gives 0 for it, as cAdvisor shows.
fn parse_pressure(text: &str) -> Option<(f64, f64)> {
    let total = |kind: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(kind))?;
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("total="))?
            .parse()
            .ok()
    };
    let some = total("some ")?;
    Some((some as f64 / 1e6, total("full ").unwrap_or(0) as f64 / 1e6))
}

/// The `state` label values of cAdvisor's `container_tasks_state`, in [`Resources::task_states`]
/// order.
pub const TASK_STATES: [&str; 5] = [
    "sleeping",
    "running",
    "stopped",
    "uninterruptible",
    "iowaiting",
];

/// What cAdvisor counts over a cgroup's processes.
#[derive(Debug, Clone, Copy)]
struct ProcessStats {
    processes: u64,
    fds: u64,
    sockets: u64,
    task_states: Option<[u64; 5]>,
}

/// Where a thread's state letter (`/proc/<tid>/stat`'s third field) counts in [`TASK_STATES`].
/// This is the kernel's own count for cAdvisor (`cgroupstats`, read over netlink with
/// `--enable_load_reader`): `R` running, `S` sleeping, `D` uninterruptible, `T` stopped. The
/// kernel counts a task as iowaiting only when its state is none of those and it waits on I/O,
/// which `/proc` does not show; a thread waiting on a disk is `D`, so iowaiting stays 0 here,
/// as it nearly always is in the kernel's count.
fn task_state_index(stat: &str) -> Option<usize> {
    let after = stat.rsplit_once(')')?.1;
    match after.split_ascii_whitespace().next()? {
        "S" => Some(0),
        "R" => Some(1),
        "T" => Some(2),
        "D" => Some(3),
        _ => None,
    }
}

/// The processes in the cgroup (`cgroup.procs` of `dir`), their open file descriptors and how
/// many of those are sockets (a `readlink` per descriptor, as cAdvisor does), and its threads'
/// states from `threads_file`, which lists them: `tasks` on v1, `cgroup.threads` on v2.
fn process_stats(dir: &KernelDir, threads_file: &str, procfs: &Path) -> Option<ProcessStats> {
    let procs = dir.read_list("cgroup.procs")?;
    let mut stats = ProcessStats {
        processes: 0,
        fds: 0,
        sockets: 0,
        task_states: None,
    };
    // A thread that exited since the list was read is not counted.
    if let Some(tids) = dir.read_list(threads_file) {
        let mut states = [0u64; 5];
        for tid in tids.lines().map(str::trim).filter(|t| !t.is_empty()) {
            let stat = std::fs::File::open(procfs.join(tid).join("stat"))
                .and_then(|f| crate::paths::read_all(f, true));
            let i = stat
                .ok()
                .and_then(|s| String::from_utf8(s).ok())
                .as_deref()
                .and_then(task_state_index);
            if let Some(n) = i.and_then(|i| states.get_mut(i)) {
                *n += 1;
            }
        }
        stats.task_states = Some(states);
    }
    let mut scratch = FdScratch::default();
    for pid in procs.lines().map(str::trim).filter(|p| !p.is_empty()) {
        stats.processes += 1;
        let (fds, sockets) = count_fds(&procfs.join(pid).join("fd"), &mut scratch);
        stats.fds += fds;
        stats.sockets += sockets;
    }
    Some(stats)
}

/// Buffers [`count_fds`] reuses from one process to the next.
#[derive(Default)]
struct FdScratch {
    numbers: Vec<u32>,
    target: Vec<u8>,
}

/// A process's open descriptors (the entries of its `fd` directory) and how many are sockets:
/// one listing, and a `readlink` of each entry relative to the directory's handle, so the
/// kernel does not walk `/proc/<pid>/fd/` again for every descriptor. A process gone meanwhile
/// counts what was seen.
fn count_fds(fd_dir: &Path, scratch: &mut FdScratch) -> (u64, u64) {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::open(fd_dir, flags, Mode::empty()) else {
        return (0, 0);
    };
    let Ok(mut entries) = rustix::fs::Dir::new(fd) else {
        return (0, 0);
    };
    scratch.numbers.clear();
    while let Some(Ok(entry)) = entries.next() {
        // `.` and `..` are not descriptors.
        if let Some(n) = entry.file_name().to_str().ok().and_then(|n| n.parse().ok()) {
            scratch.numbers.push(n);
        }
    }
    let Ok(dir) = entries.fd() else {
        return (0, 0);
    };
    let (mut sockets, mut name) = (0, itoa::Buffer::new());
    for &n in &scratch.numbers {
        let buf = std::mem::take(&mut scratch.target);
        if let Ok(link) = rustix::fs::readlinkat(dir, name.format(n), buf) {
            if link.as_bytes().starts_with(b"socket:") {
                sockets += 1;
            }
            scratch.target = link.into_bytes();
        }
    }
    let fds = scratch.numbers.len() as u64;
    (fds, sockets)
}

/// The counters of the network namespace `pid` lives in, minus the interfaces cAdvisor ignores.
fn network(paths: &HostPaths, pid: u32) -> Vec<Interface> {
    let Some(text) = KernelDir::open(&paths.proc(format!("{pid}/net")))
        .ok()
        .and_then(|d| d.read_list("dev"))
    else {
        return Vec::new();
    };
    crate::proc_files::parse_net_dev(&text)
        .filter_map(Result::ok)
        .filter(|(name, _)| !ignored_interface(name))
        .map(|(name, c)| Interface {
            name: name.to_string(),
            receive_bytes: c[0],
            receive_packets: c[1],
            receive_errors: c[2],
            receive_dropped: c[3],
            transmit_bytes: c[8],
            transmit_packets: c[9],
            transmit_errors: c[10],
            transmit_dropped: c[11],
        })
        .collect()
}

/// A "key value" per line file (memory.stat, cpu.stat, ...) split into lines once, for many
/// look-ups: memory.stat has some forty lines, and a container's read looks up sixteen keys.
#[derive(Default)]
struct Keyed<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Keyed<'a> {
    fn new(text: Option<&'a str>) -> Self {
        Keyed(
            text.map(|t| t.lines().filter_map(|l| l.split_once(' ')).collect())
                .unwrap_or_default(),
        )
    }

    /// The first value of `key` that is a number, as [`keyed`] finds it.
    fn get(&self, key: &str) -> Option<u64> {
        self.0
            .iter()
            .find_map(|(k, v)| (*k == key).then(|| v.trim().parse().ok()).flatten())
    }
}

/// The value of `key` in a "key value" per line file (memory.stat, cpu.stat, ...).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stat_reads_cadvisors_keys_on_both_versions() {
        let v1 = "active_file 1\ntotal_active_file 10\ntotal_inactive_file 20\npgfault 5\npgmajfault 1\n";
        let m = MemoryStat::read(&Keyed::new(Some(v1)), &Keyed::default(), false);
        assert_eq!(
            (m.active_file, m.inactive_file, m.pgfault),
            (Some(10), Some(20), Some(5))
        );
        assert_eq!((m.file_dirty, m.events_high), (None, None));
        let v2 = "active_file 3\ninactive_file 4\nfile_dirty 4096\nfile_writeback 0\npgscan 7\npgsteal 6\nworkingset_refault_file 2\nworkingset_refault_anon 1\n";
        let m = MemoryStat::read(
            &Keyed::new(Some(v2)),
            &Keyed::new(Some("low 0\nhigh 9\nmax 2\noom 0\n")),
            true,
        );
        assert_eq!(
            (m.active_file, m.inactive_file, m.file_dirty),
            (Some(3), Some(4), Some(4096))
        );
        assert_eq!(
            (m.pgscan, m.pgsteal, m.workingset_refault_anon),
            (Some(7), Some(6), Some(1))
        );
        assert_eq!((m.events_high, m.events_max), (Some(9), Some(2)));
    }

    #[test]
    fn pressure_files_give_some_and_full_totals() {
        let text = "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n";
        assert_eq!(parse_pressure(text), Some((2.5, 0.001)));
        assert_eq!(
            parse_pressure("some avg10=0.00 total=7\n"),
            Some((7e-6, 0.0))
        );
        assert_eq!(parse_pressure("garbage"), None);
        assert_eq!(pids_max("max\n"), Some(0));
        assert_eq!(pids_max("100\n"), Some(100));
        assert_eq!(pids_max("x"), None);
    }

    #[test]
    fn task_states_come_from_the_state_letter_after_the_command() {
        assert_eq!(task_state_index("12 (sleep) S 1 2"), Some(0));
        // A command may hold `) R (`; the state is after the last `)`.
        assert_eq!(task_state_index("12 (a) R (b) D 1 2"), Some(3));
        assert_eq!(task_state_index("12 (nc) T 1"), Some(2));
        assert_eq!(task_state_index("12 (x) Z 1"), None);
        assert_eq!(task_state_index("garbage"), None);
    }

    fn fixture_paths() -> HostPaths {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup");
        HostPaths::new(root.join("proc"), root.join("sys-v2"), "/".into()).unwrap()
    }

    fn v1_paths() -> HostPaths {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup");
        HostPaths::new(root.join("proc"), root.join("sys-v1"), "/".into()).unwrap()
    }

    const ID: &str = "/system.slice/docker-0123abcd.scope";

    #[test]
    fn v2_resources() {
        let paths = fixture_paths();
        let layout = Layout::detect(&paths);
        assert!(matches!(layout, Layout::V2(_)), "{layout:?}");
        assert_eq!(layout.path_of(&paths, 4242).as_deref(), Some(ID));
        assert!(layout.has(ID));
        let r = layout.read(&paths, ID, Some(4242), true).unwrap();
        assert_eq!(r.cpu_usage_seconds, Some(12.5));
        assert_eq!(r.cpu_user_seconds, Some(10.0));
        assert_eq!(r.cpu_system_seconds, Some(2.5));
        assert_eq!(r.cfs_periods, Some(100));
        assert_eq!(r.cfs_throttled_periods, Some(7));
        assert_eq!(r.cfs_throttled_seconds, Some(0.35));
        assert_eq!(r.memory_usage_bytes, Some(104_857_600));
        // usage - inactive_file
        assert_eq!(r.memory_working_set_bytes, Some(104_857_600 - 20_971_520));
        assert_eq!(r.memory_rss_bytes, Some(52_428_800));
        assert_eq!(r.oom_events, Some(2));
        assert_eq!(r.threads, Some(9));
        // 2 fds for pid 4242, 1 for pid 4243
        assert_eq!(r.file_descriptors, Some(3));
        let names: Vec<_> = r.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0"], "lo is ignored");
        let eth0 = &r.interfaces[0];
        assert_eq!((eth0.receive_bytes, eth0.receive_packets), (1000, 10));
        assert_eq!((eth0.receive_errors, eth0.receive_dropped), (1, 2));
        assert_eq!((eth0.transmit_bytes, eth0.transmit_packets), (2000, 20));
        assert_eq!((eth0.transmit_errors, eth0.transmit_dropped), (3, 4));
        assert_eq!(r.memory_cache_bytes, Some(41_943_040));
        assert_eq!(r.memory_mapped_file_bytes, Some(4_194_304));
        assert_eq!(r.memory_max_usage_bytes, Some(209_715_200));
        assert_eq!(r.memory_swap_bytes, Some(1_048_576));
        // `max` of memory.events: how often usage hit memory.max.
        assert_eq!(r.memory_failcnt, Some(5));
        assert_eq!(r.processes, Some(2));
        // Threads by state from cgroup.threads: sleep S, busy R, worker D.
        assert_eq!(r.task_states, Some([1, 1, 0, 1, 0]));
        assert_eq!(
            (r.cfs_burst_periods, r.cfs_burst_seconds),
            (Some(3), Some(1.5))
        );
        assert_eq!(r.pressure, [Some((4.0, 1.0)), Some((0.5, 0.25)), None]);
        let m = &r.memory_stat;
        assert_eq!(
            (m.active_file, m.inactive_file),
            (Some(20_971_520), Some(20_971_520))
        );
        assert_eq!(
            (m.pgfault, m.pgmajfault, m.file_dirty),
            (Some(1234), Some(12), Some(8192))
        );
        assert_eq!((m.events_high, m.events_max), (Some(0), Some(5)));
        assert_eq!(
            r.block_io,
            vec![BlockIo {
                major: 8,
                minor: 0,
                read_bytes: 1_048_576,
                write_bytes: 2_097_152,
                reads: 16,
                writes: 32,
            }]
        );
        let spec = layout.spec(ID).unwrap();
        assert_eq!(
            spec,
            Spec {
                cpu_period: 100_000,
                cpu_quota: Some(50_000),
                // cAdvisor's weight-to-shares mapping: 2 + (79 - 1) * 262142 / 9999.
                cpu_shares: 2 + 78 * 262_142 / 9_999,
                memory_reservation: 33_554_432,
                // `max` is unlimited, which cAdvisor reports as 0.
                memory_swap_limit: 0,
            }
        );
    }

    #[test]
    fn v1_resources() {
        let paths = v1_paths();
        let layout = Layout::detect(&paths);
        assert!(matches!(layout, Layout::V1(_)), "{layout:?}");
        let id = "/docker/0123abcd";
        assert_eq!(layout.path_of(&paths, 5151).as_deref(), Some(id));
        let r = layout.read(&paths, id, Some(5151), false).unwrap();
        assert_eq!(r.cpu_usage_seconds, Some(3.0));
        let ticks = procfs::ticks_per_second() as f64;
        assert_eq!(r.cpu_user_seconds, Some(200.0 / ticks));
        assert_eq!(r.cpu_system_seconds, Some(100.0 / ticks));
        assert_eq!(r.cfs_throttled_seconds, Some(1.5));
        assert_eq!(r.memory_usage_bytes, Some(10_000_000));
        assert_eq!(r.memory_working_set_bytes, Some(10_000_000 - 4_000_000));
        assert_eq!(r.memory_rss_bytes, Some(5_000_000));
        assert_eq!(r.oom_events, Some(1));
        assert_eq!(r.threads, Some(3));
        assert!(r.interfaces.is_empty(), "network not asked for");
        assert_eq!(r.memory_cache_bytes, Some(4_000_000));
        assert_eq!(r.memory_swap_bytes, Some(4096));
        assert_eq!(r.memory_mapped_file_bytes, Some(1_000_000));
        assert_eq!(r.memory_max_usage_bytes, Some(12_000_000));
        assert_eq!(r.memory_failcnt, Some(3));
        // CFQ's files are not in this tree (nor in kernels since 5.0): learnt once, not tried
        // again; BFQ's are, and stay tried; a second read finds the same devices.
        let Layout::V1(root) = &layout else {
            unreachable!()
        };
        assert_eq!(root.blkio_absent.load(Ordering::Relaxed), 0b001);
        assert_eq!(
            layout.read(&paths, id, Some(5151), false).unwrap().block_io,
            r.block_io
        );
        // The throttle files, since the BFQ ones name no device.
        assert_eq!(
            r.block_io,
            vec![
                BlockIo {
                    major: 8,
                    minor: 0,
                    read_bytes: 4_096_000,
                    write_bytes: 8192,
                    reads: 1000,
                    writes: 2,
                },
                BlockIo {
                    major: 253,
                    minor: 1,
                    read_bytes: 100,
                    write_bytes: 0,
                    reads: 1,
                    writes: 0,
                },
            ]
        );
        assert_eq!(
            layout.spec(id).unwrap(),
            Spec {
                cpu_period: 100_000,
                // -1: no quota.
                cpu_quota: None,
                cpu_shares: 512,
                memory_reservation: 16_777_216,
                // v1's "unlimited" (a page-rounded i64::MAX) is reported as 0, as cAdvisor.
                memory_swap_limit: 0,
            }
        );
    }

    #[test]
    fn the_root_cgroup_is_the_machine() {
        let v2 = fixture_paths();
        let root = Layout::detect(&v2).read_root(&v2).unwrap();
        assert_eq!(root.cpu_usage_seconds, Some(9.0));
        // MemTotal - MemFree, as runc computes the v2 root's usage.
        assert_eq!(root.memory_usage_bytes, Some(12_000_000 * 1024));
        assert_eq!(
            root.memory_working_set_bytes,
            Some(12_000_000 * 1024 - 3_000_000)
        );
        assert_eq!(root.memory_cache_bytes, Some(5_000_000));
        assert_eq!(root.processes, None);
        let v1 = v1_paths();
        let root = Layout::detect(&v1).read_root(&v1).unwrap();
        assert_eq!(root.cpu_usage_seconds, Some(50.0));
        assert_eq!(root.memory_usage_bytes, Some(20_000_000));
        assert_eq!(root.memory_working_set_bytes, Some(18_000_000));
        assert_eq!(root.memory_rss_bytes, Some(7_000_000));
        // The tree's root has pids, OOM and kernel-memory files; `id="/"` exports none of them,
        // so they are not read.
        assert_eq!(root.file_descriptors, None);
        assert_eq!(root.processes, None);
        assert_eq!(root.threads, None);
        assert_eq!(root.threads_max, None);
        assert_eq!(root.oom_events, None);
        assert_eq!(root.memory_kernel_bytes, None);
    }

    #[test]
    fn gone_cgroup_is_an_error_and_working_set_floors_at_zero() {
        let paths = fixture_paths();
        let layout = Layout::detect(&paths);
        assert!(!layout.has("/docker/gone"));
        assert!(layout.read(&paths, "/docker/gone", None, false).is_err());
        assert_eq!(working_set(10, Some(20)), 0);
        assert_eq!(working_set(10, None), 10);
    }
}
