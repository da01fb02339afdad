//! `schedstat`: per-CPU scheduler time from `/proc/schedstat`, as node_exporter 1.5's
//! schedstat collector: `node_schedstat_running_seconds_total{cpu}`,
//! `node_schedstat_waiting_seconds_total{cpu}` (time runnable tasks waited for this CPU, the
//! run-queue latency) and `node_schedstat_timeslices_total{cpu}`. A kernel without schedstats
//! gives no series.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The schedstat collector.
pub struct Schedstat {
    paths: HostPaths,
}

/// (cpu, running ns, waiting ns, timeslices) for each `cpuN` line with its nine numbers.
fn parse(text: &str) -> Vec<(String, u64, u64, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split(' ');
        let Some(cpu) = fields.next().and_then(|f| f.strip_prefix("cpu")) else {
            continue;
        };
        if cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let numbers: Vec<u64> = fields.take(9).map_while(|f| f.parse().ok()).collect();
        if let [.., running, waiting, slices] = numbers[..] {
            if numbers.len() == 9 {
                out.push((cpu.to_string(), running, waiting, slices));
            }
        }
    }
    out
}

impl Collector for Schedstat {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("schedstat");
        let Some(text) = crate::collector::read_optional_kept(path.clone())? else {
            return Ok(());
        };
        let mut running = MetricFamily::counter(
            "node_schedstat_running",
            Some(crate::metric::Unit::Seconds),
            "Number of seconds CPU spent running a process.",
        );
        let mut waiting = MetricFamily::counter(
            "node_schedstat_waiting",
            Some(crate::metric::Unit::Seconds),
            "Number of seconds spent by processing waiting for this CPU.",
        );
        let mut slices = MetricFamily::counter(
            "node_schedstat_timeslices",
            None,
            "Number of timeslices executed by CPU.",
        );
        for (cpu, run_ns, wait_ns, n) in parse(&text) {
            running.push([("cpu", cpu.clone())], run_ns as f64 / 1e9);
            waiting.push([("cpu", cpu.clone())], wait_ns as f64 / 1e9);
            slices.push([("cpu", cpu)], n);
        }
        out.extend([running, waiting, slices]);
        Ok(())
    }
}

/// The `schedstat` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "schedstat",
    enabled_by_default: true,
    help: "Per-CPU scheduler run and wait time from /proc/schedstat (node_schedstat_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Schedstat {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_cpu_lines() {
        let text = "version 15\ntimestamp 15819019232\ncpu0 498494191 0 3533438552 2553969831 3853684107 2465731542 2045936778163039 343796328169361 4767485306\ndomain0 00000000,00000003 212499247 210112015 1861015 1860405436 536440 369895 32599 210079416 25368550 24241256 384652 927363878 807233 6366 1647 804946 0 0 0 0 0 0 0 0 0 2077 0 0\ncpu1 bad\n";
        assert_eq!(
            super::parse(text),
            vec![(
                "0".to_string(),
                2045936778163039,
                343796328169361,
                4767485306
            )]
        );
    }
}
