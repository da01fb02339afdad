//! `processes`: watched process groups from the config's `process_names`, in process-exporter's
//! names (`namedprocess_namegroup_*{groupname}`), plus the raw file-descriptor limit it lacks
//! (`namedprocess_namegroup_limit_filedesc`, the smallest soft limit in the group).
//!
//! What process-exporter 0.7 exports by default, hale exports: processes, threads, CPU, memory
//! (with the proportional set sizes from `smaps_rollup`, `--collector.processes.gather-smaps`),
//! file descriptors, start time, read and written bytes, page faults, context switches, states
//! and wait channels (counted over a multi-threaded process's threads, as process-exporter
//! counts them), the per-thread families by thread name (`--collector.processes.threads`), and
//! the scrape error counters.
//!
//! Counters must not go down when a process of the group exits, or `rate()` would see a
//! counter reset and report a spike. hale keeps the last counts seen for every process (and
//! thread) and adds them to the group's total when it is gone. Unlike process-exporter, whose
//! counters start at 0 when it starts, hale's include what the processes used before hale
//! started; `rate()` and `increase()` read the same from both.
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

/// A process is known by pid and start time, so a recycled pid is a new process; a thread by
/// its pid, its tid and its start time.
type ProcessKey = (i32, u64);
type ThreadKey = (i32, i32, u64);

/// The counters process-exporter exports per group (and per thread name), in this order.
const USER: usize = 0;
const SYSTEM: usize = 1;
const READ_BYTES: usize = 2;
const WRITE_BYTES: usize = 3;
const MAJOR_FAULTS: usize = 4;
const MINOR_FAULTS: usize = 5;
const VOLUNTARY: usize = 6;
const NONVOLUNTARY: usize = 7;
type Counts = [f64; 8];

/// A counter total that never goes down as its members come and go.
#[derive(Debug)]
struct Accumulated<K> {
    /// The counts of members that are gone.
    exited: Counts,
    /// The last counts seen per live member.
    live: HashMap<K, Counts>,
}

impl<K> Default for Accumulated<K> {
    fn default() -> Self {
        Self {
            exited: [0.0; 8],
            live: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Accumulated<K> {
    /// Takes this scrape's members and returns the totals.
    fn update(&mut self, now: &HashMap<K, Counts>) -> Counts {
        for (key, last) in &self.live {
            if !now.contains_key(key) {
                for (e, l) in self.exited.iter_mut().zip(last) {
                    *e += l;
                }
            }
        }
        self.live = now.clone();
        let mut total = self.exited;
        for counts in now.values() {
            for (t, c) in total.iter_mut().zip(counts) {
                *t += c;
            }
        }
        total
    }
}

/// The states process-exporter counts, by the state letter of `stat`.
const STATES: [&str; 5] = ["Running", "Sleeping", "Waiting", "Zombie", "Other"];

/// Counts one process or thread in `stat`'s state `state`.
fn count_state(states: &mut [u64; 5], state: char) {
    let i = match state {
        'R' => 0,
        'S' => 1,
        'D' => 2,
        'Z' => 3,
        _ => 4,
    };
    if let Some(n) = states.get_mut(i) {
        *n = n.saturating_add(1);
    }
}

/// One thread name's threads in a group (only multi-threaded processes' threads count).
#[derive(Debug, Default)]
struct ThreadGroup {
    threads: u64,
    counts: HashMap<ThreadKey, Counts>,
}

/// What `--collector.processes.threads` and `--collector.processes.gather-smaps` ask for.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub threads: bool,
    pub gather_smaps: bool,
    /// Read what only `/metrics` reports (`io`, wait channels, threads); `/health`'s sampler,
    /// which wants file descriptors alone, leaves it off.
    pub details: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            threads: true,
            gather_smaps: true,
            details: true,
        }
    }
}

impl Options {
    /// What `/health`'s per-group file descriptor checks need, and no more.
    pub fn fds_only() -> Self {
        Self {
            threads: false,
            gather_smaps: false,
            details: false,
        }
    }
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
    proportional_resident: u64,
    proportional_swapped: u64,
    counts: HashMap<ProcessKey, Counts>,
    states: [u64; 5],
    wchans: HashMap<String, u64>,
    threads_by_name: HashMap<String, ThreadGroup>,
}

