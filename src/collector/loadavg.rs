//! `loadavg`: the 1, 5 and 15 minute load averages from `/proc/loadavg` (`node_load1/5/15`).

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The loadavg collector.
pub struct Loadavg {
    paths: HostPaths,
}

impl Loadavg {
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }
}

impl Collector for Loadavg {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("loadavg");
        let text = crate::paths::read_kept(path.clone())?;
        let mut fields = text.split_ascii_whitespace();
        for (name, help) in [
            ("node_load1", "1m load average."),
            ("node_load5", "5m load average."),
            ("node_load15", "15m load average."),
        ] {
            let field = fields
                .next()
                .ok_or_else(|| Error::parse(path.clone(), "fewer than 3 fields"))?;
            let v: f64 = field
                .parse()
                .map_err(|_| Error::parse(path.clone(), format!("{field:?} is not a number")))?;
            out.push(MetricFamily::gauge(name, None, help).with([], v));
        }
        Ok(())
    }
}

/// The `loadavg` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "loadavg",
    enabled_by_default: true,
    help: "Load average (node_load1/5/15)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Loadavg::new(c.paths.clone())))
    },
};
