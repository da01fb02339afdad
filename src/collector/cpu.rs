//! `cpu`: time spent per CPU and mode from `/proc/stat`, as node_exporter's cpu collector
//! (`node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}`).

use crate::collector::{parse_u64, Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// `/proc/stat` counts in USER_HZ, which the kernel fixes at 100 on every architecture Docker
/// runs on; node_exporter's procfs library uses the same constant.
const USER_HZ: f64 = 100.0;
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

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
        let path = self.paths.proc("stat");
        let text = crate::paths::read(path.clone())?;
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
        for line in text.lines() {
            // Per-CPU lines only ("cpu0 ..."); the aggregate "cpu " line is not exported.
            let Some(rest) = line.strip_prefix("cpu") else {
                continue;
            };
            let (id, values_text) = rest.split_once(' ').unwrap_or((rest, ""));
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let mut fields = values_text.split_ascii_whitespace();
            let mut values = [0u64; 10];
            for (i, v) in values.iter_mut().enumerate() {
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
            for (mode, v) in MODES.iter().zip(values) {
                seconds.push(
                    [("cpu", id.to_string()), ("mode", (*mode).to_string())],
                    v as f64 / USER_HZ,
                );
            }
            guest.push(
                [("cpu", id.to_string()), ("mode", "user".into())],
                values[8] as f64 / USER_HZ,
            );
            guest.push(
                [("cpu", id.to_string()), ("mode", "nice".into())],
                values[9] as f64 / USER_HZ,
            );
        }
        if seconds.samples.is_empty() {
            return Err(Error::parse(path, "no per-CPU lines"));
        }
        out.push(seconds);
        out.push(guest);
        Ok(())
    }
}
