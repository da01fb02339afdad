//! `filesystem`: space and inodes of mounted filesystems, as node_exporter's filesystem collector
//! (`node_filesystem_*{device,fstype,mountpoint}`), with its default mount-point and fs-type
//! exclusions (pseudo filesystems, Docker's overlay mounts).
//!
//! statfs(2) on a dead network mount can block for ever and cannot be cancelled. Like
//! node_exporter, hale remembers a mount whose statfs has been running longer than
//! `--collector.filesystem.mount-timeout` and reports it with `node_filesystem_device_error` 1,
//! without calling statfs on it again, until the stuck call returns.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::collector::{Collector, Error, FlagError};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// Space and inode counts for one mount, from statfs(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub size: u64,
    pub free: u64,
    pub avail: u64,
    pub files: u64,
    pub files_free: u64,
}

/// Calls statfs and converts the result the way node_exporter does (block counts times `f_bsize`).
pub fn statfs(path: &Path) -> std::io::Result<Usage> {
    let s = rustix::fs::statfs(path)?;
    // The field types differ between architectures; all are non-negative counts.
    #[allow(clippy::unnecessary_cast)]
    let bsize = s.f_bsize as u64;
    #[allow(clippy::unnecessary_cast)]
    Ok(Usage {
        size: (s.f_blocks as u64).saturating_mul(bsize),
        free: (s.f_bfree as u64).saturating_mul(bsize),
        avail: (s.f_bavail as u64).saturating_mul(bsize),
        files: s.f_files as u64,
        files_free: s.f_ffree as u64,
    })
}

/// Tracks statfs calls in flight per mount point, so a call that has run past the timeout marks
/// the mount as stuck for every later scrape until it returns.
#[derive(Debug, Default)]
pub struct StuckMounts {
    in_flight: Mutex<HashMap<String, (u32, Instant)>>,
}

/// The outcome of a guarded statfs.
#[derive(Debug)]
pub enum Guarded<T> {
    Done(T),
    /// An earlier call on this mount point is still running past the timeout.
    Stuck,
}

impl StuckMounts {
    /// Runs `stat` for `mount_point` unless an earlier call on it has been running longer than
    /// `timeout`.
    pub fn run<T>(
        &self,
        mount_point: &str,
        timeout: Duration,
        stat: impl FnOnce() -> T,
    ) -> Guarded<T> {
        {
            let mut map = self.in_flight.lock();
            match map.get_mut(mount_point) {
                Some((_, since)) if since.elapsed() >= timeout => return Guarded::Stuck,
                Some((count, _)) => *count += 1,
                None => {
                    map.insert(mount_point.to_string(), (1, Instant::now()));
                }
            }
        }
        let result = stat();
        let mut map = self.in_flight.lock();
        if let Some((count, _)) = map.get_mut(mount_point) {
            *count -= 1;
            if *count == 0 {
                map.remove(mount_point);
            }
        }
        Guarded::Done(result)
    }
}

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub read_only: bool,
}

