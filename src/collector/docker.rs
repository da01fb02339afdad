//! `docker`: every container's state, health, restarts and exit, from the watcher's snapshot
//! (`hale_container_*`), and each running container's resources under cAdvisor's names
//! (`container_*`), read from its cgroup files at scrape time or taken from the stats API cache.
//!
//! All series carry cAdvisor's `id` (the cgroup path), `name` and `image` labels, so they join
//! with each other and with cAdvisor-based dashboards. While hale is not connected to Docker the
//! collector fails (`hale_scrape_collector_success{collector="docker"} 0`) and reports no
//! container at all, rather than containers it can no longer vouch for.
//!
//! State and health are state sets in the kube-state-metrics style: one gauge series per possible
//! value, 1 for the current one. (OpenMetrics' own stateset type would force the label name to
//! equal the metric name, which no dashboard expects.)

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::docker::{Connection, Container, ExitCause, Health, Resources, State, Watcher};
use crate::docker::cgroup::MemoryStat;
use crate::metric::{Label, MetricFamily, Unit, Value};

/// The docker collector.
pub struct Docker {
    watcher: Arc<Watcher>,
    /// Block device names by major:minor, for the `device` label of block I/O (`/dev/sda`).
    devices: parking_lot::Mutex<std::collections::HashMap<(u32, u32), Option<String>>>,
}

impl Docker {
    pub fn new(watcher: Arc<Watcher>) -> Self {
        Self {
            watcher,
            devices: parking_lot::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `/dev/<name>` of a block device, from `<sysfs>/dev/block/MAJ:MIN/uevent`'s `DEVNAME`,
    /// as cAdvisor names devices; `None` when sysfs does not know it.
    fn device_name(&self, major: u32, minor: u32) -> Option<String> {
        let mut cache = self.devices.lock();
        cache
            .entry((major, minor))
            .or_insert_with(|| {
                let uevent = self
                    .watcher
                    .paths()
                    .sys(format!("dev/block/{major}:{minor}/uevent"));
                crate::paths::read_text(uevent).ok().and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("DEVNAME="))
                        .map(|n| format!("/dev/{}", n.trim()))
                })
            })
            .clone()
    }
}

/// `id`, `name` and `image`, in cAdvisor's meaning, and the allow-listed Docker labels as
/// `container_label_<name>` (`docker.container_labels`), as cAdvisor puts them on every series.
fn base(c: &Container) -> Vec<Label> {
    let mut labels: Vec<Label> = vec![
        ("id".into(), c.cgroup.clone().into()),
        ("image".into(), c.image.clone().into()),
        ("name".into(), c.name.clone().into()),
    ];
    for (k, v) in &c.container_labels {
        let name = format!("container_label_{}", sanitize(k));
        // `a.b` and `a_b` sanitize alike; a series cannot carry a label twice, so the first
        // in `container_labels` order wins.
        if !labels.iter().any(|(n, _)| *n == name) {
            labels.push((name.into(), v.clone().into()));
        }
    }
    labels
}

/// A container's [`base`] labels, made once per scrape and shared by all its series.
type Shared = Arc<crate::metric::SharedLabels>;

