//! `thermal_zone`: temperatures and cooling devices from `/sys/class/thermal`, as node_exporter
//! 1.5's thermal_zone collector: `node_thermal_zone_temp{zone,type}` (Celsius) and
//! `node_cooling_device_{cur,max}_state{name,type}`. A zone whose sensor has no reading
//! (`ENODATA`) is left out, as node_exporter does; so is a cooling device whose state cannot
//! be read (node_exporter fails the whole collector there; one odd device should not hide the
//! temperatures). A host without thermal zones (most VMs) gives no series.

use std::path::Path;
use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The thermal_zone collector.
pub struct ThermalZone {
    paths: HostPaths,
}

/// A sysfs attribute, trimmed; `None` when it cannot be read.
fn attr(dir: &Path, name: &str) -> Option<String> {
    crate::paths::read_text(dir.join(name))
        .ok()
        .map(|s| s.trim().to_string())
}

impl Collector for ThermalZone {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/thermal");
        let mut temp = MetricFamily::gauge(
            "node_thermal_zone_temp",
            None,
            "Zone temperature in Celsius",
        );
        for (zone, path) in crate::collector::numbered(&dir, "thermal_zone") {
            let Some(kind) = attr(&path, "type") else {
                continue;
            };
            let Some(millis) = attr(&path, "temp").and_then(|t| t.parse::<i64>().ok()) else {
                continue;
            };
            temp.push([("zone", zone), ("type", kind)], millis as f64 / 1000.0);
        }
        let mut cur = MetricFamily::gauge(
            "node_cooling_device_cur_state",
            None,
            "Current throttle state of the cooling device",
        );
        let mut max = MetricFamily::gauge(
            "node_cooling_device_max_state",
            None,
            "Maximum throttle state of the cooling device",
        );
        for (name, path) in crate::collector::numbered(&dir, "cooling_device") {
            let state = |f| attr(&path, f).and_then(|v| v.parse::<i64>().ok());
            let (Some(kind), Some(c), Some(m)) =
                (attr(&path, "type"), state("cur_state"), state("max_state"))
            else {
                continue;
            };
            cur.push([("name", name.clone()), ("type", kind.clone())], c as f64);
            max.push([("name", name), ("type", kind)], m as f64);
        }
        out.extend([temp, cur, max]);
        Ok(())
    }
}

/// The `thermal_zone` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "thermal_zone",
    enabled_by_default: true,
    help: "Thermal zone temperatures and cooling devices (node_thermal_zone_temp, node_cooling_device_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(ThermalZone {
            paths: c.paths.clone(),
        }))
    },
};
