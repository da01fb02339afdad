//! `pressure`: pressure stall information from `/proc/pressure/{cpu,io,memory}` (Linux 4.20+
//! with PSI on), as node_exporter's pressure collector: the `total=` microseconds of the
//! `some` line (and of `full` for io and memory) as `node_pressure_*_seconds_total`. A kernel
//! without PSI has no such files: the collector succeeds with no series.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// The pressure collector.
pub struct Pressure {
    paths: HostPaths,
}

/// The `total=` of the `some` and `full` lines, in microseconds.
fn totals(text: &str, path: &std::path::Path) -> Result<(Option<u64>, Option<u64>), Error> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let slot = match words.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        let total = words
            .find_map(|w| w.strip_prefix("total="))
            .ok_or_else(|| Error::parse(path.to_path_buf(), format!("no total= in {line:?}")))?;
        *slot = Some(total.parse::<u64>().map_err(|_| {
            Error::parse(path.to_path_buf(), format!("total={total:?} is not a number"))
        })?);
    }
    Ok((some, full))
}

impl Collector for Pressure {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let seconds = |us: u64| us as f64 / 1e6;
        for (resource, some_name, some_help, full) in [
            (
                "cpu",
                "node_pressure_cpu_waiting",
                "Total time in seconds that processes have waited for CPU time",
                None,
            ),
            (
                "io",
                "node_pressure_io_waiting",
                "Total time in seconds that processes have waited due to IO congestion",
                Some((
                    "node_pressure_io_stalled",
                    "Total time in seconds no process could make progress due to IO congestion",
                )),
            ),
            (
                "memory",
                "node_pressure_memory_waiting",
                "Total time in seconds that processes have waited for memory",
                Some((
                    "node_pressure_memory_stalled",
                    "Total time in seconds no process could make progress due to memory congestion",
                )),
            ),
        ] {
            let path = self.paths.proc(format!("pressure/{resource}"));
            let text = match crate::paths::read_kept(path.clone()) {
                Ok(t) => t,
                // No PSI in this kernel (or it is off): nothing to report, as node_exporter.
                Err(e) if is_absent(&e.source) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let (some, full_total) = totals(&text, &path)?;
            let some = some.ok_or_else(|| Error::parse(path.clone(), "no some line"))?;
            out.push(
                MetricFamily::counter(some_name, Some(Unit::Seconds), some_help)
                    .with([], seconds(some)),
            );
            if let (Some((name, help)), Some(total)) = (full, full_total) {
                out.push(
                    MetricFamily::counter(name, Some(Unit::Seconds), help)
                        .with([], seconds(total)),
                );
            }
        }
        Ok(())
    }
}

/// A source that is not there (no file) or switched off (`psi=0`: reads fail with ENOTSUP).
fn is_absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(95)
}

/// The `pressure` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "pressure",
    enabled_by_default: true,
    help: "Pressure stall information (node_pressure_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Pressure {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_of_some_and_full() {
        let p = std::path::Path::new("/proc/pressure/io");
        let text = "some avg10=0.13 avg60=0.45 avg300=0.79 total=134616838\nfull avg10=0.00 avg60=0.07 avg300=0.30 total=73959262\n";
        assert_eq!(totals(text, p).unwrap(), (Some(134616838), Some(73959262)));
        assert_eq!(
            totals("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", p).unwrap(),
            (Some(5), None)
        );
        assert!(totals("some avg10=1 total=x\n", p).is_err());
        assert!(totals("some avg10=1\n", p).is_err());
    }
}
