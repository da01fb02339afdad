//! The running healer: takes notifications (from the webhook, or autoheal's own), decides them
//! under the policy in one audit-log transaction, and runs the executed ones in the background.
//!
//! - A notification's decisions are committed (on disk) before the webhook answers 202. If its
//!   executions would overflow the queue, the transaction is rolled back and the answer is 503:
//!   nothing was recorded or claimed, so Alertmanager's retry is judged afresh.
//! - The queue holds at most `queue_size` actions (waiting, running, or waiting to retry);
//!   `workers` run at once; one target has one action at a time.
//! - A failed action is retried after an exponential backoff while the attempt budget allows,
//!   each retry recorded as `executed` before it runs; then `gave_up`. A resolved alert (or a
//!   container healthy again, for autoheal) cancels a waiting retry: `cancelled`.
//! - Container actions re-check the container right before acting: one that is stopped and did
//!   not die on its own is not started (an operator's `docker stop` wins over any alert).
//!
//! Retries waiting when hale stops are not resumed after a restart; their `executed` rows stay
//! in the log and count against the budget.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::audit::{Audit, AuditError, Decision, Filter, Outcome};
use super::auth::Credentials;
use super::payload::{Alert, AlertStatus, DecodeError, Notification};
use super::policy::{HealConfig, Planned, World, STOPPED_BY_REQUEST};
use super::rules::{ActionKind, Lookup, Rule, TargetView};
use crate::docker::{Connection, ExitCause, Snapshot, State, Watcher};

/// Why a notification was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Reject {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The queue has no room for the notification's actions: 503, retry later.
    #[error("the action queue is full ({0} actions); retry later")]
    QueueFull(usize),
    /// The rule already holds its share of the queue: 503, retry later.
    #[error(
        "heal rule {rule:?} holds its share of the action queue ({share} actions); retry later"
    )]
    ShareFull { rule: String, share: usize },
    /// A container rule matched but Docker cannot be asked: 503, retry later.
    #[error("Docker is not reachable, so container actions cannot be judged: {0}")]
    DockerDown(String),
    /// The audit log cannot be written: 503, retry later; nothing was recorded or acted on.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A bug in hale (a task that panicked): 500; nothing was acted on.
    #[error("hale bug: {0}")]
    Internal(String),
}

/// A failure to start healing, reported at startup.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("creating {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// Which rule set a notification is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Webhook,
    Autoheal,
}

/// An action waiting, running or waiting to retry.
struct Pending {
    fingerprint: String,
    cancel: Arc<Notify>,
}

/// Counters and histograms since hale started; the gauges come from the queue and the log.
#[derive(Default)]
struct Counters {
    decisions: BTreeMap<(String, &'static str, &'static str), u64>,
    /// Webhook answers by HTTP status code; the codes the webhook gives start at zero so the
    /// first rejection is an increase.
    webhook: BTreeMap<u16, u64>,
    durations: BTreeMap<&'static str, crate::metric::Histogram>,
    last_success: BTreeMap<String, f64>,
    /// Audit-log writes that failed: each a refused webhook or an action that was not run.
    audit_errors: u64,
}

/// Buckets of `hale_heal_action_duration_seconds`: restarts take seconds, commands up to their
/// timeout.
pub const DURATION_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// The status codes `POST /webhook/alertmanager` answers with once healing is configured.
pub const WEBHOOK_CODES: [u16; 7] = [202, 400, 401, 413, 422, 500, 503];

/// How often a container is inspected after an action ran past its timeout, to learn whether
/// it took effect.
const EFFECT_POLL: Duration = Duration::from_millis(500);

/// Beyond the rule's timeout and the container's stop timeout, how long hale waits for a timed
/// out action to show its effect before it records the attempt as failed.
const EFFECT_SLACK: Duration = Duration::from_secs(10);

/// The longest hale watches for a timed-out action's effect.
const EFFECT_WINDOW_MAX: Duration = Duration::from_secs(3600);

/// The healer.
pub struct Healer {
    config: HealConfig,
    autoheal_rules: Vec<Rule>,
    audit: Arc<Audit>,
    credentials: Credentials,
    watcher: Option<Arc<Watcher>>,
    docker: Option<bollard::Docker>,
    slots: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    targets: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pending: Mutex<HashMap<(String, String), Pending>>,
    counters: Mutex<Counters>,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The world as the live healer sees it: Docker's snapshot and the in-flight actions.
struct Live<'a> {
    snapshot: Option<&'a Snapshot>,
    pending: &'a HashMap<(String, String), Pending>,
}

