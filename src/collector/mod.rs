//! Collectors: one file each, each registered here under the name that `--collector.<name>` and
//! `--no-collector.<name>` use, with its default. A collector reads its source at scrape time and
//! returns metric families; [`crate::scrape`] runs them in parallel under a time budget and reports
//! each one's success and duration, so one broken source never takes the others down.

use std::path::PathBuf;
use std::sync::Arc;

use regex::Regex;

use crate::metric::MetricFamily;
use crate::paths::{HostPaths, ReadError};
use crate::process_match::ProcessMatcher;
use crate::shared::Shared;

pub mod cpu;
pub mod diskstats;
pub mod docker;
pub mod filefd;
pub mod filesystem;
pub mod heal;
pub mod health;
pub mod loadavg;
pub mod meminfo;
pub mod netdev;
pub mod processes;
pub mod selfproc;
pub mod stat;
pub mod time;
pub mod uname;
pub mod vmstat;

/// Why a collector failed this scrape.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("parsing {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{0}")]
    Source(String),
}

impl Error {
    /// A parse error for a host file.
    pub fn parse(path: PathBuf, reason: impl Into<String>) -> Self {
        Error::Parse {
            path,
            reason: reason.into(),
        }
    }
}

/// A source of metrics read at scrape time.
pub trait Collector: Send + Sync {
    /// Appends this collector's families to `out`.
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error>;

    /// Whether a new scrape may run this collector while an earlier run is still stuck past its
    /// budget. Only collectors that skip the stuck part themselves (filesystem skips stuck mounts)
    /// say yes; for the rest a stuck run blocks new ones, which bounds the stuck threads to one.
    fn rerun_while_stuck(&self) -> bool {
        false
    }

    /// Whether this collector can block for long on a healthy host (statfs of a network mount,
    /// reading a process stuck in the kernel). Such collectors run on their own thread; the rest
    /// share one, which keeps a scrape to a handful of thread hand-offs.
    fn may_block(&self) -> bool {
        false
    }
}

/// A collector's name, default, one-line description (as `--help` shows them) and constructor.
#[derive(Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub enabled_by_default: bool,
    pub help: &'static str,
    pub build: fn(&Settings) -> Arc<dyn Collector>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every collector hale has, in the order they are reported.
pub const SPECS: &[Spec] = &[
    Spec {
        name: "cpu",
        enabled_by_default: true,
        help: "CPU time per mode (node_cpu_seconds_total)",
        build: |s| Arc::new(cpu::Cpu::new(s.paths.clone())),
    },
    Spec {
        name: "diskstats",
        enabled_by_default: true,
        help: "Disk I/O (node_disk_*)",
        build: |s| {
            Arc::new(diskstats::Diskstats::new(
                s.paths.clone(),
                s.diskstats_devices.clone(),
            ))
        },
    },
    Spec {
        name: "docker",
        enabled_by_default: true,
        help: "Docker containers: state, health, restarts (hale_container_*) and cAdvisor's container_* resources",
        build: |s| {
            Arc::new(docker::Docker::new(s.docker_watcher()))
        },
    },
    Spec {
        name: "filefd",
        enabled_by_default: true,
        help: "System-wide file descriptors (node_filefd_*)",
        build: |s| Arc::new(filefd::Filefd::new(s.paths.clone())),
    },
    Spec {
        name: "filesystem",
        enabled_by_default: true,
        help: "Filesystem space and inodes (node_filesystem_*)",
        build: |s| Arc::new(filesystem::Filesystem::new(s)),
    },
    Spec {
        name: "health",
        enabled_by_default: true,
        help: "/health checks and probes as metrics (hale_health_status, hale_probe_*)",
        build: |s| Arc::new(health::HealthMetrics::new(s.health_model())),
    },
    Spec {
        name: "heal",
        enabled_by_default: true,
        help: "Healing decisions, action durations, queue depth and give-ups (hale_heal_*); nothing unless healing is configured",
        build: |s| Arc::new(heal::HealMetrics::new(s.healer.clone())),
    },
    Spec {
        name: "loadavg",
        enabled_by_default: true,
        help: "Load average (node_load1/5/15)",
        build: |s| Arc::new(loadavg::Loadavg::new(s.paths.clone())),
    },
    Spec {
        name: "meminfo",
        enabled_by_default: true,
        help: "Memory from /proc/meminfo (node_memory_*)",
        build: |s| Arc::new(meminfo::Meminfo::new(s.paths.clone())),
    },
    Spec {
        name: "netdev",
        enabled_by_default: true,
        help: "Network interface counters (node_network_*)",
        build: |s| {
            Arc::new(netdev::Netdev::new(
                s.paths.clone(),
                s.netdev_devices.clone(),
            ))
        },
    },
    Spec {
        name: "processes",
        enabled_by_default: true,
        help: "Watched process groups (namedprocess_namegroup_*)",
        build: |s| {
            Arc::new(processes::Processes::new(
                s.paths.clone(),
                Arc::clone(&s.process_names),
            ))
        },
    },
    Spec {
        name: "self",
        enabled_by_default: true,
        help: "hale's own process (process_*)",
        build: |_| Arc::new(selfproc::SelfProcess::new()),
    },
    Spec {
        name: "stat",
        enabled_by_default: true,
        help: "Boot time, context switches, forks, interrupts, procs",
        build: |s| Arc::new(stat::Stat::new(s.paths.clone())),
    },
    Spec {
        name: "time",
        enabled_by_default: true,
        help: "System time and clock source (node_time_*)",
        build: |s| Arc::new(time::Time::new(s.paths.clone())),
    },
    Spec {
        name: "uname",
        enabled_by_default: true,
        help: "Kernel identity (node_uname_info)",
        build: |_| Arc::new(uname::Uname),
    },
    Spec {
        name: "vmstat",
        enabled_by_default: true,
        help: "VM events from /proc/vmstat: OOM kills, paging, swapping, faults (node_vmstat_*)",
        build: |s| Arc::new(vmstat::Vmstat::new(s.paths.clone())),
    },
];

