//! `machine`: cAdvisor's machine families, which Docker dashboards divide by:
//! `machine_cpu_cores` (logical CPUs online, from `<sysfs>/devices/system/cpu/online`),
//! `machine_memory_bytes` (`MemTotal`), `machine_swap_bytes` (`SwapTotal`), and the topology
//! cAdvisor counts: `machine_cpu_physical_cores` (distinct `core id`s of `/proc/cpuinfo`, or of
//! sysfs' `topology/core_id` where cpuinfo has none, as on ARM; distinct across sockets, as
//! cAdvisor counts them), `machine_cpu_sockets` (`physical id`, or `physical_package_id`), and
//! `machine_cpu_books` and `machine_cpu_drawers` (0 except on s390x). All carry cAdvisor's labels
//! `boot_id`, `machine_id` and `system_uuid` (empty where the file is missing or root-only).
//! The topology is read once.

use std::sync::{Arc, OnceLock};

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The machine collector.
pub struct Machine {
    paths: HostPaths,
    labels: OnceLock<[(&'static str, String); 3]>,
    /// (physical cores, sockets, books, drawers).
    topology: OnceLock<[u64; 4]>,
}

/// How many distinct values `key : <n>` lines of `/proc/cpuinfo` give.
fn distinct_cpuinfo(cpuinfo: &str, key: &str) -> u64 {
    let values: std::collections::BTreeSet<&str> = cpuinfo
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim_end() == key && !v.trim().is_empty() && v.trim().bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.trim())
        })
        .collect();
    values.len() as u64
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
    /// Distinct values of `topology/<file>` over the CPUs in sysfs.
    fn distinct_sysfs(&self, file: &str) -> u64 {
        let dir = self.paths.sys("devices/system/cpu");
        let values: std::collections::BTreeSet<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.strip_prefix("cpu").is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
            })
            .filter_map(|e| crate::paths::read_text(e.path().join("topology").join(file)).ok())
            .map(|v| v.trim().to_string())
            .collect();
        values.len() as u64
    }

    fn topology(&self) -> [u64; 4] {
        *self.topology.get_or_init(|| {
            let cpuinfo = crate::paths::read_text(self.paths.proc("cpuinfo")).unwrap_or_default();
            let count = |key: &str, file: &str| match distinct_cpuinfo(&cpuinfo, key) {
                0 => self.distinct_sysfs(file),
                n => n,
            };
            let s390x = cfg!(target_arch = "s390x");
            [
                count("core id", "core_id"),
                count("physical id", "physical_package_id"),
                if s390x { count("book id", "book_id") } else { 0 },
                if s390x { count("drawer id", "drawer_id") } else { 0 },
            ]
        })
    }

    fn labels(&self) -> &[(&'static str, String); 3] {
        self.labels.get_or_init(|| {
            let read = |p: std::path::PathBuf| {
                crate::paths::read_text(p)
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
        let text = crate::paths::read_kept(online.clone())?;
        let cores = count_cpus(&text)
            .ok_or_else(|| Error::parse(online, format!("{:?} is not a CPU list", text.trim())))?;
        let meminfo = self.paths.proc("meminfo");
        let text = crate::paths::read_kept(meminfo.clone())?;
        let kib_of = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let kib = kib_of("MemTotal:").ok_or_else(|| Error::parse(meminfo, "no MemTotal"))?;
        // A kernel without swap support has no SwapTotal line: no swap.
        let swap_kib = kib_of("SwapTotal:").unwrap_or(0);
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
        out.push(
            MetricFamily::gauge(
                "machine_swap_bytes",
                None,
                "Amount of swap memory available on the machine.",
            )
            .with(self.labels().clone(), swap_kib.saturating_mul(1024)),
        );
        #[rustfmt::skip]
        let topology = [
            ("machine_cpu_physical_cores", "Number of physical CPU cores."),
            ("machine_cpu_sockets", "Number of CPU sockets."),
            ("machine_cpu_books", "Number of CPU books."),
            ("machine_cpu_drawers", "Number of CPU drawers."),
        ];
        for ((name, help), v) in topology.into_iter().zip(self.topology()) {
            out.push(MetricFamily::gauge(name, None, help).with(self.labels().clone(), v));
        }
        Ok(())
    }
}

/// The `machine` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "machine",
    enabled_by_default: true,
    help: "cAdvisor's machine_* families (CPUs, memory, swap, topology)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Machine {
            paths: c.paths.clone(),
            labels: OnceLock::new(),
            topology: OnceLock::new(),
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

    #[test]
    fn topology_counts_distinct_ids_as_cadvisor() {
        let two_sockets = "processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\nprocessor\t: 1\nphysical id\t: 0\ncore id\t\t: 1\n\nprocessor\t: 2\nphysical id\t: 1\ncore id\t\t: 0\n";
        assert_eq!(super::distinct_cpuinfo(two_sockets, "physical id"), 2);
        // cAdvisor counts distinct core ids, not (socket, core) pairs.
        assert_eq!(super::distinct_cpuinfo(two_sockets, "core id"), 2);
        assert_eq!(super::distinct_cpuinfo("processor : 0\nBogoMIPS : 50\n", "core id"), 0);
    }
}
