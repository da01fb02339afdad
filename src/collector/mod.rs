//! Collectors: one file each, holding its reader, its flags and its `SPEC`, and registered by
//! one name in [`collectors!`] under the name that `--collector.<name>` and
//! `--no-collector.<name>` use, with its default. A collector reads its source at scrape time and
//! returns metric families; [`crate::scrape`] runs them in parallel under a time budget and reports
//! each one's success and duration, so one broken source never takes the others down.

use std::path::PathBuf;
use std::sync::Arc;

use regex::Regex;

use crate::metric::MetricFamily;
use crate::paths::{HostPaths, ReadError};
use crate::process_match::ProcessMatcher;

/// Declares the collectors: each is one file with its `SPEC` (name, default, help, its own
/// flags and its constructor), and one name in this list, which is the order they report in.
macro_rules! collectors {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every collector hale has, in the order they are reported.
        pub const SPECS: &[Spec] = &[$($module::SPEC),*];
    };
}

collectors![
    arp,
    bcache,
    bonding,
    btrfs,
    conntrack,
    cpu,
    cpufreq,
    diskstats,
    dmi,
    docker,
    edac,
    entropy,
    fibrechannel,
    filefd,
    filesystem,
    heal,
    health,
    hwmon,
    infiniband,
    ipvs,
    loadavg,
    machine,
    mdadm,
    meminfo,
    netclass,
    netdev,
    netstat,
    nfs,
    nfsd,
    nvme,
    os,
    powersupplyclass,
    pressure,
    processes,
    rapl,
    schedstat,
    selfproc,
    selinux,
    sockstat,
    softnet,
    stat,
    tapestats,
    textfile,
    thermal_zone,
    time,
    timex,
    udp_queues,
    uname,
    vmstat,
    xfs,
    zfs,
];

/// The collectors node_exporter 1.5 enables by default on Linux, by name. Those hale has report
/// their status under node_exporter's `node_scrape_collector_*` names as well as hale's own, so
/// dashboards that read them (Node Exporter Full's "Node Exporter" row) keep working. hale's own
/// collectors (`docker`, `processes`, `self`, `health`, `heal`) report under hale's names only:
/// node_exporter has none of them by that meaning.
pub const NODE_EXPORTER_DEFAULTS: &[&str] = &[
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
    "xfs",
    "zfs",
];

/// Why a collector failed this scrape.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("parsing {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{0}")]
    Source(String),
}

impl Error {
    /// A parse error for a host file.
    pub fn parse(path: PathBuf, reason: impl Into<String>) -> Self {
        Error::Parse {
            path,
            reason: reason.into(),
        }
    }
}

/// A source of metrics read at scrape time.
pub trait Collector: Send + Sync {
    /// Appends this collector's families to `out`.
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error>;

    /// Whether a new scrape may run this collector while an earlier run is still stuck past its
    /// budget. Only collectors that skip the stuck part themselves (filesystem skips stuck mounts)
    /// say yes; for the rest a stuck run blocks new ones, which bounds the stuck threads to one.
    fn rerun_while_stuck(&self) -> bool {
        false
    }

    /// Whether this collector can block for long on a healthy host (statfs of a network mount,
    /// reading a process stuck in the kernel). Such collectors run on their own thread; the rest
    /// share one, which keeps a scrape to a handful of thread hand-offs.
    fn may_block(&self) -> bool {
        false
    }
}

