//! `timex`: the kernel's clock discipline from `adjtimex(2)` (read only: `modes` 0), as
//! node_exporter 1.5's timex collector: `node_timex_sync_status` (0 when the kernel says
//! `TIME_ERROR`, the clock not synchronised), `node_timex_offset_seconds`,
//! `node_timex_maxerror_seconds`, `node_timex_estimated_error_seconds`, the frequency
//! adjustment, the PLL and PPS state, and the TAI offset. Where the call is not permitted (a
//! sandbox that filters it), the collector reports success and no series, as node_exporter does.
//!
//! One of hale's two `unsafe` calls (the other is btrfs' ioctls): `adjtimex` itself, with a
//! zeroed `timex` the kernel fills.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;

/// `adjtimex`'s answer when the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// `timex.status` bit: offsets are in nanoseconds rather than microseconds.
const STA_NANO: i32 = 0x2000;
/// Frequencies are in parts per million with a 16-bit fraction.
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;

/// The timex collector.
pub struct Timex;

/// What the kernel answered, as the numbers node_exporter exports.
fn families(state: i32, t: &libc::timex) -> Vec<MetricFamily> {
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let gauge = |name: &'static str, help: &'static str, v: f64| {
        MetricFamily::gauge(name, None, help).with([], v)
    };
    let counter = |name: &'static str, help: &'static str, v: i64| {
        MetricFamily::counter(name, None, help).with([], u64::try_from(v).unwrap_or(0))
    };
    vec![
        gauge(
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            if state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        gauge(
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        gauge(
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        gauge(
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / 1e6,
        ),
        gauge(
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / 1e6,
        ),
        gauge(
            "node_timex_status",
            "Value of the status array bits.",
            f64::from(t.status),
        ),
        gauge(
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        gauge(
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / 1e6,
        ),
        gauge(
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        gauge(
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        gauge(
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            f64::from(t.shift),
        ),
        gauge(
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
        counter(
            "node_timex_pps_jitter",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt,
        ),
        counter(
            "node_timex_pps_calibration",
            "Pulse per second count of calibration intervals.",
            t.calcnt,
        ),
        counter(
            "node_timex_pps_error",
            "Pulse per second count of calibration errors.",
            t.errcnt,
        ),
        counter(
            "node_timex_pps_stability_exceeded",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt,
        ),
        gauge(
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            f64::from(t.tai),
        ),
    ]
}

impl Collector for Timex {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        // SAFETY: `timex` is plain old data for which all-zero is valid; with `modes` 0 the
        // kernel only writes the struct it is given, which lives for the whole call.
        let mut t: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut t) };
        if state < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::PermissionDenied {
                return Ok(());
            }
            return Err(Error::Source(format!("adjtimex: {err}")));
        }
        out.extend(families(state, &t));
        Ok(())
    }
}

/// The `timex` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "timex",
    enabled_by_default: true,
    help: "The kernel's clock synchronisation state from adjtimex(2) (node_timex_*)",
    flags: crate::collector::no_flags,
    build: |_| Ok(Arc::new(Timex)),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn value(families: &[MetricFamily], name: &str) -> f64 {
        families
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.samples[0].value.as_f64())
            .unwrap()
    }

    #[test]
    fn converts_units_as_node_exporter_does() {
        // SAFETY: all-zero is a valid `timex`.
        let mut t: libc::timex = unsafe { std::mem::zeroed() };
        t.offset = 1500;
        t.freq = 65536 * 10; // 10 ppm
        t.maxerror = 250_000;
        t.tick = 10_000;
        let f = families(TIME_ERROR, &t);
        assert_eq!(value(&f, "node_timex_sync_status"), 0.0);
        assert_eq!(value(&f, "node_timex_offset_seconds"), 0.0015);
        assert!((value(&f, "node_timex_frequency_adjustment_ratio") - 1.00001).abs() < 1e-12);
        assert_eq!(value(&f, "node_timex_maxerror_seconds"), 0.25);
        assert_eq!(value(&f, "node_timex_tick_seconds"), 0.01);
        t.status = STA_NANO;
        let f = families(0, &t);
        assert_eq!(value(&f, "node_timex_sync_status"), 1.0);
        assert_eq!(value(&f, "node_timex_offset_seconds"), 0.0000015);
    }
}
