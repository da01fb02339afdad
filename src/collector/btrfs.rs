//! `btrfs`: Btrfs filesystems, as node_exporter 1.5's btrfs collector. From
//! `/sys/fs/btrfs/<fsid>/`: `node_btrfs_info{uuid,label}`, `node_btrfs_global_rsv_size_bytes`,
//! `node_btrfs_reserved_bytes{block_group_type}` and, per allocation profile,
//! `node_btrfs_{used,size}_bytes` and `node_btrfs_allocation_ratio{block_group_type,mode}`.
//!
//! Devices: for a filesystem mounted on the host, the kernel's own device table through the
//! `BTRFS_IOC_FS_INFO`, `BTRFS_IOC_DEV_INFO` and `BTRFS_IOC_GET_DEV_STATS` ioctls on its mount
//! point gives `node_btrfs_device_size_bytes`, `node_btrfs_device_unused_bytes` and
//! `node_btrfs_device_errors_total{type}`, labelled `device` and `btrfs_dev_uuid`. A
//! filesystem the ioctls cannot reach (not mounted here, or refused) has
//! `node_btrfs_device_size_bytes{device}` from sysfs instead, as node_exporter falls back.
//!
//! Values sysfs gives that are not numbers count as zero, as procfs reads them.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::{HostPaths, ReadError};

/// The btrfs collector.
pub struct Btrfs {
    paths: HostPaths,
}

/// One device as the kernel's ioctls report it.
#[derive(Debug, Clone, PartialEq)]
struct IoctlDevice {
    path: String,
    uuid: String,
    bytes_used: u64,
    total_bytes: u64,
    /// write, read, flush, corruption, generation.
    errors: [u64; 5],
}

const ERROR_TYPES: [&str; 5] = ["write", "read", "flush", "corruption", "generation"];

/// `_IOC(dir, 0x94, nr, size)` for the btrfs ioctls.
const fn btrfs_ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | (0x94 << 8) | nr
}
const IOC_FS_INFO: u64 = btrfs_ioc(2, 31, 1024);
const IOC_DEV_INFO: u64 = btrfs_ioc(3, 30, 4096);
const IOC_GET_DEV_STATS: u64 = btrfs_ioc(3, 52, 1032);