impl World for Live<'_> {
    fn container(&self, name: &str) -> Lookup {
        let Some(s) = self.snapshot else {
            return Lookup::Missing;
        };
        match s.known.get(name) {
            None => Lookup::Missing,
            Some(k) => Lookup::Found(TargetView {
                id: k.docker_id.clone(),
                labels: k.labels.clone(),
                running: matches!(k.state, State::Running | State::Paused | State::Restarting),
                exit: s.exits.get(&k.docker_id).copied(),
            }),
        }
    }

    fn pending(&self, rule: &str, target: &str) -> bool {
        self.pending
            .contains_key(&(rule.to_string(), target.to_string()))
    }
}

/// Healing at a glance, for the landing page.
#[derive(Debug, Clone)]
pub struct Overview {
    pub rules: usize,
    pub autoheal: bool,
    pub dry_run: bool,
    /// The last 24 hours' decisions by result.
    pub counts: Vec<(Outcome, u64)>,
    /// The latest decisions, when they are public.
    pub recent: Option<Vec<Decision>>,
}

/// A blocking audit task that panicked or was cancelled: a bug, reported as an audit error.
fn task_failed(e: tokio::task::JoinError) -> AuditError {
    AuditError::Task(e.to_string())
}

impl Healer {
    /// Opens the audit log; returns the healer and its background tasks (pruning, and autoheal
    /// when enabled) for the caller to run. `watcher` is the Docker view; it is needed when any
    /// rule acts on containers.
    pub fn new(
        config: HealConfig,
        watcher: Option<Arc<Watcher>>,
        docker_host: &str,
    ) -> Result<(Arc<Healer>, Vec<crate::task::Task>), StartError> {
        // Read once, by the config loader (HealConfig::validate).
        let credentials = config.credentials.clone().ok_or_else(|| {
            StartError::Config(
                "heal.auth was not validated: load the config with Config::load".into(),
            )
        })?;
        if let Some(dir) = config
            .audit
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| StartError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let audit = Arc::new(Audit::open(&config.audit.path)?);
        let docker = watcher.as_ref().and_then(|_| {
            bollard::Docker::connect_with_host(docker_host)
                .map_err(
                    |e| tracing::warn!(host = docker_host, error = %e, "heal: no Docker client"),
                )
                .ok()
        });
        let counters = Counters {
            last_success: audit.last_successes()?.into_iter().collect(),
            webhook: WEBHOOK_CODES.iter().map(|&c| (c, 0)).collect(),
            ..Counters::default()
        };
        let autoheal_rules = if config.autoheal.enabled {
            vec![Rule::autoheal(
                config.autoheal.label.clone(),
                config.autoheal.timeout,
            )]
        } else {
            Vec::new()
        };
        let healer = Arc::new(Healer {
            slots: Arc::new(Semaphore::new(config.queue_size)),
            workers: Arc::new(Semaphore::new(config.workers)),
            autoheal_rules,
            audit,
            credentials,
            watcher,
            docker,
            targets: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            counters: Mutex::new(counters),
            config,
        });
        let mut tasks: Vec<crate::task::Task> = vec![Box::pin(Arc::clone(&healer).prune_loop())];
        if healer.config.autoheal.enabled {
            tasks.push(Box::pin(Arc::clone(&healer).autoheal_loop()));
        }
        Ok((healer, tasks))
    }

    /// The credentials requests must carry.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The largest webhook body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    /// Decodes and decides a webhook body; the decisions are on disk when this returns `Ok`.
    pub async fn receive(self: &Arc<Self>, body: &[u8]) -> Result<Vec<Planned>, Reject> {
        let n = Notification::decode(body)?;
        self.submit(n, Source::Webhook).await
    }

