//! `bonding`: bonded interfaces from `/sys/class/net/bonding_masters`, as node_exporter 1.5's
//! bonding collector: `node_bonding_slaves{master}` (configured) and `node_bonding_active{master}`
//! (slaves whose MII status is up), so an alert sees a bond running on fewer links. A host
//! without bonds gives no series.

use std::sync::Arc;

use crate::collector::{read_optional, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The bonding collector.
pub struct Bonding {
    paths: HostPaths,
}

impl Collector for Bonding {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let root = self.paths.sys("class/net");
        let Some(masters) = read_optional(root.join("bonding_masters"))? else {
            return Ok(());
        };
        let mut slaves_f = MetricFamily::gauge(
            "node_bonding_slaves",
            None,
            "Number of configured slaves per bonding interface.",
        );
        let mut active_f = MetricFamily::gauge(
            "node_bonding_active",
            None,
            "Number of active slaves per bonding interface.",
        );
        for master in masters.split_whitespace() {
            let slaves = crate::paths::read(root.join(master).join("bonding/slaves"))?;
            let (mut total, mut up) = (0u64, 0u64);
            for slave in slaves.split_whitespace() {
                let lower = root
                    .join(master)
                    .join(format!("lower_{slave}"))
                    .join("bonding_slave/mii_status");
                let state = match read_optional(lower)? {
                    Some(state) => state,
                    None => crate::paths::read(
                        root.join(master)
                            .join(format!("slave_{slave}"))
                            .join("bonding_slave/mii_status"),
                    )?,
                };
                total += 1;
                if state.trim() == "up" {
                    up += 1;
                }
            }
            slaves_f.push([("master", master.to_string())], total);
            active_f.push([("master", master.to_string())], up);
        }
        out.extend([slaves_f, active_f]);
        Ok(())
    }
}

/// The `bonding` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "bonding",
    enabled_by_default: true,
    help: "Bonded interfaces' configured and active slaves (node_bonding_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Bonding {
            paths: c.paths.clone(),
        }))
    },
};