/// Parses `/proc/<pid>/mounts`, undoing the kernel's octal escapes (`\040` for a space).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let (device, mount_point, fs_type, options) =
                (f.next()?, f.next()?, f.next()?, f.next()?);
            Some(Mount {
                device: unescape(device),
                mount_point: unescape(mount_point),
                fs_type: fs_type.to_string(),
                read_only: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // `\ooo` up to `\377` is one byte; a larger "escape" (`\777`, never written by the
        // kernel) stays as it is rather than overflowing (found by fuzz/host_files).
        let Some(&byte) = bytes.get(i) else { break };
        let escaped = (byte == b'\\')
            .then(|| bytes.get(i + 1..i + 4))
            .flatten()
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| {
                let v = d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
                u8::try_from(v).ok()
            });
        if let Some(v) = escaped {
            out.push(v);
            i += 4;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The filesystem collector's flags, node_exporter's names and defaults.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.filesystem.flags")]
pub struct Flags {
    /// Regexp of mount points to exclude for the filesystem collector.
    #[arg(id = "collector.filesystem.mount-points-exclude", long = "collector.filesystem.mount-points-exclude", value_name = "REGEX", default_value = DEFAULT_MOUNT_POINTS_EXCLUDE)]
    mount_points_exclude: String,

    /// Regexp of filesystem types to exclude for the filesystem collector.
    #[arg(id = "collector.filesystem.fs-types-exclude", long = "collector.filesystem.fs-types-exclude", value_name = "REGEX", default_value = DEFAULT_FS_TYPES_EXCLUDE)]
    fs_types_exclude: String,

    /// How long a statfs may run before its mount is reported with device_error and skipped.
    #[arg(id = "collector.filesystem.mount-timeout", long = "collector.filesystem.mount-timeout", value_name = "DURATION", default_value = "5s", value_parser = crate::de::parse_duration)]
    mount_timeout: Duration,
}

/// node_exporter's default `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter's default `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

/// The filesystem collector's options, validated from its flags; `/health`'s disk checks use
/// the same.
#[derive(Debug, Clone)]
pub struct Options {
    pub mount_points_exclude: Regex,
    pub fs_types_exclude: Regex,
    pub mount_timeout: Duration,
}

impl Default for Options {
    /// node_exporter's defaults.
    fn default() -> Options {
        // Constants, compiled by the flags' own defaults in every test run.
        #[allow(clippy::expect_used)]
        let re = |s: &str| Regex::new(s).expect("built-in default regexes compile");
        Options {
            mount_points_exclude: re(DEFAULT_MOUNT_POINTS_EXCLUDE),
            fs_types_exclude: re(DEFAULT_FS_TYPES_EXCLUDE),
            mount_timeout: Duration::from_secs(5),
        }
    }
}

impl Options {
    /// The options the command line gives.
    pub fn from_matches(matches: &clap::ArgMatches) -> Result<Options, FlagError> {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(matches)?;
        if flags.mount_timeout.is_zero() {
            return Err(FlagError::Invalid {
                flag: "collector.filesystem.mount-timeout",
                reason: "must be longer than zero".into(),
            });
        }
        Ok(Options {
            mount_points_exclude: crate::collector::regex(
                "collector.filesystem.mount-points-exclude",
                &flags.mount_points_exclude,
            )?,
            fs_types_exclude: crate::collector::regex(
                "collector.filesystem.fs-types-exclude",
                &flags.fs_types_exclude,
            )?,
            mount_timeout: flags.mount_timeout,
        })
    }
}

/// The `filesystem` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "filesystem",
    enabled_by_default: true,
    help: "Filesystem space and inodes (node_filesystem_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        let options = Options::from_matches(c.matches)?;
        Ok(Arc::new(Filesystem::new(c.paths.clone(), options)))
    },
};

/// The filesystem collector.
pub struct Filesystem {
    paths: HostPaths,
    mount_points_exclude: Regex,
    fs_types_exclude: Regex,
    mount_timeout: Duration,
    stuck: Arc<StuckMounts>,
}

impl Filesystem {
    pub fn new(paths: HostPaths, options: Options) -> Self {
        Self {
            paths,
            mount_points_exclude: options.mount_points_exclude,
            fs_types_exclude: options.fs_types_exclude,
            mount_timeout: options.mount_timeout,
            stuck: Arc::default(),
        }
    }

    fn mount_table(&self) -> Result<String, Error> {
        // The host's init sees the host's mounts even when hale runs in its own mount namespace.
        match crate::paths::read(self.paths.proc("1/mounts")) {
            Ok(text) => Ok(text),
            Err(_) => Ok(crate::paths::read(self.paths.proc("mounts"))?),
        }
    }
}

impl Filesystem {
    /// The mounts that pass the filters, once each, with their statfs (`None` when it failed
    /// or the mount is stuck). The collector's series and `/health`'s disk checks come from it.
    pub fn usage(&self) -> Result<Vec<MountUsage>, Error> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for mount in parse_mounts(&self.mount_table()?) {
            let mount_point = self.paths.host_mount_point(&mount.mount_point).into_owned();
            if self.mount_points_exclude.is_match(&mount_point)
                || self.fs_types_exclude.is_match(&mount.fs_type)
            {
                continue;
            }
            // The same mount can be listed twice (bind mounts, stacked mounts); one series each.
            if !seen.insert((
                mount.device.clone(),
                mount_point.clone(),
                mount.fs_type.clone(),
            )) {
                continue;
            }
            let target = self.paths.rootfs_join(&mount_point);
            let usage = match self
                .stuck
                .run(&mount_point, self.mount_timeout, || statfs(&target))
            {
                Guarded::Done(Ok(u)) => Some(u),
                Guarded::Done(Err(e)) => {
                    tracing::debug!(mountpoint = %mount_point, error = %e, "statfs failed");
                    None
                }
                Guarded::Stuck => {
                    tracing::debug!(mountpoint = %mount_point, "mount point is stuck, skipping statfs");
                    None
                }
            };
            out.push(MountUsage {
                device: mount.device,
                fs_type: mount.fs_type,
                mount_point,
                read_only: mount.read_only,
                usage,
            });
        }
        Ok(out)
    }
}

