//! `bcache`: bcache cache sets from `/sys/fs/bcache/<uuid>/`, as node_exporter 1.5's bcache
//! collector: the set's btree and journal figures `node_bcache_*{uuid}`, each backing device's
//! dirty data, writeback rate and lifetime hit statistics `{uuid,backing_device}`, and each
//! cache device's errors and bytes written `{uuid,cache_device}`;
//! `--collector.bcache.priorityStats` (off, as the kernel walks every bucket to answer it) adds
//! `node_bcache_priority_stats_{unused,metadata}_percent`.
//!
//! Values are read as the kernel prints them (`20.4G`, `1.1M/sec`, `-427.5k`) the way procfs
//! reads them, its fraction rule included (`.4` of a unit is 4/10.24), so values match
//! node_exporter's. `node_bcache_btree_read_average_duration_seconds` is, as in node_exporter,
//! the kernel's microseconds times 1e-9. A host without bcache gives no series.

use std::path::Path;
use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::{HostPaths, ReadError};

/// The `bcache` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.bcache.flags")]
pub struct Flags {
    /// Expose expensive priority stats.
    #[arg(id = "collector.bcache.priorityStats", long = "collector.bcache.priorityStats")]
    priority_stats: bool,
}

/// The `bcache` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "bcache",
    enabled_by_default: true,
    help: "bcache cache sets, backing and cache devices (node_bcache_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Bcache {
            paths: c.paths.clone(),
            priority_stats: flags.priority_stats,
        }))
    },
};

/// The bcache collector.
pub struct Bcache {
    paths: HostPaths,
    priority_stats: bool,
}

/// `12.3` as procfs reads the kernel's one-decimal figures: the fraction's digits over 10.24.
fn pseudo_float(s: &str) -> Option<f64> {
    let mut parts = s.split('.');
    let int: f64 = parts.next()?.parse().ok()?;
    match parts.next() {
        None => Some(int),
        Some(frac) => Some(int + frac.parse::<f64>().ok()? / 10.24),
    }
}

/// A kernel "human" figure (`20.4G`, `512`, `1.1k`) in units.
fn dehumanize(s: &str) -> Result<u64, String> {
    let last = s.bytes().last().ok_or("zero-length reply")?;
    let value = if last > b'9' {
        let mul = match last {
            b'k' => 1u64 << 10,
            b'M' => 1 << 20,
            b'G' => 1 << 30,
            b'T' => 1 << 40,
            b'P' => 1 << 50,
            b'E' => 1 << 60,
            // Z and Y do not fit 64 bits; an unknown suffix is 0, as procfs has it.
            _ => 0,
        } as f64;
        let mant = s.get(..s.len() - 1).and_then(pseudo_float);
        mant.ok_or_else(|| format!("{s:?} is not a number"))? * mul
    } else {
        s.parse::<f64>().map_err(|_| format!("{s:?} is not a number"))?
    };
    Ok(value as u64)
}

fn dehumanize_signed(s: &str) -> Result<f64, String> {
    match s.strip_prefix('-') {
        Some(rest) => Ok(-(dehumanize(rest)? as f64)),
        None => Ok(dehumanize(s)? as f64),
    }
}

/// A one-value file; absent is 0, as procfs reads it.
fn value(path: &Path) -> Result<u64, Error> {
    let text = match crate::paths::read_text(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(ReadError {
                path: path.to_path_buf(),
                source,
            }
            .into())
        }
    };
    let text = text.strip_suffix('\n').unwrap_or(&text);
    dehumanize(text).map_err(|reason| Error::parse(path.to_path_buf(), reason))
}

/// The last field of the line starting with `key` in a `name: value` file, its `suffix` cut.
fn field<'a>(text: &'a str, key: &str, suffix: &str) -> Option<&'a str> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let last = line.split_whitespace().last()?;
    Some(last.strip_suffix(suffix).unwrap_or(last))
}

/// `writeback_rate_debug`: (rate, target, proportional, integral, change).
fn writeback(text: &str) -> Result<[f64; 5], String> {
    let unsigned = |key, suffix| field(text, key, suffix).map_or(Ok(0.0), |v| dehumanize(v).map(|v| v as f64));
    let signed = |key, suffix| field(text, key, suffix).map_or(Ok(0.0), dehumanize_signed);
    Ok([
        unsigned("rate:", "/sec")?,
        unsigned("target:", "")?,
        signed("proportional:", "")?,
        signed("integral:", "")?,
        signed("change:", "/sec")?,
    ])
}