/// The families this collector writes, built once per scrape.
struct Families {
    state: MetricFamily,
    health: MetricFamily,
    restarts: MetricFamily,
    exit_code: MetricFamily,
    oom_killed: MetricFamily,
    stopped_by_request: MetricFamily,
    started_at: MetricFamily,
    finished_at: MetricFamily,
    info: MetricFamily,
    cpu_usage: MetricFamily,
    cpu_user: MetricFamily,
    cpu_system: MetricFamily,
    cfs_periods: MetricFamily,
    cfs_throttled_periods: MetricFamily,
    cfs_throttled: MetricFamily,
    memory_usage: MetricFamily,
    working_set: MetricFamily,
    rss: MetricFamily,
    limit: MetricFamily,
    oom_events: MetricFamily,
    start_time: MetricFamily,
    threads: MetricFamily,
    fds: MetricFamily,
    network: Vec<MetricFamily>,
    last_seen: MetricFamily,
    cache: MetricFamily,
    swap: MetricFamily,
    max_usage: MetricFamily,
    failcnt: MetricFamily,
    mapped_file: MetricFamily,
    cpu_period: MetricFamily,
    cpu_quota: MetricFamily,
    cpu_shares: MetricFamily,
    memory_reservation: MetricFamily,
    memory_swap_limit: MetricFamily,
    processes: MetricFamily,
    sockets: MetricFamily,
    tasks_state: MetricFamily,
    health_state: MetricFamily,
    threads_max: MetricFamily,
    kernel_usage: MetricFamily,
    cfs_burst_periods: MetricFamily,
    cfs_burst: MetricFamily,
    /// cpu, memory, io; each (waiting: `some`, stalled: `full`).
    pressure: Vec<(MetricFamily, MetricFamily)>,
    creation_time: MetricFamily,
    /// The rest of cAdvisor's memory families, in [`MEMORY_STAT`] order.
    memory_stat: Vec<MetricFamily>,
    memory_failures: MetricFamily,
    fs_usage: MetricFamily,
    fs_limit: MetricFamily,
    fs_inodes_free: MetricFamily,
    fs_inodes_total: MetricFamily,
    fs_reads_bytes: MetricFamily,
    fs_writes_bytes: MetricFamily,
    fs_reads: MetricFamily,
    fs_writes: MetricFamily,
}

/// cAdvisor's network families, in the order of [`network_values`].
const NETWORK: [(&str, Option<Unit>, &str); 8] = [
    (
        "container_network_receive",
        Some(Unit::Bytes),
        "Cumulative count of bytes received",
    ),
    (
        "container_network_receive_packets",
        None,
        "Cumulative count of packets received",
    ),
    (
        "container_network_receive_errors",
        None,
        "Cumulative count of errors encountered while receiving",
    ),
    (
        "container_network_receive_packets_dropped",
        None,
        "Cumulative count of packets dropped while receiving",
    ),
    (
        "container_network_transmit",
        Some(Unit::Bytes),
        "Cumulative count of bytes transmitted",
    ),
    (
        "container_network_transmit_packets",
        None,
        "Cumulative count of packets transmitted",
    ),
    (
        "container_network_transmit_errors",
        None,
        "Cumulative count of errors encountered while transmitting",
    ),
    (
        "container_network_transmit_packets_dropped",
        None,
        "Cumulative count of packets dropped while transmitting",
    ),
];

/// Every family the docker collector can export, as (name in text format 0.0.4, type): what the
/// README's compatibility table claims, checked against cAdvisor's list in `tests/readme.rs`.
pub fn exported_families() -> Vec<(String, &'static str)> {
    Families::new()
        .into_vec()
        .iter()
        .map(|f| match &f.text {
            // Exact-name counters (`container_memory_failcnt`).
            Some(text) => (text.name.clone(), "counter"),
            None => (
                f.exposed_name(),
                match f.kind {
                    crate::metric::Kind::Counter => "counter",
                    crate::metric::Kind::Gauge => "gauge",
                    crate::metric::Kind::Histogram => "histogram",
                    crate::metric::Kind::Untyped => "untyped",
                },
            ),
        })
        .collect()
}

/// cAdvisor's memory families read straight from [`MemoryStat`]: (name without unit and `_total`,
/// unit, counter?, help, field).
type MemoryStatFamily = (
    &'static str,
    Option<Unit>,
    bool,
    &'static str,
    fn(&MemoryStat) -> Option<u64>,
);

#[rustfmt::skip]
const MEMORY_STAT: &[MemoryStatFamily] = &[
    ("container_memory_total_active_file", Some(Unit::Bytes), false, "Current total active file in bytes.", |m| m.active_file),
    ("container_memory_total_inactive_file", Some(Unit::Bytes), false, "Current total inactive file in bytes.", |m| m.inactive_file),
    ("container_memory_events_high", None, true, "Cumulative count of memory.high throttle events for the container", |m| m.events_high),
    ("container_memory_events_max", None, true, "Cumulative count of memory.max limit hit events for the container", |m| m.events_max),
    ("container_memory_file_dirty", Some(Unit::Bytes), false, "Number of bytes of file cache that has been modified but not yet written back to disk.", |m| m.file_dirty),
    ("container_memory_file_writeback", Some(Unit::Bytes), false, "Number of bytes of file cache that is currently being written back to disk.", |m| m.file_writeback),
    ("container_memory_pgscan", None, true, "Cumulative number of pages scanned by the page reclaim algorithm.", |m| m.pgscan),
    ("container_memory_pgsteal", None, true, "Cumulative number of pages reclaimed by the page reclaim algorithm.", |m| m.pgsteal),
    ("container_memory_workingset_refault_file", None, true, "Cumulative number of refaults of previously evicted file pages.", |m| m.workingset_refault_file),
    ("container_memory_workingset_refault_anon", None, true, "Cumulative number of refaults of previously evicted anonymous pages.", |m| m.workingset_refault_anon),
];

