//! `self`: hale's own process in the standard `process_*` names every Prometheus client exports
//! (`process_open_fds`, `process_max_fds`, `process_threads`, memory, CPU, start time). It reads
//! the real `/proc/self`, not `--path.procfs`, because hale's own process is what it describes.

use std::sync::Arc;

use procfs::process::{LimitValue, Process};

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};

/// The self collector.
pub struct SelfProcess {
    ticks: f64,
    page_size: u64,
    /// Boot time never changes, and reading it means generating all of /proc/stat: read once.
    boot_time: std::sync::OnceLock<u64>,
}

impl SelfProcess {
    pub fn new() -> Self {
        Self {
            ticks: procfs::ticks_per_second() as f64,
            page_size: procfs::page_size(),
            boot_time: Default::default(),
        }
    }
}

impl Default for SelfProcess {
    fn default() -> Self {
        Self::new()
    }
}

fn source(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Source(format!("reading /proc/self {what}: {e}"))
}

/// A limit as a number, with "unlimited" as the largest value a limit can hold, as client_golang does.
pub(crate) fn limit_value(v: LimitValue) -> u64 {
    match v {
        LimitValue::Value(v) => v,
        LimitValue::Unlimited => u64::MAX,
    }
}

impl Collector for SelfProcess {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let me = Process::myself().map_err(|e| source("", e))?;
        let stat = crate::proc_files::stat(&me).map_err(|e| source("stat", e))?;
        let limits = crate::proc_files::limits(&me).map_err(|e| source("limits", e))?;
        let fds = me.fd_count().map_err(|e| source("fd", e))?;
        let boot = match self.boot_time.get() {
            Some(b) => *b,
            None => {
                let b = procfs::boot_time_secs().map_err(|e| source("boot time", e))?;
                *self.boot_time.get_or_init(|| b)
            }
        };
        let cpu = (stat.utime + stat.stime) as f64 / self.ticks;
        out.push(
            MetricFamily::counter(
                "process_cpu",
                Some(Unit::Seconds),
                "Total user and system CPU time spent in seconds.",
            )
            .with([], cpu),
        );
        out.push(
            MetricFamily::gauge("process_open_fds", None, "Number of open file descriptors.")
                .with([], fds as u64),
        );
        out.push(
            MetricFamily::gauge(
                "process_max_fds",
                None,
                "Maximum number of open file descriptors.",
            )
            .with([], limit_value(limits.max_open_files.soft_limit)),
        );
        out.push(
            MetricFamily::gauge(
                "process_virtual_memory",
                Some(Unit::Bytes),
                "Virtual memory size in bytes.",
            )
            .with([], stat.vsize),
        );
        out.push(
            MetricFamily::gauge(
                "process_virtual_memory_max",
                Some(Unit::Bytes),
                "Maximum amount of virtual memory available in bytes.",
            )
            .with([], limit_value(limits.max_address_space.soft_limit)),
        );
        out.push(
            MetricFamily::gauge(
                "process_resident_memory",
                Some(Unit::Bytes),
                "Resident memory size in bytes.",
            )
            .with([], stat.rss.saturating_mul(self.page_size)),
        );
        out.push(
            MetricFamily::gauge(
                "process_start_time",
                Some(Unit::Seconds),
                "Start time of the process since unix epoch in seconds.",
            )
            .with([], boot as f64 + stat.starttime as f64 / self.ticks),
        );
        out.push(
            MetricFamily::gauge(
                "process_threads",
                None,
                "Number of OS threads in the process.",
            )
            .with([], u64::try_from(stat.num_threads).unwrap_or(0)),
        );
        Ok(())
    }
}

/// The `self` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "self",
    enabled_by_default: true,
    help: "hale's own process (process_*)",
    flags: crate::collector::no_flags,
    build: |_| {
        Ok(Arc::new(SelfProcess::new()))
    },
};