    /// Decides a notification and queues its executions. The work runs in a task of its own,
    /// so a caller that goes away (a client that hangs up, a request timeout) cannot split
    /// recording a decision from queueing its action: both happen, or neither.
    async fn submit(
        self: &Arc<Self>,
        n: Notification,
        source: Source,
    ) -> Result<Vec<Planned>, Reject> {
        let me = Arc::clone(self);
        let result = tokio::spawn(async move { me.decide_and_enqueue(n, source).await })
            .await
            .unwrap_or_else(|e| Err(Reject::Internal(format!("the decision task failed: {e}"))));
        if let Err(Reject::Audit(e)) = &result {
            self.counters.lock().audit_errors += 1;
            tracing::error!(error = %e, "heal: the audit log cannot be written; the notification is refused and nothing is done");
        }
        result
    }

    async fn decide_and_enqueue(
        self: Arc<Self>,
        n: Notification,
        source: Source,
    ) -> Result<Vec<Planned>, Reject> {
        let rules = self.rules(source);
        let needs_docker = rules
            .iter()
            .any(|r| r.action.on_container() && n.alerts.iter().any(|a| r.matches(a)));
        let snapshot = self.watcher.as_ref().map(|w| w.snapshot());
        if needs_docker {
            match snapshot.as_deref().map(|s| &s.connection) {
                Some(Connection::Up) => {}
                Some(Connection::Down(reason)) => return Err(Reject::DockerDown(reason.clone())),
                Some(Connection::Connecting) => {
                    return Err(Reject::DockerDown("not connected yet".into()))
                }
                None => return Err(Reject::DockerDown("the Docker watcher is off".into())),
            }
        }
        tracing::debug!(alerts = n.alerts.len(), "heal: deciding a notification");
        let me = Arc::clone(&self);
        let n = Arc::new(n);
        let decided = Arc::clone(&n);
        let (plans, mut slots) = tokio::task::spawn_blocking(move || {
            me.decide_and_record(&decided, source, snapshot.as_deref())
        })
        .await
        .map_err(|e| Reject::Internal(format!("the decision task failed: {e}")))??;
        for p in plans.iter().filter(|p| p.outcome == Outcome::Executed) {
            let Some(slot) = slots.pop() else { break };
            let Some(rule) = rules.iter().find(|r| r.name == p.rule).cloned() else {
                continue;
            };
            let cancel = self
                .pending
                .lock()
                .get(&(p.rule.clone(), p.target.clone()))
                .map(|e| Arc::clone(&e.cancel))
                .unwrap_or_default();
            let Some(alert) = n.alerts.get(p.alert).cloned() else {
                continue;
            };
            let job = Job {
                rule,
                alert,
                target: p.target.clone(),
                container_id: p.container_id.clone(),
                cancel,
                _slot: slot,
            };
            tokio::spawn(Arc::clone(&self).run(job));
        }
        Ok(plans)
    }

    /// The most actions one rule may hold in the queue: an equal share, so a rule flooded with
    /// alerts cannot starve the others (a single rule has the whole queue).
    fn share(&self) -> usize {
        let rules = self.config.rules.len() + usize::from(self.config.autoheal.enabled);
        (self.config.queue_size / rules.max(1)).max(1)
    }

    fn rules(&self, source: Source) -> &[Rule] {
        match source {
            Source::Webhook => &self.config.rules,
            Source::Autoheal => &self.autoheal_rules,
        }
    }

