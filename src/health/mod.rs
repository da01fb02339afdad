//! `/health` in the format of draft-inadarei-api-health-check-06 (`application/health+json`).
//!
//! A background sampler reads the host every `health.interval` through the same collectors
//! `/metrics` uses (so the same exclusions and stuck-mount protection apply), the Docker
//! snapshot, and the probes' last results; turns them into checks keyed `component:measurement`
//! against the configured warn/fail thresholds; debounces each check (a new status must hold for
//! `consecutive` samples before it is reported, both ways, so the endpoint does not flap); and
//! renders the JSON once. Requests answer from that rendering without touching the host.
//!
//! The overall status is the worst of the critical checks; a non-critical check can make it
//! `warn` at most. HTTP status: 200 for pass and warn, 503 for fail.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::docker::{Connection, Health as ContainerHealth, Watcher};

pub mod probe;

pub use probe::ProbeConfig;

/// A check's or the service's status, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pass, Status::Warn, Status::Fail];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// Warn and fail levels of a utilization, in percent, and whether it counts for the overall
/// status.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "RawThreshold")]
pub struct Threshold {
    pub warn: f64,
    pub fail: f64,
    pub critical: bool,
}

/// A threshold as written: percentages, checked to be in order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    #[serde(deserialize_with = "crate::de::percent")]
    warn: f64,
    #[serde(deserialize_with = "crate::de::percent")]
    fail: f64,
    critical: bool,
}

impl TryFrom<RawThreshold> for Threshold {
    type Error = String;

    fn try_from(r: RawThreshold) -> Result<Self, String> {
        if r.warn > r.fail {
            return Err(format!("warn ({}) is above fail ({})", r.warn, r.fail));
        }
        Ok(Threshold::new(r.warn, r.fail, r.critical))
    }
}

impl Threshold {
    const fn new(warn: f64, fail: f64, critical: bool) -> Self {
        Self {
            warn,
            fail,
            critical,
        }
    }

    fn status(&self, value: f64) -> Status {
        if value >= self.fail {
            Status::Fail
        } else if value >= self.warn {
            Status::Warn
        } else {
            Status::Pass
        }
    }
}

/// Docker's response time levels; an engine hale cannot reach fails.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "RawDockerThreshold")]
pub struct DockerThreshold {
    pub warn: Duration,
    pub fail: Duration,
    pub critical: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDockerThreshold {
    #[serde(deserialize_with = "crate::de::positive_duration")]
    warn: Duration,
    #[serde(deserialize_with = "crate::de::positive_duration")]
    fail: Duration,
    critical: bool,
}

impl TryFrom<RawDockerThreshold> for DockerThreshold {
    type Error = String;

    fn try_from(r: RawDockerThreshold) -> Result<Self, String> {
        if r.warn > r.fail {
            return Err(format!("warn ({:?}) is above fail ({:?})", r.warn, r.fail));
        }
        Ok(DockerThreshold {
            warn: r.warn,
            fail: r.fail,
            critical: r.critical,
        })
    }
}

/// Whether container health checks count for the overall status.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerThreshold {
    pub critical: bool,
}

/// The `health:` section of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub interval: Duration,
    /// Samples a new status must hold before it is reported (1: at once).
    #[serde(deserialize_with = "crate::de::count::<_, _, 1, 1000>")]
    pub consecutive: u32,
    /// `serviceId`; default: the host name.
    pub service_id: Option<String>,
    /// `description`; default: "hale on <host name>".
    pub description: Option<String>,
    /// When false, clients without the details token see only the top-level status.
    pub show_details: bool,
    /// A file holding the bearer token that unlocks details when `show_details` is false.
    pub details_token_file: Option<PathBuf>,
    /// The token in `details_token_file`, read once when the config is loaded.
    #[serde(skip)]
    pub details_token: Option<crate::secret::Secret>,
    pub cpu: Threshold,
    pub memory: Threshold,
    pub swap: Threshold,
    pub disk: Threshold,
    pub fd: Threshold,
    pub docker: DockerThreshold,
    pub container_health: ContainerThreshold,
    pub probes: Vec<ProbeConfig>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            consecutive: 3,
            service_id: None,
            description: None,
            show_details: true,
            details_token_file: None,
            details_token: None,
            cpu: Threshold::new(85.0, 95.0, false),
            memory: Threshold::new(85.0, 95.0, true),
            swap: Threshold::new(50.0, 90.0, false),
            disk: Threshold::new(85.0, 95.0, true),
            fd: Threshold::new(80.0, 90.0, true),
            docker: DockerThreshold {
                warn: Duration::from_secs(1),
                fail: Duration::from_secs(5),
                critical: true,
            },
            container_health: ContainerThreshold { critical: false },
            probes: Vec::new(),
        }
    }
}