/// A part of hale that exports its own families at scrape time (the health model, the
/// healer): the `health` and `heal` collectors ask it, so `collector` does not depend on the
/// parts it reports on.
pub trait Source: Send + Sync {
    fn families(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error>;
}

/// A collector as the command line and the composition root know it.
#[derive(Clone, Copy)]
pub struct Spec {
    /// The `<name>` of `--collector.<name>` and of `hale_scrape_collector_success{collector}`.
    pub name: &'static str,
    pub enabled_by_default: bool,
    /// One line for `--help`.
    pub help: &'static str,
    /// Adds the collector's own flags (`--collector.<name>.*`) to the command: a
    /// `clap::Args::augment_args`, or [`no_flags`].
    pub flags: fn(clap::Command) -> clap::Command,
    /// Builds the collector, reading and validating its own flags from the context.
    pub build: fn(&Context) -> Result<Arc<dyn Collector>, FlagError>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// For a collector without flags of its own.
pub fn no_flags(command: clap::Command) -> clap::Command {
    command
}

/// What a collector is built from: the parsed command line (each collector reads its own
/// flags), the host paths, the config's process groups, and the running parts some collectors
/// report on. [`crate::app`] makes it; a collector takes only what it uses.
pub struct Context<'a> {
    pub matches: &'a clap::ArgMatches,
    pub paths: &'a HostPaths,
    pub process_names: &'a Arc<Vec<ProcessMatcher>>,
    /// Started when the docker collector is enabled (or healing acts on containers).
    pub docker: Option<&'a Arc<crate::docker::Watcher>>,
    /// The health model's checks and probes.
    pub health: Arc<dyn Source>,
    /// The healer's decisions, queue and audit log, when healing is configured.
    pub healer: Option<Arc<dyn Source>>,
}

/// A collector flag whose value does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    // The regex error is the source, which the error chain prints once after this.
    #[error("--{flag}: invalid regular expression")]
    Regex {
        flag: &'static str,
        #[source]
        source: regex::Error,
    },
    #[error("--{flag}: {reason}")]
    Invalid { flag: &'static str, reason: String },
    #[error(transparent)]
    Clap(#[from] clap::Error),
}

/// Compiles a flag's regular expression, naming the flag when it does not.
pub fn regex(flag: &'static str, value: &str) -> Result<Regex, FlagError> {
    Regex::new(value).map_err(|source| FlagError::Regex { flag, source })
}

/// An include or exclude filter from a flag pair, each given as `(flag, value)`. An empty
/// exclude keeps every device.
pub fn device_filter(
    (inc_flag, include): (&'static str, Option<&str>),
    (exc_flag, exclude): (&'static str, Option<&str>),
    default_exclude: &str,
) -> Result<DeviceFilter, FlagError> {
    Ok(match (include, exclude) {
        (Some(inc), _) => DeviceFilter::Include(regex(inc_flag, inc)?),
        (None, Some("")) => DeviceFilter::All,
        (None, None) if default_exclude.is_empty() => DeviceFilter::All,
        (None, Some(exc)) => DeviceFilter::Exclude(regex(exc_flag, exc)?),
        (None, None) => DeviceFilter::Exclude(regex(exc_flag, default_exclude)?),
    })
}

/// An include-or-exclude device filter, like node_exporter's `device-include`/`device-exclude`.
#[derive(Debug, Clone)]
pub enum DeviceFilter {
    Include(Regex),
    Exclude(Regex),
    All,
}

impl DeviceFilter {
    /// Whether a device passes the filter.
    pub fn keeps(&self, device: &str) -> bool {
        match self {
            DeviceFilter::Include(re) => re.is_match(device),
            DeviceFilter::Exclude(re) => !re.is_match(device),
            DeviceFilter::All => true,
        }
    }
}

/// The entries of `dir` named `<prefix><digits>`, as (digits, path), sorted like a glob.
pub(crate) fn numbered(dir: &std::path::Path, prefix: &str) -> Vec<(String, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix(prefix)?;
            n.starts_with(|c: char| c.is_ascii_digit())
                .then(|| (n.to_string(), e.path()))
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// What a collector derives from a host file's keys at every scrape (a family's name and help
/// from a `/proc/meminfo` field, a filter's verdict on a `/proc/vmstat` field), made once per
/// key. The keys are the kernel's, a fixed set for a boot; past [`PerKey::CAP`] distinct keys (a
/// procfs that invents them) nothing more is kept and callers make their values afresh.
pub(crate) struct PerKey<T> {
    /// Hashed with foldhash: SipHash over each of /proc/vmstat's 180 field names was most of
    /// what a look-up cost, and these keys come from the kernel, not from a client.
    map: parking_lot::Mutex<std::collections::HashMap<Box<str>, T, foldhash::fast::RandomState>>,
}

impl<T> Default for PerKey<T> {
    fn default() -> Self {
        Self {
            map: Default::default(),
        }
    }
}

impl<T: Clone> PerKey<T> {
    const CAP: usize = 4096;

    /// The value for `key`, made by `make` the first time; `None` for a new key once the cap
    /// is reached (`make` is not called then: it may make something to keep forever).
    pub(crate) fn get(&self, key: &str, make: impl FnOnce() -> T) -> Option<T> {
        let mut map = self.map.lock();
        if let Some(v) = map.get(key) {
            return Some(v.clone());
        }
        if map.len() >= Self::CAP {
            return None;
        }
        let v = make();
        map.insert(key.into(), v.clone());
        Some(v)
    }
}

/// A name or help text made once for the life of the process, for [`PerKey`] values (made only
/// while the map has room, so at most its cap per collector).
pub(crate) fn forever(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A host file that may not exist on this host (no md, no IPv6, a kernel without schedstats):
/// `None` when it is absent, so the collector reports success and no series.
pub(crate) fn read_optional(path: PathBuf) -> Result<Option<String>, Error> {
    match crate::paths::read_text(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReadError { path, source }.into()),
    }
}

/// [`read_optional`] for a fixed kernel file read at every scrape (`/proc/net/udp`), kept open
/// between scrapes ([`crate::paths::read_kept`]).
pub(crate) fn read_optional_kept(path: PathBuf) -> Result<Option<String>, Error> {
    match crate::paths::read_kept(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Parses one whitespace-separated number field, naming the file on failure.
/// A file holding one unsigned number (`/proc/sys/...`).
pub(crate) fn read_u64_file(path: PathBuf) -> Result<u64, Error> {
    let text = crate::paths::read(path.clone())?;
    parse_u64(Some(text.trim()), &path, "value")
}

/// [`read_u64_file`] for a fixed kernel file read at every scrape, kept open between scrapes.
pub(crate) fn read_u64_kept(path: PathBuf) -> Result<u64, Error> {
    let text = crate::paths::read_kept(path.clone())?;
    parse_u64(Some(text.trim()), &path, "value")
}

pub(crate) fn parse_u64(
    field: Option<&str>,
    path: &std::path::Path,
    what: &str,
) -> Result<u64, Error> {
    let field =
        field.ok_or_else(|| Error::parse(path.to_path_buf(), format!("missing field {what}")))?;
    field.parse::<u64>().map_err(|_| {
        Error::parse(
            path.to_path_buf(),
            format!("field {what}: {field:?} is not a number"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::PerKey;

    #[test]
    fn per_key_values_are_made_once_and_not_past_the_cap() {
        let per = PerKey::<usize>::default();
        let mut made = 0;
        for _ in 0..3 {
            assert_eq!(
                per.get("MemTotal", || {
                    made += 1;
                    7
                }),
                Some(7)
            );
        }
        assert_eq!(made, 1);
        for i in 1..PerKey::<usize>::CAP {
            assert_eq!(per.get(&i.to_string(), || i), Some(i));
        }
        // Full: a new key is not made (its maker may keep what it makes forever), old ones hold.
        assert_eq!(per.get("new", || unreachable!()), None);
        assert_eq!(per.get("MemTotal", || unreachable!()), Some(7));
    }
}