impl Families {
    fn new() -> Self {
        let seconds = || Some(Unit::Seconds);
        let bytes = || Some(Unit::Bytes);
        Self {
            state: MetricFamily::gauge(
                "hale_container_state",
                None,
                "Container state as a state set: 1 for the current state, 0 for the others.",
            ),
            health: MetricFamily::gauge(
                "hale_container_health_status",
                None,
                "Container health-check status as a state set (none: no health check).",
            ),
            restarts: MetricFamily::counter(
                "hale_container_restarts",
                None,
                "Restarts by the container's restart policy (Docker's RestartCount; a manual start resets it).",
            ),
            exit_code: MetricFamily::gauge(
                "hale_container_exit_code",
                None,
                "Exit code of the container's last run (0 while it has never exited).",
            ),
            oom_killed: MetricFamily::gauge(
                "hale_container_oom_killed",
                None,
                "1 if the container's last run was killed by the OOM killer.",
            ),
            stopped_by_request: MetricFamily::gauge(
                "hale_container_stopped_by_request",
                None,
                "For a stopped container: 1 when a client asked for the stop (docker stop/kill, Compose, hale), 0 when it exited on its own; absent while running or when hale did not see it stop.",
            ),
            started_at: MetricFamily::gauge(
                "hale_container_started_at",
                seconds(),
                "When the container last started, as a Unix timestamp.",
            ),
            finished_at: MetricFamily::gauge(
                "hale_container_finished_at",
                seconds(),
                "When the container last stopped, as a Unix timestamp.",
            ),
            info: MetricFamily::info(
                "hale_container",
                "Container metadata, with allow-listed Docker labels as container_label_<name>.",
            ),
            cpu_usage: MetricFamily::counter(
                "container_cpu_usage",
                seconds(),
                "Cumulative cpu time consumed",
            ),
            cpu_user: MetricFamily::counter(
                "container_cpu_user",
                seconds(),
                "Cumulative user cpu time consumed",
            ),
            cpu_system: MetricFamily::counter(
                "container_cpu_system",
                seconds(),
                "Cumulative system cpu time consumed",
            ),
            cfs_periods: MetricFamily::counter(
                "container_cpu_cfs_periods",
                None,
                "Number of elapsed enforcement period intervals.",
            ),
            cfs_throttled_periods: MetricFamily::counter(
                "container_cpu_cfs_throttled_periods",
                None,
                "Number of throttled period intervals.",
            ),
            cfs_throttled: MetricFamily::counter(
                "container_cpu_cfs_throttled",
                seconds(),
                "Total time duration the container has been throttled.",
            ),
            memory_usage: MetricFamily::gauge(
                "container_memory_usage",
                bytes(),
                "Current memory usage in bytes, including all memory regardless of when it was accessed",
            ),
            working_set: MetricFamily::gauge(
                "container_memory_working_set",
                bytes(),
                "Current working set in bytes.",
            ),
            // cAdvisor's name has no unit suffix; dashboards use it as is.
            rss: MetricFamily::gauge("container_memory_rss", None, "Size of RSS in bytes."),
            limit: MetricFamily::gauge(
                "container_spec_memory_limit",
                bytes(),
                "Memory limit for the container (0: none).",
            ),
            oom_events: MetricFamily::counter(
                "container_oom_events",
                None,
                "Count of out of memory events observed for the container",
            ),
            start_time: MetricFamily::gauge(
                "container_start_time",
                seconds(),
                "Start time of the container since unix epoch in seconds.",
            ),
            threads: MetricFamily::gauge(
                "container_threads",
                None,
                "Number of threads running inside the container",
            ),
            fds: MetricFamily::gauge(
                "container_file_descriptors",
                None,
                "Number of open file descriptors for the container.",
            ),
            network: NETWORK
                .iter()
                .map(|(name, unit, help)| MetricFamily::counter(*name, unit.clone(), *help))
                .collect(),
            last_seen: MetricFamily::gauge(
                "container_last_seen",
                None,
                "Last time a container was seen by the exporter",
            ),
            // cAdvisor's names, unit suffix or not, as dashboards query them.
            cache: MetricFamily::gauge(
                "container_memory_cache",
                None,
                "Number of bytes of page cache memory.",
            ),
            swap: MetricFamily::gauge(
                "container_memory_swap",
                None,
                "Container swap usage in bytes.",
            ),
            max_usage: MetricFamily::gauge(
                "container_memory_max_usage",
                bytes(),
                "Maximum memory usage recorded in bytes",
            ),
            failcnt: MetricFamily::counter(
                "container_memory_failcnt",
                None,
                "Number of memory usage hits limits",
            ),
            mapped_file: MetricFamily::gauge(
                "container_memory_mapped_file",
                None,
                "Size of memory mapped files in bytes.",
            ),
            cpu_period: MetricFamily::gauge(
                "container_spec_cpu_period",
                None,
                "CPU period of the container.",
            ),
            cpu_quota: MetricFamily::gauge(
                "container_spec_cpu_quota",
                None,
                "CPU quota of the container.",
            ),
            cpu_shares: MetricFamily::gauge(
                "container_spec_cpu_shares",
                None,
                "CPU share of the container.",
            ),
            memory_reservation: MetricFamily::gauge(
                "container_spec_memory_reservation_limit",
                bytes(),
                "Memory reservation limit for the container.",
            ),
            memory_swap_limit: MetricFamily::gauge(
                "container_spec_memory_swap_limit",
                bytes(),
                "Memory swap limit for the container.",
            ),
            processes: MetricFamily::gauge(
                "container_processes",
                None,
                "Number of processes running inside the container.",
            ),
            sockets: MetricFamily::gauge(
                "container_sockets",
                None,
                "Number of open sockets for the container.",
            ),
            tasks_state: MetricFamily::gauge(
                "container_tasks_state",
                None,
                "Number of tasks in given state",
            ),
            creation_time: MetricFamily::gauge(
                "container_creation_time",
                seconds(),
                "Container creation time since unix epoch in seconds.",
            ),
            cfs_burst_periods: MetricFamily::counter(
                "container_cpu_cfs_burst_periods",
                None,
                "Number of periods when burst occurs.",
            ),
            cfs_burst: MetricFamily::counter(
                "container_cpu_cfs_burst",
                seconds(),
                "Total time duration the container has been bursted.",
            ),
            pressure: ["cpu", "memory", "io"]
                .into_iter()
                .zip(["CPU", "memory", "IO"])
                .map(|(r, what)| {
                    (
                        MetricFamily::counter(
                            format!("container_pressure_{r}_waiting"),
                            seconds(),
                            format!("Total time duration tasks in the container have waited due to {what} congestion."),
                        ),
                        MetricFamily::counter(
                            format!("container_pressure_{r}_stalled"),
                            seconds(),
                            format!("Total time duration no tasks in the container could make progress due to {what} congestion."),
                        ),
                    )
                })
                .collect(),
            threads_max: MetricFamily::gauge(
                "container_threads_max",
                None,
                "Maximum number of threads allowed inside the container, infinity if value is zero",
            ),
            kernel_usage: MetricFamily::gauge(
                "container_memory_kernel_usage",
                None,
                "Size of kernel memory allocated in bytes.",
            ),
            health_state: MetricFamily::gauge(
                "container_health_state",
                None,
                "The result of the container's health check",
            ),
            memory_stat: MEMORY_STAT
                .iter()
                .map(|(name, unit, counter, help, _)| {
                    if *counter {
                        MetricFamily::counter(*name, unit.clone(), *help)
                    } else {
                        MetricFamily::gauge(*name, unit.clone(), *help)
                    }
                })
                .collect(),
            memory_failures: MetricFamily::counter(
                "container_memory_failures",
                None,
                "Cumulative count of memory allocation failures.",
            ),
            fs_usage: MetricFamily::gauge(
                "container_fs_usage",
                bytes(),
                "Number of bytes that are consumed by the container on this filesystem.",
            ),
            fs_limit: MetricFamily::gauge(
                "container_fs_limit",
                bytes(),
                "Number of bytes that can be consumed by the container on this filesystem.",
            ),
            fs_inodes_free: MetricFamily::gauge(
                "container_fs_inodes_free",
                None,
                "Number of available Inodes",
            ),
            fs_inodes_total: MetricFamily::gauge(
                "container_fs_inodes_total",
                None,
                "Number of Inodes",
            ),
            fs_reads_bytes: MetricFamily::counter(
                "container_fs_reads",
                bytes(),
                "Cumulative count of bytes read",
            ),
            fs_writes_bytes: MetricFamily::counter(
                "container_fs_writes",
                bytes(),
                "Cumulative count of bytes written",
            ),
            fs_reads: MetricFamily::counter(
                "container_fs_reads",
                None,
                "Cumulative count of reads completed",
            ),
            fs_writes: MetricFamily::counter(
                "container_fs_writes",
                None,
                "Cumulative count of writes completed",
            ),
        }
    }