/// An ioctl on `fd` with `args` (a `u64` array, so the kernel's 8-byte alignment holds).
fn ioctl<const N: usize>(fd: &std::fs::File, request: u64, args: &mut [u64; N]) -> std::io::Result<()> {
    // SAFETY: `args` is as large as the struct `request` encodes (its size field is N * 8 for
    // each request used here) and lives for the whole call; the kernel reads and writes only it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, args.as_mut_ptr()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Bytes of a `u64` array as the kernel laid them out.
fn bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

/// A UUID as 32 hexadecimal digits, without dashes (how the filesystem ids are matched).
fn hex_uuid(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// A UUID in its usual 8-4-4-4-12 form (how node_exporter labels a device).
fn dashed_uuid(b: &[u8]) -> String {
    let h = hex_uuid(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The filesystem id and the devices of the btrfs mounted at `mount_point`.
fn ioctl_devices(mount_point: &Path) -> std::io::Result<(String, Vec<IoctlDevice>)> {
    let fs = std::fs::File::open(mount_point)?;
    let mut info = [0u64; 128];
    ioctl(&fs, IOC_FS_INFO, &mut info)?;
    let (max_id, num_devices) = (info[0], info[1]);
    let fsid = hex_uuid(&bytes(&info[2..4]));
    let mut devices = Vec::new();
    // Device ids run from 1 to max_id with gaps where devices were removed.
    for devid in 0..=max_id {
        let mut dev = [0u64; 512];
        dev[0] = devid;
        match ioctl(&fs, IOC_DEV_INFO, &mut dev) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => continue,
            r => r?,
        }
        let mut stats = [0u64; 129];
        stats[0] = devid;
        stats[1] = ERROR_TYPES.len() as u64;
        ioctl(&fs, IOC_GET_DEV_STATS, &mut stats)?;
        let path = bytes(&dev[384..512]);
        let path = path.split(|b| *b == 0).next().unwrap_or_default();
        devices.push(IoctlDevice {
            path: String::from_utf8_lossy(path).into_owned(),
            uuid: dashed_uuid(&bytes(&dev[1..3])),
            bytes_used: dev[3],
            total_bytes: dev[4],
            errors: [stats[3], stats[4], stats[5], stats[6], stats[7]],
        });
        if devices.len() as u64 == num_devices {
            break;
        }
    }
    Ok((fsid, devices))
}

/// A file under a filesystem's sysfs directory: its trimmed text, empty when absent.
fn read_text(path: &Path) -> Result<String, Error> {
    match crate::paths::read_text(path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(ReadError {
            path: path.to_path_buf(),
            source,
        }
        .into()),
    }
}

fn read_value(path: &Path) -> Result<u64, Error> {
    Ok(read_text(path)?.parse().unwrap_or(0))
}

/// The names in a directory, sorted; a directory that cannot be listed is an error.
fn list(dir: &Path, dirs_only: bool) -> Result<Vec<String>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReadError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| !dirs_only || e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// How many bytes of raw space a byte of a profile takes, as procfs computes it.
fn ratio(mode: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match mode {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

struct Families {
    info: MetricFamily,
    global_rsv: MetricFamily,
    reserved: MetricFamily,
    used: MetricFamily,
    size: MetricFamily,
    ratio: MetricFamily,
    device_size: MetricFamily,
    device_unused: MetricFamily,
    device_errors: MetricFamily,
}

impl Families {
    fn new() -> Self {
        let g = |name: &'static str, unit, help: &'static str| MetricFamily::gauge(name, unit, help);
        Self {
            info: MetricFamily::info("node_btrfs", "Filesystem information"),
            global_rsv: g("node_btrfs_global_rsv_size", Some(Unit::Bytes), "Size of global reserve."),
            reserved: g("node_btrfs_reserved", Some(Unit::Bytes), "Amount of space reserved for a data type"),
            used: g("node_btrfs_used", Some(Unit::Bytes), "Amount of used space by a layout/data type"),
            size: g("node_btrfs_size", Some(Unit::Bytes), "Amount of space allocated for a layout/data type"),
            ratio: g("node_btrfs_allocation_ratio", None, "Data allocation ratio for a layout/data type"),
            device_size: g("node_btrfs_device_size", Some(Unit::Bytes), "Size of a device that is part of the filesystem."),
            device_unused: g("node_btrfs_device_unused", Some(Unit::Bytes), "Unused bytes unused on a device that is part of the filesystem."),
            device_errors: MetricFamily::counter("node_btrfs_device_errors", None, "Errors reported for the device"),
        }
    }
}

impl Btrfs {
    /// The ioctl view of every btrfs mounted on the host, by filesystem id. A mount whose
    /// ioctls fail is left to the sysfs fallback.
    fn ioctl_stats(&self) -> BTreeMap<String, Vec<IoctlDevice>> {
        let table = crate::paths::read(self.paths.proc("1/mounts"))
            .or_else(|_| crate::paths::read(self.paths.proc("mounts")))
            .unwrap_or_default();
        let mut out = BTreeMap::new();
        let mut seen_devices = std::collections::HashSet::new();
        for mount in crate::collector::filesystem::parse_mounts(&table) {
            if mount.fs_type != "btrfs" || seen_devices.contains(&mount.device) {
                continue;
            }
            let path = self.paths.rootfs_join(&mount.mount_point);
            let Ok((fsid, devices)) = ioctl_devices(&path) else {
                continue;
            };
            if out.contains_key(&fsid) {
                continue;
            }
            seen_devices.insert(mount.device);
            out.insert(fsid, devices);
        }
        out
    }

    fn filesystem(
        &self,
        dir: &Path,
        ioctl: &BTreeMap<String, Vec<IoctlDevice>>,
        f: &mut Families,
    ) -> Result<(), Error> {
        let sysfs_devices = list(&dir.join("devices"), false)?;
        let mut uuid = read_text(&dir.join("metadata_uuid"))?;
        if uuid.is_empty() {
            uuid = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        }
        let label = read_text(&dir.join("label"))?;
        f.info.push([("uuid", uuid.clone()), ("label", label)], 1u64);
        let alloc = dir.join("allocation");
        f.global_rsv.push([("uuid", uuid.clone())], read_value(&alloc.join("global_rsv_size"))?);
        for kind in ["data", "metadata", "system"] {
            let d = alloc.join(kind);
            let reserved = read_value(&d.join("bytes_reserved"))?;
            f.reserved.push([("uuid", uuid.clone()), ("block_group_type", kind.into())], reserved);
            for mode in list(&d, true)? {
                let l = || [("uuid", uuid.clone()), ("block_group_type", kind.into()), ("mode", mode.clone())];
                f.used.push(l(), read_value(&d.join(&mode).join("used_bytes"))?);
                f.size.push(l(), read_value(&d.join(&mode).join("total_bytes"))?);
                f.ratio.push(l(), ratio(&mode, sysfs_devices.len()));
            }
        }
        match ioctl.get(&uuid.replace('-', "")) {
            None => {
                for name in &sysfs_devices {
                    let sectors = read_value(&dir.join("devices").join(name).join("size"))?;
                    f.device_size.push(
                        [("uuid", uuid.clone()), ("device", name.clone())],
                        sectors.saturating_mul(512),
                    );
                }
            }
            Some(devices) => {
                for dev in devices {
                    let device = dev.path.rsplit('/').next().unwrap_or("").to_string();
                    let l = || {
                        [("uuid", uuid.clone()), ("device", device.clone()), ("btrfs_dev_uuid", dev.uuid.clone())]
                    };
                    f.device_size.push(l(), dev.total_bytes);
                    f.device_unused.push(l(), dev.total_bytes.saturating_sub(dev.bytes_used));
                    for (kind, value) in ERROR_TYPES.iter().zip(dev.errors) {
                        let [u, d, b] = l();
                        f.device_errors.push([u, ("type", kind.to_string()), d, b], value);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Collector for Btrfs {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let base = self.paths.sys("fs/btrfs");
        let Ok(entries) = std::fs::read_dir(&base) else {
            return Ok(());
        };
        // Filesystems are named by their UUID; `features` is the module's own directory.
        let mut filesystems: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.contains('-'))
            .collect();
        if filesystems.is_empty() {
            return Ok(());
        }
        filesystems.sort();
        let ioctl = self.ioctl_stats();
        let mut f = Families::new();
        for fs in filesystems {
            self.filesystem(&base.join(fs), &ioctl, &mut f)?;
        }
        out.extend([
            f.info, f.global_rsv, f.reserved, f.used, f.size, f.ratio, f.device_size, f.device_unused,
            f.device_errors,
        ]);
        Ok(())
    }
}

/// The `btrfs` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "btrfs",
    enabled_by_default: true,
    help: "Btrfs allocation, devices and device errors (node_btrfs_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Btrfs {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn ioctl_numbers_are_the_kernels() {
        // From linux/btrfs.h: _IOR(0x94, 31, 1024), _IOWR(0x94, 30, 4096), _IOWR(0x94, 52, 1032).
        assert_eq!(super::IOC_FS_INFO, 0x8400_941f);
        assert_eq!(super::IOC_DEV_INFO, 0xd000_941e);
        assert_eq!(super::IOC_GET_DEV_STATS, 0xc408_9434);
    }

    #[test]
    fn ratios_follow_the_profile() {
        assert_eq!(super::ratio("raid1", 2), 2.0);
        assert_eq!(super::ratio("raid6", 4), 2.0);
        assert_eq!(super::ratio("raid5", 3), 1.5);
        assert_eq!(super::ratio("unknown", 3), 0.0);
        assert_eq!(super::hex_uuid(&[0xab; 16]), "abababababababababababababababab");
        assert_eq!(super::dashed_uuid(&[0xab; 16]), "abababab-abab-abab-abab-abababababab");
    }
}
