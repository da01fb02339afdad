//! `conntrack`: the netfilter connection table, as node_exporter's conntrack collector:
//! `node_nf_conntrack_entries` and `_entries_limit` from `/proc/sys/net/netfilter/`, and the
//! `node_nf_conntrack_stat_*` counters of `/proc/net/stat/nf_conntrack`, summed over CPUs (gauges,
//! as node_exporter types them). A host without the conntrack module has none of these files:
//! the collector succeeds with no series.

use std::sync::Arc;

use crate::collector::{read_u64_kept, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// `/proc/net/stat/nf_conntrack` columns node_exporter reports, with their help.
const STATS: [(&str, &str); 8] = [
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    (
        "ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    ("insert", "Number of entries inserted into the list."),
    (
        "insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    ("drop", "Number of packets dropped due to conntrack failure."),
    (
        "early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

/// The conntrack collector.
pub struct Conntrack {
    paths: HostPaths,
}

/// Each [`STATS`] column summed over the per-CPU rows (hexadecimal).
fn stat_sums(text: &str, path: &std::path::Path) -> Result<[u64; STATS.len()], Error> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error::parse(path.to_path_buf(), "empty"))?
        .split_ascii_whitespace()
        .collect();
    let columns: Vec<Option<usize>> = STATS
        .iter()
        .map(|(name, _)| header.iter().position(|h| h == name))
        .collect();
    let mut sums = [0u64; STATS.len()];
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        for (sum, column) in sums.iter_mut().zip(&columns) {
            let Some(field) = column.and_then(|c| fields.get(c)) else {
                continue;
            };
            let v = u64::from_str_radix(field, 16).map_err(|_| {
                Error::parse(path.to_path_buf(), format!("{field:?} is not hexadecimal"))
            })?;
            *sum = sum.saturating_add(v);
        }
    }
    Ok(sums)
}

impl Collector for Conntrack {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let absent = |e: &Error| {
            matches!(e, Error::Read(r) if r.source.kind() == std::io::ErrorKind::NotFound)
        };
        let entries = match read_u64_kept(self.paths.proc("sys/net/netfilter/nf_conntrack_count")) {
            Err(e) if absent(&e) => return Ok(()),
            other => other?,
        };
        let limit = read_u64_kept(self.paths.proc("sys/net/netfilter/nf_conntrack_max"))?;
        out.push(
            MetricFamily::gauge(
                "node_nf_conntrack_entries",
                None,
                "Number of currently allocated flow entries for connection tracking.",
            )
            .with([], entries),
        );
        out.push(
            MetricFamily::gauge(
                "node_nf_conntrack_entries_limit",
                None,
                "Maximum size of connection tracking table.",
            )
            .with([], limit),
        );
        let path = self.paths.proc("net/stat/nf_conntrack");
        let text = match crate::paths::read_kept(path.clone()) {
            Ok(t) => t,
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for ((name, help), v) in STATS.iter().zip(stat_sums(&text, &path)?) {
            out.push(
                MetricFamily::gauge(format!("node_nf_conntrack_stat_{name}"), None, *help)
                    .with([], v),
            );
        }
        Ok(())
    }
}

/// The `conntrack` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "conntrack",
    enabled_by_default: true,
    help: "The netfilter connection table (node_nf_conntrack_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Conntrack {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_rows_are_summed_by_column_name() {
        let p = std::path::Path::new("/proc/net/stat/nf_conntrack");
        let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
00000251  00000000 00000001 00000000 0000000a 00000000 00000000 00000000 00000002 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000003\n\
00000251  00000000 00000001 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n";
        // found, invalid, ignore, insert, insert_failed, drop, early_drop, search_restart
        assert_eq!(stat_sums(text, p).unwrap(), [2, 11, 0, 2, 0, 0, 0, 3]);
        assert!(stat_sums("found\nzz\n", p).is_err());
    }
}
