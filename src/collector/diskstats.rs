//! `diskstats`: block device I/O from `/proc/diskstats`, as node_exporter's diskstats collector
//! (`node_disk_*{device}`), and what udev recorded of each device under `--path.udev.data`
//! (`node_disk_info`, `_filesystem_info`, `_device_mapper_info`, `_ata_*`). Partitions, ram,
//! loop and floppy devices are excluded by default.
//! Kernels add columns over time (discards in 4.18, flushes in 5.5); what a line lacks is not
//! exported, as node_exporter does.

use std::collections::HashMap;

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

/// node_exporter's default `--collector.diskstats.device-exclude`: partitions, ram, loop and floppy.
pub const DEFAULT_DISKSTATS_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// The `diskstats` collector's flags (node_exporter's names).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.diskstats.flags")]
pub struct Flags {
    /// Regexp of diskstats devices to exclude (mutually exclusive with device-include).
    #[arg(id = "collector.diskstats.device-exclude", long = "collector.diskstats.device-exclude", value_name = "REGEX")]
    device_exclude: Option<String>,

    /// Regexp of diskstats devices to include (mutually exclusive with device-exclude).
    #[arg(
        id = "collector.diskstats.device-include",
        long = "collector.diskstats.device-include",
        value_name = "REGEX",
        conflicts_with = "collector.diskstats.device-exclude"
    )]
    device_include: Option<String>,

    /// udev's data directory, for node_disk_info and the other udev families.
    #[arg(
        id = "path.udev.data",
        long = "path.udev.data",
        value_name = "DIR",
        default_value = "/run/udev/data"
    )]
    udev_data: std::path::PathBuf,
}

/// The `diskstats` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "diskstats",
    enabled_by_default: true,
    help: "Disk I/O (node_disk_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        let devices = crate::collector::device_filter(
            ("collector.diskstats.device-include", flags.device_include.as_deref()),
            ("collector.diskstats.device-exclude", flags.device_exclude.as_deref()),
            DEFAULT_DISKSTATS_EXCLUDE,
        )?;
        let mut diskstats = Diskstats::new(c.paths.clone(), devices);
        diskstats.udev_data = flags.udev_data;
        Ok(std::sync::Arc::new(diskstats))
    },
};

/// The diskstats collector.
pub struct Diskstats {
    paths: HostPaths,
    devices: DeviceFilter,
    udev_data: std::path::PathBuf,
}

impl Diskstats {
    pub fn new(paths: HostPaths, devices: DeviceFilter) -> Self {
        Self {
            paths,
            devices,
            udev_data: "/run/udev/data".into(),
        }
    }

    /// The `E:KEY=value` properties udev recorded for a block device; none when it has no
    /// record (no udev, as in most containers), as node_exporter.
    fn udev(&self, major: &str, minor: &str) -> HashMap<String, String> {
        let file = self.udev_data.join(format!("b{major}:{minor}"));
        let Ok(text) = crate::paths::read_text(file) else {
            return HashMap::new();
        };
        text.lines()
            .filter_map(|l| l.strip_prefix("E:")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// The udev families of one scrape, as node_exporter's diskstats collector has them.
struct UdevFamilies {
    info: MetricFamily,
    filesystem: MetricFamily,
    device_mapper: MetricFamily,
    ata: [(&'static str, MetricFamily); 3],
}

impl UdevFamilies {
    fn new() -> Self {
        UdevFamilies {
            info: MetricFamily::gauge("node_disk_info", None, "Info of /sys/block/<block_device>."),
            filesystem: MetricFamily::gauge("node_disk_filesystem_info", None, "Info about disk filesystem."),
            device_mapper: MetricFamily::gauge(
                "node_disk_device_mapper_info",
                None,
                "Info about disk device mapper.",
            ),
            ata: [
                (
                    "ID_ATA_WRITE_CACHE",
                    MetricFamily::gauge("node_disk_ata_write_cache", None, "ATA disk has a write cache."),
                ),
                (
                    "ID_ATA_WRITE_CACHE_ENABLED",
                    MetricFamily::gauge(
                        "node_disk_ata_write_cache_enabled",
                        None,
                        "ATA disk has its write cache enabled.",
                    ),
                ),
                (
                    "ID_ATA_ROTATION_RATE_RPM",
                    MetricFamily::gauge(
                        "node_disk_ata_rotation_rate_rpm",
                        None,
                        "ATA disk rotation rate in RPMs (0 for SSDs).",
                    ),
                ),
            ],
        }
    }

    fn add(&mut self, device: &str, major: &str, minor: &str, udev: &HashMap<String, String>) {
        let get = |k: &str| udev.get(k).cloned().unwrap_or_default();
        self.info.push(
            [
                ("device", device.to_string()),
                ("major", major.to_string()),
                ("minor", minor.to_string()),
                ("path", get("ID_PATH")),
                ("wwn", get("ID_WWN")),
                ("model", get("ID_MODEL")),
                ("serial", get("ID_SERIAL_SHORT")),
                ("revision", get("ID_REVISION")),
            ],
            1u64,
        );
        if !get("ID_FS_TYPE").is_empty() {
            self.filesystem.push(
                [
                    ("device", device.to_string()),
                    ("type", get("ID_FS_TYPE")),
                    ("usage", get("ID_FS_USAGE")),
                    ("uuid", get("ID_FS_UUID")),
                    ("version", get("ID_FS_VERSION")),
                ],
                1u64,
            );
        }
        if !get("DM_NAME").is_empty() {
            self.device_mapper.push(
                [
                    ("device", device.to_string()),
                    ("name", get("DM_NAME")),
                    ("uuid", get("DM_UUID")),
                    ("vg_name", get("DM_VG_NAME")),
                    ("lv_name", get("DM_LV_NAME")),
                    ("lv_layer", get("DM_LV_LAYER")),
                ],
                1u64,
            );
        }
        if !get("ID_ATA").is_empty() {
            for (key, family) in &mut self.ata {
                if let Some(v) = udev.get(*key).and_then(|v| v.parse::<f64>().ok()) {
                    family.push([("device", device.to_string())], v);
                }
            }
        }
    }

    fn into_families(self) -> impl Iterator<Item = MetricFamily> {
        [self.info, self.filesystem, self.device_mapper]
            .into_iter()
            .chain(self.ata.into_iter().map(|(_, f)| f))
    }
}

impl Collector for Diskstats {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("diskstats");
        let text = crate::paths::read_kept(path.clone())?;
        let mut udev = UdevFamilies::new();
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
            let (Some(major), Some(minor), Some(device)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !self.devices.keeps(device) {
                continue;
            }
            udev.add(device, major, minor, &self.udev(major, minor));
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
        out.extend(udev.into_families());
        out.extend(families);
        Ok(())
    }
}
