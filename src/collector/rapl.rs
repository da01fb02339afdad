//! `rapl`: energy counters of Intel/AMD RAPL domains from `/sys/class/powercap/`, as
//! node_exporter 1.5's rapl collector: `node_rapl_<domain>_joules_total{index,path}` (package,
//! core, uncore, dram, psys), or with `--collector.rapl.enable-zone-label` one
//! `node_rapl_joules_total{index,path,rapl_zone}`. The counters are root-only on current
//! kernels: without permission, or on a host without RAPL (VMs), no series.

use std::sync::Arc;

use crate::collector::{read_u64_file, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The `rapl` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.rapl.flags")]
pub struct Flags {
    /// Export one node_rapl_joules_total with the domain in a rapl_zone label.
    #[arg(id = "collector.rapl.enable-zone-label", long = "collector.rapl.enable-zone-label")]
    zone_label: bool,
}

/// The `rapl` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "rapl",
    enabled_by_default: true,
    help: "RAPL energy counters from powercap (node_rapl_*_joules_total)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Rapl {
            paths: c.paths.clone(),
            zone_label: flags.zone_label,
        }))
    },
};

/// The rapl collector.
pub struct Rapl {
    paths: HostPaths,
    zone_label: bool,
}

/// A zone's name and index as procfs derives them: `package-0` is `package` index 0; other
/// names count up per name in directory order.
fn index_and_name(seen: &[(String, usize)], name: &str) -> (usize, String) {
    if let Some((base, n)) = name.split_once('-') {
        if !n.contains('-') {
            if let Ok(i) = n.parse::<usize>() {
                return (i, base.to_string());
            }
        }
    }
    let i = seen
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, next)| *next);
    (i, name.to_string())
}

/// Replaces what a metric name cannot hold with `_`, as node_exporter's SanitizeMetricName.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect()
}

impl Collector for Rapl {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/powercap");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut zones: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        zones.sort();
        let mut seen: Vec<(String, usize)> = Vec::new();
        let mut families: Vec<MetricFamily> = Vec::new();
        for zone in zones {
            let path = dir.join(&zone);
            let Ok(name) = crate::paths::read_text(path.join("name")) else {
                continue;
            };
            let (index, name) = index_and_name(&seen, name.trim());
            match seen.iter_mut().find(|(n, _)| *n == name) {
                Some((_, next)) => *next = index + 1,
                None => seen.push((name.clone(), index + 1)),
            }
            let energy = match read_u64_file(path.join("energy_uj")) {
                Ok(v) => v,
                Err(Error::Read(e)) if e.source.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let joules = energy as f64 / 1e6;
            let shown = path.display().to_string();
            let (family, help) = if self.zone_label {
                ("node_rapl_joules".to_string(), "Current RAPL value in joules".to_string())
            } else {
                (
                    format!("node_rapl_{}_joules", sanitize(&name)),
                    format!("Current RAPL {name} value in joules"),
                )
            };
            let f = match families.iter_mut().position(|f| f.name == family) {
                Some(i) => families.get_mut(i),
                None => {
                    families.push(MetricFamily::counter(family, None, help));
                    families.last_mut()
                }
            };
            let Some(f) = f else { continue };
            if self.zone_label {
                f.push(
                    [
                        ("index", index.to_string()),
                        ("path", shown),
                        ("rapl_zone", name),
                    ],
                    joules,
                );
            } else {
                f.push([("index", index.to_string()), ("path", shown)], joules);
            }
        }
        out.extend(families);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn zone_names_and_indexes_follow_procfs() {
        let mut seen = Vec::new();
        assert_eq!(super::index_and_name(&seen, "package-0"), (0, "package".into()));
        assert_eq!(super::index_and_name(&seen, "core"), (0, "core".into()));
        seen.push(("core".into(), 1));
        assert_eq!(super::index_and_name(&seen, "core"), (1, "core".into()));
        assert_eq!(super::sanitize("a-b.c"), "a_b_c");
    }
}
