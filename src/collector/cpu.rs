//! `cpu`: time spent per CPU and mode from `/proc/stat`, as node_exporter's cpu collector
//! (`node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}`), the isolated
//! CPUs (`node_cpu_isolated{cpu}`, from sysfs at start) and thermal throttling
//! (`node_cpu_core_throttles_total{package,core}`, `node_cpu_package_throttles_total{package}`,
//! where the CPU reports it: none in most VMs). [`read`] is the typed read that `/health`'s
//! `cpu:utilization` check uses too.

use std::collections::BTreeMap;
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
    let text = crate::paths::read_kept(path.clone())?;
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

/// The `cpu` collector's flags (node_exporter's names).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.cpu.flags")]
pub struct Flags {
    /// Enables node_cpu_info (and, with the include flags, node_cpu_flag_info and
    /// node_cpu_bug_info) from /proc/cpuinfo.
    #[arg(id = "collector.cpu.info", long = "collector.cpu.info")]
    info: bool,

    /// Regexp of the `flags` field of /proc/cpuinfo to report as node_cpu_flag_info (implies
    /// --collector.cpu.info).
    #[arg(
        id = "collector.cpu.info.flags-include",
        long = "collector.cpu.info.flags-include",
        value_name = "REGEX"
    )]
    flags_include: Option<String>,

    /// Regexp of the `bugs` field of /proc/cpuinfo to report as node_cpu_bug_info (implies
    /// --collector.cpu.info).
    #[arg(
        id = "collector.cpu.info.bugs-include",
        long = "collector.cpu.info.bugs-include",
        value_name = "REGEX"
    )]
    bugs_include: Option<String>,
}

/// What `--collector.cpu.info` and its include flags ask for.
#[derive(Debug, Clone, Default)]
pub struct InfoOptions {
    pub enabled: bool,
    pub flags: Option<regex::Regex>,
    pub bugs: Option<regex::Regex>,
}

/// The cpu collector.
pub struct Cpu {
    paths: HostPaths,
    /// `/sys/devices/system/cpu/isolated`, read once: it changes only with a reboot.
    isolated: Vec<u32>,
    info: InfoOptions,
}

/// `node_cpu_info`'s labels, in node_exporter's order, with the /proc/cpuinfo key of each.
const INFO_LABELS: [(&str, &str); 10] = [
    ("package", "physical id"),
    ("core", "core id"),
    ("cpu", "processor"),
    ("vendor", "vendor_id"),
    ("family", "cpu family"),
    ("model", "model"),
    ("model_name", "model name"),
    ("microcode", "microcode"),
    ("stepping", "stepping"),
    ("cachesize", "cache size"),
];

