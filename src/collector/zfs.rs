//! `zfs`: ZFS on Linux kstats from `/proc/spl/kstat/zfs`, as node_exporter 1.5's zfs collector:
//!
//! - `node_zfs_<subsystem>_<kstat>` (untyped, no labels) for every 64-bit integer kstat of
//!   `abdstats`, `arcstats`, `dbuf_stats`, `dmu_tx`, `dnodestats`, `fm`, `vdev_cache_stats`,
//!   `vdev_mirror_stats`, `xuio_stats`, `zfetchstats` and `zil`, a `-` in the kstat's name
//!   written `_`; the help is the kstat's sysctl name (`kstat.zfs.misc.arcstats.hits`);
//! - `node_zfs_zpool_<field>{zpool}` from each pool's `io`;
//! - `node_zfs_zpool_dataset_<kstat>{zpool,dataset}` from each pool's `objset-*`;
//! - `node_zfs_zpool_state{zpool,state}`, 1 for the pool's state of online, degraded, faulted,
//!   offline, removed and unavail.
//!
//! A host without ZFS gives no series. A kstat name with a character a metric name cannot hold
//! has it written `_` (node_exporter would fail the scrape); a kstat repeated in one file keeps
//! its first value.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::collector::{read_optional, Collector, Error};
use crate::metric::{Label, MetricFamily};
use crate::paths::HostPaths;

/// The zfs collector.
pub struct Zfs {
    paths: HostPaths,
}

/// (metric subsystem, kstat file).
const KSTATS: &[(&str, &str)] = &[
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbuf_stats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

const POOL_STATES: &[&str] = &["online", "degraded", "faulted", "offline", "removed", "unavail"];

/// The kstat data type of an unsigned 64-bit integer.
const KSTAT_DATA_UINT64: &str = "4";

/// A kstat's name as a metric name's last part.
fn metric_part(kstat: &str) -> String {
    kstat
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn number(key: &str, word: &str) -> Result<u64, String> {
    word.parse()
        .map_err(|_| format!("could not parse expected integer value for {key:?}: {word:?}"))
}

/// A named kstat file (`name type data` and then a line per kstat): each 64-bit integer kstat
/// with the current `dataset_name` (objset files have one) or `None`.
fn parse_kstats(text: &str, file: &str) -> Result<Vec<(Option<String>, String, u64)>, String> {
    let mut lines = text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>());
    if !lines.any(|p| p == ["name", "type", "data"]) {
        return Err(format!("did not parse a single {file:?} metric"));
    }
    let mut dataset = None;
    let mut out = Vec::new();
    for parts in lines {
        let [name, kind, data, ..] = parts.as_slice() else {
            continue;
        };
        if *name == "dataset_name" {
            dataset = Some(data.to_string());
        } else if *kind == KSTAT_DATA_UINT64 {
            let key = format!("kstat.zfs.misc.{file}.{name}");
            out.push((dataset.clone(), name.to_string(), number(&key, data)?));
        }
    }
    Ok(out)
}

/// A pool's `io`: a header line from `nread` (12 fields or more), then lines of values.
fn parse_pool_io(text: &str) -> Result<Vec<(String, u64)>, String> {
    let mut lines = text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>());
    let Some(header) = lines.find(|p| p.len() >= 12 && p.first() == Some(&"nread")) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for values in lines.filter(|p| !p.is_empty()) {
        if values.len() < header.len() {
            return Err(format!("{} values for {} fields", values.len(), header.len()));
        }
        for (field, word) in header.iter().zip(values) {
            out.push((field.to_string(), number(&format!("kstat.zfs.misc.io.{field}"), word)?));
        }
    }
    Ok(out)
}

/// Families by name, each series added once.
#[derive(Default)]
struct Families(BTreeMap<String, MetricFamily>);

impl Families {
    fn add(&mut self, name: String, help: String, labels: Vec<Label>, value: u64, gauge: bool) {
        let family = self.0.entry(name).or_insert_with_key(|name| {
            if gauge {
                MetricFamily::gauge(name.clone(), None, help)
            } else {
                MetricFamily::untyped(name.clone(), help)
            }
        });
        if !family.samples.iter().any(|s| s.labels == labels) {
            family.push_labels(labels, value);
        }
    }
}

