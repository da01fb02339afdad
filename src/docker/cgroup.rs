//! A running container's resources read from its cgroup files, v1 or v2, the way cAdvisor
//! computes them: CPU from `cpuacct`/`cpu.stat`, memory usage and working set (usage minus
//! inactive file pages, floored at 0), RSS, the memory limit (0 when unlimited), CFS throttling,
//! OOM kills, threads (`pids.current`), open file descriptors (every process in the cgroup) and
//! the network counters of the container's own network namespace (`/proc/<pid>/net/dev`).
//!
//! Reading files costs microseconds per container and never asks Docker, which is why this is
//! the default and the stats API only a fallback. A file the kernel does not provide (no `pids`
//! controller, an old kernel without `oom_kill`) leaves its field `None`, and the metric absent.

use std::path::{Path, PathBuf};

use crate::paths::{HostPaths, ReadError};

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
    pub memory_usage_bytes: Option<u64>,
    pub memory_working_set_bytes: Option<u64>,
    pub memory_rss_bytes: Option<u64>,
    /// 0 when the container has no limit, as cAdvisor reports it.
    pub memory_limit_bytes: Option<u64>,
    pub oom_events: Option<u64>,
    pub threads: Option<u64>,
    pub file_descriptors: Option<u64>,
    pub interfaces: Vec<Interface>,
}

/// Interfaces cAdvisor leaves out of container network metrics.
pub fn ignored_interface(name: &str) -> bool {
    name == "lo" || name.starts_with("veth") || name.starts_with("docker")
}

/// Working set as cAdvisor defines it: usage minus inactive file pages, never below 0.
pub fn working_set(usage: u64, inactive_file: Option<u64>) -> u64 {
    usage.saturating_sub(inactive_file.unwrap_or(0))
}

/// A v1 limit this large is the kernel's "unlimited" (PAGE_COUNTER_MAX rounded to pages).
const V1_UNLIMITED: u64 = 1 << 62;