    fn add_container(&mut self, c: &Container, l: &Shared, exit: Option<ExitCause>) {
        for s in State::ALL {
            self.state
                .push_shared(l, [("state", s.as_str().into())], c.state == s);
        }
        for h in Health::ALL {
            self.health
                .push_shared(l, [("status", h.as_str().into())], c.health == h);
        }
        self.restarts.push_shared(l, [], c.restart_count);
        let exit_code = match u64::try_from(c.exit_code) {
            Ok(v) => Value::Int(v),
            Err(_) => Value::Float(c.exit_code as f64),
        };
        self.exit_code.push_shared(l, [], exit_code);
        self.oom_killed.push_shared(l, [], c.oom_killed);
        if matches!(c.state, State::Exited | State::Dead) {
            if let Some(cause) = exit {
                self.stopped_by_request
                    .push_shared(l, [], cause == ExitCause::Requested);
            }
        }
        if let Some(t) = c.started_at {
            self.started_at.push_shared(l, [], t);
        }
        if let Some(t) = c.finished_at {
            self.finished_at.push_shared(l, [], t);
        }
        self.info
            .push_shared(l, [("image_id", c.image_id.clone().into())], 1u64);
    }

    /// `container_oom_events_total` for every reported container, running or not: Docker's
    /// `oom` events for it since hale started, or the cgroup's own `oom_kill` count when that
    /// is higher (a kill Docker did not report). cAdvisor counts the kernel's OOM messages
    /// since it started; like it, this survives the container's restarts (the cgroup's count
    /// does not) and starts over when hale does.
    fn add_oom_events(
        &mut self,
        c: &Container,
        l: &Shared,
        r: Option<&Resources>,
        snapshot: &crate::docker::Snapshot,
    ) {
        let events = snapshot.oom_events.get(&c.docker_id).copied().unwrap_or(0);
        let cgroup = r.and_then(|r| r.oom_events).unwrap_or(0);
        self.oom_events.push_shared(l, [], events.max(cgroup));
    }

