//! `meminfo`: every field of `/proc/meminfo` as `node_memory_<Field>_bytes` (or without `_bytes`
//! for the unitless HugePages counts), named exactly as node_exporter names them. [`read`] is
//! the typed read that `/health`'s memory and swap checks use too.

use std::sync::Arc;

use std::borrow::Cow;

use crate::collector::{forever, Collector, Error};
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
    /// Each field's family name and help, and whether the field was in kB when they were made.
    names: crate::collector::PerKey<(bool, &'static str, &'static str)>,
}

impl Meminfo {
    pub fn new(paths: HostPaths) -> Self {
        Self {
            paths,
            names: Default::default(),
        }
    }
}

impl Collector for Meminfo {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        for f in read(&self.paths)?.fields {
            let (name, help): (Cow<'static, str>, Cow<'static, str>) =
                match self.names.get(&f.key, || names(&f.key, f.in_bytes, forever)) {
                    Some((in_bytes, name, help)) if in_bytes == f.in_bytes => {
                        (name.into(), help.into())
                    }
                    // A field whose unit changed, or one past the cap: named afresh, not kept.
                    _ => {
                        let (_, name, help) = names(&f.key, f.in_bytes, String::from);
                        (name.into(), help.into())
                    }
                };
            let unit = f.in_bytes.then_some(Unit::Bytes);
            out.push(MetricFamily::gauge(name, unit, help).with([], f.value));
        }
        Ok(())
    }
}

/// A field's family name and help, as node_exporter names them: "Active(anon)" becomes
/// "node_memory_Active_anon" (and `_bytes` from the unit for a field in kB).
fn names<S>(key: &str, in_bytes: bool, keep: impl Fn(String) -> S) -> (bool, S, S) {
    let field = key.replace('(', "_").replace(')', "");
    let unit = if in_bytes { "_bytes" } else { "" };
    (
        in_bytes,
        keep(format!("node_memory_{field}")),
        keep(format!("Memory information field {field}{unit}.")),
    )
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
