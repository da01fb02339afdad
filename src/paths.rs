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

/// A directory of kernel pseudo-files (a cgroup, a network interface's sysfs directory) read
/// through one open handle: each file is one `openat` of a single name (no path walk from `/`,
/// no symlink to follow again: `/sys/class/net/<iface>` is a link into `/sys/devices`), no
/// `stat`, and for a file of one value or one block of text, one `read`. A scrape reads
/// hundreds of such files, and these syscalls are most of its cost.
///
/// The one `read` holds for files the kernel writes in one piece (a cgroup's `memory.stat`, a
/// sysfs attribute): it fills a read with all of it. A list the kernel writes an entry at a time
/// (`cgroup.procs`, `tasks`, `net/dev`) comes a page or so per `read`, so a short read is not its
/// end: [`KernelDir::read_list`] reads those until a `read` returns nothing.
pub struct KernelDir {
    path: PathBuf,
    fd: rustix::fd::OwnedFd,
}

impl KernelDir {
    /// Opens the directory (`O_PATH`: no permission needed beyond search).
    pub fn open(path: &Path) -> Result<KernelDir, ReadError> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => Ok(KernelDir {
                path: path.to_path_buf(),
                fd,
            }),
            Err(e) => Err(ReadError {
                path: path.to_path_buf(),
                source: e.into(),
            }),
        }
    }

    /// The directory's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `name`, or `None` when the kernel does not provide it.
    pub fn read(&self, name: &str) -> Option<String> {
        self.try_read(name).ok()
    }

    /// Reads `name` as a decimal integer (surrounding white space allowed).
    pub fn read_u64(&self, name: &str) -> Result<u64, ReadError> {
        let text = self.try_read(name)?;
        text.trim().parse().map_err(|_| ReadError {
            path: self.path.join(name),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{:?} is not a number", text.trim()),
            ),
        })
    }

    /// Reads `name` as text, keeping the path in the error.
    pub fn try_read(&self, name: &str) -> Result<String, ReadError> {
        let err = |source: std::io::Error| ReadError {
            path: self.path.join(name),
            source,
        };
        let bytes = self.read_bytes(name).map_err(err)?;
        String::from_utf8(bytes)
            .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    /// Reads a file the kernel writes an entry at a time (see the type's doc), to its end.
    pub fn read_list(&self, name: &str) -> Option<String> {
        let bytes = self.open_file(name).and_then(|f| read_all(f, false)).ok()?;
        String::from_utf8(bytes).ok()
    }

    fn open_file(&self, name: &str) -> std::io::Result<std::fs::File> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(&self.fd, name, flags, Mode::empty())?.into())
    }

    /// Reads `name`'s bytes; the error keeps the kernel's errno (`EINVAL` from the `speed` of a
    /// link that is down, say) for callers that treat some as "not provided".
    pub fn read_bytes(&self, name: &str) -> std::io::Result<Vec<u8>> {
        read_all(self.open_file(name)?, true)
    }
}

/// Kernel pseudo-files hale reads at every scrape (`/proc/stat`, `/proc/net/dev`, ...), kept
/// open between scrapes and read again from offset 0: procfs and sysfs make a file's text anew
/// at each read from the start, and opening and closing one costs more than reading it (a
/// kernfs open allocates and frees the file's buffers; on this project's test VM, 110 sysfs
/// attributes cost 361 µs of system time opened, read and closed, 42 µs read through open
/// descriptors). Only files on procfs or sysfs are kept (a fixture tree's regular files, which a
/// test may replace, are opened each time), only paths the collectors name (a fixed, small set),
/// and a read that fails on a kept descriptor drops it and opens the file again.
static KEPT: std::sync::LazyLock<
    parking_lot::Mutex<std::collections::HashMap<PathBuf, std::fs::File>>,
> = std::sync::LazyLock::new(Default::default);

