//! `processes`: watched process groups from the config's `process_names`, in process-exporter's
//! names (`namedprocess_namegroup_*{groupname}`), plus the raw file-descriptor limit it lacks
//! (`namedprocess_namegroup_limit_filedesc`, the smallest soft limit in the group).
//!
//! CPU counters must not go down when a process of the group exits, or `rate()` would see a
//! counter reset and report a spike. As process-exporter does, hale keeps the last CPU time seen
//! for every process and adds it to the group's total when the process is gone.
//!
//! A group with no process left is reported with zero processes (as process-exporter does by
//! default), so "the watched program is not running" is a plain `num_procs == 0` alert rather
//! than a guess from vanished series. Groups whose names are known from the config alone (a
//! literal `name`, or `{{.Comm}}` over a `comm` list) are reported from the start, at zero
//! until a process appears. Groups named with `{{.PID}}` are dropped when their process exits:
//! kept, they would grow without bound.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use procfs::process::Process;

use crate::collector::selfproc::limit_value;
use crate::collector::{Collector, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;
use crate::process_match::{classify, ProcessMatcher, ProcessView};

/// A process is known by pid and start time, so a recycled pid is a new process.
type ProcessKey = (i32, u64);

#[derive(Debug, Default)]
struct GroupCpu {
    /// CPU seconds (user, system) of processes that have exited.
    exited: (f64, f64),
    /// Last CPU seconds (user, system) seen per live process.
    live: HashMap<ProcessKey, (f64, f64)>,
}

#[derive(Debug, Default)]
struct GroupSample {
    procs: u64,
    threads: u64,
    open_fds: u64,
    worst_fd_ratio: f64,
    limit_fds: Option<u64>,
    oldest_start: Option<f64>,
    resident: u64,
    virtual_: u64,
    swapped: u64,
    cpu: HashMap<ProcessKey, (f64, f64)>,
}

/// The processes collector.
pub struct Processes {
    paths: HostPaths,
    matchers: Arc<Vec<ProcessMatcher>>,
    ticks: f64,
    page_size: u64,
    cpu: Mutex<HashMap<String, GroupCpu>>,
    /// Whether `--path.procfs` is a real procfs, where a process's `fd` directory reports its
    /// entry count as its size (Linux 6.2+), which the procfs crate uses as a fast path. A
    /// fixture tree's directories report their block size instead, so there hale counts entries.
    real_procfs: bool,
    /// Boot time never changes; reading it means generating all of /proc/stat, so read it once.
    boot_time: std::sync::OnceLock<f64>,
    /// Whether any entry looks at argv (see [`ProcessMatcher::needs_cmdline`]).
    needs_cmdline: bool,
    /// Group names known from the config: always reported.
    expected: Vec<String>,
    /// Whether any entry names groups by pid; such groups are dropped when empty.
    per_process: bool,
}

/// statfs(2) `f_type` of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

impl Processes {
    pub fn new(paths: HostPaths, matchers: Arc<Vec<ProcessMatcher>>) -> Self {
        let needs_cmdline = matchers.iter().any(ProcessMatcher::needs_cmdline);
        let mut expected: Vec<String> = matchers
            .iter()
            .flat_map(ProcessMatcher::expected_groups)
            .collect();
        expected.sort();
        expected.dedup();
        Self {
            needs_cmdline,
            per_process: matchers.iter().any(ProcessMatcher::per_process),
            expected,
            matchers,
            ticks: procfs::ticks_per_second() as f64,
            page_size: procfs::page_size(),
            cpu: Mutex::new(HashMap::new()),
            boot_time: std::sync::OnceLock::new(),
            real_procfs: rustix::fs::statfs(paths.procfs_root())
                // f_type is i64 on x86_64 and smaller elsewhere.
                .map(|s| {
                    #[allow(clippy::unnecessary_cast)]
                    let f_type = s.f_type as i64;
                    f_type == PROC_SUPER_MAGIC
                })
                .unwrap_or(false),
            paths,
        }
    }

    fn boot_time(&self) -> Result<f64, Error> {
        if let Some(b) = self.boot_time.get() {
            return Ok(*b);
        }
        let b = self.read_boot_time()?;
        Ok(*self.boot_time.get_or_init(|| b))
    }

    fn read_boot_time(&self) -> Result<f64, Error> {
        let path = self.paths.proc("stat");
        let text = crate::paths::read(path.clone())?;
        text.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| Error::parse(path, "no btime line"))
    }

    /// user name per uid from the host's /etc/passwd, read only when a template asks for it.
    fn users(&self) -> HashMap<u32, String> {
        let Ok(text) = std::fs::read_to_string(self.paths.rootfs_join("/etc/passwd")) else {
            return HashMap::new();
        };
        text.lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let uid = f.nth(1)?.parse().ok()?;
                Some((uid, name.to_string()))
            })
            .collect()
    }
}

