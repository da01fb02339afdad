//! `diskstats`: block device I/O from `/proc/diskstats`, as node_exporter's diskstats collector
//! (`node_disk_*{device}`). Partitions, ram, loop and floppy devices are excluded by default.
//! Kernels add columns over time (discards in 4.18, flushes in 5.5); what a line lacks is not
//! exported, as node_exporter does.

use crate::collector::{Collector, DeviceFilter, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// How a raw column is turned into an exported value.
#[derive(Clone, Copy)]
enum Scale {
    Count,
    /// Sectors of 512 bytes, whatever the device's block size (the kernel's unit).
    Sectors,
    Millis,
}

/// One exported column: family base name, unit, counter or gauge, scale, help.
struct Column {
    name: &'static str,
    unit: Option<Unit>,
    counter: bool,
    scale: Scale,
    help: &'static str,
}

const fn col(
    name: &'static str,
    unit: Option<Unit>,
    counter: bool,
    scale: Scale,
    help: &'static str,
) -> Column {
    Column {
        name,
        unit,
        counter,
        scale,
        help,
    }
}

/// The columns after major, minor and device name, in kernel order.
const COLUMNS: [Column; 17] = [
    col(
        "node_disk_reads_completed",
        None,
        true,
        Scale::Count,
        "The total number of reads completed successfully.",
    ),
    col(
        "node_disk_reads_merged",
        None,
        true,
        Scale::Count,
        "The total number of reads merged.",
    ),
    col(
        "node_disk_read",
        Some(Unit::Bytes),
        true,
        Scale::Sectors,
        "The total number of bytes read successfully.",
    ),
    col(
        "node_disk_read_time",
        Some(Unit::Seconds),
        true,
        Scale::Millis,
        "The total number of seconds spent by all reads.",
    ),
    col(
        "node_disk_writes_completed",
        None,
        true,
        Scale::Count,
        "The total number of writes completed successfully.",
    ),
    col(
        "node_disk_writes_merged",
        None,
        true,
        Scale::Count,
        "The number of writes merged.",
    ),
    col(
        "node_disk_written",
        Some(Unit::Bytes),
        true,
        Scale::Sectors,
        "The total number of bytes written successfully.",
    ),
    col(
        "node_disk_write_time",
        Some(Unit::Seconds),
        true,
        Scale::Millis,
        "This is the total number of seconds spent by all writes.",
    ),
    col(
        "node_disk_io_now",
        None,
        false,
        Scale::Count,
        "The number of I/Os currently in progress.",
    ),
    col(
        "node_disk_io_time",
        Some(Unit::Seconds),
        true,
        Scale::Millis,
        "Total seconds spent doing I/Os.",
    ),
    col(
        "node_disk_io_time_weighted",
        Some(Unit::Seconds),
        true,
        Scale::Millis,
        "The weighted # of seconds spent doing I/Os.",
    ),
    col(
        "node_disk_discards_completed",
        None,
        true,
        Scale::Count,
        "The total number of discards completed successfully.",
    ),
    col(
        "node_disk_discards_merged",
        None,
        true,
        Scale::Count,
        "The total number of discards merged.",
    ),
    col(
        "node_disk_discarded_sectors",
        None,
        true,
        Scale::Count,
        "The total number of sectors discarded successfully.",
    ),
    col(
        "node_disk_discard_time",
        Some(Unit::Seconds),
        true,
        Scale::Millis,
        "This is the total number of seconds spent by all discards.",
    ),
    col(
        "node_disk_flush_requests",
        None,
        true,
        Scale::Count,
        "The total number of flush requests completed successfully",
    ),
    col(
        "node_disk_flush_requests_time",
        Some(Unit::Seconds),
        true,
        Scale::Millis,
        "This is the total number of seconds spent by all flush requests.",
    ),
];

/// The diskstats collector.
pub struct Diskstats {
    paths: HostPaths,
    devices: DeviceFilter,
}

impl Diskstats {
    pub fn new(paths: HostPaths, devices: DeviceFilter) -> Self {
        Self { paths, devices }
    }
}

impl Collector for Diskstats {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("diskstats");
        let text = crate::paths::read(path.clone())?;
        let mut families: Vec<MetricFamily> = COLUMNS
            .iter()
            .map(|c| {
                if c.counter {
                    MetricFamily::counter(c.name, c.unit.clone(), c.help)
                } else {
                    MetricFamily::gauge(c.name, c.unit.clone(), c.help)
                }
            })
            .collect();
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(_major), Some(_minor), Some(device)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !self.devices.keeps(device) {
                continue;
            }
            for ((column, family), field) in
                COLUMNS.iter().zip(families.iter_mut()).zip(fields.by_ref())
            {
                let raw: u64 = field.parse().map_err(|_| {
                    Error::parse(path.clone(), format!("{device}: {field:?} is not a number"))
                })?;
                let labels = [("device", device.to_string())];
                match column.scale {
                    Scale::Count => family.push(labels, raw),
                    Scale::Sectors => family.push(labels, raw.saturating_mul(512)),
                    Scale::Millis => family.push(labels, raw as f64 * 0.001),
                }
            }
        }
        out.extend(families);
        Ok(())
    }
}
