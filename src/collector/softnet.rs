//! `softnet`: per-CPU packet processing from `/proc/net/softnet_stat`, as node_exporter 1.5's
//! softnet collector: `node_softnet_{processed,dropped,times_squeezed}_total{cpu}`, the first
//! three (hexadecimal) columns, `cpu` being the line's index.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The softnet collector.
pub struct Softnet {
    paths: HostPaths,
}

/// (processed, dropped, times squeezed) per line.
fn parse(text: &str, path: &std::path::Path) -> Result<Vec<[u64; 3]>, Error> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut columns = line.split_ascii_whitespace();
        let mut row = [0u64; 3];
        for v in &mut row {
            let field = columns
                .next()
                .ok_or_else(|| Error::parse(path.to_path_buf(), "fewer than 3 columns"))?;
            *v = u64::from_str_radix(field, 16).map_err(|_| {
                Error::parse(path.to_path_buf(), format!("{field:?} is not hexadecimal"))
            })?;
        }
        out.push(row);
    }
    Ok(out)
}

impl Collector for Softnet {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("net/softnet_stat");
        let rows = parse(&crate::paths::read_kept(path.clone())?, &path)?;
        let mut families = [
            ("node_softnet_processed", "Number of processed packets"),
            ("node_softnet_dropped", "Number of dropped packets"),
            (
                "node_softnet_times_squeezed",
                "Number of times processing packets ran out of quota",
            ),
        ]
        .map(|(name, help)| MetricFamily::counter(name, None, help));
        for (cpu, row) in rows.iter().enumerate() {
            for (family, v) in families.iter_mut().zip(row) {
                family.push([("cpu", cpu.to_string())], *v);
            }
        }
        out.extend(families);
        Ok(())
    }
}

/// The `softnet` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "softnet",
    enabled_by_default: true,
    help: "Per-CPU packet processing (node_softnet_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Softnet {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_columns_per_line() {
        let p = std::path::Path::new("/proc/net/softnet_stat");
        let rows = parse(
            "000dfb82 00000029 0000000a 00000000\n00000001 00000000 00000002\n",
            p,
        )
        .unwrap();
        assert_eq!(rows, [[916354, 41, 10], [1, 0, 2]]);
        assert!(parse("00000001 00000000\n", p).is_err());
        assert!(parse("zz 0 0\n", p).is_err());
    }
}