    /// The root cgroup, cAdvisor's `id="/"`: the machine's CPU, memory and block I/O, which
    /// dashboards divide containers' shares by. Only `id` labels it, as cAdvisor's.
    fn add_root(&mut self, r: &Resources, now: u64, names: &dyn Fn(u32, u32) -> Option<String>) {
        let l = crate::metric::SharedLabels::new(vec![("id".into(), "/".into())]);
        let both = |fam: &mut MetricFamily, v: Option<u64>| {
            if let Some(v) = v {
                fam.push_shared(&l, [], v);
            }
        };
        if let Some(v) = r.cpu_usage_seconds {
            self.cpu_usage.push_shared(&l, [("cpu", "total".into())], v);
        }
        for (fam, v) in [
            (&mut self.cpu_user, r.cpu_user_seconds),
            (&mut self.cpu_system, r.cpu_system_seconds),
        ] {
            if let Some(v) = v {
                fam.push_shared(&l, [], v);
            }
        }
        both(&mut self.memory_usage, r.memory_usage_bytes);
        both(&mut self.working_set, r.memory_working_set_bytes);
        both(&mut self.rss, r.memory_rss_bytes);
        both(&mut self.cache, r.memory_cache_bytes);
        both(&mut self.swap, r.memory_swap_bytes);
        both(&mut self.mapped_file, r.memory_mapped_file_bytes);
        both(&mut self.max_usage, r.memory_max_usage_bytes);
        both(&mut self.failcnt, r.memory_failcnt);
        self.last_seen.push_shared(&l, [], now);
        self.add_block_io(&l, r, names);
    }