/// `priority_stats`: (unused, metadata) percent.
fn priority(text: &str) -> Result<[u64; 2], String> {
    let pct = |key| {
        field(text, key, "%").map_or(Ok(0), |v| v.parse::<u64>().map_err(|_| format!("{key} {v:?}")))
    };
    Ok([pct("Unused:")?, pct("Metadata:")?])
}

/// The entries of `dir` named `<prefix><digit>...`, sorted.
fn numbered_entries(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.strip_prefix(prefix).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())))
        .collect();
    names.sort();
    names
}

/// (file, metric name without unit and `_total`, unit, counter?, help).
type Field = (&'static str, &'static str, Option<Unit>, bool, &'static str);

#[rustfmt::skip]
const SET: &[Field] = &[
    ("average_key_size", "node_bcache_average_key_size_sectors", None, false, "Average data per key in the btree (sectors)."),
    ("btree_cache_size", "node_bcache_btree_cache_size", Some(Unit::Bytes), false, "Amount of memory currently used by the btree cache."),
    ("cache_available_percent", "node_bcache_cache_available_percent", None, false, "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data)."),
    ("congested", "node_bcache_congested", None, false, "Congestion."),
    ("root_usage_percent", "node_bcache_root_usage_percent", None, false, "Percentage of the root btree node in use (tree depth increases if too high)."),
    ("tree_depth", "node_bcache_tree_depth", None, false, "Depth of the btree."),
    ("internal/active_journal_entries", "node_bcache_active_journal_entries", None, false, "Number of journal entries that are newer than the index."),
    ("internal/btree_nodes", "node_bcache_btree_nodes", None, false, "Total nodes in the btree."),
    ("internal/btree_read_average_duration_us", "node_bcache_btree_read_average_duration", Some(Unit::Seconds), false, "Average btree read duration."),
    ("internal/cache_read_races", "node_bcache_cache_read_races", None, true, "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed."),
];

#[rustfmt::skip]
const PERIOD: &[Field] = &[
    ("bypassed", "node_bcache_bypassed", Some(Unit::Bytes), true, "Amount of IO (both reads and writes) that has bypassed the cache."),
    ("cache_hits", "node_bcache_cache_hits", None, true, "Hits counted per individual IO as bcache sees them."),
    ("cache_misses", "node_bcache_cache_misses", None, true, "Misses counted per individual IO as bcache sees them."),
    ("cache_bypass_hits", "node_bcache_cache_bypass_hits", None, true, "Hits for IO intended to skip the cache."),
    ("cache_bypass_misses", "node_bcache_cache_bypass_misses", None, true, "Misses for IO intended to skip the cache."),
    ("cache_miss_collisions", "node_bcache_cache_miss_collisions", None, true, "Instances where data insertion from cache miss raced with write (data already present)."),
    ("cache_readaheads", "node_bcache_cache_readaheads", None, true, "Count of times readahead occurred."),
];

#[rustfmt::skip]
const WRITEBACK: &[(&str, Option<Unit>, &str)] = &[
    ("node_bcache_writeback_rate", None, "Current writeback rate for this backing device in bytes."),
    ("node_bcache_dirty_target", Some(Unit::Bytes), "Current dirty data target threshold for this backing device in bytes."),
    ("node_bcache_writeback_rate_proportional_term", None, "Current result of proportional controller, part of writeback rate"),
    ("node_bcache_writeback_rate_integral_term", None, "Current result of integral controller, part of writeback rate"),
    ("node_bcache_writeback_change", None, "Last writeback rate change step for this backing device."),
];

#[rustfmt::skip]
const CACHE: &[Field] = &[
    ("io_errors", "node_bcache_io_errors", None, false, "Number of errors that have occurred, decayed by io_error_halflife."),
    ("metadata_written", "node_bcache_metadata_written", Some(Unit::Bytes), true, "Sum of all non data writes (btree writes and all other metadata)."),
    ("written", "node_bcache_written", Some(Unit::Bytes), true, "Sum of all data that has been written to the cache."),
];

fn families(fields: &[Field]) -> Vec<MetricFamily> {
    fields
        .iter()
        .map(|(_, name, unit, counter, help)| {
            if *counter {
                MetricFamily::counter(*name, unit.clone(), *help)
            } else {
                MetricFamily::gauge(*name, unit.clone(), *help)
            }
        })
        .collect()
}

fn read_text(path: &Path) -> Result<String, Error> {
    Ok(crate::paths::read(path.to_path_buf())?)
}

impl Collector for Bcache {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let base = self.paths.sys("fs/bcache");
        let Ok(entries) = std::fs::read_dir(&base) else {
            return Ok(());
        };
        let mut sets: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.contains('-'))
            .collect();
        sets.sort();
        let (mut set_f, mut period_f, mut cache_f) = (families(SET), families(PERIOD), families(CACHE));
        let mut dirty = MetricFamily::gauge(
            "node_bcache_dirty_data",
            Some(Unit::Bytes),
            "Amount of dirty data for this backing device in the cache.",
        );
        let mut writeback_f: Vec<MetricFamily> =
            WRITEBACK.iter().map(|(n, u, h)| MetricFamily::gauge(*n, u.clone(), *h)).collect();
        let mut priority_f = [
            MetricFamily::gauge("node_bcache_priority_stats_unused_percent", None, "The percentage of the cache that doesn't contain any data."),
            MetricFamily::gauge("node_bcache_priority_stats_metadata_percent", None, "Bcache's metadata overhead."),
        ];
        for uuid in sets {
            let dir = base.join(&uuid);
            for ((file, ..), family) in SET.iter().zip(set_f.iter_mut()) {
                let v = value(&dir.join(file))?;
                if file.ends_with("_us") {
                    family.push([("uuid", uuid.clone())], v as f64 * 1e-9);
                } else {
                    family.push([("uuid", uuid.clone())], v);
                }
            }
            for bdev in numbered_entries(&dir, "bdev") {
                let d = dir.join(&bdev);
                let l = || [("uuid", uuid.clone()), ("backing_device", bdev.clone())];
                dirty.push(l(), value(&d.join("dirty_data"))?);
                let path = d.join("writeback_rate_debug");
                let wb = writeback(&read_text(&path)?).map_err(|r| Error::parse(path, r))?;
                for (family, v) in writeback_f.iter_mut().zip(wb) {
                    family.push(l(), v);
                }
                for ((file, ..), family) in PERIOD.iter().zip(period_f.iter_mut()) {
                    family.push(l(), value(&d.join("stats_total").join(file))?);
                }
            }
            for cache in numbered_entries(&dir, "cache") {
                let d = dir.join(&cache);
                let l = || [("uuid", uuid.clone()), ("cache_device", cache.clone())];
                for ((file, ..), family) in CACHE.iter().zip(cache_f.iter_mut()) {
                    family.push(l(), value(&d.join(file))?);
                }
                if self.priority_stats {
                    let path = d.join("priority_stats");
                    let p = priority(&read_text(&path)?).map_err(|r| Error::parse(path, r))?;
                    for (family, v) in priority_f.iter_mut().zip(p) {
                        family.push(l(), v);
                    }
                }
            }
        }
        out.extend(set_f);
        out.push(dirty);
        out.extend(writeback_f);
        out.extend(period_f);
        out.extend(cache_f);
        out.extend(priority_f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_kernels_human_figures_as_procfs_does() {
        assert_eq!(super::dehumanize("512").unwrap(), 512);
        assert_eq!(super::dehumanize("1.1M").unwrap(), ((1.0 + 1.0 / 10.24) * 1048576.0) as u64);
        assert_eq!(super::dehumanize("20.4G").unwrap(), ((20.0 + 4.0 / 10.24) * 1073741824.0) as u64);
        assert_eq!(super::dehumanize_signed("-2k").unwrap(), -2048.0);
        assert!(super::dehumanize("").is_err());
        assert!(super::dehumanize("x.yk").is_err());
        let wb = super::writeback("rate:\t1.1M/sec\ntarget: 2k\nproportional: -1k\nintegral: 3\nchange: -2k/sec\nnext io: 17ms\n").unwrap();
        assert_eq!(wb[1..], [2048.0, -1024.0, 3.0, -2048.0]);
        assert_eq!(super::priority("Unused:\t\t99%\nMetadata:\t0%\n").unwrap(), [99, 0]);
    }
}