/// The processes collector.
pub struct Processes {
    paths: HostPaths,
    matchers: Arc<Vec<ProcessMatcher>>,
    ticks: f64,
    page_size: u64,
    options: Options,
    /// Per group: its counters' totals.
    counts: Mutex<HashMap<String, Accumulated<ProcessKey>>>,
    /// Per (group, thread name): its threads' counters' totals.
    thread_counts: Mutex<HashMap<(String, String), Accumulated<ThreadKey>>>,
    /// process-exporter's error counters: processes that could not be read at all, and
    /// those read in part (no `io`, `wchan`, `smaps_rollup`, threads or fds).
    procread_errors: std::sync::atomic::AtomicU64,
    partial_errors: std::sync::atomic::AtomicU64,
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
        Self::with_options(paths, matchers, Options::default())
    }

    pub fn with_options(
        paths: HostPaths,
        matchers: Arc<Vec<ProcessMatcher>>,
        options: Options,
    ) -> Self {
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
            options,
            counts: Mutex::new(HashMap::new()),
            thread_counts: Mutex::new(HashMap::new()),
            procread_errors: std::sync::atomic::AtomicU64::new(0),
            partial_errors: std::sync::atomic::AtomicU64::new(0),
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
        let Ok(text) = crate::paths::read_text(self.paths.rootfs_join("/etc/passwd")) else {
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

        let dir = self.paths.procfs_root().join(proc.pid().to_string());
        let Ok(status) = crate::paths::read_text(dir.join("status")) else {
            // Gone between its stat and its status: not an error, as process-exporter.
            if dir.exists() {
                self.procread_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return None;
        };
        let mut partial = false;
        let start = boot + stat.starttime as f64 / self.ticks;
        let mut counts = if self.options.details {
            self.counts_of(&stat, &status, &dir.join("io"), &mut partial)
        } else {
            let mut counts: Counts = [0.0; 8];
            counts[USER] = stat.utime as f64 / self.ticks;
            counts[SYSTEM] = stat.stime as f64 / self.ticks;
            counts
        };
        let mut sample = GroupSample {
            procs: 1,
            threads: u64::try_from(stat.num_threads).unwrap_or(0),
            oldest_start: Some(start),
            resident: stat.rss.saturating_mul(self.page_size),
            virtual_: stat.vsize,
            swapped: kib_field(&status, "VmSwap:").unwrap_or(0),
            ..GroupSample::default()
        };
        count_state(&mut sample.states, stat.state);
        if self.options.details {
            match wchan(&dir.join("wchan")) {
                Some(Some(w)) => *sample.wchans.entry(w).or_default() += 1,
                Some(None) => {}
                None => partial = true,
            }
        }
        if self.options.gather_smaps {
            match crate::paths::read_text(dir.join("smaps_rollup")) {
                Ok(text) => {
                    sample.proportional_resident = kib_field(&text, "Pss:").unwrap_or(0);
                    sample.proportional_swapped = kib_field(&text, "SwapPss:").unwrap_or(0);
                }
                Err(_) => partial = true,
            }
        }
        if self.options.details && stat.num_threads > 1 {
            // process-exporter reads a multi-threaded process's threads: their states and wait
            // channels add to the process's own, its context switches are theirs summed, and
            // their counters make the per-thread families.
            match self.read_threads(&dir, proc.pid(), &group, &mut sample) {
                Some(switches) => {
                    counts[VOLUNTARY] = switches.0;
                    counts[NONVOLUNTARY] = switches.1;
                }
                None => partial = true,
            }
        }
        sample.counts.insert((proc.pid(), stat.starttime), counts);
        // Without permission to read another user's fds the process still counts, without fd data.
        let fds = if self.real_procfs {
            proc.fd_count().ok()
        } else {
            std::fs::read_dir(dir.join("fd")).ok().map(|d| d.count())
        };
        if fds.is_none() {
            partial = true;
        }
        if let (Some(fds), Ok(limits)) = (fds, crate::proc_files::limits(proc)) {
            let limit = limit_value(limits.max_open_files.soft_limit);
            sample.open_fds = fds as u64;
            sample.limit_fds = Some(limit);
            if limit > 0 {
                sample.worst_fd_ratio = fds as f64 / limit as f64;
            }
        }
        if partial {
            self.partial_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Some((group, sample))
    }

    /// A process's or thread's counters from its `stat`, `status` and `io` (unreadable `io`,
    /// another user's without privilege, sets `partial` and counts 0 bytes).
    fn counts_of(
        &self,
        stat: &procfs::process::Stat,
        status: &str,
        io: &std::path::Path,
        partial: &mut bool,
    ) -> Counts {
        let mut counts: Counts = [0.0; 8];
        counts[USER] = stat.utime as f64 / self.ticks;
        counts[SYSTEM] = stat.stime as f64 / self.ticks;
        counts[MAJOR_FAULTS] = stat.majflt as f64;
        counts[MINOR_FAULTS] = stat.minflt as f64;
        counts[VOLUNTARY] = number_field(status, "voluntary_ctxt_switches:").unwrap_or(0) as f64;
        counts[NONVOLUNTARY] =
            number_field(status, "nonvoluntary_ctxt_switches:").unwrap_or(0) as f64;
        match crate::paths::read_text(io) {
            Ok(text) => {
                counts[READ_BYTES] = number_field(&text, "read_bytes:").unwrap_or(0) as f64;
                counts[WRITE_BYTES] = number_field(&text, "write_bytes:").unwrap_or(0) as f64;
            }
            Err(_) => *partial = true,
        }
        counts
    }

    /// Reads the threads of a multi-threaded process into `sample` (states, wait channels,
    /// per-name counters) and returns their summed context switches; `None` when the task
    /// directory cannot be read.
    fn read_threads(
        &self,
        dir: &std::path::Path,
        pid: i32,
        _group: &str,
        sample: &mut GroupSample,
    ) -> Option<(f64, f64)> {
        let tasks = std::fs::read_dir(dir.join("task")).ok()?;
        let mut switches = (0.0, 0.0);
        let mut seen = 0;
        for task in tasks.filter_map(Result::ok) {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<i32>().ok()) else {
                continue;
            };
            let tdir = task.path();
            let Ok(stat) = crate::paths::read_bytes(tdir.join("stat"))
                .map_err(|_| ())
                .and_then(|b| crate::proc_files::parse_stat(&b).map_err(|_| ()))
            else {
                continue;
            };
            let Ok(status) = crate::paths::read_text(tdir.join("status")) else {
                continue;
            };
            let mut ignored = false;
            let counts = self.counts_of(&stat, &status, &tdir.join("io"), &mut ignored);
            seen += 1;
            switches.0 += counts[VOLUNTARY];
            switches.1 += counts[NONVOLUNTARY];
            count_state(&mut sample.states, stat.state);
            if let Some(Some(w)) = wchan(&tdir.join("wchan")) {
                *sample.wchans.entry(w).or_default() += 1;
            }
            if self.options.threads {
                let by_name = sample.threads_by_name.entry(stat.comm.clone()).or_default();
                by_name.threads += 1;
                by_name.counts.insert((pid, tid, stat.starttime), counts);
            }
        }
        (seen > 0).then_some(switches)
    }

    fn encode(&self, mut groups: HashMap<String, GroupSample>, out: &mut Vec<MetricFamily>) {
        let mut state = self.counts.lock();
        let mut thread_state = self.thread_counts.lock();
        if self.per_process {
            // Which entry made a name is not kept, so with a `{{.PID}}` entry every empty
            // group is forgotten, counter history included; config-known names still show.
            state.retain(|name, _| groups.contains_key(name));
            thread_state.retain(|(name, _), _| groups.contains_key(name));
        }
        // Groups seen before and config-known groups with no process now: reported at zero.
        for name in state.keys().chain(self.expected.iter()) {
            groups.entry(name.clone()).or_default();
        }

        let gauge = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            MetricFamily::gauge(name, unit, help)
        };
        let counter = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            MetricFamily::counter(name, unit, help)
        };
        let mut num_procs = gauge(
            "namedprocess_namegroup_num_procs",
            None,
            "number of processes in this group",
        );
        let mut num_threads = gauge(
            "namedprocess_namegroup_num_threads",
            None,
            "Number of threads",
        );
        let mut open_fds = gauge(
            "namedprocess_namegroup_open_filedesc",
            None,
            "number of open file descriptors for this group",
        );
        let mut limit_fds = gauge(
            "namedprocess_namegroup_limit_filedesc",
            None,
            "smallest soft limit on open file descriptors (RLIMIT_NOFILE) among the processes of this group",
        );
        let mut worst = gauge(
            "namedprocess_namegroup_worst_fd_ratio",
            None,
            "the worst (closest to 1) ratio between open fds and max fds among all procs in this group",
        );
        let mut oldest = gauge(
            "namedprocess_namegroup_oldest_start_time",
            Some(Unit::Seconds),
            "start time in seconds since 1970/01/01 of oldest process in group",
        );
        let mut cpu = counter(
            "namedprocess_namegroup_cpu",
            Some(Unit::Seconds),
            "Cpu user usage in seconds",
        );
        let mut memory = gauge(
            "namedprocess_namegroup_memory",
            Some(Unit::Bytes),
            "number of bytes of memory in use",
        );
        let mut read_bytes = counter(
            "namedprocess_namegroup_read",
            Some(Unit::Bytes),
            "number of bytes read by this group",
        );
        let mut write_bytes = counter(
            "namedprocess_namegroup_write",
            Some(Unit::Bytes),
            "number of bytes written by this group",
        );
        let mut major = counter(
            "namedprocess_namegroup_major_page_faults",
            None,
            "Major page faults",
        );
        let mut minor = counter(
            "namedprocess_namegroup_minor_page_faults",
            None,
            "Minor page faults",
        );
        let mut switches = counter(
            "namedprocess_namegroup_context_switches",
            None,
            "Context switches",
        );
        let mut states = gauge(
            "namedprocess_namegroup_states",
            None,
            "Number of processes in states Running, Sleeping, Waiting, Zombie, or Other",
        );
        let mut wchans = gauge(
            "namedprocess_namegroup_threads_wchan",
            None,
            "Number of threads in this group waiting on each wchan",
        );
        let mut thread_count = gauge(
            "namedprocess_namegroup_thread_count",
            None,
            "Number of threads in this group with same threadname",
        );
        let mut thread_cpu = counter(
            "namedprocess_namegroup_thread_cpu",
            Some(Unit::Seconds),
            "Cpu user/system usage in seconds",
        );
        let mut thread_io = counter(
            "namedprocess_namegroup_thread_io",
            Some(Unit::Bytes),
            "number of bytes read/written by these threads",
        );
        let mut thread_major = counter(
            "namedprocess_namegroup_thread_major_page_faults",
            None,
            "Major page faults for these threads",
        );
        let mut thread_minor = counter(
            "namedprocess_namegroup_thread_minor_page_faults",
            None,
            "Minor page faults for these threads",
        );
        let mut thread_switches = counter(
            "namedprocess_namegroup_thread_context_switches",
            None,
            "Context switches for these threads",
        );
        let mut names: Vec<_> = groups.keys().cloned().collect();
        names.sort();
        for name in names {
            let Some(g) = groups.get(&name) else { continue };
            let total = state.entry(name.clone()).or_default().update(&g.counts);

            let l = || [("groupname", name.clone())];
            let with = |k: &'static str, v: &str| [("groupname", name.clone()), (k, v.to_string())];
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
            cpu.push(with("mode", "user"), total[USER]);
            cpu.push(with("mode", "system"), total[SYSTEM]);
            memory.push(with("memtype", "resident"), g.resident);
            memory.push(with("memtype", "virtual"), g.virtual_);
            memory.push(with("memtype", "swapped"), g.swapped);
            if self.options.gather_smaps {
                memory.push(with("memtype", "proportionalResident"), g.proportional_resident);
                memory.push(with("memtype", "proportionalSwapped"), g.proportional_swapped);
            }
            read_bytes.push(l(), total[READ_BYTES]);
            write_bytes.push(l(), total[WRITE_BYTES]);
            major.push(l(), total[MAJOR_FAULTS]);
            minor.push(l(), total[MINOR_FAULTS]);
            switches.push(with("ctxswitchtype", "voluntary"), total[VOLUNTARY]);
            switches.push(with("ctxswitchtype", "nonvoluntary"), total[NONVOLUNTARY]);
            for (state_name, n) in STATES.iter().zip(g.states) {
                states.push(with("state", state_name), n);
            }
            let mut waits: Vec<_> = g.wchans.iter().collect();
            waits.sort();
            for (w, n) in waits {
                wchans.push(with("wchan", w), *n);
            }
            if !self.options.threads {
                continue;
            }
            let mut thread_names: Vec<_> = g.threads_by_name.keys().cloned().collect();
            thread_names.sort();
            for tname in thread_names {
                let Some(t) = g.threads_by_name.get(&tname) else { continue };
                let total = thread_state
                    .entry((name.clone(), tname.clone()))
                    .or_default()
                    .update(&t.counts);
                let tl = |k: &'static str, v: &str| {
                    [
                        ("groupname", name.clone()),
                        ("threadname", tname.clone()),
                        (k, v.to_string()),
                    ]
                };
                let two = || [("groupname", name.clone()), ("threadname", tname.clone())];
                thread_count.push(two(), t.threads);
                thread_cpu.push(tl("mode", "user"), total[USER]);
                thread_cpu.push(tl("mode", "system"), total[SYSTEM]);
                thread_io.push(tl("iomode", "read"), total[READ_BYTES]);
                thread_io.push(tl("iomode", "write"), total[WRITE_BYTES]);
                thread_major.push(two(), total[MAJOR_FAULTS]);
                thread_minor.push(two(), total[MINOR_FAULTS]);
                thread_switches.push(tl("ctxswitchtype", "voluntary"), total[VOLUNTARY]);
                thread_switches.push(tl("ctxswitchtype", "nonvoluntary"), total[NONVOLUNTARY]);
            }
        }
        // Thread names no longer seen in any group are forgotten; their totals were only
        // ever reported with threads alive.
        let alive: std::collections::HashSet<(String, String)> = groups
            .iter()
            .flat_map(|(g, s)| s.threads_by_name.keys().map(move |t| (g.clone(), t.clone())))
            .collect();
        thread_state.retain(|k, _| alive.contains(k));
        let errors = |name: &'static str, help: &'static str, v: u64| {
            crate::metric::exact_counter(name, help, vec![(Vec::new(), v as f64)])
        };
        out.extend([
            num_procs,
            num_threads,
            open_fds,
            limit_fds,
            worst,
            oldest,
            cpu,
            memory,
            read_bytes,
            write_bytes,
            major,
            minor,
            switches,
            states,
            wchans,
            thread_count,
            thread_cpu,
            thread_io,
            thread_major,
            thread_minor,
            thread_switches,
            errors(
                "namedprocess_scrape_errors",
                "general scrape errors: no proc metrics collected during a cycle",
                0,
            ),
            errors(
                "namedprocess_scrape_procread_errors",
                "incremented each time a proc's metrics collection fails",
                self.procread_errors
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            errors(
                "namedprocess_scrape_partial_errors",
                "incremented each time a tracked proc's metrics collection fails partially, e.g. unreadable I/O stats",
                self.partial_errors
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        ]);
    }
}