/// One object of a `checks` array, before debouncing.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub key: String,
    pub component_id: String,
    pub component_type: &'static str,
    pub value: f64,
    pub unit: &'static str,
    pub status: Status,
    pub output: Option<String>,
    pub critical: bool,
    pub affected: Vec<String>,
}

/// The latest sample, rendered.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether a sample has been taken at all.
    pub sampled: bool,
    pub status: Status,
    pub checks: Vec<Check>,
    /// The whole document, and the top-level-only one.
    pub full: Bytes,
    pub summary: Bytes,
    /// `/health/ready`'s status and document for this sample.
    pub ready: (Status, Bytes),
}

/// A probe's last outcome, for the metrics.
pub type ProbeResults = Vec<(String, probe::Outcome)>;

/// The health model: the latest report, the probes' results, and how to render.
pub struct Health {
    config: HealthConfig,
    service_id: String,
    description: String,
    token: Option<crate::secret::Secret>,
    report: Mutex<Arc<Report>>,
    probes: Mutex<HashMap<String, probe::Outcome>>,
    live: std::sync::OnceLock<Bytes>,
}

impl crate::collector::Source for Health {
    /// `hale_health_status{check,component,status}` (a state set over pass, warn, fail, as
    /// reported after debouncing) and, per probe, `hale_probe_success{probe}` and
    /// `hale_probe_duration_seconds{probe}`: the last sample, never a new one.
    fn families(
        &self,
        out: &mut Vec<crate::metric::MetricFamily>,
    ) -> Result<(), crate::collector::Error> {
        use crate::metric::{MetricFamily, Unit};
        let report = self.report();
        let mut status = MetricFamily::gauge(
            "hale_health_status",
            None,
            "Status of each /health check as a state set: 1 for the reported status.",
        );
        for c in &report.checks {
            for s in Status::ALL {
                status.push(
                    [
                        ("check", c.key.clone()),
                        ("component", c.component_id.clone()),
                        ("status", s.as_str().to_string()),
                    ],
                    c.status == s,
                );
            }
        }
        let mut success = MetricFamily::gauge(
            "hale_probe_success",
            None,
            "1 if the probe's last run succeeded.",
        );
        let mut duration = MetricFamily::gauge(
            "hale_probe_duration",
            Some(Unit::Seconds),
            "How long the probe's last run took.",
        );
        for (name, o) in self.probe_results() {
            success.push([("probe", name.clone())], o.success);
            duration.push([("probe", name)], o.duration.as_secs_f64());
        }
        out.extend(
            [status, success, duration]
                .into_iter()
                .filter(|f| !f.samples.is_empty()),
        );
        Ok(())
    }
}

/// What the health model is built from.
pub struct Inputs {
    pub config: HealthConfig,
    pub paths: crate::paths::HostPaths,
    /// The filesystem collector's filters, so `/health` judges the mounts `/metrics` reports.
    pub filesystem: crate::collector::filesystem::Options,
    pub process_names: Arc<Vec<crate::process_match::ProcessMatcher>>,
    /// Docker's view, when `/health` checks Docker (the docker collector is enabled).
    pub docker: Option<Arc<Watcher>>,
}

