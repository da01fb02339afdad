//! `cpufreq`: CPU frequencies from `/sys/devices/system/cpu/cpu*/cpufreq/`, as node_exporter
//! 1.5's cpufreq collector: `node_cpu_frequency_{,min_,max_}hertz{cpu}` (the `cpuinfo_*`
//! files, readable by root only on most kernels) and
//! `node_cpu_scaling_frequency_{,min_,max_}hertz{cpu}`. A file that is absent or not
//! readable is left out; a CPU without `cpufreq` (most VMs) gives no series.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The cpufreq collector.
pub struct Cpufreq {
    paths: HostPaths,
}

/// (file, metric, help), in node_exporter's order.
const FILES: &[(&str, &str, &str)] = &[
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
];

impl Collector for Cpufreq {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let mut families: Vec<MetricFamily> = FILES
            .iter()
            .map(|(_, name, help)| MetricFamily::gauge(*name, None, *help))
            .collect();
        let cpus = crate::collector::numbered(
            &self.paths.sys("devices/system/cpu"),
            "cpu",
        );
        for (cpu, path) in cpus {
            let dir = path.join("cpufreq");
            if !dir.is_dir() {
                continue;
            }
            for ((file, _, _), family) in FILES.iter().zip(families.iter_mut()) {
                let Ok(text) = crate::paths::read_text(dir.join(file)) else {
                    continue;
                };
                let Ok(khz) = text.trim().parse::<u64>() else {
                    continue;
                };
                family.push([("cpu", cpu.clone())], khz.saturating_mul(1000));
            }
        }
        out.extend(families);
        Ok(())
    }
}

/// The `cpufreq` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "cpufreq",
    enabled_by_default: true,
    help: "CPU frequencies from cpufreq (node_cpu_frequency_*, node_cpu_scaling_frequency_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Cpufreq {
            paths: c.paths.clone(),
        }))
    },
};