    /// Block I/O by device (named by `names`), on the series labelled `l` and `device`.
    fn add_block_io(
        &mut self,
        l: &Shared,
        r: &Resources,
        names: &dyn Fn(u32, u32) -> Option<String>,
    ) {
        for b in &r.block_io {
            let Some(device) = names(b.major, b.minor) else {
                continue;
            };
            let device = || [("device", device.clone().into())];
            self.fs_reads_bytes.push_shared(l, device(), b.read_bytes);
            self.fs_writes_bytes.push_shared(l, device(), b.write_bytes);
            self.fs_reads.push_shared(l, device(), b.reads);
            self.fs_writes.push_shared(l, device(), b.writes);
        }
    }

    fn add_resources(&mut self, c: &Container, l: &Shared, r: &Resources) {
        let gauge = |fam: &mut MetricFamily, v: Option<u64>| {
            if let Some(v) = v {
                fam.push_shared(l, [], v);
            }
        };
        let seconds = |fam: &mut MetricFamily, v: Option<f64>| {
            if let Some(v) = v {
                fam.push_shared(l, [], v);
            }
        };
        if let Some(v) = r.cpu_usage_seconds {
            // cAdvisor's per-CPU breakdown is off by default; its total carries cpu="total".
            self.cpu_usage
                .push_shared(l, [("cpu", "total".into())], v);
        }
        seconds(&mut self.cpu_user, r.cpu_user_seconds);
        seconds(&mut self.cpu_system, r.cpu_system_seconds);
        gauge(&mut self.cfs_periods, r.cfs_periods);
        gauge(&mut self.cfs_throttled_periods, r.cfs_throttled_periods);
        seconds(&mut self.cfs_throttled, r.cfs_throttled_seconds);
        gauge(&mut self.cfs_burst_periods, r.cfs_burst_periods);
        seconds(&mut self.cfs_burst, r.cfs_burst_seconds);
        for ((waiting, stalled), p) in self.pressure.iter_mut().zip(r.pressure) {
            seconds(waiting, p.map(|(some, _)| some));
            seconds(stalled, p.map(|(_, full)| full));
        }
        gauge(&mut self.memory_usage, r.memory_usage_bytes);
        gauge(&mut self.working_set, r.memory_working_set_bytes);
        gauge(&mut self.rss, r.memory_rss_bytes);
        // The spec's limit (inspect's HostConfig.Memory), which is what Docker writes to the
        // cgroup; 0 for none, as cAdvisor.
        gauge(&mut self.limit, Some(c.memory_limit));
        seconds(&mut self.start_time, c.started_at);
        seconds(&mut self.creation_time, c.created_at);
        gauge(&mut self.threads, r.threads);
        gauge(&mut self.fds, r.file_descriptors);
        for i in &r.interfaces {
            let values = network_values(i);
            for (fam, v) in self.network.iter_mut().zip(values) {
                fam.push_shared(l, [("interface", i.name.clone().into())], v);
            }
        }
        gauge(&mut self.cache, r.memory_cache_bytes);
        gauge(&mut self.swap, r.memory_swap_bytes);
        gauge(&mut self.max_usage, r.memory_max_usage_bytes);
        gauge(&mut self.failcnt, r.memory_failcnt);
        gauge(&mut self.mapped_file, r.memory_mapped_file_bytes);
        gauge(&mut self.processes, r.processes);
        gauge(&mut self.sockets, r.sockets);
        gauge(&mut self.threads_max, r.threads_max);
        gauge(&mut self.kernel_usage, r.memory_kernel_bytes);
        // cAdvisor's reading of Docker's health: 1 healthy, 0 starting or unhealthy, -1 no check.
        let health = match c.health {
            Health::Healthy => 1.0,
            Health::None => -1.0,
            Health::Starting | Health::Unhealthy => 0.0,
        };
        self.health_state.push_shared(l, [], health);
        for ((.., get), fam) in MEMORY_STAT.iter().zip(self.memory_stat.iter_mut()) {
            gauge(fam, get(&r.memory_stat));
        }
        // cAdvisor reads both scopes from the same `memory.stat` keys.
        for (kind, v) in [("pgfault", r.memory_stat.pgfault), ("pgmajfault", r.memory_stat.pgmajfault)] {
            let Some(v) = v else { continue };
            for scope in ["container", "hierarchy"] {
                self.memory_failures.push_shared(l, [("failure_type", kind.into()), ("scope", scope.into())],
                    v,
                );
            }
        }
        for (state, n) in crate::docker::cgroup::TASK_STATES
            .iter()
            .zip(r.task_states.into_iter().flatten())
        {
            self.tasks_state
                .push_shared(l, [("state", (*state).into())], n);
        }
        if let Some(spec) = &c.spec {
            gauge(&mut self.cpu_period, Some(spec.cpu_period));
            gauge(&mut self.cpu_quota, spec.cpu_quota);
            gauge(&mut self.cpu_shares, Some(spec.cpu_shares));
            gauge(&mut self.memory_reservation, Some(spec.memory_reservation));
            gauge(&mut self.memory_swap_limit, Some(spec.memory_swap_limit));
        }
    }