/// Whether `fd` is on procfs or sysfs, whose files regenerate at each read from offset 0.
fn on_kernel_fs(fd: impl rustix::fd::AsFd) -> bool {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    rustix::fs::fstatfs(fd).is_ok_and(|s| {
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        let kind = s.f_type as i64;
        kind == PROC_SUPER_MAGIC || kind == SYSFS_MAGIC
    })
}

/// A file read from a position with `pread`, for a kept descriptor whose offset is left alone.
struct At<'a>(&'a std::fs::File, u64);

impl std::io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.0, buf, self.1)?;
        self.1 += n as u64;
        Ok(n)
    }
}

/// Reads a kernel pseudo-file read at every scrape, through a descriptor kept open between
/// reads (see `KEPT`: which files, and why); otherwise as [`read`].
pub fn read_kept(path: PathBuf) -> Result<String, ReadError> {
    let err = |path: PathBuf, source| ReadError { path, source };
    // Taken out of the map while in use: a scrape that overlaps one stuck in a read opens its
    // own rather than sharing an offset.
    let kept = KEPT.lock().remove(&path);
    if let Some(file) = kept {
        if let Ok(bytes) = read_all(At(&file, 0), false) {
            KEPT.lock().insert(path.clone(), file);
            return String::from_utf8(bytes).map_err(|e| {
                err(
                    path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            });
        }
    }
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => return Err(err(path, e)),
    };
    let kernel = on_kernel_fs(&file);
    // Anything else is read as a stream: it may be a FIFO, which has no offsets.
    let read = if kernel {
        read_all(At(&file, 0), false)
    } else {
        read_all(&file, false)
    };
    let bytes = match read {
        Ok(b) => b,
        Err(e) => return Err(err(path, e)),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        err(
            path.clone(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })?;
    if kernel {
        KEPT.lock().insert(path, file);
    }
    Ok(text)
}

/// A [`KernelDir`] whose files are kept open between scrapes and read again from offset 0 (see
/// [`read_kept`]): a network interface's two dozen sysfs attributes, read at every scrape. It
/// remembers which directory it opened (its inode), so a caller can tell when the path now
/// names another one (an interface removed and created again, or renamed), and start afresh.
pub struct KeptDir {
    dir: KernelDir,
    id: (u64, u64),
    kernel: bool,
    files: Vec<(&'static str, std::fs::File)>,
}

/// A directory's device and inode, following symbolic links.
fn dir_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (meta.dev(), meta.ino())
}

impl KeptDir {
    /// Opens the directory at `path`.
    pub fn open(path: &Path) -> Result<KeptDir, ReadError> {
        let dir = KernelDir::open(path)?;
        let meta = rustix::fs::fstat(&dir.fd).map_err(|e| ReadError {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(KeptDir {
            kernel: on_kernel_fs(&dir.fd),
            id: (meta.st_dev as u64, meta.st_ino as u64),
            dir,
            files: Vec::new(),
        })
    }

    /// Whether `path` still names the directory this opened.
    pub fn is_at(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| dir_id(&m) == self.id)
    }

    /// The directory's path, for error messages.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Reads `name`'s bytes (one value or block: one read), through its kept descriptor when
    /// there is one; otherwise opens it, and keeps it when it is a procfs or sysfs file that
    /// read. A failed read through a kept descriptor drops it and tries a fresh open, whose
    /// error (`EINVAL` from a down link's `speed`) is the one returned.
    pub fn read_bytes(&mut self, name: &'static str) -> std::io::Result<Vec<u8>> {
        if let Some(i) = self.files.iter().position(|(n, _)| *n == name) {
            if let Some((_, file)) = self.files.get(i) {
                if let Ok(bytes) = read_all(At(file, 0), true) {
                    return Ok(bytes);
                }
            }
            self.files.swap_remove(i);
        }
        let file = self.dir.open_file(name)?;
        if !self.kernel {
            return read_all(file, true);
        }
        let bytes = read_all(At(&file, 0), true)?;
        self.files.push((name, file));
        Ok(bytes)
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
    fn lists_the_kernel_writes_an_entry_at_a_time_are_read_to_their_end() {
        // /proc/kallsyms: a seq file of one symbol per line, megabytes long, which the kernel
        // hands out a page or so per read, however much is asked for.
        let whole = std::fs::read_to_string("/proc/kallsyms").unwrap();
        assert!(whole.len() > 64 * 1024, "{}", whole.len());
        let proc = KernelDir::open(Path::new("/proc")).unwrap();
        // One read is short of the whole: a short read is not the end of a list.
        assert!(proc.read("kallsyms").unwrap().len() < whole.len());
        assert_eq!(proc.read_list("kallsyms").unwrap().len(), whole.len());
        // A kept descriptor reads it whole too, again and again.
        for _ in 0..2 {
            assert_eq!(
                read_kept("/proc/kallsyms".into()).unwrap().len(),
                whole.len()
            );
        }
    }

    #[test]
    fn kernel_files_are_kept_open_and_read_afresh_regular_files_are_not_kept() {
        // /proc/uptime changes every hundredth of a second: a kept descriptor read again
        // from offset 0 gives the kernel's new text, not the first read's.
        let path = PathBuf::from("/proc/uptime");
        let first = read_kept(path.clone()).unwrap();
        assert!(KEPT.lock().contains_key(&path));
        std::thread::sleep(std::time::Duration::from_millis(50));
        let second = read_kept(path.clone()).unwrap();
        assert_ne!(first, second);
        assert!(KEPT.lock().contains_key(&path));
        // A regular file is opened each time, so a replaced one is read as it is now.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stat");
        std::fs::write(&file, "one\n").unwrap();
        assert_eq!(read_kept(file.clone()).unwrap(), "one\n");
        assert!(!KEPT.lock().contains_key(&file));
        std::fs::write(dir.path().join("new"), "two\n").unwrap();
        std::fs::rename(dir.path().join("new"), &file).unwrap();
        assert_eq!(read_kept(file.clone()).unwrap(), "two\n");
        // A FIFO (a test's stand-in for a read stuck in the kernel) has no offsets: it is read
        // as a stream.
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "MemTotal: 1 kB\n"))
        };
        assert_eq!(read_kept(fifo.clone()).unwrap(), "MemTotal: 1 kB\n");
        writer.join().unwrap().unwrap();
        assert!(!KEPT.lock().contains_key(&fifo));
        // An absent file is an error with its path.
        let err = read_kept(dir.path().join("absent")).unwrap_err();
        assert_eq!(err.source.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn a_kept_directory_knows_when_its_path_names_another() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("eth0"), dir.path().join("eth1"));
        std::fs::create_dir(&a).unwrap();
        std::fs::write(a.join("mtu"), "1500\n").unwrap();
        let mut kept = KeptDir::open(&a).unwrap();
        assert!(kept.is_at(&a));
        assert_eq!(kept.read_bytes("mtu").unwrap(), b"1500\n");
        // Renamed away and another made in its place: the path is not this directory now.
        std::fs::rename(&a, &b).unwrap();
        std::fs::create_dir(&a).unwrap();
        assert!(!kept.is_at(&a));
        assert!(kept.is_at(&b));
        std::fs::remove_dir(&a).unwrap();
        assert!(!kept.is_at(&a));
        // sysfs attributes are kept and read afresh: /sys/class/net/lo exists on every host.
        let mut lo = KeptDir::open(Path::new("/sys/class/net/lo")).unwrap();
        let mtu = lo.read_bytes("mtu").unwrap();
        assert_eq!(lo.read_bytes("mtu").unwrap(), mtu);
        assert_eq!(lo.files.len(), 1);
        assert_eq!(
            lo.read_bytes("absent").unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
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
