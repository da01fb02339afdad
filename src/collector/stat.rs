//! `stat`: boot time, context switches, forks, interrupts and runnable/blocked processes from
//! `/proc/stat`, as node_exporter's stat collector, and with `--collector.stat.softirq` the
//! softirq calls per vector (`node_softirqs_total{vector}`).

use std::sync::Arc;

use crate::collector::{parse_u64, Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// The softirq vectors of `/proc/stat`'s `softirq` line, in order, as node_exporter names them.
const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

/// The `stat` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.stat.flags")]
pub struct Flags {
    /// Export softirq calls per vector (node_softirqs_total{vector}).
    #[arg(id = "collector.stat.softirq", long = "collector.stat.softirq")]
    softirq: bool,
}

/// The stat collector.
pub struct Stat {
    paths: HostPaths,
    softirq: bool,
}

impl Stat {
    pub fn new(paths: HostPaths) -> Self {
        Self {
            paths,
            softirq: false,
        }
    }
}

impl Collector for Stat {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("stat");
        let text = crate::paths::read_kept(path.clone())?;
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
                Some("softirq") if self.softirq => {
                    // The total, then one count per vector.
                    let mut vectors =
                        MetricFamily::counter("node_softirqs", None, "Number of softirq calls.");
                    for (vector, v) in SOFTIRQ_VECTORS.iter().zip(fields) {
                        let v = parse_u64(Some(v), &path, "softirq")?;
                        vectors.push([("vector", (*vector).to_string())], v);
                    }
                    out.push(vectors);
                    continue;
                }
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
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Stat {
            paths: c.paths.clone(),
            softirq: flags.softirq,
        }))
    },
};