    /// The decision transaction: judge, reserve queue slots for the executions, record, and
    /// register the executions as pending, or roll everything back.
    fn decide_and_record(
        &self,
        n: &Notification,
        source: Source,
        snapshot: Option<&Snapshot>,
    ) -> Result<(Vec<Planned>, Vec<OwnedSemaphorePermit>), Reject> {
        let time = now();
        let mut registered = Vec::new();
        let result = self.audit.transaction(|tx| {
            let mut pending = self.pending.lock();
            // A resolution first cancels the waiting retries of its alert.
            for alert in n
                .alerts
                .iter()
                .filter(|a| a.status == AlertStatus::Resolved)
            {
                for p in pending
                    .values()
                    .filter(|p| p.fingerprint == alert.fingerprint)
                {
                    // notify_one keeps the wake-up for a job that is not waiting yet.
                    p.cancel.notify_one();
                }
            }
            let world = Live {
                snapshot,
                pending: &pending,
            };
            let plans = self
                .config
                .decide(self.rules(source), n, time, tx, &world)?;
            let executions = plans
                .iter()
                .filter(|p| p.outcome == Outcome::Executed)
                .count();
            let mut slots = Vec::with_capacity(executions);
            for _ in 0..executions {
                match Arc::clone(&self.slots).try_acquire_owned() {
                    Ok(permit) => slots.push(permit),
                    Err(_) => return Err(Reject::QueueFull(self.config.queue_size)),
                }
            }
            // After the queue itself: a rule alone has the whole queue, so only a full
            // queue refuses it; with several rules, one may not take more than its share.
            let share = self.share();
            for rule in self.rules(source) {
                let queued = pending.keys().filter(|(r, _)| *r == rule.name).count();
                let new = plans
                    .iter()
                    .filter(|p| p.outcome == Outcome::Executed && p.rule == rule.name)
                    .count();
                if new > 0 && queued + new > share {
                    return Err(Reject::ShareFull {
                        rule: rule.name.clone(),
                        share,
                    });
                }
            }
            for p in &plans {
                tx.record(&p.decision())?;
            }
            for p in plans.iter().filter(|p| p.outcome == Outcome::Executed) {
                let key = (p.rule.clone(), p.target.clone());
                pending.insert(
                    key.clone(),
                    Pending {
                        fingerprint: p.fingerprint.clone(),
                        cancel: Arc::new(Notify::new()),
                    },
                );
                registered.push(key);
            }
            Ok((plans, slots))
        });
        match result {
            Ok((plans, slots)) => {
                let mut c = self.counters.lock();
                for p in &plans {
                    *c.decisions
                        .entry((p.rule.clone(), p.action, p.outcome.as_str()))
                        .or_default() += 1;
                }
                Ok((plans, slots))
            }
            Err(e) => {
                // The commit failed after the registrations: undo them.
                let mut pending = self.pending.lock();
                for key in registered {
                    pending.remove(&key);
                }
                Err(e)
            }
        }
    }

    /// Records a decision from a job, off the async threads, and says whether it is on disk. A
    /// failure is logged and counted (`hale_heal_audit_errors_total`): an operator must know.
    async fn record(
        &self,
        job: &Job,
        outcome: Outcome,
        duration: Option<f64>,
        detail: String,
    ) -> bool {
        let decision = Decision {
            time: now(),
            rule: job.rule.name.clone(),
            alertname: job.alert.name().to_string(),
            fingerprint: job.alert.fingerprint.clone(),
            target: job.target.clone(),
            action: job.rule.action.as_str().to_string(),
            outcome,
            duration,
            detail,
        };
        {
            let mut c = self.counters.lock();
            *c.decisions
                .entry((
                    decision.rule.clone(),
                    job.rule.action.as_str(),
                    outcome.as_str(),
                ))
                .or_default() += 1;
            if outcome == Outcome::Succeeded {
                c.last_success.insert(decision.rule.clone(), decision.time);
            }
        }
        tracing::info!(rule = %decision.rule, target = %decision.target, action = %decision.action,
            result = outcome.as_str(), detail = %decision.detail, "heal");
        let audit = Arc::clone(&self.audit);
        let written = tokio::task::spawn_blocking(move || audit.record(&decision)).await;
        let error = match written {
            Ok(Ok(_)) => return true,
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("hale bug: the audit task failed: {e}"),
        };
        self.counters.lock().audit_errors += 1;
        tracing::error!(error, rule = %job.rule.name, target = %job.target,
            result = outcome.as_str(), "heal: a decision could not be recorded");
        false
    }