/// The directories under `dir`, sorted, as a glob lists them.
fn subdirs(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

impl Collector for Zfs {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let base = self.paths.proc("spl/kstat/zfs");
        if !base.is_dir() {
            return Ok(());
        }
        let mut families = Families::default();
        for (subsystem, file) in KSTATS {
            let path = base.join(file);
            let Some(text) = read_optional(path.clone())? else {
                continue;
            };
            for (_, kstat, value) in
                parse_kstats(&text, file).map_err(|reason| Error::parse(path.clone(), reason))?
            {
                let name = format!("node_{subsystem}_{}", metric_part(&kstat));
                families.add(name, format!("kstat.zfs.misc.{file}.{kstat}"), vec![], value, false);
            }
        }
        for pool in subdirs(&base) {
            let dir = base.join(&pool);
            let zpool = || ("zpool".into(), pool.clone().into());
            if let Some(text) = read_optional(dir.join("io"))? {
                let fields =
                    parse_pool_io(&text).map_err(|reason| Error::parse(dir.join("io"), reason))?;
                for (field, value) in fields {
                    let name = format!("node_zfs_zpool_{}", metric_part(&field));
                    let help = format!("kstat.zfs.misc.io.{field}");
                    families.add(name, help, vec![zpool()], value, false);
                }
            }
            let mut objsets: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("objset-"))
                .collect();
            objsets.sort();
            for objset in objsets {
                let path = dir.join(&objset);
                let Some(text) = read_optional(path.clone())? else {
                    continue;
                };
                let kstats = parse_kstats(&text, "objset")
                    .map_err(|reason| Error::parse(path.clone(), reason))?;
                for (dataset, kstat, value) in kstats {
                    let name = format!("node_zfs_zpool_dataset_{}", metric_part(&kstat));
                    let help = format!("kstat.zfs.misc.objset.{kstat}");
                    let labels = vec![zpool(), ("dataset".into(), dataset.unwrap_or_default().into())];
                    families.add(name, help, labels, value, false);
                }
            }
            if let Some(text) = read_optional(dir.join("state"))? {
                let state = text.lines().next().unwrap_or("").to_lowercase();
                for s in POOL_STATES {
                    let labels = vec![zpool(), ("state".into(), s.to_string().into())];
                    let help = "kstat.zfs.misc.state".to_string();
                    let name = "node_zfs_zpool_state".to_string();
                    families.add(name, help, labels, u64::from(state == *s), true);
                }
            }
        }
        out.extend(families.0.into_values());
        Ok(())
    }
}

/// The `zfs` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "zfs",
    enabled_by_default: true,
    help: "ZFS kstats, pool I/O, datasets and states (node_zfs_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Zfs {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn reads_only_integer_kstats_after_the_header() {
        let text = "6 1 0x01 91 4368 5266997922 97951858082072\nname type data\nhits 4 12\nc_min 4 3\nlabel 7 x\n";
        let v = super::parse_kstats(text, "arcstats").unwrap();
        assert_eq!(v.iter().map(|(_, k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), [("hits", 12), ("c_min", 3)]);
        assert!(super::parse_kstats("hits 4 12\n", "arcstats").is_err());
        assert!(super::parse_kstats("name type data\nhits 4 x\n", "arcstats").is_err());
        assert_eq!(super::metric_part("erpt-dropped"), "erpt_dropped");
    }

    #[test]
    fn pool_io_values_follow_the_header() {
        let head = "nread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n";
        let v = super::parse_pool_io(&format!("12 3 0x00\n{head}1 2 3 4 5 6 7 8 9 10 11 12\n")).unwrap();
        assert_eq!(v.len(), 12);
        assert_eq!(v[1], ("nwritten".to_string(), 2));
        assert!(super::parse_pool_io(&format!("{head}1 2 3\n")).is_err());
    }
}
