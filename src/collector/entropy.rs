//! `entropy`: the kernel's random pool, from `/proc/sys/kernel/random/` (`entropy_avail`,
//! `poolsize`), as node_exporter's entropy collector: `node_entropy_available_bits`,
//! `node_entropy_pool_size_bits`.

use std::sync::Arc;

use crate::collector::{read_u64_kept, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The entropy collector.
pub struct Entropy {
    paths: HostPaths,
}

impl Collector for Entropy {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let avail = read_u64_kept(self.paths.proc("sys/kernel/random/entropy_avail"))?;
        let pool = read_u64_kept(self.paths.proc("sys/kernel/random/poolsize"))?;
        out.push(
            MetricFamily::gauge("node_entropy_available_bits", None, "Bits of available entropy.")
                .with([], avail),
        );
        out.push(
            MetricFamily::gauge("node_entropy_pool_size_bits", None, "Bits of entropy pool.")
                .with([], pool),
        );
        Ok(())
    }
}

/// The `entropy` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "entropy",
    enabled_by_default: true,
    help: "The kernel's entropy pool (node_entropy_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Entropy {
            paths: c.paths.clone(),
        }))
    },
};