    /// One queued action, through its retries.
    async fn run(self: Arc<Self>, job: Job) {
        let mut failures = 0u32;
        loop {
            let lock = self.target_lock(&job.target);
            let acquired = tokio::select! {
                biased;
                () = job.cancel.notified() => None,
                acquired = async {
                    let guard = lock.lock_owned().await;
                    let worker = Arc::clone(&self.workers).acquire_owned().await;
                    (guard, worker)
                } => Some(acquired),
            };
            let Some(_running) = acquired else {
                self.record(
                    &job,
                    Outcome::Cancelled,
                    None,
                    "the alert resolved before the attempt ran".into(),
                )
                .await;
                break;
            };
            let started = Instant::now();
            let result = self.act(&job).await;
            let elapsed = started.elapsed().as_secs_f64();
            drop(_running);
            lock_observe(&self.counters, job.rule.action.as_str(), elapsed);
            match result {
                Acted::Done(detail) => {
                    self.record(&job, Outcome::Succeeded, Some(elapsed), detail)
                        .await;
                    break;
                }
                Acted::Refused(reason) => {
                    self.record(&job, Outcome::Denied, Some(elapsed), reason)
                        .await;
                    break;
                }
                Acted::Hopeless(reason) => {
                    let detail = format!("{reason} (not retried: no retry can succeed)");
                    self.record(&job, Outcome::Failed, Some(elapsed), detail)
                        .await;
                    break;
                }
                Acted::Failed(error) => {
                    self.record(&job, Outcome::Failed, Some(elapsed), error)
                        .await;
                }
            }
            failures += 1;
            let since = now() - self.config.budget.window.as_secs_f64();
            let audit = Arc::clone(&self.audit);
            let (rule, target) = (job.rule.name.clone(), job.target.clone());
            let attempts =
                tokio::task::spawn_blocking(move || audit.attempts_since(&rule, &target, since))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(u64::MAX);
            if attempts >= self.config.budget.attempts {
                self.record(
                    &job,
                    Outcome::GaveUp,
                    None,
                    format!(
                        "{attempts} attempts in the last {:?} failed or were used; budget is {}",
                        self.config.budget.window, self.config.budget.attempts
                    ),
                )
                .await;
                break;
            }
            let delay = self.config.backoff.delay(failures);
            let cancelled = tokio::select! {
                biased;
                () = job.cancel.notified() => true,
                () = tokio::time::sleep(delay) => false,
            };
            if cancelled {
                self.record(
                    &job,
                    Outcome::Cancelled,
                    None,
                    "the alert resolved; the retry is cancelled".into(),
                )
                .await;
                break;
            }
            // Fail closed: no attempt runs unless its `executed` row is on disk, so the budget
            // holds even when the log cannot be written (a full disk).
            let recorded = self
                .record(
                    &job,
                    Outcome::Executed,
                    None,
                    format!("retry {failures} after a {delay:?} backoff"),
                )
                .await;
            if !recorded {
                tracing::error!(rule = %job.rule.name, target = %job.target,
                    "heal: the retry is not run: its decision could not be recorded");
                break;
            }
        }
        self.pending
            .lock()
            .remove(&(job.rule.name.clone(), job.target.clone()));
    }

    fn target_lock(&self, target: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut targets = self.targets.lock();
        // Forget locks nobody holds, so the map stays as small as the work in flight.
        targets.retain(|_, l| Arc::strong_count(l) > 1);
        Arc::clone(targets.entry(target.to_string()).or_default())
    }

    /// Runs the action once.
    async fn act(&self, job: &Job) -> Acted {
        let rule = &job.rule;
        if rule.action == ActionKind::Exec {
            let env = match super::exec::environment(&rule.name, &job.target, &job.alert) {
                Ok(env) => env,
                // It would fail the same way on every retry: failed once, with the reason.
                Err(reason) => return Acted::Hopeless(reason),
            };
            return match super::exec::run(&rule.argv, &env, rule.timeout).await {
                Ok(out) => Acted::Done(out),
                Err(e) => Acted::Failed(e),
            };
        }
        let Some(docker) = &self.docker else {
            return Acted::Failed("no Docker client".into());
        };
        self.container_action(docker, job).await
    }