/// Which cgroup hierarchy this machine mounts under `<sysfs>/fs/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1 (also the "hybrid" layout): one directory per controller.
    V1(PathBuf),
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
            Layout::V1(root)
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

    /// The cgroup path of a process, from `/proc/<pid>/cgroup`: the unified entry on v2, the
    /// memory controller's on v1.
    pub fn path_of(&self, paths: &HostPaths, pid: u32) -> Option<String> {
        let text = std::fs::read_to_string(paths.proc(format!("{pid}/cgroup"))).ok()?;
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
            Layout::V1(_) => self.read_v1(path)?,
            Layout::V2(_) => self.read_v2(path)?,
        };
        let procs = std::fs::read_to_string(self.dir("memory", path).join("cgroup.procs"))
            .unwrap_or_default();
        r.file_descriptors = Some(
            procs
                .lines()
                .filter_map(|p| std::fs::read_dir(paths.proc(format!("{}/fd", p.trim()))).ok())
                .map(|d| d.count() as u64)
                .sum(),
        );
        if let (Some(pid), true) = (pid, with_network) {
            r.interfaces = network(paths, pid);
        }
        Ok(r)
    }

    fn read_v1(&self, path: &str) -> Result<Resources, ReadError> {
        let memory = self.dir("memory", path);
        let usage = read_u64(&memory.join("memory.usage_in_bytes"))?;
        let stat = read_opt(&memory.join("memory.stat"));
        let field = |name: &str| stat.as_deref().and_then(|s| keyed(s, name));
        let cpuacct = self.dir("cpuacct", path);
        let ticks = procfs::ticks_per_second() as f64;
        let cpu_stat = read_opt(&cpuacct.join("cpuacct.stat"));
        let tick_field = |name: &str| {
            cpu_stat
                .as_deref()
                .and_then(|s| keyed(s, name))
                .map(|t| t as f64 / ticks)
        };
        let cfs = read_opt(&self.dir("cpu", path).join("cpu.stat"));
        let cfs_field = |name: &str| cfs.as_deref().and_then(|s| keyed(s, name));
        Ok(Resources {
            cpu_usage_seconds: read_opt(&cpuacct.join("cpuacct.usage"))
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|ns| ns as f64 / 1e9),
            cpu_user_seconds: tick_field("user"),
            cpu_system_seconds: tick_field("system"),
            cfs_periods: cfs_field("nr_periods"),
            cfs_throttled_periods: cfs_field("nr_throttled"),
            cfs_throttled_seconds: cfs_field("throttled_time").map(|ns| ns as f64 / 1e9),
            memory_usage_bytes: Some(usage),
            memory_working_set_bytes: Some(working_set(usage, field("total_inactive_file"))),
            memory_rss_bytes: field("total_rss"),
            memory_limit_bytes: read_opt(&memory.join("memory.limit_in_bytes"))
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|l| if l >= V1_UNLIMITED { 0 } else { l }),
            oom_events: read_opt(&memory.join("memory.oom_control"))
                .and_then(|s| keyed(&s, "oom_kill")),
            threads: read_opt(&self.dir("pids", path).join("pids.current"))
                .and_then(|s| s.trim().parse().ok()),
            file_descriptors: None,
            interfaces: Vec::new(),
        })
    }

    fn read_v2(&self, path: &str) -> Result<Resources, ReadError> {
        let dir = self.dir("", path);
        let usage = read_u64(&dir.join("memory.current"))?;
        let stat = read_opt(&dir.join("memory.stat"));
        let field = |name: &str| stat.as_deref().and_then(|s| keyed(s, name));
        let cpu = read_opt(&dir.join("cpu.stat"));
        let cpu_field = |name: &str| cpu.as_deref().and_then(|s| keyed(s, name));
        let usec = |name: &str| cpu_field(name).map(|us| us as f64 / 1e6);
        Ok(Resources {
            cpu_usage_seconds: usec("usage_usec"),
            cpu_user_seconds: usec("user_usec"),
            cpu_system_seconds: usec("system_usec"),
            cfs_periods: cpu_field("nr_periods"),
            cfs_throttled_periods: cpu_field("nr_throttled"),
            cfs_throttled_seconds: usec("throttled_usec"),
            memory_usage_bytes: Some(usage),
            memory_working_set_bytes: Some(working_set(usage, field("inactive_file"))),
            memory_rss_bytes: field("anon"),
            memory_limit_bytes: read_opt(&dir.join("memory.max")).and_then(|s| match s.trim() {
                "max" => Some(0),
                v => v.parse().ok(),
            }),
            oom_events: read_opt(&dir.join("memory.events")).and_then(|s| keyed(&s, "oom_kill")),
            threads: read_opt(&dir.join("pids.current")).and_then(|s| s.trim().parse().ok()),
            file_descriptors: None,
            interfaces: Vec::new(),
        })
    }
}

/// The counters of the network namespace `pid` lives in, minus the interfaces cAdvisor ignores.
fn network(paths: &HostPaths, pid: u32) -> Vec<Interface> {
    let Ok(text) = std::fs::read_to_string(paths.proc(format!("{pid}/net/dev"))) else {
        return Vec::new();
    };
    crate::collector::netdev::parse(&text)
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

fn read_u64(path: &Path) -> Result<u64, ReadError> {
    let text = crate::paths::read(path.to_path_buf())?;
    text.trim().parse().map_err(|_| ReadError {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{:?} is not a number", text.trim()),
        ),
    })
}

fn read_opt(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
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
        assert_eq!(r.memory_limit_bytes, Some(268_435_456));
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
        assert_eq!(r.memory_limit_bytes, Some(0), "unlimited is 0");
        assert_eq!(r.oom_events, Some(1));
        assert_eq!(r.threads, Some(3));
        assert!(r.interfaces.is_empty(), "network not asked for");
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
