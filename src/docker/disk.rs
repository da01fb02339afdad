//! Containers' writable layers on disk, as cAdvisor's `container_fs_*` families report them for
//! Docker: the bytes and inodes each running container's writable layer (overlay2's
//! `UpperDir`) holds, like `du`, and the size and inodes of the filesystem it lives on.
//!
//! Walking a layer costs as much as its file count, so it never happens in a scrape: the
//! watcher walks every running container's layer in the background each
//! `docker.disk_usage_interval` (one after the other, on a blocking thread), and a scrape reports
//! the last walk. A layer that cannot be walked (gone, not permitted) is left out until the
//! next walk.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// What one walk found in a writable layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerUsage {
    /// Allocated bytes (`st_blocks` × 512), each hard-linked inode once, as `du` counts.
    pub bytes: u64,
    /// Inodes: files, directories and links.
    pub inodes: u64,
}

/// The filesystem a layer lives on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filesystem {
    /// The mounted device, as cAdvisor's `device` label (`/dev/sda1`).
    pub device: String,
    pub capacity_bytes: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

/// Walks `dir` like `du -x`: no symlink followed, no other filesystem entered.
pub fn usage(dir: &Path) -> std::io::Result<LayerUsage> {
    let root = std::fs::symlink_metadata(dir)?;
    let device = root.dev();
    let mut total = LayerUsage {
        bytes: root.blocks().saturating_mul(512),
        inodes: 1,
    };
    let mut linked: HashSet<u64> = HashSet::new();
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        // A directory removed while it is walked is skipped, not an error.
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != device {
                continue;
            }
            if meta.nlink() > 1 && !meta.is_dir() && !linked.insert(meta.ino()) {
                continue;
            }
            total.inodes += 1;
            total.bytes = total
                .bytes
                .saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(total)
}

/// The filesystem holding `dir`: statfs for its size, and the longest mount point over `dir`
/// in `mounts` (`/proc/self/mounts`' text) for its device.
pub fn filesystem(dir: &Path, mounts: &str) -> Option<Filesystem> {
    let stat = rustix::fs::statfs(dir).ok()?;
    let device = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (source, target) = (f.next()?, f.next()?);
            let target = target.replace("\\040", " ");
            dir.starts_with(&target)
                .then(|| (target.len(), source.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, source)| source)
        .unwrap_or_default();
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    let (blocks, frsize, files, ffree) = (
        stat.f_blocks as u64,
        stat.f_frsize as u64,
        stat.f_files as u64,
        stat.f_ffree as u64,
    );
    Some(Filesystem {
        device,
        capacity_bytes: blocks.saturating_mul(frsize),
        inodes: files,
        inodes_free: ffree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_directories_and_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("a"), vec![1u8; 100_000]).unwrap();
        std::fs::hard_link(sub.join("a"), dir.path().join("a-again")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        let u = usage(dir.path()).unwrap();
        // root, sub, a (once), the symlink.
        assert_eq!(u.inodes, 4);
        let a = std::fs::metadata(sub.join("a")).unwrap().blocks() * 512;
        assert!(u.bytes >= a && u.bytes < a + 64 * 1024, "{u:?}");
        assert!(usage(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_longest_mount_over_the_directory_names_the_device() {
        let mounts = "/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /var/lib/docker xfs rw 0 0\ntmpfs /run tmpfs rw 0 0\n";
        let fs = filesystem(Path::new("/"), mounts).unwrap();
        assert_eq!(fs.device, "/dev/sda1");
        assert!(fs.capacity_bytes > 0);
    }
}
