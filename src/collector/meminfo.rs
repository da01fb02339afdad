//! `meminfo`: every field of `/proc/meminfo` as `node_memory_<Field>_bytes` (or without `_bytes`
//! for the unitless HugePages counts), named exactly as node_exporter names them. [`read`] is
//! the typed read that `/health`'s memory and swap checks use too.

use std::sync::Arc;

use std::borrow::Cow;

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// One field of `/proc/meminfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The kernel's name: `MemTotal`, `Active(anon)`.
    pub key: String,
    /// In bytes for the fields the kernel gives in kB; a count for the others.
    pub value: u64,
    pub in_bytes: bool,
}

/// `/proc/meminfo`, in the kernel's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    pub fields: Vec<Field>,
}

impl Memory {
    /// A field's value in bytes (`MemTotal`, `MemAvailable`, `SwapFree`, ...).
    pub fn bytes(&self, key: &str) -> Option<u64> {
        self.fields
            .iter()
            .find(|f| f.key == key && f.in_bytes)
            .map(|f| f.value)
    }
}

/// Reads and parses `/proc/meminfo`.
pub fn read(paths: &HostPaths) -> Result<Memory, Error> {
    let path = paths.proc("meminfo");
    let text = crate::paths::read_kept(path.clone())?;
    let mut fields = Vec::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(value) = parts.next() else { continue };
        let value: u64 = value
            .parse()
            .map_err(|_| Error::parse(path.clone(), format!("{key}: {value:?} is not a number")))?;
        let in_bytes = parts.next() == Some("kB");
        fields.push(Field {
            key: key.trim().to_string(),
            value: if in_bytes {
                value.saturating_mul(1024)
            } else {
                value
            },
            in_bytes,
        });
    }
    if fields.is_empty() {
        return Err(Error::parse(path, "no fields"));
    }
    Ok(Memory { fields })
}

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
        for f in read(&self.paths)?.fields {
            // "Active(anon)" becomes "Active_anon", as in node_exporter.
            let field = f.key.replace('(', "_").replace(')', "");
            let name: Cow<'static, str> = format!("node_memory_{field}").into();
            out.push(if f.in_bytes {
                MetricFamily::gauge(
                    name,
                    Some(Unit::Bytes),
                    format!("Memory information field {field}_bytes."),
                )
                .with([], f.value)
            } else {
                MetricFamily::gauge(name, None, format!("Memory information field {field}."))
                    .with([], f.value)
            });
        }
        Ok(())
    }
}

/// The `meminfo` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "meminfo",
    enabled_by_default: true,
    help: "Memory from /proc/meminfo (node_memory_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Meminfo::new(c.paths.clone())))
    },
};