    /// One container action on the container that passed the allow-list, by its ID. Before
    /// every attempt the container is inspected and the allow-list checked again on what
    /// Docker reports now (its name and labels): a container removed and replaced under the
    /// same name, or relabelled, is not touched.
    async fn container_action(&self, docker: &bollard::Docker, job: &Job) -> Acted {
        use bollard::query_parameters::{KillContainerOptions, RestartContainerOptions};
        let name = job.target.as_str();
        let Some(id) = job.container_id.as_deref() else {
            return Acted::Refused("hale bug: a container action without a container ID".into());
        };
        let timeout = job.rule.timeout;
        let inspect = match tokio::time::timeout(timeout, docker.inspect_container(id, None)).await
        {
            Err(_) => return Acted::Failed(format!("no answer from Docker within {timeout:?}")),
            Ok(Ok(i)) => i,
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => {
                return Acted::Refused(format!(
                    "the container {name} ({}) that was judged is gone; hale does not act on \
                     another container by that name",
                    short(id)
                ))
            }
            Ok(Err(e)) => return Acted::Failed(format!("inspecting {name}: {e}")),
        };
        let current = inspect
            .name
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/');
        let labels = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        if let Err(reason) = job.rule.admits(current, &labels) {
            return Acted::Refused(format!(
                "the allow-list no longer admits the container {} ({current}): {reason}",
                short(id)
            ));
        }
        let stop_timeout = inspect
            .config
            .as_ref()
            .and_then(|c| c.stop_timeout)
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(10);
        let state = inspect.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let started_before = state.started_at.clone();
        let died_on_its_own = self
            .watcher
            .as_ref()
            .and_then(|w| w.snapshot().exits.get(id).copied())
            == Some(ExitCause::OnItsOwn);
        let action = async {
            match job.rule.action {
                ActionKind::Start => docker.start_container(id, None).await,
                ActionKind::Restart => {
                    docker
                        .restart_container(id, None::<RestartContainerOptions>)
                        .await
                }
                ActionKind::Stop => docker.stop_container(id, None).await,
                ActionKind::Kill => {
                    docker
                        .kill_container(
                            id,
                            Some(KillContainerOptions {
                                signal: job.rule.signal.clone(),
                            }),
                        )
                        .await
                }
                ActionKind::Exec => Ok(()),
            }
        };
        match job.rule.action {
            ActionKind::Start | ActionKind::Restart if !running && !died_on_its_own => {
                return Acted::Refused(STOPPED_BY_REQUEST.into())
            }
            ActionKind::Start if running => return Acted::Done("already running".into()),
            ActionKind::Stop | ActionKind::Kill if !running => {
                return Acted::Done("not running; nothing to do".into())
            }
            ActionKind::Exec => {
                return Acted::Failed("hale bug: exec is not a container action".into())
            }
            _ => {}
        }
        match tokio::time::timeout(timeout, action).await {
            Ok(Ok(())) => Acted::Done(String::new()),
            Ok(Err(e)) => Acted::Failed(format!("{} {name}: {e}", job.rule.action.as_str())),
            // Docker carries on with an action whose client stopped waiting, so a timeout says
            // nothing about the effect: look before anything retries (a slow restart must not
            // be restarted twice). The window covers the container's own stop timeout.
            Err(_) => {
                // The container's stop timeout, then time for a loaded engine to start it.
                // Saturating and capped: the stop timeout is Docker's answer, and a rule's
                // timeout may be up to 292 years; neither may overflow a clock.
                let window = timeout
                    .saturating_add(Duration::from_secs(stop_timeout))
                    .saturating_add(EFFECT_SLACK)
                    .min(EFFECT_WINDOW_MAX);
                match self
                    .effect(
                        docker,
                        id,
                        job.rule.action,
                        started_before.as_deref(),
                        window,
                    )
                    .await
                {
                    true => Acted::Done(format!("took effect after the {timeout:?} timeout")),
                    false => Acted::Failed(format!(
                        "no answer from Docker within {timeout:?}, and no effect seen within \
                         {window:?} more"
                    )),
                }
            }
        }
    }

    /// Whether `action` has visibly taken effect on the container, polling until `window` ends:
    /// a restart or start shows as running with a new start time, a stop or kill as not running.
    async fn effect(
        &self,
        docker: &bollard::Docker,
        id: &str,
        action: ActionKind,
        started_before: Option<&str>,
        window: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + window;
        loop {
            let inspected =
                tokio::time::timeout(EFFECT_POLL * 4, docker.inspect_container(id, None)).await;
            if let Ok(Ok(i)) = inspected {
                let state = i.state.unwrap_or_default();
                let running = state.running.unwrap_or(false);
                let restarted = state.started_at.as_deref() != started_before;
                let done = match action {
                    ActionKind::Restart | ActionKind::Start => running && restarted,
                    ActionKind::Stop | ActionKind::Kill => !running,
                    ActionKind::Exec => false,
                };
                if done {
                    return true;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(EFFECT_POLL).await;
        }
    }

    /// Deletes what is older than the retention, at start and hourly.
    async fn prune_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = now() - self.config.audit.retention.as_secs_f64();
            let audit = Arc::clone(&self.audit);
            match tokio::task::spawn_blocking(move || audit.prune(before)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(rows = n, "heal: pruned the audit log"),
                Ok(Err(e)) => tracing::warn!(error = %e, "heal: pruning the audit log failed"),
                Err(_) => {}
            }
        }
    }

