//! `/health` in the format of draft-inadarei-api-health-check-06 (`application/health+json`).
//!
//! The [`sampler`] reads the host every `health.interval` through the same typed readers
//! `/metrics` uses (so the same exclusions and stuck-mount protection apply), the Docker
//! snapshot, and the probes' last results; turns them into [`check`]s keyed
//! `component:measurement` ([`host`], [`docker`], [`probe`]) against the [`config`]'s warn/fail
//! thresholds; [`debounce`]s each (a new status must hold for `consecutive` samples before it is
//! reported, both ways, so the endpoint does not flap); and renders the [`document`]s once.
//! Requests answer from that rendering without touching the host.
//!
//! The overall status is the worst of the critical checks; a non-critical check can make it
//! `warn` at most. HTTP status: 200 for pass and warn, 503 for fail.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

pub mod check;
pub mod config;
pub mod debounce;
pub mod docker;
pub mod document;
pub mod host;
pub mod probe;
pub mod sampler;

pub use check::{overall, Check, Status};
pub use config::HealthConfig;
pub use probe::ProbeConfig;

use document::{Identity, Rendered};

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
    identity: Identity,
    token: Option<crate::secret::Secret>,
    report: Mutex<Arc<Report>>,
    probes: Mutex<HashMap<String, probe::Outcome>>,
    live: std::sync::OnceLock<Bytes>,
}

/// What the health model is built from.
pub struct Inputs {
    pub config: HealthConfig,
    pub paths: crate::paths::HostPaths,
    /// The filesystem collector's filters, so `/health` judges the mounts `/metrics` reports.
    pub filesystem: crate::collector::filesystem::Options,
    pub process_names: Arc<Vec<crate::process_match::ProcessMatcher>>,
    /// Docker's view, when `/health` checks Docker (the docker collector is enabled).
    pub docker: Option<Arc<crate::docker::Watcher>>,
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
        let identity = Identity {
            service_id: config.service_id.clone().unwrap_or_else(|| host.clone()),
            description: config
                .description
                .clone()
                .unwrap_or_else(|| format!("hale on {host}")),
            interval: config.interval,
            consecutive: config.consecutive,
        };
        let health = Arc::new(Health {
            identity,
            token: config.details_token.clone(),
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
        let first = health
            .identity
            .health(&[], Status::Warn, Some("no sample taken yet"), "");
        health.publish(false, Status::Warn, Vec::new(), first);
        use crate::collector::{filesystem, processes};
        let paths = &inputs.paths;
        // Its own instances of the stateful readers (same filters, same stuck-mount
        // protection): the sampler and a scrape never wait on each other.
        let sources = sampler::Sources {
            paths: paths.clone(),
            filesystem: filesystem::Filesystem::new(paths.clone(), inputs.filesystem),
            processes: processes::Processes::with_options(
                paths.clone(),
                inputs.process_names,
                processes::Options::fds_only(),
            ),
            docker: inputs.docker,
            uptime: paths.proc("uptime"),
        };
        let mut tasks: Vec<crate::task::Task> = health
            .config
            .probes
            .clone()
            .into_iter()
            .map(|p| Box::pin(sampler::probe(Arc::clone(&health), p)) as crate::task::Task)
            .collect();
        tasks.push(Box::pin(sampler::run(
            Arc::clone(&health),
            Arc::new(sources),
        )));
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
            .get_or_init(|| self.identity.top(Status::Pass, None, "/health/live"))
            .clone()
    }

    /// `/health/ready`: a sample was taken and no critical check fails.
    pub fn ready(&self) -> (Status, Bytes) {
        self.report().ready.clone()
    }

    /// Makes a sample the one every request answers from.
    fn publish(&self, sampled: bool, status: Status, checks: Vec<Check>, rendered: Rendered) {
        let ready = self.identity.ready(sampled, &checks);
        *self.report.lock() = Arc::new(Report {
            sampled,
            status,
            checks,
            full: rendered.full,
            summary: rendered.summary,
            ready,
        });
    }
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