/// The number after `key` on its line (`voluntary_ctxt_switches:\t12`, `read_bytes: 4096`).
fn number_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A `kB` field (`VmSwap:  12 kB`, `Pss: 3 kB`) in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    number_field(text, key).map(|v| v.saturating_mul(1024))
}

/// A wait channel: `Some(None)` when not waiting (`0` or empty), `None` when unreadable.
fn wchan(path: &std::path::Path) -> Option<Option<String>> {
    let text = crate::paths::read_text(path).ok()?;
    let w = text.trim();
    Some((!w.is_empty() && w != "0").then(|| w.to_string()))
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
    into.proportional_resident = into
        .proportional_resident
        .saturating_add(s.proportional_resident);
    into.proportional_swapped = into
        .proportional_swapped
        .saturating_add(s.proportional_swapped);
    into.counts.extend(s.counts);
    for (i, n) in s.states.iter().enumerate() {
        if let Some(into) = into.states.get_mut(i) {
            *into = into.saturating_add(*n);
        }
    }
    for (w, n) in s.wchans {
        let into = into.wchans.entry(w).or_default();
        *into = into.saturating_add(n);
    }
    for (name, t) in s.threads_by_name {
        let into = into.threads_by_name.entry(name).or_default();
        into.threads = into.threads.saturating_add(t.threads);
        into.counts.extend(t.counts);
    }
}

/// The `processes` collector's flags: process-exporter's `-threads` and `-gather-smaps`, on by
/// default as there.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.processes.flags")]
pub struct Flags {
    /// Report per-thread families by thread name (namedprocess_namegroup_thread_*), as
    /// process-exporter's -threads.
    #[arg(
        id = "collector.processes.threads",
        long = "collector.processes.threads",
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    threads: bool,

    /// Read each process's smaps_rollup for the proportional memory types (memtype
    /// proportionalResident, proportionalSwapped), as process-exporter's -gather-smaps.
    #[arg(
        id = "collector.processes.gather-smaps",
        long = "collector.processes.gather-smaps",
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    gather_smaps: bool,
}

/// The `processes` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "processes",
    enabled_by_default: true,
    help: "Watched process groups (namedprocess_namegroup_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Processes::with_options(
            c.paths.clone(),
            Arc::clone(c.process_names),
            Options {
                threads: flags.threads,
                gather_smaps: flags.gather_smaps,
                details: true,
            },
        )))
    },
};
