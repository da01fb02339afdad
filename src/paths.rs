//! Where host files are read from. Every path into procfs, sysfs or the host's root filesystem
//! goes through [`HostPaths`], fed by `--path.procfs`, `--path.sysfs` and `--path.rootfs`, so hale
//! runs the same on the host and in a container with the host's `/` mounted (and tests point it at
//! a fixture tree).

use std::path::{Path, PathBuf};

/// A failed read of a host file, with the path that failed.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}: {source}")]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A bad `--path.*` value found at start-up.
#[derive(Debug, thiserror::Error)]
#[error("--path.{flag}={path}: {reason}")]
pub struct PathError {
    pub flag: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// The roots of procfs, sysfs and the host's root filesystem.
#[derive(Debug, Clone)]
pub struct HostPaths {
    procfs: PathBuf,
    sysfs: PathBuf,
    rootfs: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
        }
    }
}

impl HostPaths {
    /// Builds the roots, checking each is a readable directory so a typo fails at start-up,
    /// not as an endless series of failed scrapes.
    pub fn new(procfs: PathBuf, sysfs: PathBuf, rootfs: PathBuf) -> Result<Self, PathError> {
        for (flag, path) in [("procfs", &procfs), ("sysfs", &sysfs), ("rootfs", &rootfs)] {
            match std::fs::read_dir(path) {
                Ok(_) => {}
                Err(e) => {
                    return Err(PathError {
                        flag,
                        path: path.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(Self {
            procfs,
            sysfs,
            rootfs,
        })
    }

    /// A path under procfs, e.g. `proc("meminfo")`.
    pub fn proc(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.procfs.join(rel)
    }

    /// A path under sysfs.
    pub fn sys(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// The procfs root itself (for iterating processes).
    pub fn procfs_root(&self) -> &Path {
        &self.procfs
    }

    /// Where a host mount point lives from hale's point of view (`--path.rootfs` + mount point).
    pub fn rootfs_join(&self, mount_point: &str) -> PathBuf {
        self.rootfs.join(mount_point.trim_start_matches('/'))
    }

    /// The host's name for a mount point: strips a `--path.rootfs` prefix as node_exporter does,
    /// so `/rootfs/home` (seen from inside a container) is reported as `/home`. Mount points read
    /// from the host's own mount table (`--path.procfs` of the host) have no prefix and pass as is.
    pub fn host_mount_point<'a>(&self, seen: &'a str) -> std::borrow::Cow<'a, str> {
        let root = self.rootfs.to_str().unwrap_or("/").trim_end_matches('/');
        if root.is_empty() {
            return seen.into();
        }
        match seen.strip_prefix(root) {
            Some("") => "/".into(),
            Some(rest) if rest.starts_with('/') => rest.to_string().into(),
            _ => seen.into(),
        }
    }

    /// Reads a sysfs file to a string.
    pub fn read_sys(&self, rel: &str) -> Result<String, ReadError> {
        read(self.sys(rel))
    }
}

/// Reads a file to a string, keeping the path in the error.
pub fn read(path: PathBuf) -> Result<String, ReadError> {
    read_text(&path).map_err(|source| ReadError { path, source })
}

/// Reads a procfs, sysfs or small host file: an open, then reads into a per-thread
/// scratch buffer until end of file (two reads for a file that fits), then one allocation of
/// the text's exact size.
///
/// `std::fs::read_to_string` first asks for the file's size (a `statx` per file), which procfs
/// and sysfs answer with 0 or a page size anyway, then zeroes and grows a fresh buffer per file;
/// a scrape reads dozens of such files, so hale skips both.
pub fn read_bytes(path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
    read_all(std::fs::File::open(path)?, false)
}

/// Reads an open file to its end through the per-thread scratch buffer (see [`read_bytes`]).
/// With `short_read_ends`, a read that does not fill the buffer is taken as the end: the
/// kernel's seq files (cgroup files, `/proc/<pid>/stat`) fill a read as far as they can, so
/// this saves the read that would return 0. Not for regular files, which may return less.
pub fn read_all(mut file: impl std::io::Read, short_read_ends: bool) -> std::io::Result<Vec<u8>> {
    use std::cell::RefCell;
    /// Scratch space kept across reads; it only grows past this for a larger file.
    const SCRATCH: usize = 64 * 1024;
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        // A re-entrant call (none today) would get its own buffer rather than a panic.
        let mut own = Vec::new();
        let mut borrowed = buf.try_borrow_mut();
        let buf = match borrowed.as_deref_mut() {
            Ok(b) => b,
            Err(_) => &mut own,
        };
        if buf.len() < SCRATCH {
            buf.resize(SCRATCH, 0);
        }
        let mut len = 0;
        loop {
            if len == buf.len() {
                buf.resize(len.saturating_mul(2), 0);
            }
            let Some(spare) = buf.get_mut(len..) else {
                break;
            };
            let asked = spare.len();
            match file.read(spare) {
                Ok(0) => break,
                Ok(n) => {
                    len += n;
                    if short_read_ends && n < asked {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let bytes = buf.get(..len).unwrap_or_default().to_vec();
        // One huge file (a mount table on a busy host) does not pin its size for good.
        if buf.len() > 16 * SCRATCH {
            buf.truncate(SCRATCH);
            buf.shrink_to_fit();
        }
        Ok(bytes)
    })
}

/// [`read_bytes`] as UTF-8 text; invalid UTF-8 is an `InvalidData` error, as with
/// `std::fs::read_to_string`.
pub fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    String::from_utf8(read_bytes(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_rootfs_prefix_like_node_exporter() {
        let p = HostPaths {
            rootfs: "/rootfs".into(),
            ..HostPaths::default()
        };
        assert_eq!(p.host_mount_point("/rootfs"), "/");
        assert_eq!(p.host_mount_point("/rootfs/home"), "/home");
        assert_eq!(p.host_mount_point("/rootfsx"), "/rootfsx");
        assert_eq!(p.host_mount_point("/home"), "/home");
        assert_eq!(p.rootfs_join("/home"), PathBuf::from("/rootfs/home"));
        let d = HostPaths::default();
        assert_eq!(d.host_mount_point("/home"), "/home");
        assert_eq!(d.rootfs_join("/"), PathBuf::from("/"));
    }

    #[test]
    fn read_text_reads_whole_files_of_any_size_and_rejects_bad_utf8() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0, 1, 4095, 65536, 65537, 300_000] {
            let text: String = (0..size)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let p = dir.path().join(format!("f{size}"));
            std::fs::write(&p, &text).unwrap();
            assert_eq!(read_text(&p).unwrap(), text, "size {size}");
        }
        // A large read, then a small one: no bytes of the first leak into the second.
        std::fs::write(dir.path().join("small"), "x\n").unwrap();
        assert_eq!(read_text(dir.path().join("small")).unwrap(), "x\n");
        std::fs::write(dir.path().join("bad"), [0x66, 0xff, 0x66]).unwrap();
        let err = read_text(dir.path().join("bad")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let err = read_text(dir.path().join("absent")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn missing_root_is_a_start_up_error() {
        let err =
            HostPaths::new("/nonexistent/proc".into(), "/sys".into(), "/".into()).unwrap_err();
        assert_eq!(err.flag, "procfs");
        assert!(
            err.to_string().contains("--path.procfs=/nonexistent/proc"),
            "{err}"
        );
    }
}
