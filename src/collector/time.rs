//! `time`: the system clock (`node_time_seconds`), its time zone's offset
//! (`node_time_zone_offset_seconds{time_zone}`) and the kernel's clock sources from sysfs
//! (`node_time_clocksource_{available,current}_info`), as node_exporter's time collector.
//!
//! The zone is hale's own local zone (`TZ`, else `/etc/localtime`, else UTC), read once at
//! start, as Go reads it for node_exporter: in a container, mount the host's `/etc/localtime`
//! to report the host's.

use std::sync::Arc;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// The time collector.
pub struct Time {
    paths: HostPaths,
    zone: tz::TimeZone,
}

impl Time {
    pub fn new(paths: HostPaths) -> Self {
        Self {
            paths,
            zone: local_zone(std::env::var("TZ").ok().as_deref()),
        }
    }
}

/// The local zone as Go finds it: `TZ` unset, `/etc/localtime`; `TZ` empty, UTC; else the zone
/// file it names (or a POSIX TZ string); UTC when none of that can be read.
fn local_zone(tz_env: Option<&str>) -> tz::TimeZone {
    let zone = match tz_env {
        None => tz::TimeZone::local(),
        Some("") => Ok(utc()),
        Some(name) => tz::TimeZone::from_posix_tz(&format!(":{}", name.trim_start_matches(':')))
            .or_else(|_| tz::TimeZone::from_posix_tz(name)),
    };
    zone.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "time: no local time zone; reporting UTC");
        utc()
    })
}

/// UTC, named "UTC" as Go names it (tz-rs's own UTC has no abbreviation).
fn utc() -> tz::TimeZone {
    tz::TimeZone::from_posix_tz("UTC0").unwrap_or_else(|_| tz::TimeZone::utc())
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
        if let Ok(local) = self.zone.find_current_local_time_type() {
            out.push(
                MetricFamily::gauge(
                    "node_time_zone_offset",
                    Some(Unit::Seconds),
                    "System time zone offset in seconds.",
                )
                .with(
                    [("time_zone", local.time_zone_designation().to_string())],
                    f64::from(local.ut_offset()),
                ),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_comes_from_tz_as_go_reads_it() {
        let offset = |tz: Option<&str>| {
            let zone = local_zone(tz);
            let t = zone.find_current_local_time_type().unwrap();
            (t.time_zone_designation().to_string(), t.ut_offset())
        };
        assert_eq!(offset(Some("")), ("UTC".into(), 0));
        assert_eq!(offset(Some("no/such/zone")), ("UTC".into(), 0));
        // A POSIX TZ string: five hours behind, no daylight saving.
        assert_eq!(offset(Some("EST5")), ("EST".into(), -5 * 3600));
        let berlin = offset(Some("Europe/Berlin"));
        assert!(
            berlin == ("CET".into(), 3600) || berlin == ("CEST".into(), 7200),
            "{berlin:?}"
        );
    }
}
