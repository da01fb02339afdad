//! `time`: the system clock (`node_time_seconds`) and the kernel's clock sources from sysfs
//! (`node_time_clocksource_{available,current}_info`), as node_exporter's time collector.

use std::sync::Arc;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// The time collector.
pub struct Time {
    paths: HostPaths,
}

impl Time {
    pub fn new(paths: HostPaths) -> Self {
        Self { paths }
    }
}

impl Collector for Time {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| Error::Source(format!("system clock before 1970: {e}")))?;
        out.push(
            MetricFamily::gauge(
                "node_time",
                Some(Unit::Seconds),
                "System time in seconds since epoch (1970).",
            )
            .with([], now.as_secs_f64()),
        );
        let mut available = MetricFamily::info(
            "node_time_clocksource_available",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        );
        let mut current = MetricFamily::info(
            "node_time_clocksource_current",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        );
        // A host without the directory (some containers) simply has no clock source metrics.
        let dir = self.paths.sys("devices/system/clocksource");
        let mut devices: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| n.strip_prefix("clocksource").map(str::to_string))
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .collect(),
            Err(_) => Vec::new(),
        };
        devices.sort();
        for device in devices {
            let base = format!("devices/system/clocksource/clocksource{device}");
            if let Ok(list) = self
                .paths
                .read_sys(&format!("{base}/available_clocksource"))
            {
                for source in list.split_ascii_whitespace() {
                    available.push(
                        [
                            ("clocksource", source.to_string()),
                            ("device", device.clone()),
                        ],
                        1u64,
                    );
                }
            }
            if let Ok(source) = self.paths.read_sys(&format!("{base}/current_clocksource")) {
                current.push(
                    [
                        ("clocksource", source.trim().to_string()),
                        ("device", device.clone()),
                    ],
                    1u64,
                );
            }
        }
        out.push(available);
        out.push(current);
        Ok(())
    }
}

/// The `time` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "time",
    enabled_by_default: true,
    help: "System time and clock source (node_time_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Time::new(c.paths.clone())))
    },
};
