//! `cpu`: time spent per CPU and mode from `/proc/stat`, as node_exporter's cpu collector
//! (`node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}`). [`read`] is
//! the typed read that `/health`'s `cpu:utilization` check uses too.

use std::sync::Arc;

use crate::collector::{parse_u64, Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// `/proc/stat` counts in USER_HZ, which the kernel fixes at 100 on every architecture Docker
/// runs on; node_exporter's procfs library uses the same constant.
const USER_HZ: f64 = 100.0;
/// One CPU's counters, in USER_HZ ticks: the eight modes of [`MODES`], then guest and
/// guest_nice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuTicks {
    pub cpu: String,
    pub ticks: [u64; 10],
}

impl CpuTicks {
    /// Seconds in `mode` (one of [`MODES`]).
    pub fn seconds(&self, mode: &str) -> f64 {
        MODES
            .iter()
            .zip(self.ticks)
            .find(|(m, _)| **m == mode)
            .map_or(0.0, |(_, t)| t as f64 / USER_HZ)
    }

    /// Seconds in all eight modes (guest time is already in user and nice).
    pub fn total_seconds(&self) -> f64 {
        self.ticks.iter().take(MODES.len()).sum::<u64>() as f64 / USER_HZ
    }
}

/// The modes of `node_cpu_seconds_total`, in `/proc/stat`'s order.
pub const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Reads the per-CPU lines of `/proc/stat` (the aggregate `cpu` line is left out, as in
/// node_exporter).
pub fn read(paths: &HostPaths) -> Result<Vec<CpuTicks>, Error> {
    let path = paths.proc("stat");
    let text = crate::paths::read(path.clone())?;
    let mut cpus = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let (id, values_text) = rest.split_once(' ').unwrap_or((rest, ""));
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let mut fields = values_text.split_ascii_whitespace();
        let mut ticks = [0u64; 10];
        for (i, v) in ticks.iter_mut().enumerate() {
            // Old kernels have fewer columns; the missing ones read as zero, as in node_exporter.
            *v = match fields.next() {
                Some(f) => parse_u64(Some(f), &path, "cpu time")?,
                None if i >= 4 => 0,
                None => {
                    return Err(Error::parse(
                        path.clone(),
                        format!("cpu{id}: too few fields"),
                    ))
                }
            };
        }
        cpus.push(CpuTicks {
            cpu: id.to_string(),
            ticks,
        });
    }
    if cpus.is_empty() {
        return Err(Error::parse(path, "no per-CPU lines"));
    }
    Ok(cpus)
}

/// The cpu collector.
pub struct Cpu {
    paths: HostPaths,
}

impl Cpu {
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }
}

impl Collector for Cpu {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let cpus = read(&self.paths)?;
        let mut seconds = MetricFamily::counter(
            "node_cpu",
            Some(Unit::Seconds),
            "Seconds the CPUs spent in each mode.",
        );
        let mut guest = MetricFamily::counter(
            "node_cpu_guest",
            Some(Unit::Seconds),
            "Seconds the CPUs spent in guests (VMs) for each mode.",
        );
        for c in cpus {
            for (mode, v) in MODES.iter().zip(c.ticks) {
                seconds.push(
                    [("cpu", c.cpu.clone()), ("mode", (*mode).to_string())],
                    v as f64 / USER_HZ,
                );
            }
            let [.., guest_user, guest_nice] = c.ticks;
            guest.push(
                [("cpu", c.cpu.clone()), ("mode", "user".into())],
                guest_user as f64 / USER_HZ,
            );
            guest.push(
                [("cpu", c.cpu.clone()), ("mode", "nice".into())],
                guest_nice as f64 / USER_HZ,
            );
        }
        out.push(seconds);
        out.push(guest);
        Ok(())
    }
}

/// The `cpu` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "cpu",
    enabled_by_default: true,
    help: "CPU time per mode (node_cpu_seconds_total)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Cpu::new(c.paths.clone())))
    },
};
