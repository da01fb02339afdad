//! `machine`: cAdvisor's two machine families that Docker dashboards divide by:
//! `machine_cpu_cores` (logical CPUs online, from `<sysfs>/devices/system/cpu/online`) and
//! `machine_memory_bytes` (`MemTotal`), with cAdvisor's labels `boot_id`, `machine_id` and
//! `system_uuid` (empty where the file is missing or root-only).

use std::sync::{Arc, OnceLock};

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The machine collector.
pub struct Machine {
    paths: HostPaths,
    labels: OnceLock<[(&'static str, String); 3]>,
}

/// How many CPUs a kernel CPU list (`0-3,8-11`) names.
fn count_cpus(list: &str) -> Option<u64> {
    let mut n = 0u64;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?),
            None => {
                let a = part.parse::<u64>().ok()?;
                (a, a)
            }
        };
        n = n.checked_add(b.checked_sub(a)?.checked_add(1)?)?;
    }
    Some(n)
}

impl Machine {
    fn labels(&self) -> &[(&'static str, String); 3] {
        self.labels.get_or_init(|| {
            let read = |p: std::path::PathBuf| {
                std::fs::read_to_string(p)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            let machine_id = [
                self.paths.rootfs_join("/etc/machine-id"),
                self.paths.rootfs_join("/var/lib/dbus/machine-id"),
            ]
            .into_iter()
            .map(read)
            .find(|s| !s.is_empty())
            .unwrap_or_default();
            [
                ("boot_id", read(self.paths.proc("sys/kernel/random/boot_id"))),
                ("machine_id", machine_id),
                ("system_uuid", read(self.paths.sys("class/dmi/id/product_uuid"))),
            ]
        })
    }
}

impl Collector for Machine {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let online = self.paths.sys("devices/system/cpu/online");
        let text = crate::paths::read(online.clone())?;
        let cores = count_cpus(&text)
            .ok_or_else(|| Error::parse(online, format!("{:?} is not a CPU list", text.trim())))?;
        let meminfo = self.paths.proc("meminfo");
        let text = crate::paths::read(meminfo.clone())?;
        let kib = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| Error::parse(meminfo, "no MemTotal"))?;
        out.push(
            MetricFamily::gauge("machine_cpu_cores", None, "Number of logical CPU cores.")
                .with(self.labels().clone(), cores),
        );
        out.push(
            MetricFamily::gauge(
                "machine_memory_bytes",
                None,
                "Amount of memory installed on the machine.",
            )
            .with(self.labels().clone(), kib.saturating_mul(1024)),
        );
        Ok(())
    }
}

/// The `machine` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "machine",
    enabled_by_default: true,
    help: "cAdvisor's machine_cpu_cores and machine_memory_bytes",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Machine {
            paths: c.paths.clone(),
            labels: OnceLock::new(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_lists() {
        assert_eq!(super::count_cpus("0-3\n"), Some(4));
        assert_eq!(super::count_cpus("0-3,8-11"), Some(8));
        assert_eq!(super::count_cpus("0"), Some(1));
        assert_eq!(super::count_cpus("3-1"), None);
        assert_eq!(super::count_cpus("x"), None);
    }
}
