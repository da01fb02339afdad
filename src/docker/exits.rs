//! Why containers stopped, kept on disk (`docker.state_file`), so a restart of hale does not
//! forget it: `hale_container_stopped_by_request` comes back as it was, `ContainerDown` keeps
//! firing for a container that died on its own, and healing may start a crashed container that
//! hale saw die before it restarted.
//!
//! Docker keeps no record of whether a stop was asked for, and its events stream replays too
//! little to recover it, so hale writes what it saw. An entry is restored only for the same
//! container (its ID) still stopped at the same `FinishedAt`: a container that started and
//! stopped again while hale was away gets no stale reason.
//!
//! The file is small JSON, rewritten whole (a temporary file, fsync, rename) when a reason
//! changes. An unreadable or unwritable file costs the memory across restarts, nothing else:
//! it is logged and hale carries on with what it sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::ExitCause;

const VERSION: u32 = 1;

/// One stopped container's reason, and when it stopped (Docker's `FinishedAt`, Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub requested: bool,
    pub finished_at: f64,
}

impl Entry {
    /// Whether `finished_at` is this entry's stop. Within a millisecond: the times are f64
    /// seconds, and a JSON round trip may move the last bit; a container does not stop, start
    /// and stop again within a millisecond.
    pub fn same_time(self, finished_at: f64) -> bool {
        (self.finished_at - finished_at).abs() < 1e-3
    }

    pub fn cause(self) -> ExitCause {
        if self.requested {
            ExitCause::Requested
        } else {
            ExitCause::OnItsOwn
        }
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    /// By Docker container ID.
    exits: BTreeMap<String, Entry>,
}

/// The file, and what was last written to it (so an unchanged set is not rewritten).
pub struct ExitStore {
    path: Option<PathBuf>,
    written: Mutex<Option<BTreeMap<String, Entry>>>,
    /// Whether a failed write was logged at warn: later ones go to debug, so a hale that
    /// cannot write (not root, a read-only /var/lib) says so once, not on every resync.
    warned: std::sync::atomic::AtomicBool,
}

impl ExitStore {
    /// A store at `path`; `None` keeps reasons in memory only.
    pub fn new(path: Option<PathBuf>) -> ExitStore {
        ExitStore {
            path,
            written: Mutex::new(None),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The entries on disk; none when there is no file, and none (logged) when it cannot be
    /// read or is not hale's.
    pub fn load(&self) -> BTreeMap<String, Entry> {
        let Some(path) = &self.path else {
            return BTreeMap::new();
        };
        let text = match crate::paths::read_bytes(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e,
                    "docker: cannot read why containers stopped; starting without it");
                return BTreeMap::new();
            }
        };
        match serde_json::from_slice::<File>(&text) {
            Ok(f) if f.version == VERSION => {
                let exits: BTreeMap<String, Entry> = f
                    .exits
                    .into_iter()
                    .filter(|(_, e)| e.finished_at.is_finite())
                    .collect();
                *self.written.lock() = Some(exits.clone());
                exits
            }
            Ok(f) => {
                tracing::warn!(path = %path.display(), version = f.version,
                    "docker: the stop-reason file is from another hale version; ignored");
                BTreeMap::new()
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e,
                    "docker: the stop-reason file is not valid; ignored");
                BTreeMap::new()
            }
        }
    }

    /// Writes `exits` if they differ from what was last written. Blocking: call it off the
    /// async threads.
    pub fn save(&self, exits: BTreeMap<String, Entry>) {
        let Some(path) = &self.path else { return };
        let mut written = self.written.lock();
        if written.as_ref() == Some(&exits) {
            return;
        }
        match write_atomically(path, &exits) {
            Ok(()) => *written = Some(exits),
            Err(e) if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) => {
                tracing::warn!(path = %path.display(), error = %e,
                    "docker: cannot record why containers stopped; a restart of hale will forget it (repeats are logged at debug)")
            }
            Err(e) => tracing::debug!(path = %path.display(), error = %e,
                "docker: cannot record why containers stopped"),
        }
    }
}

fn write_atomically(path: &Path, exits: &BTreeMap<String, Entry>) -> std::io::Result<()> {
    use std::io::Write as _;
    let body = serde_json::to_vec(&File {
        version: VERSION,
        exits: exits.clone(),
    })
    .map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Named by process, so two hales pointed at one file never write the same temporary.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&body)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_survive_a_reopen_and_bad_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/exits.json");
        let store = ExitStore::new(Some(path.clone()));
        assert!(store.load().is_empty(), "no file yet");
        let exits = BTreeMap::from([
            (
                "aaa".to_string(),
                Entry {
                    requested: true,
                    finished_at: 100.5,
                },
            ),
            (
                "bbb".to_string(),
                Entry {
                    requested: false,
                    finished_at: 200.0,
                },
            ),
        ]);
        store.save(exits.clone());
        let again = ExitStore::new(Some(path.clone()));
        assert_eq!(again.load(), exits);
        assert_eq!(again.load()["aaa"].cause(), ExitCause::Requested);
        let aaa = again.load()["aaa"];
        assert!(aaa.same_time(100.5 + 1e-7) && !aaa.same_time(100.6));

        std::fs::write(&path, b"{not json").unwrap();
        assert!(ExitStore::new(Some(path.clone())).load().is_empty());
        std::fs::write(&path, br#"{"version": 9, "exits": {}}"#).unwrap();
        assert!(ExitStore::new(Some(path.clone())).load().is_empty());

        // An unwritable place costs the memory, not a panic.
        let blocked = ExitStore::new(Some(path.join("under-a-file")));
        blocked.save(exits);
        assert!(blocked.load().is_empty());
        assert!(ExitStore::new(None).load().is_empty());
    }
}