    /// Autoheal: on every snapshot, each running container with the label that is unhealthy
    /// gets a synthetic `HaleAutoheal` alert through the same policy, at once when it turns
    /// unhealthy and again at most once per cooldown while it stays so; one healthy again
    /// resolves it, which cancels a waiting retry.
    async fn autoheal_loop(self: Arc<Self>) {
        let Some(watcher) = self.watcher.clone() else {
            tracing::warn!("heal: autoheal is enabled but the Docker watcher is not running");
            return;
        };
        let mut changes = watcher.subscribe();
        // Container ID → (when this unhealthy episode was first seen, when it was last judged).
        let mut unhealthy: HashMap<String, (String, Instant)> = HashMap::new();
        let mut recheck = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = recheck.tick() => {}
            }
            let snapshot = watcher.snapshot();
            if snapshot.connection != Connection::Up {
                continue;
            }
            let mut alerts = Vec::new();
            for k in snapshot.known.values() {
                if !self.config.autoheal.label.matches(&k.labels) {
                    continue;
                }
                let sick =
                    k.state == State::Running && k.health == crate::docker::Health::Unhealthy;
                if !sick {
                    if let Some((since, _)) = unhealthy.remove(&k.docker_id) {
                        alerts.push(autoheal_alert(k, &since, AlertStatus::Resolved));
                    }
                    continue;
                }
                let due = match unhealthy.get(&k.docker_id) {
                    None => true,
                    Some((_, judged)) => {
                        judged.elapsed() >= self.config.cooldown.max(Duration::from_secs(5))
                    }
                };
                if due {
                    let since = time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    unhealthy.insert(k.docker_id.clone(), (since.clone(), Instant::now()));
                    alerts.push(autoheal_alert(k, &since, AlertStatus::Firing));
                }
            }
            // Forget containers that are gone.
            unhealthy.retain(|id, _| snapshot.known.values().any(|k| &k.docker_id == id));
            if alerts.is_empty() {
                continue;
            }
            let n = Notification {
                version: "4".into(),
                receiver: "autoheal".into(),
                status: AlertStatus::Firing,
                alerts,
                group_labels: BTreeMap::new(),
                common_labels: BTreeMap::new(),
                common_annotations: BTreeMap::new(),
                external_url: String::new(),
                group_key: String::new(),
                truncated_alerts: 0,
            };
            if let Err(e) = self.submit(n, Source::Autoheal).await {
                tracing::warn!(error = %e, "heal: autoheal could not decide");
                // Judge again on the next tick.
                unhealthy.clear();
            }
        }
    }

    /// What the landing page shows: the rules, the last day's decisions by result, and, only
    /// when the webhook needs no credentials (so `/heal/events` is public anyway), the latest
    /// ten. Targets and alert names stay behind the same credentials as `/heal/events`.
    pub async fn overview(&self) -> Result<Overview, AuditError> {
        let audit = Arc::clone(&self.audit);
        let public = self.credentials.allows(None);
        let since = now() - 86_400.0;
        let (counts, recent) = tokio::task::spawn_blocking(move || {
            let counts = audit.counts_since(since);
            let recent = if public {
                let filter = Filter {
                    limit: Some(10),
                    ..Filter::default()
                };
                Some(audit.events(&filter)?)
            } else {
                None
            };
            Ok::<_, AuditError>((counts, recent))
        })
        .await
        .unwrap_or_else(|e| Err(task_failed(e)))?;
        Ok(Overview {
            rules: self.config.rules.len(),
            autoheal: self.config.autoheal.enabled,
            dry_run: self.config.dry_run,
            counts,
            recent,
        })
    }

    /// Decisions for `GET /heal/events`.
    pub async fn events(&self, filter: Filter) -> Result<Vec<Decision>, AuditError> {
        let audit = Arc::clone(&self.audit);
        tokio::task::spawn_blocking(move || audit.events(&filter))
            .await
            .unwrap_or_else(|e| Err(task_failed(e)))
    }

    /// Counts one webhook answer for `hale_heal_webhook_requests_total{code}`.
    pub fn count_webhook(&self, code: u16) {
        *self.counters.lock().webhook.entry(code).or_insert(0) += 1;
    }

    /// The healing metric families.
    pub fn metrics(&self, out: &mut Vec<crate::metric::MetricFamily>) -> Result<(), AuditError> {
        use crate::metric::{MetricFamily, Unit};
        let since = now() - self.config.budget.window.as_secs_f64();
        let given_up = self.audit.given_up(since)?;
        let c = self.counters.lock();
        let mut decisions = MetricFamily::counter(
            "hale_heal_decisions",
            None,
            "Healing decisions since hale started, by rule, action and result.",
        );
        for ((rule, action, result), n) in &c.decisions {
            decisions.push(
                [
                    ("rule", rule.clone()),
                    ("action", (*action).to_string()),
                    ("result", (*result).to_string()),
                ],
                *n,
            );
        }
        let mut durations = MetricFamily::histogram(
            "hale_heal_action_duration",
            Some(Unit::Seconds),
            "How long healing actions took, by action.",
        );
        for (action, h) in &c.durations {
            durations.push_histogram([("action", (*action).to_string())], h.clone());
        }
        let depth = self.config.queue_size - self.slots.available_permits();
        let queue = MetricFamily::gauge(
            "hale_heal_queue_depth",
            None,
            "Healing actions waiting, running or waiting to retry.",
        )
        .with([], depth as u64);
        let mut last = MetricFamily::gauge(
            "hale_heal_last_success_timestamp",
            Some(Unit::Seconds),
            "When each rule's action last succeeded (Unix time), from the audit log.",
        );
        for (rule, t) in &c.last_success {
            last.push([("rule", rule.clone())], *t);
        }
        let mut gave_up = MetricFamily::gauge(
            "hale_heal_gave_up",
            None,
            "1 while hale has given up on a rule's target: its attempt budget is spent.",
        );
        for (rule, target) in given_up {
            gave_up.push([("rule", rule), ("target", target)], 1u64);
        }
        let mut webhook = MetricFamily::counter(
            "hale_heal_webhook_requests",
            None,
            "Webhook requests since hale started, by the HTTP status code answered (202 accepted; others rejected).",
        );
        for (code, n) in &c.webhook {
            webhook.push([("code", code.to_string())], *n);
        }
        let audit_errors = MetricFamily::counter(
            "hale_heal_audit_errors",
            None,
            "Audit-log writes that failed since hale started; while they fail, webhooks get 503 and no action runs.",
        )
        .with([], c.audit_errors);
        out.extend([
            decisions,
            durations,
            queue,
            last,
            gave_up,
            webhook,
            audit_errors,
        ]);
        Ok(())
    }
}

