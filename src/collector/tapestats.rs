//! `tapestats`: SCSI tape drive statistics from `/sys/class/scsi_tape/st*/stats/`, as
//! node_exporter 1.5's tapestats collector: `node_tape_{io_now,io_time_seconds_total,
//! io_others_total,read_bytes_total,reads_completed_total,read_time_seconds_total,
//! written_bytes_total,writes_completed_total,write_time_seconds_total,residual_total}{device}`,
//! with `--collector.tapestats.ignored-devices`. A host without tape drives gives no series.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{read_u64_file, Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// The `tapestats` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.tapestats.flags")]
pub struct Flags {
    /// Regexp of devices to ignore for tapestats.
    #[arg(
        id = "collector.tapestats.ignored-devices",
        long = "collector.tapestats.ignored-devices",
        value_name = "REGEX",
        default_value = "^$"
    )]
    ignored: String,
}

/// The `tapestats` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "tapestats",
    enabled_by_default: true,
    help: "SCSI tape drive statistics (node_tape_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Tapestats {
            paths: c.paths.clone(),
            ignored: crate::collector::regex("collector.tapestats.ignored-devices", &flags.ignored)?,
        }))
    },
};

/// The tapestats collector.
pub struct Tapestats {
    paths: HostPaths,
    ignored: Regex,
}

/// One statistics file: (file, metric name without unit and `_total`, unit, counter?,
/// nanoseconds to be shown as seconds?, help).
type Field = (
    &'static str,
    &'static str,
    Option<Unit>,
    bool,
    bool,
    &'static str,
);

const FIELDS: &[Field] = &[
    ("in_flight", "node_tape_io_now", None, false, false, "The number of I/Os currently outstanding to this device."),
    ("io_ns", "node_tape_io_time", Some(Unit::Seconds), true, true, "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used."),
    ("other_cnt", "node_tape_io_others", None, true, false, "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total"),
    ("read_byte_cnt", "node_tape_read", Some(Unit::Bytes), true, false, "The number of bytes read from the tape drive."),
    ("read_cnt", "node_tape_reads_completed", None, true, false, "The number of read requests issued to the tape drive."),
    ("read_ns", "node_tape_read_time", Some(Unit::Seconds), true, true, "The amount of time spent waiting for read requests to complete."),
    ("resid_cnt", "node_tape_residual", None, true, false, "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape."),
    ("write_byte_cnt", "node_tape_written", Some(Unit::Bytes), true, false, "The number of bytes written to the tape drive."),
    ("write_cnt", "node_tape_writes_completed", None, true, false, "The number of write requests issued to the tape drive."),
    ("write_ns", "node_tape_write_time", Some(Unit::Seconds), true, true, "The amount of time spent waiting for write requests to complete."),
];

/// A tape drive's own name (`st0`), not its mode aliases (`st0a`, `nst0`).
fn is_drive(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Collector for Tapestats {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/scsi_tape");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut drives: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_drive(n) && !self.ignored.is_match(n))
            .collect();
        drives.sort();
        let mut families: Vec<MetricFamily> = FIELDS
            .iter()
            .map(|(_, name, unit, counter, _, help)| {
                if *counter {
                    MetricFamily::counter(*name, unit.clone(), *help)
                } else {
                    MetricFamily::gauge(*name, unit.clone(), *help)
                }
            })
            .collect();
        for drive in drives {
            let stats = dir.join(&drive).join("stats");
            for ((file, _, _, _, ns, _), family) in FIELDS.iter().zip(families.iter_mut()) {
                let v = read_u64_file(stats.join(file))?;
                if *ns {
                    family.push([("device", drive.clone())], v as f64 / 1e9);
                } else {
                    family.push([("device", drive.clone())], v);
                }
            }
        }
        out.extend(families);
        Ok(())
    }
}
