//! The sampler: every `health.interval` it reads the host (off the async threads, through the
//! collectors' typed readers, with their filters and stuck-mount protection), the Docker
//! snapshot and the probes' last results; turns them into checks; debounces them; and
//! publishes the rendered documents. The probes run on their own intervals.

use std::path::PathBuf;
use std::sync::Arc;

use super::check::{overall, Check, Status};
use super::debounce::Debouncer;
use super::host::{HostChecks, HostSample};
use super::probe::ProbeConfig;
use super::Health;
use crate::docker::Watcher;

/// What the sampler reads: the collectors' own typed readers, over its own instances of the
/// stateful ones (filesystem's stuck-mount guard, the process table).
pub struct Sources {
    pub paths: crate::paths::HostPaths,
    pub filesystem: crate::collector::filesystem::Filesystem,
    pub processes: crate::collector::processes::Processes,
    pub docker: Option<Arc<Watcher>>,
    pub uptime: PathBuf,
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
        uptime: crate::paths::read_text(&s.uptime).ok().and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        }),
    }
}

/// Samples until hale stops.
pub async fn run(health: Arc<Health>, sources: Arc<Sources>) {
    let config = &health.config;
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut host_checks = HostChecks::default();
    let mut debouncer = Debouncer::default();
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
        let mut raw = match tokio::time::timeout(config.interval, &mut read).await {
            Ok(sample) => {
                stuck = 0;
                // A panicking reader (a hale bug) costs this sample's host checks.
                let sample = sample.unwrap_or_default();
                host_checks.checks(config, &sample)
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
            raw.extend(super::docker::checks(config, w));
        }
        raw.extend(super::probe::checks(&config.probes, &health.probes.lock()));
        let checks = debouncer.debounce(raw, config.consecutive.max(1));
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
        let rendered = health
            .identity
            .health(&checks, status, output.as_deref(), &time);
        health.publish(true, status, checks, rendered);
    }
}

/// Runs one probe on its interval until hale stops, keeping its last outcome.
pub async fn probe(health: Arc<Health>, p: ProbeConfig) {
    let mut tick = tokio::time::interval(p.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome = p.run().await;
        if let Some(e) = &outcome.error {
            tracing::debug!(probe = p.name, error = e, "probe failed");
        }
        health.probes.lock().insert(p.name.clone(), outcome);
    }
}
