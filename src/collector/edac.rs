//! `edac`: memory error counts from `/sys/devices/system/edac/mc/`, as node_exporter 1.5's
//! edac collector: `node_edac_{correctable,uncorrectable}_errors_total{controller}` and
//! `node_edac_csrow_{correctable,uncorrectable}_errors_total{controller,csrow}` (errors the
//! driver could not place on a row are `csrow="unknown"`). A host without EDAC gives no series.

use std::sync::Arc;

use crate::collector::{numbered, read_u64_file, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The edac collector.
pub struct Edac {
    paths: HostPaths,
}

impl Collector for Edac {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let counter = |name: &'static str, help: &'static str| MetricFamily::counter(name, None, help);
        let mut ce = counter(
            "node_edac_correctable_errors",
            "Total correctable memory errors.",
        );
        let mut ue = counter(
            "node_edac_uncorrectable_errors",
            "Total uncorrectable memory errors.",
        );
        let mut row_ce = counter(
            "node_edac_csrow_correctable_errors",
            "Total correctable memory errors for this csrow.",
        );
        let mut row_ue = counter(
            "node_edac_csrow_uncorrectable_errors",
            "Total uncorrectable memory errors for this csrow.",
        );
        for (mc, dir) in numbered(&self.paths.sys("devices/system/edac/mc"), "mc") {
            let controller = || ("controller", mc.clone());
            ce.push([controller()], read_u64_file(dir.join("ce_count"))?);
            row_ce.push(
                [controller(), ("csrow", "unknown".into())],
                read_u64_file(dir.join("ce_noinfo_count"))?,
            );
            ue.push([controller()], read_u64_file(dir.join("ue_count"))?);
            row_ue.push(
                [controller(), ("csrow", "unknown".into())],
                read_u64_file(dir.join("ue_noinfo_count"))?,
            );
            for (row, row_dir) in numbered(&dir, "csrow") {
                let labels = || [controller(), ("csrow", row.clone())];
                row_ce.push(labels(), read_u64_file(row_dir.join("ce_count"))?);
                row_ue.push(labels(), read_u64_file(row_dir.join("ue_count"))?);
            }
        }
        out.extend([ce, ue, row_ce, row_ue]);
        Ok(())
    }
}

/// The `edac` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "edac",
    enabled_by_default: true,
    help: "Memory error counts from EDAC (node_edac_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Edac {
            paths: c.paths.clone(),
        }))
    },
};