/// node_exporter's default `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter's default `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// node_exporter's default `--collector.diskstats.device-exclude`: partitions, ram, loop and floppy.
pub const DEFAULT_DISKSTATS_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// hale's default `--collector.netdev.device-exclude`: the host ends of container veth pairs, one
/// per container, which would make the interface label unbounded on a busy Docker host. Bridges
/// (`docker0`, `br-*`) stay: they carry the containers' traffic as the host sees it.
pub const DEFAULT_NETDEV_EXCLUDE: &str = r"^veth";

/// An include-or-exclude device filter, like node_exporter's `device-include`/`device-exclude`.
#[derive(Debug, Clone)]
pub enum DeviceFilter {
    Include(Regex),
    Exclude(Regex),
    All,
}

impl DeviceFilter {
    /// Whether a device passes the filter.
    pub fn keeps(&self, device: &str) -> bool {
        match self {
            DeviceFilter::Include(re) => re.is_match(device),
            DeviceFilter::Exclude(re) => !re.is_match(device),
            DeviceFilter::All => true,
        }
    }
}

/// Everything collectors are built from: host paths and the validated per-collector options.
#[derive(Debug, Clone)]
pub struct Settings {
    pub paths: HostPaths,
    pub mount_points_exclude: Regex,
    pub fs_types_exclude: Regex,
    pub mount_timeout: std::time::Duration,
    pub diskstats_devices: DeviceFilter,
    pub netdev_devices: DeviceFilter,
    pub process_names: Arc<Vec<ProcessMatcher>>,
    pub docker: crate::docker::DockerConfig,
    pub docker_watcher: Shared<crate::docker::Watcher>,
    pub health: crate::health::HealthConfig,
    /// Whether `/health` checks Docker (the docker collector is enabled).
    pub health_docker: bool,
    pub health_model: Shared<crate::health::Health>,
    /// The `heal:` section.
    pub heal: crate::heal::policy::HealConfig,
    /// The healer, once [`crate::app_state`] started it (only when healing is configured).
    pub healer: Shared<crate::heal::Healer>,
}

impl Settings {
    /// The process's Docker watcher, started on first use.
    pub fn docker_watcher(&self) -> Arc<crate::docker::Watcher> {
        self.docker_watcher
            .get_or_start(|| crate::docker::Watcher::start(self.docker.clone(), self.paths.clone()))
    }

    /// The process's health model, started (sampler and probes) on first use.
    pub fn health_model(&self) -> Arc<crate::health::Health> {
        self.health_model
            .get_or_start(|| crate::health::Health::start(self))
    }

    /// Settings with node_exporter's defaults over the given paths.
    pub fn with_defaults(paths: HostPaths) -> Self {
        // Constants, compiled by the flag defaults' tests.
        #[allow(clippy::expect_used)]
        let re = |s: &str| Regex::new(s).expect("built-in default regexes compile");
        Self {
            paths,
            mount_points_exclude: re(DEFAULT_MOUNT_POINTS_EXCLUDE),
            fs_types_exclude: re(DEFAULT_FS_TYPES_EXCLUDE),
            mount_timeout: std::time::Duration::from_secs(5),
            diskstats_devices: DeviceFilter::Exclude(re(DEFAULT_DISKSTATS_EXCLUDE)),
            netdev_devices: DeviceFilter::Exclude(re(DEFAULT_NETDEV_EXCLUDE)),
            process_names: Arc::new(Vec::new()),
            docker: crate::docker::DockerConfig::default(),
            docker_watcher: Shared::default(),
            health: crate::health::HealthConfig::default(),
            health_docker: true,
            health_model: Shared::default(),
            heal: crate::heal::policy::HealConfig::default(),
            healer: Shared::default(),
        }
    }
}

/// Parses one whitespace-separated number field, naming the file on failure.
pub(crate) fn parse_u64(
    field: Option<&str>,
    path: &std::path::Path,
    what: &str,
) -> Result<u64, Error> {
    let field =
        field.ok_or_else(|| Error::parse(path.to_path_buf(), format!("missing field {what}")))?;
    field.parse::<u64>().map_err(|_| {
        Error::parse(
            path.to_path_buf(),
            format!("field {what}: {field:?} is not a number"),
        )
    })
}