/// What the sampler reads: the collectors' own typed readers, over its own instances of the
/// stateful ones (filesystem's stuck-mount guard, the process table).
struct Sources {
    paths: crate::paths::HostPaths,
    filesystem: crate::collector::filesystem::Filesystem,
    processes: crate::collector::processes::Processes,
    docker: Option<Arc<Watcher>>,
    uptime: PathBuf,
}

impl Health {
    /// Builds the model, and the tasks that keep it current (the sampler and each probe) for
    /// the caller to run: [`crate::app`] runs them until hale stops.
    pub fn new(inputs: Inputs) -> (Arc<Health>, Vec<crate::task::Task>) {
        let config = inputs.config;
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let token = config.details_token.clone();
        let health = Arc::new(Health {
            service_id: config.service_id.clone().unwrap_or_else(|| host.clone()),
            description: config
                .description
                .clone()
                .unwrap_or_else(|| format!("hale on {host}")),
            token,
            report: Mutex::new(Arc::new(Report {
                sampled: false,
                status: Status::Warn,
                checks: Vec::new(),
                full: Bytes::new(),
                summary: Bytes::new(),
                ready: (Status::Fail, Bytes::new()),
            })),
            live: std::sync::OnceLock::new(),
            probes: Mutex::new(HashMap::new()),
            config,
        });
        let first = health.render(&[], Status::Warn, Some("no sample taken yet"), "");
        health.publish(false, Status::Warn, Vec::new(), first);
        use crate::collector::{filesystem, processes};
        let paths = &inputs.paths;
        // Its own instances of the stateful readers (same filters, same stuck-mount
        // protection): the sampler and a scrape never wait on each other.
        let sources = Sources {
            paths: paths.clone(),
            filesystem: filesystem::Filesystem::new(paths.clone(), inputs.filesystem),
            processes: processes::Processes::new(paths.clone(), inputs.process_names),
            docker: inputs.docker,
            uptime: paths.proc("uptime"),
        };
        let mut tasks: Vec<crate::task::Task> = health
            .config
            .probes
            .clone()
            .into_iter()
            .map(|p| Box::pin(Arc::clone(&health).probe_loop(p)) as crate::task::Task)
            .collect();
        tasks.push(Box::pin(Arc::clone(&health).sample_loop(Arc::new(sources))));
        (health, tasks)
    }

    /// The latest report.
    pub fn report(&self) -> Arc<Report> {
        Arc::clone(&self.report.lock())
    }

    /// The probes' last outcomes, by name, in config order.
    pub fn probe_results(&self) -> ProbeResults {
        let results = self.probes.lock();
        self.config
            .probes
            .iter()
            .filter_map(|p| results.get(&p.name).map(|o| (p.name.clone(), o.clone())))
            .collect()
    }

    /// Whether `authorization` (the header's value) carries the details token. Compared in
    /// constant time.
    pub fn may_see_details(&self, authorization: Option<&[u8]>) -> bool {
        self.config.show_details || self.token_matches(authorization)
    }

    /// Whether `authorization` carries `details_token_file`'s token (constant time).
    pub fn token_matches(&self, authorization: Option<&[u8]>) -> bool {
        let (Some(token), Some(header)) = (&self.token, authorization) else {
            return false;
        };
        let Some(given) = header.strip_prefix(b"Bearer ") else {
            return false;
        };
        token.matches(given)
    }

    /// `/health/live`: the process answers.
    pub fn live(&self) -> Bytes {
        self.live
            .get_or_init(|| self.render_top(Status::Pass, None, "/health/live"))
            .clone()
    }

    /// `/health/ready`: a sample was taken and no critical check fails.
    pub fn ready(&self) -> (Status, Bytes) {
        self.report().ready.clone()
    }

    /// Renders `/health/ready` for a sample (done once per sample, not per request).
    fn render_ready(&self, sampled: bool, checks: &[Check]) -> (Status, Bytes) {
        let (status, output) = if !sampled {
            (Status::Fail, Some("no sample taken yet".to_string()))
        } else if let Some(c) = checks
            .iter()
            .find(|c| c.critical && c.status == Status::Fail)
        {
            (
                Status::Fail,
                Some(format!("{} {} fails", c.key, c.component_id)),
            )
        } else {
            (Status::Pass, None)
        };
        (
            status,
            self.render_top(status, output.as_deref(), "/health/ready"),
        )
    }

