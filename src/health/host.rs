//! The host checks: CPU, memory, swap, disks, file descriptors (system and watched process
//! groups) and uptime, each a function of one [`HostSample`], the collectors' typed reads.

use super::check::{round, Check, Status};
use super::config::{HealthConfig, Threshold};

/// One reading of what the host checks look at, each part from its collector's typed reader;
/// a part whose source failed is absent, and its checks are left out of this sample.
#[derive(Debug, Default)]
pub struct HostSample {
    /// (idle + iowait, all modes) seconds, summed over the CPUs.
    pub cpu: Option<(f64, f64)>,
    pub memory: Option<crate::collector::meminfo::Memory>,
    pub mounts: Vec<crate::collector::filesystem::MountUsage>,
    pub files: Option<crate::collector::filefd::FileHandles>,
    /// (group, worst open/limit ratio).
    pub fd_ratios: Vec<(String, f64)>,
    pub uptime: Option<f64>,
}

/// The host checks, and the CPU counters of the last sample (utilization is a rate).
#[derive(Default)]
pub struct HostChecks {
    last_cpu: Option<(f64, f64)>,
}

impl HostChecks {
    /// The host checks of one sample.
    pub fn checks(&mut self, cfg: &HealthConfig, host: &HostSample) -> Vec<Check> {
        let mut checks = Vec::new();
        let util = |key: &str, id: String, value: f64, t: &Threshold| {
            let status = t.status(value);
            Check {
                key: key.to_string(),
                component_id: id,
                component_type: "system",
                value: round(value),
                unit: "percent",
                status,
                output: (status != Status::Pass).then(|| {
                    format!(
                        "{value:.1}% used (warn at {}%, fail at {}%)",
                        t.warn, t.fail
                    )
                }),
                critical: t.critical,
                affected: vec![],
            }
        };
        if let Some((idle, total)) = host.cpu {
            let (di, dt) = match self.last_cpu {
                Some((pi, pt)) if total > pt => (idle - pi, total - pt),
                _ => (idle, total),
            };
            self.last_cpu = Some((idle, total));
            if dt > 0.0 {
                checks.push(util(
                    "cpu:utilization",
                    "cpu".into(),
                    100.0 * (1.0 - di / dt),
                    &cfg.cpu,
                ));
            }
        }
        if let Some(m) = &host.memory {
            let memory_used = match (m.bytes("MemTotal"), m.bytes("MemAvailable")) {
                (Some(total), Some(avail)) if total > 0 => {
                    Some(100.0 * (1.0 - avail as f64 / total as f64))
                }
                _ => None,
            };
            if let Some(used) = memory_used {
                checks.push(util(
                    "memory:utilization",
                    "memory".into(),
                    used,
                    &cfg.memory,
                ));
            }
            if let (Some(total), Some(free)) = (m.bytes("SwapTotal"), m.bytes("SwapFree")) {
                let used = if total > 0 {
                    100.0 * (1.0 - free as f64 / total as f64)
                } else {
                    0.0
                };
                let mut check = util("swap:utilization", "swap".into(), used, &cfg.swap);
                // Swap holding cold pages while memory is plentiful is Linux working as meant:
                // swap counts only under memory pressure (memory at its warn level), as
                // HostSwapFilling has it.
                let pressure = memory_used.is_some_and(|m| m >= cfg.memory.warn);
                if !pressure {
                    check.status = Status::Pass;
                    check.output = None;
                }
                checks.push(check);
            }
        }
        for mount in &host.mounts {
            let Some(u) = &mount.usage else { continue };
            if u.size > 0 {
                checks.push(util(
                    "disk:utilization",
                    mount.mount_point.clone(),
                    100.0 * (1.0 - u.avail as f64 / u.size as f64),
                    &cfg.disk,
                ));
            }
        }
        if let Some(f) = host.files {
            if f.maximum > 0 {
                checks.push(util(
                    "fd:utilization",
                    "system".into(),
                    100.0 * f.allocated as f64 / f.maximum as f64,
                    &cfg.fd,
                ));
            }
        }
        for (group, ratio) in &host.fd_ratios {
            checks.push(util(
                "fd:utilization",
                format!("process:{group}"),
                100.0 * ratio,
                &cfg.fd,
            ));
        }
        if let Some(up) = host.uptime {
            checks.push(Check {
                key: "uptime".into(),
                component_id: "system".into(),
                component_type: "system",
                value: round(up),
                unit: "s",
                status: Status::Pass,
                output: None,
                critical: false,
                affected: vec![],
            });
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::debounce::Debouncer;

    /// A procfs holding only a meminfo with this much memory available of 1000 MiB.
    fn meminfo(dir: &std::path::Path, available_mib: u64) {
        std::fs::write(
            dir.join("meminfo"),
            format!(
                "MemTotal:       1024000 kB\nMemFree:          10000 kB\nMemAvailable:   {} kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n",
                available_mib * 1024
            ),
        )
        .unwrap();
    }

    fn memory_status(
        sampler: &mut (HostChecks, Debouncer),
        paths: &crate::paths::HostPaths,
        needed: u32,
    ) -> Check {
        let host = HostSample {
            memory: Some(crate::collector::meminfo::read(paths).unwrap()),
            ..HostSample::default()
        };
        let checks = sampler.0.checks(&HealthConfig::default(), &host);
        let checks = sampler.1.debounce(checks, needed);
        checks
            .into_iter()
            .find(|c| c.key == "memory:utilization")
            .expect("memory check")
    }

    #[test]
    fn swap_counts_only_under_memory_pressure() {
        use crate::collector::meminfo::{Field, Memory};
        let memory = |available: u64, swap_free: u64| Memory {
            fields: [
                ("MemTotal", 1_000_000),
                ("MemAvailable", available),
                ("SwapTotal", 1_000_000),
                ("SwapFree", swap_free),
            ]
            .into_iter()
            .map(|(key, value)| Field {
                key: key.into(),
                value,
                in_bytes: true,
            })
            .collect(),
        };
        let swap = |host: HostSample| {
            HostChecks::default()
                .checks(&HealthConfig::default(), &host)
                .into_iter()
                .find(|c| c.key == "swap:utilization")
                .unwrap()
        };
        // 95% of swap used, half the memory free: pass, the value still shown.
        let calm = swap(HostSample {
            memory: Some(memory(500_000, 50_000)),
            ..HostSample::default()
        });
        assert_eq!((calm.status, calm.value), (Status::Pass, 95.0));
        // The same swap with memory 90% used: fail.
        let pressed = swap(HostSample {
            memory: Some(memory(100_000, 50_000)),
            ..HostSample::default()
        });
        assert_eq!(pressed.status, Status::Fail);
        assert!(pressed.output.unwrap().contains("95.0% used"));
    }

    #[test]
    fn memory_thresholds_through_a_proc_tree_with_hysteresis() {
        let dir = tempfile::tempdir().unwrap();
        let paths =
            crate::paths::HostPaths::new(dir.path().into(), "/sys".into(), "/".into()).unwrap();
        let collector = paths;
        let mut sampler = (HostChecks::default(), Debouncer::default());
        // Defaults: warn at 85 %, fail at 95 %; 3 samples to change.
        meminfo(dir.path(), 500); // 50 % used
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!((c.status, c.value), (Status::Pass, 50.0));
        assert!(c.critical);
        meminfo(dir.path(), 100); // 90 %: warn, but not yet
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Pass
        );
        meminfo(dir.path(), 20); // 98 %: fail, the streak starts again
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!(c.status, Status::Pass);
        assert!(c.output.as_deref().unwrap().contains("now fail"), "{c:?}");
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Pass
        );
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!(c.status, Status::Fail, "third fail sample");
        assert!(c.output.as_deref().unwrap().contains("98.0% used"), "{c:?}");
        // Clearing takes as long.
        meminfo(dir.path(), 800);
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Fail
        );
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Fail
        );
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!((c.status, c.output), (Status::Pass, None));
        // Warn on its own, confirmed at once with consecutive = 1.
        meminfo(dir.path(), 100);
        assert_eq!(
            memory_status(&mut sampler, &collector, 1).status,
            Status::Warn
        );
    }
}