    /// The writable layer's last measured use, and its filesystem's size (see
    /// [`crate::docker::disk`]), by `device` as cAdvisor.
    fn add_disk(&mut self, c: &Container, l: &Shared, snapshot: &crate::docker::Snapshot) {
        if c.pid.is_none() {
            return;
        }
        let Some((usage, fs)) = snapshot.disk.get(&c.docker_id) else {
            return;
        };
        let device = || [("device", fs.device.clone().into())];
        self.fs_usage.push_shared(l, device(), usage.bytes);
        self.fs_limit.push_shared(l, device(), fs.capacity_bytes);
        self.fs_inodes_free.push_shared(l, device(), fs.inodes_free);
        self.fs_inodes_total.push_shared(l, device(), fs.inodes);
    }

    /// `container_last_seen` for a running container: now, as cAdvisor stamps every container
    /// it tracks (it tracks running ones), so `time() - container_last_seen` finds one gone.
    fn add_last_seen(&mut self, c: &Container, l: &Shared, now: u64) {
        if c.pid.is_some() {
            self.last_seen.push_shared(l, [], now);
        }
    }

    fn into_vec(self) -> Vec<MetricFamily> {
        let mut v = vec![
            self.state,
            self.health,
            self.restarts,
            self.exit_code,
            self.oom_killed,
            self.stopped_by_request,
            self.started_at,
            self.finished_at,
            self.info,
            self.cpu_usage,
            self.cpu_user,
            self.cpu_system,
            self.cfs_periods,
            self.cfs_throttled_periods,
            self.cfs_throttled,
            self.memory_usage,
            self.working_set,
            self.rss,
            self.limit,
            self.oom_events,
            self.start_time,
            self.threads,
            self.fds,
        ];
        v.extend(self.network);
        v.extend([
            self.last_seen,
            self.cache,
            self.swap,
            self.max_usage,
            counter_without_total(self.failcnt),
            self.mapped_file,
            self.cpu_period,
            self.cpu_quota,
            self.cpu_shares,
            self.memory_reservation,
            self.memory_swap_limit,
            self.processes,
            self.sockets,
            self.tasks_state,
            self.health_state,
            self.threads_max,
            self.kernel_usage,
            self.cfs_burst_periods,
            self.cfs_burst,
            self.creation_time,
            self.memory_failures,
        ]);
        v.extend(self.memory_stat);
        for (waiting, stalled) in self.pressure {
            v.extend([waiting, stalled]);
        }
        v.extend([
            self.fs_usage,
            self.fs_limit,
            self.fs_inodes_free,
            self.fs_inodes_total,
            self.fs_reads_bytes,
            self.fs_writes_bytes,
            self.fs_reads,
            self.fs_writes,
        ]);
        v
    }
}