    fn render_top(&self, status: Status, output: Option<&str>, link: &str) -> Bytes {
        let mut doc = self.top(status, output, link);
        doc.remove("checks");
        Bytes::from(serde_json::to_vec(&Value::Object(doc)).unwrap_or_default())
    }

    fn top(&self, status: Status, output: Option<&str>, link: &str) -> Map<String, Value> {
        let version = env!("CARGO_PKG_VERSION");
        let mut doc = Map::new();
        doc.insert("status".into(), json!(status.as_str()));
        doc.insert(
            "version".into(),
            json!(version.split('.').next().unwrap_or("0")),
        );
        doc.insert(
            "releaseId".into(),
            json!(format!("{version}+{}", env!("HALE_REVISION"))),
        );
        doc.insert("serviceId".into(), json!(self.service_id));
        doc.insert("description".into(), json!(self.description));
        if let (Some(o), false) = (output, status == Status::Pass) {
            doc.insert("output".into(), json!(o));
        }
        doc.insert("links".into(), json!({ "self": link }));
        doc
    }

    /// Renders the full document and the summary.
    fn render(
        &self,
        checks: &[Check],
        status: Status,
        output: Option<&str>,
        time: &str,
    ) -> (Bytes, Bytes) {
        let mut doc = self.top(status, output, "/health");
        doc.insert(
            "notes".into(),
            json!([format!(
                "sampled every {:?}; a status must hold for {} samples to change",
                self.config.interval, self.config.consecutive
            )]),
        );
        let summary = Bytes::from(
            serde_json::to_vec(&Value::Object({
                let mut s = doc.clone();
                s.remove("notes");
                s
            }))
            .unwrap_or_default(),
        );
        let mut by_key: Map<String, Value> = Map::new();
        for c in checks {
            let mut o = Map::new();
            o.insert("componentId".into(), json!(c.component_id));
            o.insert("componentType".into(), json!(c.component_type));
            o.insert("observedValue".into(), json!(c.value));
            o.insert("observedUnit".into(), json!(c.unit));
            o.insert("status".into(), json!(c.status.as_str()));
            o.insert("time".into(), json!(time));
            if let (Some(out), false) = (&c.output, c.status == Status::Pass) {
                o.insert("output".into(), json!(out));
            }
            if !c.affected.is_empty() {
                o.insert("affectedEndpoints".into(), json!(c.affected));
            }
            if let Value::Array(a) = by_key
                .entry(c.key.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                a.push(Value::Object(o));
            }
        }
        doc.insert("checks".into(), Value::Object(by_key));
        let full = Bytes::from(serde_json::to_vec(&Value::Object(doc)).unwrap_or_default());
        (full, summary)
    }

    fn publish(
        &self,
        sampled: bool,
        status: Status,
        checks: Vec<Check>,
        (full, summary): (Bytes, Bytes),
    ) {
        let ready = self.render_ready(sampled, &checks);
        *self.report.lock() = Arc::new(Report {
            sampled,
            status,
            checks,
            full,
            summary,
            ready,
        });
    }

    async fn probe_loop(self: Arc<Self>, p: ProbeConfig) {
        let mut tick = tokio::time::interval(p.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let outcome = p.run().await;
            if let Some(e) = &outcome.error {
                tracing::debug!(probe = p.name, error = e, "probe failed");
            }
            self.probes.lock().insert(p.name.clone(), outcome);
        }
    }