impl Collector for Processes {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        if self.matchers.is_empty() {
            return Ok(());
        }
        let groups = self.groups()?;
        self.encode(groups, out);
        Ok(())
    }

    fn may_block(&self) -> bool {
        // Reading /proc/<pid>/cmdline waits on the process's memory map lock.
        !self.matchers.is_empty()
    }
}

impl Processes {
    /// Each watched group's worst ratio of open file descriptors to their soft limit, config-
    /// known groups included (at 0 when they have no process): what `/health`'s per-group
    /// `fd:utilization` checks are made of.
    pub fn fd_ratios(&self) -> Result<Vec<(String, f64)>, Error> {
        if self.matchers.is_empty() {
            return Ok(Vec::new());
        }
        let mut groups = self.groups()?;
        for name in &self.expected {
            groups.entry(name.clone()).or_default();
        }
        let mut ratios: Vec<(String, f64)> = groups
            .into_iter()
            .map(|(name, g)| (name, g.worst_fd_ratio))
            .collect();
        ratios.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ratios)
    }

    /// Every process of the host, sorted into the watched groups.
    fn groups(&self) -> Result<HashMap<String, GroupSample>, Error> {
        let boot = self.boot_time()?;
        let users = if self.matchers.iter().any(ProcessMatcher::needs_username) {
            Some(self.users())
        } else {
            None
        };
        let all =
            procfs::process::all_processes_with_root(self.paths.procfs_root()).map_err(|e| {
                Error::Source(format!(
                    "listing processes in {}: {e}",
                    self.paths.procfs_root().display()
                ))
            })?;
        let mut groups: HashMap<String, GroupSample> = HashMap::new();
        for proc in all {
            // A process can exit at any point while we read it: skip it, it is not an error.
            let Ok(proc) = proc else { continue };
            if let Some((group, sample)) = self.read_process(&proc, boot, users.as_ref()) {
                merge(groups.entry(group).or_default(), sample);
            }
        }
        Ok(groups)
    }

    fn read_process(
        &self,
        proc: &Process,
        boot: f64,
        users: Option<&HashMap<u32, String>>,
    ) -> Option<(String, GroupSample)> {
        let stat = crate::proc_files::stat(proc).ok()?;
        let args = if self.needs_cmdline {
            proc.cmdline().unwrap_or_default()
        } else {
            Vec::new()
        };
        let cmdline = args.join(" ");
        let argv0 = args.first().map_or(stat.comm.as_str(), String::as_str);
        let username = match users {
            Some(users) => proc
                .uid()
                .ok()
                .and_then(|uid| users.get(&uid).cloned())
                .unwrap_or_default(),
            None => String::new(),
        };
        let view = ProcessView {
            pid: proc.pid(),
            comm: &stat.comm,
            argv0,
            cmdline: &cmdline,
            username: &username,
        };
        let group = classify(&self.matchers, &view)?;

        let start = boot + stat.starttime as f64 / self.ticks;
        let cpu = (
            stat.utime as f64 / self.ticks,
            stat.stime as f64 / self.ticks,
        );
        let mut sample = GroupSample {
            procs: 1,
            threads: u64::try_from(stat.num_threads).unwrap_or(0),
            oldest_start: Some(start),
            resident: stat.rss.saturating_mul(self.page_size),
            virtual_: stat.vsize,
            swapped: proc
                .status()
                .ok()
                .and_then(|s| s.vmswap)
                .unwrap_or(0)
                .saturating_mul(1024),
            ..GroupSample::default()
        };
        sample.cpu.insert((proc.pid(), stat.starttime), cpu);
        // Without permission to read another user's fds the process still counts, without fd data.
        let fds = if self.real_procfs {
            proc.fd_count().ok()
        } else {
            std::fs::read_dir(
                self.paths
                    .procfs_root()
                    .join(proc.pid().to_string())
                    .join("fd"),
            )
            .ok()
            .map(|d| d.count())
        };
        if let (Some(fds), Ok(limits)) = (fds, crate::proc_files::limits(proc)) {
            let limit = limit_value(limits.max_open_files.soft_limit);
            sample.open_fds = fds as u64;
            sample.limit_fds = Some(limit);
            if limit > 0 {
                sample.worst_fd_ratio = fds as f64 / limit as f64;
            }
        }
        Some((group, sample))
    }

    fn encode(&self, mut groups: HashMap<String, GroupSample>, out: &mut Vec<MetricFamily>) {
        let mut cpu_state = self.cpu.lock();
        if self.per_process {
            // Which entry made a name is not kept, so with a `{{.PID}}` entry every empty
            // group is forgotten, CPU history included; config-known names still show.
            cpu_state.retain(|name, _| groups.contains_key(name));
        }
        // Groups seen before and config-known groups with no process now: reported at zero.
        for name in cpu_state.keys().chain(self.expected.iter()) {
            groups.entry(name.clone()).or_default();
        }

        let mut num_procs = MetricFamily::gauge(
            "namedprocess_namegroup_num_procs",
            None,
            "number of processes in this group",
        );
        let mut num_threads = MetricFamily::gauge(
            "namedprocess_namegroup_num_threads",
            None,
            "Number of threads",
        );
        let mut open_fds = MetricFamily::gauge(
            "namedprocess_namegroup_open_filedesc",
            None,
            "number of open file descriptors for this group",
        );
        let mut limit_fds = MetricFamily::gauge(
            "namedprocess_namegroup_limit_filedesc",
            None,
            "smallest soft limit on open file descriptors (RLIMIT_NOFILE) among the processes of this group",
        );
        let mut worst = MetricFamily::gauge(
            "namedprocess_namegroup_worst_fd_ratio",
            None,
            "the worst (closest to 1) ratio between open fds and max fds among all procs in this group",
        );
        let mut oldest = MetricFamily::gauge(
            "namedprocess_namegroup_oldest_start_time",
            Some(Unit::Seconds),
            "start time in seconds since 1970/01/01 of oldest process in group",
        );
        let mut cpu = MetricFamily::counter(
            "namedprocess_namegroup_cpu",
            Some(Unit::Seconds),
            "Cpu user usage in seconds",
        );
        let mut memory = MetricFamily::gauge(
            "namedprocess_namegroup_memory",
            Some(Unit::Bytes),
            "number of bytes of memory in use",
        );
        let mut names: Vec<_> = groups.keys().cloned().collect();
        names.sort();
        for name in names {
            let Some(g) = groups.get(&name) else { continue };
            let state = cpu_state.entry(name.clone()).or_default();
            for (key, last) in &state.live {
                if !g.cpu.contains_key(key) {
                    state.exited.0 += last.0;
                    state.exited.1 += last.1;
                }
            }
            state.live = g.cpu.clone();
            let user = state.exited.0 + g.cpu.values().map(|c| c.0).sum::<f64>();
            let system = state.exited.1 + g.cpu.values().map(|c| c.1).sum::<f64>();

            let l = || [("groupname", name.clone())];
            num_procs.push(l(), g.procs);
            num_threads.push(l(), g.threads);
            open_fds.push(l(), g.open_fds);
            worst.push(l(), g.worst_fd_ratio);
            if let Some(limit) = g.limit_fds {
                limit_fds.push(l(), limit);
            }
            if let Some(start) = g.oldest_start {
                oldest.push(l(), start);
            }
            cpu.push([("groupname", name.clone()), ("mode", "user".into())], user);
            cpu.push(
                [("groupname", name.clone()), ("mode", "system".into())],
                system,
            );
            memory.push(
                [("groupname", name.clone()), ("memtype", "resident".into())],
                g.resident,
            );
            memory.push(
                [("groupname", name.clone()), ("memtype", "virtual".into())],
                g.virtual_,
            );
            memory.push(
                [("groupname", name.clone()), ("memtype", "swapped".into())],
                g.swapped,
            );
        }
        out.extend([
            num_procs,
            num_threads,
            open_fds,
            limit_fds,
            worst,
            oldest,
            cpu,
            memory,
        ]);
    }
}

fn merge(into: &mut GroupSample, s: GroupSample) {
    into.procs = into.procs.saturating_add(s.procs);
    into.threads = into.threads.saturating_add(s.threads);
    into.open_fds = into.open_fds.saturating_add(s.open_fds);
    into.worst_fd_ratio = into.worst_fd_ratio.max(s.worst_fd_ratio);
    into.limit_fds = match (into.limit_fds, s.limit_fds) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.oldest_start = match (into.oldest_start, s.oldest_start) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.resident = into.resident.saturating_add(s.resident);
    into.virtual_ = into.virtual_.saturating_add(s.virtual_);
    into.swapped = into.swapped.saturating_add(s.swapped);
    into.cpu.extend(s.cpu);
}

/// The `processes` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "processes",
    enabled_by_default: true,
    help: "Watched process groups (namedprocess_namegroup_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Processes::new(c.paths.clone(), Arc::clone(c.process_names))))
    },
};
