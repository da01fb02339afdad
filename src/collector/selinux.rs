//! `selinux`: whether SELinux is on, as node_exporter 1.5's selinux collector:
//! `node_selinux_enabled`, and when it is, `node_selinux_current_mode` (1 enforcing, 0
//! permissive, from `<sysfs>/fs/selinux/enforce`) and `node_selinux_config_mode` (from
//! `/etc/selinux/config` under `--path.rootfs`: 1 enforcing, 0 permissive, -1 disabled).

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The selinux collector.
pub struct Selinux {
    paths: HostPaths,
}

/// The mode `/etc/selinux/config` sets (`SELINUX=`), as libselinux reads it.
fn config_mode(text: &str) -> i64 {
    for line in text.lines() {
        if let Some(v) = line.trim().strip_prefix("SELINUX=") {
            return match v.trim().trim_matches('"').to_ascii_lowercase().as_str() {
                "enforcing" => 1,
                "permissive" => 0,
                _ => -1,
            };
        }
    }
    -1
}

impl Collector for Selinux {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let enforce = crate::paths::read_text(self.paths.sys("fs/selinux/enforce")).ok();
        let gauge = |name: &'static str, help: &'static str, v: i64| {
            MetricFamily::gauge(name, None, help).with([], v as f64)
        };
        let Some(enforce) = enforce else {
            out.push(
                MetricFamily::gauge(
                    "node_selinux_enabled",
                    None,
                    "SELinux is enabled, 1 is true, 0 is false",
                )
                .with([], 0u64),
            );
            return Ok(());
        };
        let current = i64::from(enforce.trim() == "1");
        let config = crate::paths::read_text(self.paths.rootfs_join("/etc/selinux/config"))
            .map(|t| config_mode(&t))
            .unwrap_or(-1);
        out.push(
            MetricFamily::gauge(
                "node_selinux_enabled",
                None,
                "SELinux is enabled, 1 is true, 0 is false",
            )
            .with([], 1u64),
        );
        out.push(gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            config,
        ));
        out.push(gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            current,
        ));
        Ok(())
    }
}

/// The `selinux` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "selinux",
    enabled_by_default: true,
    help: "Whether SELinux is enabled and enforcing (node_selinux_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Selinux {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn config_modes() {
        assert_eq!(super::config_mode("# c\nSELINUX=enforcing\n"), 1);
        assert_eq!(super::config_mode("SELINUX=permissive"), 0);
        assert_eq!(super::config_mode("SELINUX=disabled"), -1);
        assert_eq!(super::config_mode(""), -1);
    }
}