/// cAdvisor's `container_memory_failcnt`, a counter without `_total` (see
/// [`crate::metric::exact_counter`]).
fn counter_without_total(family: MetricFamily) -> MetricFamily {
    crate::metric::exact_counter(
        &family.name,
        &family.help,
        family
            .samples
            .into_iter()
            .map(|s| {
                let labels = s
                    .all_labels()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (labels, s.value.as_f64())
            })
            .collect(),
    )
}

fn network_values(i: &crate::docker::cgroup::Interface) -> [u64; 8] {
    [
        i.receive_bytes,
        i.receive_packets,
        i.receive_errors,
        i.receive_dropped,
        i.transmit_bytes,
        i.transmit_packets,
        i.transmit_errors,
        i.transmit_dropped,
    ]
}

/// A Docker label key as a Prometheus label name: every other character becomes `_`.
fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl Docker {
    /// Each container's resources, or `None` (not running, gone since the snapshot, or no
    /// source), from its cgroup files: some twenty small files per container, whose reading by
    /// the kernel is most of what a scrape of many containers costs. They are read on one
    /// thread: split over two, the threads contend on the kernel's locks (dentry and kernfs),
    /// and a scrape of 100 containers cost 13% more CPU for a shorter wait (`bench/docker.sh`).
    fn resources(
        &self,
        containers: &[&Arc<Container>],
        snapshot: &crate::docker::Snapshot,
    ) -> Vec<Option<Arc<Resources>>> {
        let (paths, layout) = (self.watcher.paths(), self.watcher.layout());
        let use_files = !matches!(
            self.watcher.config().resources,
            crate::docker::ResourceSource::None
        );
        let read = |c: &Container| -> Option<Arc<Resources>> {
            let pid = c.pid?;
            if c.use_stats_api {
                snapshot.stats.get(&c.docker_id).cloned()
            } else if use_files {
                layout
                    .read(paths, &c.cgroup, Some(pid), c.own_network)
                    .ok()
                    .map(Arc::new)
            } else {
                None
            }
        };
        containers.iter().map(|c| read(c)).collect()
    }
}

impl Collector for Docker {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let snapshot = self.watcher.snapshot();
        match &snapshot.connection {
            Connection::Up => {}
            Connection::Connecting => {
                return Err(Error::Source("docker: not connected yet".into()));
            }
            Connection::Down(reason) => {
                return Err(Error::Source(format!("docker: {reason}")));
            }
        }
        let mut fams = Families::new();
        let containers: Vec<&Arc<Container>> = snapshot.containers.values().collect();
        let resources = self.resources(&containers, &snapshot);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for (c, r) in containers.iter().zip(&resources) {
            let l = crate::metric::SharedLabels::new(base(c));
            fams.add_container(c, &l, snapshot.exits.get(&c.docker_id).copied());
            fams.add_last_seen(c, &l, now);
            fams.add_disk(c, &l, &snapshot);
            fams.add_oom_events(c, &l, r.as_deref(), &snapshot);
            if let Some(r) = r {
                fams.add_resources(c, &l, r);
                fams.add_block_io(&l, r, &|major, minor| {
                    self.device_name(major, minor)
                });
            }
        }
        if !matches!(
            self.watcher.config().resources,
            crate::docker::ResourceSource::None | crate::docker::ResourceSource::StatsApi
        ) {
            if let Some(root) = self.watcher.layout().read_root(self.watcher.paths()) {
                fams.add_root(&root, now, &|major, minor| self.device_name(major, minor));
            }
        }
        // A host without containers gets no empty container families.
        out.extend(fams.into_vec().into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}

/// The `docker` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "docker",
    enabled_by_default: true,
    help: "Docker containers: state, health, restarts (hale_container_*) and cAdvisor's container_* resources",
    flags: crate::collector::no_flags,
    build: |c| {
        c.docker
            .map(|w| Arc::new(Docker::new(Arc::clone(w))) as Arc<dyn crate::collector::Collector>)
            .ok_or(crate::collector::FlagError::Invalid {
                flag: "collector.docker",
                reason: "hale bug: the Docker watcher was not started".into(),
            })
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_become_label_names() {
        assert_eq!(
            sanitize("com.docker.compose.project"),
            "com_docker_compose_project"
        );
        assert_eq!(sanitize("a-b/c"), "a_b_c");
    }
}
