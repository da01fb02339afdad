//! `meminfo`: every field of `/proc/meminfo` as `node_memory_<Field>_bytes` (or without `_bytes`
//! for the unitless HugePages counts), named exactly as node_exporter names them.

use std::borrow::Cow;

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// The meminfo collector.
pub struct Meminfo {
    paths: HostPaths,
}

impl Meminfo {
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }
}

impl Collector for Meminfo {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("meminfo");
        let text = crate::paths::read(path.clone())?;
        let before = out.len();
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let mut fields = rest.split_ascii_whitespace();
            let Some(value) = fields.next() else { continue };
            let value: u64 = value.parse().map_err(|_| {
                Error::parse(path.clone(), format!("{key}: {value:?} is not a number"))
            })?;
            // "Active(anon)" becomes "Active_anon", as in node_exporter.
            let field = key.trim().replace('(', "_").replace(')', "");
            let name: Cow<'static, str> = format!("node_memory_{field}").into();
            let family = match fields.next() {
                Some("kB") => MetricFamily::gauge(
                    name,
                    Some(Unit::Bytes),
                    format!("Memory information field {field}_bytes."),
                )
                .with([], value.saturating_mul(1024)),
                _ => MetricFamily::gauge(name, None, format!("Memory information field {field}."))
                    .with([], value),
            };
            out.push(family);
        }
        if out.len() == before {
            return Err(Error::parse(path, "no fields"));
        }
        Ok(())
    }
}
