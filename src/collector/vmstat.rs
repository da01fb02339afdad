//! `vmstat`: kernel VM event counters from `/proc/vmstat` as `node_vmstat_<field>`, untyped as
//! node_exporter has them, with node_exporter's default field selection
//! (`^(oom_kill|pgpg|pswp|pg.*fault).*`): OOM kills, paging, swapping and page faults. The rules
//! alert on `node_vmstat_oom_kill`.

use std::borrow::Cow;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// node_exporter's default `--collector.vmstat.fields`.
pub const DEFAULT_FIELDS: &str = r"^(oom_kill|pgpg|pswp|pg.*fault).*";

/// The vmstat collector.
pub struct Vmstat {
    paths: HostPaths,
    fields: Regex,
    /// Per field: its family's name and help when the filter keeps it, `None` when it does not.
    kept: crate::collector::PerKey<Option<(Cow<'static, str>, Cow<'static, str>)>>,
}

impl Vmstat {
    pub fn new(paths: HostPaths) -> Self {
        Self {
            paths,
            // A constant, compiled by the unit test below.
            #[allow(clippy::expect_used)]
            fields: Regex::new(DEFAULT_FIELDS).expect("a constant the unit test compiles"),
            kept: Default::default(),
        }
    }
}

impl Collector for Vmstat {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("vmstat");
        let text = crate::paths::read_kept(path.clone())?;
        let mut any = false;
        for line in text.lines() {
            let Some((field, value)) = line.split_once(' ') else {
                continue;
            };
            any = true;
            let names = |keep: fn(String) -> Cow<'static, str>| {
                (
                    keep(format!("node_vmstat_{field}")),
                    keep(format!("/proc/vmstat information field {field}.")),
                )
            };
            let kept = self.kept.get(field, || {
                self.fields
                    .is_match(field)
                    .then(|| names(|s| crate::collector::forever(s).into()))
            });
            let (name, help) = match kept {
                Some(Some(names)) => names,
                Some(None) => continue,
                // Past the cap: decided and named afresh.
                None if self.fields.is_match(field) => names(Cow::Owned),
                None => continue,
            };
            let value: u64 = value.trim().parse().map_err(|_| {
                Error::parse(path.clone(), format!("{field}: {value:?} is not a number"))
            })?;
            out.push(
                MetricFamily::untyped(name, help)
                .with([], value),
            );
        }
        if !any {
            return Err(Error::parse(path, "no fields"));
        }
        Ok(())
    }
}

/// The `vmstat` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "vmstat",
    enabled_by_default: true,
    help: "VM events from /proc/vmstat: OOM kills, paging, swapping, faults (node_vmstat_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Vmstat::new(c.paths.clone())))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_node_exporters_default_fields() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::create_dir_all(dir.path().join("sys")).unwrap();
        std::fs::write(
            dir.path().join("proc/vmstat"),
            "nr_free_pages 100\npgpgin 7\npswpout 3\npgfault 11\npgmajfault 2\noom_kill 1\nnuma_hit 5\n",
        )
        .unwrap();
        let paths =
            HostPaths::new(dir.path().join("proc"), dir.path().join("sys"), "/".into()).unwrap();
        let mut out = Vec::new();
        Vmstat::new(paths.clone()).collect(&mut out).unwrap();
        let names: Vec<_> = out.iter().map(|f| f.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_pgpgin",
                "node_vmstat_pswpout",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_oom_kill"
            ]
        );
        std::fs::write(dir.path().join("proc/vmstat"), "oom_kill x\n").unwrap();
        let err = Vmstat::new(paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("oom_kill"), "{err}");
    }
}