impl crate::collector::Source for Healer {
    fn families(
        &self,
        out: &mut Vec<crate::metric::MetricFamily>,
    ) -> Result<(), crate::collector::Error> {
        let mut families = Vec::new();
        self.metrics(&mut families)
            .map_err(|e| crate::collector::Error::Source(e.to_string()))?;
        out.extend(families.into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}

fn lock_observe(counters: &Mutex<Counters>, action: &'static str, seconds: f64) {
    counters
        .lock()
        .durations
        .entry(action)
        .or_insert_with(|| crate::metric::Histogram::new(&DURATION_BUCKETS))
        .observe(seconds);
}

/// A container ID as `docker ps` shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn autoheal_alert(k: &crate::docker::Known, since: &str, status: AlertStatus) -> Alert {
    Alert {
        status,
        labels: BTreeMap::from([
            ("alertname".to_string(), super::AUTOHEAL_ALERT.to_string()),
            ("name".to_string(), k.name.clone()),
        ]),
        annotations: BTreeMap::new(),
        starts_at: since.to_string(),
        ends_at: String::new(),
        generator_url: String::new(),
        fingerprint: format!("autoheal:{}", &k.docker_id[..k.docker_id.len().min(12)]),
    }
}

/// One action through its retries.
struct Job {
    rule: Rule,
    alert: Alert,
    target: String,
    /// The container that passed the allow-list (container actions).
    container_id: Option<String>,
    cancel: Arc<Notify>,
    _slot: OwnedSemaphorePermit,
}

/// What one attempt came to.
enum Acted {
    Done(String),
    Failed(String),
    /// Failed in a way no retry can change (an environment no program can be given).
    Hopeless(String),
    Refused(String),
}