    async fn sample_loop(self: Arc<Self>, sources: Arc<Sources>) {
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sampler = Sampler::default();
        // A host read that hangs (a hung mount, a process stuck in the kernel) must not freeze
        // /health on its last answer: it is waited for at most one interval per sample, never
        // started twice, and reported as a warning until it returns.
        let mut pending: Option<tokio::task::JoinHandle<HostSample>> = None;
        let mut stuck = 0u32;
        loop {
            tick.tick().await;
            let mut read = pending.take().unwrap_or_else(|| {
                let s = Arc::clone(&sources);
                tokio::task::spawn_blocking(move || read_host(&s))
            });
            let mut raw = match tokio::time::timeout(self.config.interval, &mut read).await {
                Ok(sample) => {
                    stuck = 0;
                    // A panicking reader (a hale bug) costs this sample's host checks.
                    let sample = sample.unwrap_or_default();
                    sampler.host_checks(&self.config, &sample)
                }
                Err(_) => {
                    stuck += 1;
                    pending = Some(read);
                    vec![Check {
                        key: "host:sampling".into(),
                        component_id: "system".into(),
                        component_type: "system",
                        value: f64::from(stuck),
                        unit: "samples",
                        status: Status::Warn,
                        output: Some(format!(
                            "reading the host has not returned for {stuck} sample(s); host checks unknown"
                        )),
                        critical: false,
                        affected: vec![],
                    }]
                }
            };
            if let Some(w) = &sources.docker {
                raw.extend(docker_checks(&self.config, w));
            }
            raw.extend(self.probe_checks());
            let checks = sampler.debounce(raw, self.config.consecutive.max(1));
            let status = overall(&checks);
            let output = (status != Status::Pass).then(|| {
                checks
                    .iter()
                    .filter(|c| c.status != Status::Pass)
                    .map(|c| format!("{} {}: {}", c.key, c.component_id, c.status.as_str()))
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            let time = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let rendered = self.render(&checks, status, output.as_deref(), &time);
            self.publish(true, status, checks, rendered);
        }
    }

    fn probe_checks(&self) -> Vec<Check> {
        let results = self.probes.lock();
        self.config
            .probes
            .iter()
            .filter_map(|p| {
                let o = results.get(&p.name)?;
                Some(Check {
                    key: format!("{}:responseTime", p.name),
                    component_id: p.target(),
                    component_type: "component",
                    value: round(o.duration.as_secs_f64() * 1000.0),
                    unit: "ms",
                    status: if o.success {
                        Status::Pass
                    } else {
                        Status::Fail
                    },
                    output: o.error.clone(),
                    critical: p.critical,
                    affected: Vec::new(),
                })
            })
            .collect()
    }
}

/// The worst critical status; non-critical checks count as warn at most.
pub fn overall(checks: &[Check]) -> Status {
    checks
        .iter()
        .map(|c| {
            if c.critical {
                c.status
            } else {
                c.status.min(Status::Warn)
            }
        })
        .max()
        .unwrap_or(Status::Pass)
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// One reading of what the host checks look at, each part from its collector's typed reader;
/// a part whose source failed is absent, and its checks are left out of this sample.
#[derive(Debug, Default)]
struct HostSample {
    /// (idle + iowait, all modes) seconds, summed over the CPUs.
    cpu: Option<(f64, f64)>,
    memory: Option<crate::collector::meminfo::Memory>,
    mounts: Vec<crate::collector::filesystem::MountUsage>,
    files: Option<crate::collector::filefd::FileHandles>,
    /// (group, worst open/limit ratio).
    fd_ratios: Vec<(String, f64)>,
    uptime: Option<f64>,
}

/// Reads the host; a failing source contributes nothing.
fn read_host(s: &Sources) -> HostSample {
    use crate::collector::{cpu, filefd, meminfo};
    HostSample {
        cpu: cpu::read(&s.paths).ok().map(|cpus| {
            cpus.iter().fold((0.0, 0.0), |(idle, total), c| {
                (
                    idle + c.seconds("idle") + c.seconds("iowait"),
                    total + c.total_seconds(),
                )
            })
        }),
        memory: meminfo::read(&s.paths).ok(),
        mounts: s.filesystem.usage().unwrap_or_default(),
        files: filefd::read(&s.paths).ok(),
        fd_ratios: s.processes.fd_ratios().unwrap_or_default(),
        uptime: std::fs::read_to_string(&s.uptime).ok().and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        }),
    }
}

/// The debouncing state and the CPU counters of the last sample.
#[derive(Default)]
struct Sampler {
    last_cpu: Option<(f64, f64)>,
    reported: HashMap<(String, String), Debounce>,
}

/// A check's reported status, and a different one waiting to be confirmed.
#[derive(Debug, Clone, Copy)]
struct Debounce {
    current: Status,
    candidate: Status,
    count: u32,
}

impl Debounce {
    fn observe(&mut self, raw: Status, needed: u32) -> Status {
        if raw == self.current {
            self.candidate = raw;
            self.count = 0;
        } else {
            if raw == self.candidate {
                self.count += 1;
            } else {
                self.candidate = raw;
                self.count = 1;
            }
            if self.count >= needed {
                self.current = raw;
                self.count = 0;
            }
        }
        self.current
    }
}

impl Sampler {
    /// Applies debouncing: a component seen for the first time reports its raw status.
    fn debounce(&mut self, raw: Vec<Check>, needed: u32) -> Vec<Check> {
        let mut seen = HashMap::new();
        let out = raw
            .into_iter()
            .map(|mut c| {
                let key = (c.key.clone(), c.component_id.clone());
                let d = self.reported.remove(&key).map_or_else(
                    || Debounce {
                        current: c.status,
                        candidate: c.status,
                        count: 0,
                    },
                    |mut d| {
                        d.observe(c.status, needed);
                        d
                    },
                );
                if d.current != c.status {
                    c.output = Some(format!(
                        "{} (now {}, reported {} until it holds for {} samples)",
                        c.output.as_deref().unwrap_or("changing"),
                        c.status.as_str(),
                        d.current.as_str(),
                        needed
                    ));
                }
                c.status = d.current;
                seen.insert(key, d);
                c
            })
            .collect();
        // Components that disappeared (an unmounted disk, a removed container) are forgotten.
        self.reported = seen;
        out
    }