/// The blocks of /proc/cpuinfo (one per processor), each `key: value` pair trimmed.
pub fn parse_cpuinfo(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut block = Vec::new();
    for line in text.lines() {
        match line.split_once(':') {
            Some((k, v)) => block.push((k.trim().to_string(), v.trim().to_string())),
            None if line.trim().is_empty() && !block.is_empty() => {
                blocks.push(std::mem::take(&mut block))
            }
            None => {}
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
        .into_iter()
        .filter(|b| b.iter().any(|(k, _)| k == "processor"))
        .collect()
}

impl Cpu {
    pub fn new(paths: HostPaths) -> Self {
        let isolated = crate::paths::read_text(paths.sys("devices/system/cpu/isolated"))
            .ok()
            .and_then(|t| parse_cpu_list(&t))
            .unwrap_or_default();
        Self {
            paths,
            isolated,
            info: InfoOptions::default(),
        }
    }

    /// node_cpu_info, node_cpu_flag_info and node_cpu_bug_info.
    fn info_families(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("cpuinfo");
        let blocks = parse_cpuinfo(&crate::paths::read(path)?);
        let mut info = MetricFamily::gauge("node_cpu_info", None, "CPU information from /proc/cpuinfo.");
        for block in &blocks {
            let get = |key: &str| {
                block
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            info.push(INFO_LABELS.map(|(label, key)| (label, get(key))), 1u64);
        }
        out.push(info);
        let first = blocks.first();
        for (field, include, name, label, help) in [
            (
                "flags",
                &self.info.flags,
                "node_cpu_flag_info",
                "flag",
                "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
            ),
            (
                "bugs",
                &self.info.bugs,
                "node_cpu_bug_info",
                "bug",
                "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
            ),
        ] {
            let Some(include) = include else { continue };
            let mut family = MetricFamily::gauge(name, None, help);
            let values = first
                .and_then(|b| b.iter().find(|(k, _)| k == field))
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            for value in values.split_ascii_whitespace().filter(|v| include.is_match(v)) {
                family.push([(label, value.to_string())], 1u64);
            }
            out.push(family);
        }
        Ok(())
    }

    /// Per package, and per package and core, the throttle counts sysfs has (each core and
    /// package counted once, whichever of its CPUs shows it first).
    fn throttles(&self) -> (BTreeMap<u64, u64>, BTreeMap<(u64, u64), u64>) {
        let mut packages = BTreeMap::new();
        let mut cores = BTreeMap::new();
        let dir = self.paths.sys("devices/system/cpu");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return (packages, cores);
        };
        let mut cpus: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("cpu"))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|e| e.path())
            .collect();
        cpus.sort();
        let number = |p: std::path::PathBuf| -> Option<u64> {
            crate::paths::read_text(p).ok()?.trim().parse().ok()
        };
        for cpu in cpus {
            let (Some(package), Some(core)) = (
                number(cpu.join("topology/physical_package_id")),
                number(cpu.join("topology/core_id")),
            ) else {
                continue;
            };
            if let std::collections::btree_map::Entry::Vacant(e) = cores.entry((package, core)) {
                if let Some(n) = number(cpu.join("thermal_throttle/core_throttle_count")) {
                    e.insert(n);
                }
            }
            if let std::collections::btree_map::Entry::Vacant(e) = packages.entry(package) {
                if let Some(n) = number(cpu.join("thermal_throttle/package_throttle_count")) {
                    e.insert(n);
                }
            }
        }
        (packages, cores)
    }
}

/// A kernel CPU list (`0-3,8,10-11`); `None` when it is not one. Empty text is no CPU.
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

impl Collector for Cpu {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        if self.info.enabled {
            self.info_families(out)?;
        }
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
        let mut isolated = MetricFamily::gauge(
            "node_cpu_isolated",
            None,
            "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
        );
        for cpu in &self.isolated {
            isolated.push([("cpu", cpu.to_string())], 1u64);
        }
        out.push(isolated);
        let (packages, cores) = self.throttles();
        let mut package_throttles = MetricFamily::counter(
            "node_cpu_package_throttles",
            None,
            "Number of times this CPU package has been throttled.",
        );
        for (package, n) in packages {
            package_throttles.push([("package", package.to_string())], n);
        }
        let mut core_throttles = MetricFamily::counter(
            "node_cpu_core_throttles",
            None,
            "Number of times this CPU core has been throttled.",
        );
        for ((package, core), n) in cores {
            core_throttles.push(
                [("package", package.to_string()), ("core", core.to_string())],
                n,
            );
        }
        out.push(package_throttles);
        out.push(core_throttles);
        Ok(())
    }
}

/// The `cpu` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "cpu",
    enabled_by_default: true,
    help: "CPU time per mode (node_cpu_seconds_total)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        let regex = |flag: &'static str, v: &Option<String>| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| crate::collector::regex(flag, v))
                .transpose()
        };
        let info = InfoOptions {
            flags: regex("collector.cpu.info.flags-include", &flags.flags_include)?,
            bugs: regex("collector.cpu.info.bugs-include", &flags.bugs_include)?,
            // An include flag implies --collector.cpu.info, as in node_exporter.
            enabled: flags.info || flags.flags_include.is_some() || flags.bugs_include.is_some(),
        };
        let mut cpu = Cpu::new(c.paths.clone());
        cpu.info = info;
        Ok(Arc::new(cpu))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_blocks() {
        let blocks = parse_cpuinfo(
            "processor\t: 0\nmodel name\t: X: Y\nflags\t\t: fpu sse\n\nprocessor\t: 1\npower management:\n\n",
        );
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0][1], ("model name".into(), "X: Y".into()));
        assert_eq!(blocks[1][1], ("power management".into(), String::new()));
    }

    #[test]
    fn kernel_cpu_lists() {
        assert_eq!(parse_cpu_list("1-3,5\n"), Some(vec![1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("\n"), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("0-4294967295"), None);
    }
}
