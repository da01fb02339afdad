//! `stat`: boot time, context switches, forks, interrupts and runnable/blocked processes from
//! `/proc/stat`, as node_exporter's stat collector.

use std::sync::Arc;

use crate::collector::{parse_u64, Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// The stat collector.
pub struct Stat {
    paths: HostPaths,
}

impl Stat {
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }
}

impl Collector for Stat {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("stat");
        let text = crate::paths::read(path.clone())?;
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (name, first) = (fields.next(), fields.next());
            let family = match name {
                Some("btime") => MetricFamily::gauge(
                    "node_boot_time",
                    Some(Unit::Seconds),
                    "Node boot time, in unixtime.",
                ),
                Some("ctxt") => MetricFamily::counter(
                    "node_context_switches",
                    None,
                    "Total number of context switches.",
                ),
                Some("processes") => {
                    MetricFamily::counter("node_forks", None, "Total number of forks.")
                }
                Some("intr") => {
                    MetricFamily::counter("node_intr", None, "Total number of interrupts serviced.")
                }
                Some("procs_running") => MetricFamily::gauge(
                    "node_procs_running",
                    None,
                    "Number of processes in runnable state.",
                ),
                Some("procs_blocked") => MetricFamily::gauge(
                    "node_procs_blocked",
                    None,
                    "Number of processes blocked waiting for I/O to complete.",
                ),
                _ => continue,
            };
            let value = parse_u64(first, &path, name.unwrap_or_default())?;
            out.push(family.with([], value));
        }
        Ok(())
    }
}

/// The `stat` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "stat",
    enabled_by_default: true,
    help: "Boot time, context switches, forks, interrupts, procs",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Stat::new(c.paths.clone())))
    },
};