    fn host_checks(&mut self, cfg: &HealthConfig, host: &HostSample) -> Vec<Check> {
        let mut checks = Vec::new();
        let util = |key: &str, id: String, value: f64, t: &Threshold| {
            let status = t.status(value);
            Check {
                key: key.to_string(),
                component_id: id,
                component_type: "system",
                value: round(value),
                unit: "percent",
                status,
                output: (status != Status::Pass).then(|| {
                    format!(
                        "{value:.1}% used (warn at {}%, fail at {}%)",
                        t.warn, t.fail
                    )
                }),
                critical: t.critical,
                affected: vec![],
            }
        };
        if let Some((idle, total)) = host.cpu {
            let (di, dt) = match self.last_cpu {
                Some((pi, pt)) if total > pt => (idle - pi, total - pt),
                _ => (idle, total),
            };
            self.last_cpu = Some((idle, total));
            if dt > 0.0 {
                checks.push(util(
                    "cpu:utilization",
                    "cpu".into(),
                    100.0 * (1.0 - di / dt),
                    &cfg.cpu,
                ));
            }
        }
        if let Some(m) = &host.memory {
            if let (Some(total), Some(avail)) = (m.bytes("MemTotal"), m.bytes("MemAvailable")) {
                if total > 0 {
                    checks.push(util(
                        "memory:utilization",
                        "memory".into(),
                        100.0 * (1.0 - avail as f64 / total as f64),
                        &cfg.memory,
                    ));
                }
            }
            if let (Some(total), Some(free)) = (m.bytes("SwapTotal"), m.bytes("SwapFree")) {
                let used = if total > 0 {
                    100.0 * (1.0 - free as f64 / total as f64)
                } else {
                    0.0
                };
                checks.push(util("swap:utilization", "swap".into(), used, &cfg.swap));
            }
        }
        for mount in &host.mounts {
            let Some(u) = &mount.usage else { continue };
            if u.size > 0 {
                checks.push(util(
                    "disk:utilization",
                    mount.mount_point.clone(),
                    100.0 * (1.0 - u.avail as f64 / u.size as f64),
                    &cfg.disk,
                ));
            }
        }
        if let Some(f) = host.files {
            if f.maximum > 0 {
                checks.push(util(
                    "fd:utilization",
                    "system".into(),
                    100.0 * f.allocated as f64 / f.maximum as f64,
                    &cfg.fd,
                ));
            }
        }
        for (group, ratio) in &host.fd_ratios {
            checks.push(util(
                "fd:utilization",
                format!("process:{group}"),
                100.0 * ratio,
                &cfg.fd,
            ));
        }
        if let Some(up) = host.uptime {
            checks.push(Check {
                key: "uptime".into(),
                component_id: "system".into(),
                component_type: "system",
                value: round(up),
                unit: "s",
                status: Status::Pass,
                output: None,
                critical: false,
                affected: vec![],
            });
        }
        checks
    }
}

/// `docker:responseTime` and one `container:health` per container with a health check.
fn docker_checks(cfg: &HealthConfig, watcher: &Watcher) -> Vec<Check> {
    let snap = watcher.snapshot();
    let t = cfg.docker;
    let mut checks = Vec::new();
    let (status, value, output) = match (&snap.connection, snap.response_time) {
        (Connection::Up, Some(rt)) => {
            let status = if rt >= t.fail {
                Status::Fail
            } else if rt >= t.warn {
                Status::Warn
            } else {
                Status::Pass
            };
            (
                status,
                rt.as_secs_f64() * 1000.0,
                Some(format!("listing containers took {rt:?}")),
            )
        }
        // Down after having answered: Docker went away. Never answered: perhaps no Docker here.
        (Connection::Down(reason), _) if snap.connected_once => (
            Status::Fail,
            0.0,
            Some(format!("Docker unreachable: {reason}")),
        ),
        (Connection::Down(reason), _) => (
            Status::Warn,
            0.0,
            Some(format!(
                "Docker has not answered since hale started: {reason}"
            )),
        ),
        _ => (
            Status::Warn,
            0.0,
            Some("not connected to Docker yet".into()),
        ),
    };
    checks.push(Check {
        key: "docker:responseTime".into(),
        component_id: watcher.config().host(),
        component_type: "datastore",
        value: round(value),
        unit: "ms",
        status,
        output,
        critical: t.critical,
        affected: if status == Status::Fail {
            vec!["/metrics".into()]
        } else {
            vec![]
        },
    });
    for c in snap.containers.values() {
        let status = match c.health {
            ContainerHealth::None => continue,
            ContainerHealth::Healthy => Status::Pass,
            ContainerHealth::Starting => Status::Warn,
            ContainerHealth::Unhealthy => Status::Fail,
        };
        checks.push(Check {
            key: "container:health".into(),
            component_id: c.name.clone(),
            component_type: "component",
            value: if status == Status::Pass { 1.0 } else { 0.0 },
            unit: "boolean",
            status,
            output: Some(format!("health check {}", c.health.as_str())),
            critical: cfg.container_health.critical,
            affected: vec![],
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status, critical: bool) -> Check {
        Check {
            key: "k".into(),
            component_id: "c".into(),
            component_type: "system",
            value: 0.0,
            unit: "percent",
            status,
            output: None,
            critical,
            affected: vec![],
        }
    }

    #[test]
    fn bad_health_config_is_rejected() {
        for bad in [
            "interval: 0s",
            "consecutive: -1",
            "memory: {warn: 80}",
            "probes: [{name: x}]",
            "probes: [{name: x, tcp: 'a:1', timeout: 0s}]",
            "probes: [{name: x, http: {url: 'http://a/', body_regex: '('}}]",
            "probes: [{name: x, udp: 'a:1'}]",
            "probes: [{name: x, command: {argv: [true]}}]",
            "bogus: 1",
            "consecutive: 0",
            "consecutive: 4294967296",
            "cpu: {warn: 95, fail: 85, critical: false}",
            "cpu: {warn: .nan, fail: 95, critical: false}",
            "cpu: {warn: -1, fail: 95, critical: false}",
            "docker: {warn: 5s, fail: 1s, critical: false}",
        ] {
            assert!(
                serde_saphyr::from_str::<HealthConfig>(bad).is_err(),
                "{bad} was accepted"
            );
        }
        let ok: HealthConfig =
            serde_saphyr::from_str("probes: [{name: db, tcp: '127.0.0.1:5432', critical: false}]")
                .unwrap();
        assert_eq!(ok.probes[0].target(), "tcp://127.0.0.1:5432");
        assert!(!ok.probes[0].critical);
        assert_eq!(ok.consecutive, 3);
    }

    #[test]
    fn non_critical_checks_warn_at_most() {
        assert_eq!(overall(&[check(Status::Fail, false)]), Status::Warn);
        assert_eq!(overall(&[check(Status::Fail, true)]), Status::Fail);
        assert_eq!(overall(&[]), Status::Pass);
    }

    /// A procfs holding only a meminfo with this much memory available of 1000 MiB.
    fn meminfo(dir: &std::path::Path, available_mib: u64) {
        std::fs::write(
            dir.join("meminfo"),
            format!(
                "MemTotal:       1024000 kB\nMemFree:          10000 kB\nMemAvailable:   {} kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n",
                available_mib * 1024
            ),
        )
        .unwrap();
    }

    fn memory_status(sampler: &mut Sampler, paths: &crate::paths::HostPaths, needed: u32) -> Check {
        let host = HostSample {
            memory: Some(crate::collector::meminfo::read(paths).unwrap()),
            ..HostSample::default()
        };
        let checks = sampler.host_checks(&HealthConfig::default(), &host);
        let checks = sampler.debounce(checks, needed);
        checks
            .into_iter()
            .find(|c| c.key == "memory:utilization")
            .expect("memory check")
    }

    #[test]
    fn memory_thresholds_through_a_proc_tree_with_hysteresis() {
        let dir = tempfile::tempdir().unwrap();
        let paths =
            crate::paths::HostPaths::new(dir.path().into(), "/sys".into(), "/".into()).unwrap();
        let collector = paths;
        let mut sampler = Sampler::default();
        // Defaults: warn at 85 %, fail at 95 %; 3 samples to change.
        meminfo(dir.path(), 500); // 50 % used
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!((c.status, c.value), (Status::Pass, 50.0));
        assert!(c.critical);
        meminfo(dir.path(), 100); // 90 %: warn, but not yet
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Pass
        );
        meminfo(dir.path(), 20); // 98 %: fail, the streak starts again
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!(c.status, Status::Pass);
        assert!(c.output.as_deref().unwrap().contains("now fail"), "{c:?}");
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Pass
        );
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!(c.status, Status::Fail, "third fail sample");
        assert!(c.output.as_deref().unwrap().contains("98.0% used"), "{c:?}");
        // Clearing takes as long.
        meminfo(dir.path(), 800);
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Fail
        );
        assert_eq!(
            memory_status(&mut sampler, &collector, 3).status,
            Status::Fail
        );
        let c = memory_status(&mut sampler, &collector, 3);
        assert_eq!((c.status, c.output), (Status::Pass, None));
        // Warn on its own, confirmed at once with consecutive = 1.
        meminfo(dir.path(), 100);
        assert_eq!(
            memory_status(&mut sampler, &collector, 1).status,
            Status::Warn
        );
    }

    #[test]
    fn debounce_needs_consecutive_samples_both_ways() {
        let mut d = Debounce {
            current: Status::Pass,
            candidate: Status::Pass,
            count: 0,
        };
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        // An interruption starts the count again.
        assert_eq!(d.observe(Status::Pass, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Fail);
        assert_eq!(d.observe(Status::Pass, 3), Status::Fail);
        assert_eq!(d.observe(Status::Pass, 3), Status::Fail);
        assert_eq!(d.observe(Status::Pass, 3), Status::Pass);
    }
}