/// A mount as the collector reports it: its labels, and its statfs when it answered.
#[derive(Debug, Clone)]
pub struct MountUsage {
    pub device: String,
    pub fs_type: String,
    /// As the host sees it (`--path.rootfs` taken off).
    pub mount_point: String,
    pub read_only: bool,
    pub usage: Option<Usage>,
}

impl Collector for Filesystem {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let mounts = self.usage()?;
        let mut size = MetricFamily::gauge(
            "node_filesystem_size",
            Some(Unit::Bytes),
            "Filesystem size in bytes.",
        );
        let mut free = MetricFamily::gauge(
            "node_filesystem_free",
            Some(Unit::Bytes),
            "Filesystem free space in bytes.",
        );
        let mut avail = MetricFamily::gauge(
            "node_filesystem_avail",
            Some(Unit::Bytes),
            "Filesystem space available to non-root users in bytes.",
        );
        let mut files = MetricFamily::gauge(
            "node_filesystem_files",
            None,
            "Filesystem total file nodes.",
        );
        let mut files_free = MetricFamily::gauge(
            "node_filesystem_files_free",
            None,
            "Filesystem total free file nodes.",
        );
        let mut readonly = MetricFamily::gauge(
            "node_filesystem_readonly",
            None,
            "Filesystem read-only status.",
        );
        let mut device_error = MetricFamily::gauge(
            "node_filesystem_device_error",
            None,
            "Whether an error occurred while getting statistics for the given device.",
        );
        for mount in mounts {
            let labels = || {
                [
                    ("device", mount.device.clone()),
                    ("fstype", mount.fs_type.clone()),
                    ("mountpoint", mount.mount_point.clone()),
                ]
            };
            device_error.push(labels(), mount.usage.is_none());
            readonly.push(labels(), mount.read_only);
            if let Some(u) = &mount.usage {
                size.push(labels(), u.size);
                free.push(labels(), u.free);
                avail.push(labels(), u.avail);
                files.push(labels(), u.files);
                files_free.push(labels(), u.files_free);
            }
        }
        out.extend([avail, device_error, files, files_free, free, readonly, size]);
        Ok(())
    }

    fn rerun_while_stuck(&self) -> bool {
        true
    }

    fn may_block(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Found by fuzz/host_files: `\\777` overflowed a byte.
    #[test]
    fn an_escape_beyond_a_byte_stays_literal() {
        assert_eq!(unescape("/a\\777b"), "/a\\777b");
        assert_eq!(unescape("/a\\377"), String::from_utf8_lossy(b"/a\xff"));
        assert_eq!(unescape("/a\\04"), "/a\\04");
        assert_eq!(unescape("\\040x"), " x");
    }

    #[test]
    fn parses_mounts_with_escapes_and_ro() {
        let m = parse_mounts("/dev/sda1 /mnt/my\\040disk ext4 ro,relatime 0 0\nbad line\n");
        assert_eq!(
            m,
            vec![Mount {
                device: "/dev/sda1".into(),
                mount_point: "/mnt/my disk".into(),
                fs_type: "ext4".into(),
                read_only: true
            }]
        );
    }

    #[test]
    fn a_statfs_stuck_past_the_timeout_is_skipped_until_it_returns() {
        let stuck = Arc::new(StuckMounts::default());
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let s = Arc::clone(&stuck);
        let blocked = std::thread::spawn(move || {
            s.run("/nfs", Duration::ZERO, || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        });
        started_rx.recv().unwrap();
        // While the first call hangs, later scrapes do not call statfs on the mount again.
        let mut called = false;
        assert!(matches!(
            stuck.run("/nfs", Duration::ZERO, || called = true),
            Guarded::Stuck
        ));
        assert!(!called);
        // Other mounts are unaffected.
        assert!(matches!(
            stuck.run("/home", Duration::ZERO, || 7),
            Guarded::Done(7)
        ));
        release_tx.send(()).unwrap();
        assert!(matches!(blocked.join().unwrap(), Guarded::Done(())));
        assert!(matches!(
            stuck.run("/nfs", Duration::ZERO, || 1),
            Guarded::Done(1)
        ));
    }

    #[test]
    fn concurrent_calls_within_the_timeout_both_run() {
        let stuck = StuckMounts::default();
        let outer = stuck.run("/a", Duration::from_secs(60), || {
            stuck.run("/a", Duration::from_secs(60), || 2)
        });
        assert!(matches!(outer, Guarded::Done(Guarded::Done(2))));
    }
}
