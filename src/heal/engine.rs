//! The running healer: takes notifications (from the webhook, or autoheal's own), decides them
//! under the policy in one audit-log transaction, and hands the executed ones to the
//! [`super::queue`], which runs them through [`super::action`].
//!
//! - A notification's decisions are committed (on disk) before the webhook answers 202. If its
//!   executions would overflow the queue, the transaction is rolled back and the answer is 503:
//!   nothing was recorded or claimed, so Alertmanager's retry is judged afresh.
//! - A resolved alert cancels the waiting retries of its firing.
//! - One rule holds at most an equal share of the queue, so a rule flooded with alerts cannot
//!   starve the others.
//!
//! Retries waiting when hale stops are not resumed after a restart; their `executed` rows stay
//! in the log and count against the budget.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::action::{Actions, Work};
use super::audit::{Audit, AuditError};
use super::auth::Credentials;
use super::decision::{Decision, Filter, Outcome};
use super::metrics::Metrics;
use super::payload::{AlertStatus, DecodeError, Notification};
use super::policy::{HealConfig, Planned, World};
use super::queue::{Limits, Pending, Queue};
use super::rules::{Lookup, Rule, TargetView};
use crate::docker::{Connection, Snapshot, State, Watcher};

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

/// Which rule set a notification is judged by: the config's (webhook and pulled alerts), or
/// autoheal's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleSet {
    Config,
    Autoheal,
}

/// The healer.
pub struct Healer {
    config: HealConfig,
    autoheal_rules: Vec<Rule>,
    audit: Arc<Audit>,
    credentials: Credentials,
    watcher: Option<Arc<Watcher>>,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    /// Fleet mode's poller, when `heal.pull` is set.
    puller: Option<Arc<super::pull::Puller>>,
}

/// The world as the live healer sees it: Docker's snapshot and the in-flight actions.
struct Live<'a> {
    snapshot: Option<&'a Snapshot>,
    pending: &'a Pending,
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
        self.pending.contains(rule, target)
    }
}

/// Healing at a glance, for the landing page.
#[derive(Debug, Clone)]
pub struct Overview {
    pub rules: usize,
    pub autoheal: bool,
    pub dry_run: bool,
    /// Whether `POST /webhook/alertmanager` takes alerts.
    pub webhook: bool,
    /// Fleet mode's Alertmanager peers (0: not pulling).
    pub pull_peers: usize,
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
        let autoheal_rules = if config.autoheal.enabled {
            vec![Rule::autoheal(
                config.autoheal.label.clone(),
                config.autoheal.timeout,
            )]
        } else {
            Vec::new()
        };
        let metrics = Arc::new(Metrics::new(
            config.rules.iter().chain(&autoheal_rules),
            audit.last_successes()?,
        ));
        let limits = Limits {
            size: config.queue_size,
            workers: config.workers,
            budget: config.budget,
            backoff: config.backoff,
        };
        let actions = Arc::new(Actions::new(docker, watcher.clone()));
        let queue = Arc::new(Queue::new(
            limits,
            Arc::clone(&audit),
            actions,
            Arc::clone(&metrics),
        ));
        let puller = match config.pull.clone() {
            None => None,
            Some(pull) => Some(super::pull::Puller::new(pull).ok_or_else(|| {
                StartError::Config(
                    "heal.pull was not validated: load the config with Config::load".into(),
                )
            })?),
        };
        let healer = Arc::new(Healer {
            autoheal_rules,
            audit,
            credentials,
            watcher,
            queue,
            metrics,
            puller,
            config,
        });
        let mut tasks: Vec<crate::task::Task> = vec![Box::pin(Arc::clone(&healer).prune_loop())];
        if let Some(puller) = healer.puller.clone() {
            tasks.push(Box::pin(super::pull::run(Arc::clone(&healer), puller)));
        }
        if healer.config.autoheal.enabled {
            match healer.watcher.clone() {
                Some(watcher) => tasks.push(Box::pin(super::autoheal::run(
                    Arc::clone(&healer),
                    watcher,
                    healer.config.autoheal.clone(),
                    healer.config.cooldown,
                ))),
                None => tracing::warn!(
                    "heal: autoheal is enabled but the Docker watcher is not running"
                ),
            }
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
        self.submit(n, RuleSet::Config).await
    }

    /// Decides a notification and queues its executions. The work runs in a task of its own,
    /// so a caller that goes away (a client that hangs up, a request timeout) cannot split
    /// recording a decision from queueing its action: both happen, or neither.
    async fn submit(
        self: &Arc<Self>,
        n: Notification,
        set: RuleSet,
    ) -> Result<Vec<Planned>, Reject> {
        let me = Arc::clone(self);
        let result = tokio::spawn(async move { me.decide_and_enqueue(n, set).await })
            .await
            .unwrap_or_else(|e| Err(Reject::Internal(format!("the decision task failed: {e}"))));
        if let Err(Reject::Audit(e)) = &result {
            self.metrics.audit_error();
            tracing::error!(error = %e, "heal: the audit log cannot be written; the notification is refused and nothing is done");
        }
        result
    }

    /// Whether `POST /webhook/alertmanager` takes alerts (`heal.webhook`).
    pub fn webhook_enabled(&self) -> bool {
        self.config.webhook
    }

    /// Decides alerts pulled from Alertmanager, by the config's rules, as a webhook's are.
    pub(super) async fn pulled(self: &Arc<Self>, n: Notification) -> Result<Vec<Planned>, Reject> {
        self.submit(n, RuleSet::Config).await
    }

    /// Cancels the waiting retries of the alert with this fingerprint: fleet mode saw it end.
    /// Nothing is recorded for it unless a retry was waiting (that retry records `cancelled`).
    pub(super) fn cancel_retries(&self, fingerprint: &str) {
        self.queue.pending().cancel(fingerprint);
    }

    /// Decides autoheal's synthetic alerts by its own rule.
    pub(super) async fn autoheal(
        self: &Arc<Self>,
        n: Notification,
    ) -> Result<Vec<Planned>, Reject> {
        self.submit(n, RuleSet::Autoheal).await
    }

    async fn decide_and_enqueue(
        self: Arc<Self>,
        n: Notification,
        set: RuleSet,
    ) -> Result<Vec<Planned>, Reject> {
        let rules = self.rules(set);
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
            me.decide_and_record(&decided, set, snapshot.as_deref())
        })
        .await
        .map_err(|e| Reject::Internal(format!("the decision task failed: {e}")))??;
        for p in plans.iter().filter(|p| p.outcome == Outcome::Executed) {
            let Some(slot) = slots.pop() else { break };
            let Some(rule) = rules.iter().find(|r| r.name == p.rule).cloned() else {
                continue;
            };
            let Some(alert) = n.alerts.get(p.alert).cloned() else {
                continue;
            };
            let work = Work {
                rule,
                alert,
                target: p.target.clone(),
                container_id: p.container_id.clone(),
            };
            self.queue.start(work, slot);
        }
        Ok(plans)
    }

    /// The most actions one rule may hold in the queue: an equal share, so a rule flooded with
    /// alerts cannot starve the others (a single rule has the whole queue).
    fn share(&self) -> usize {
        let rules = self.config.rules.len() + usize::from(self.config.autoheal.enabled);
        (self.config.queue_size / rules.max(1)).max(1)
    }

    fn rules(&self, set: RuleSet) -> &[Rule] {
        match set {
            RuleSet::Config => &self.config.rules,
            RuleSet::Autoheal => &self.autoheal_rules,
        }
    }

    /// The decision transaction: judge, reserve queue slots for the executions, record, and
    /// register the executions as pending, or roll everything back.
    fn decide_and_record(
        &self,
        n: &Notification,
        set: RuleSet,
        snapshot: Option<&Snapshot>,
    ) -> Result<(Vec<Planned>, Vec<OwnedSemaphorePermit>), Reject> {
        let time = super::now();
        let mut registered = Vec::new();
        let result = self.audit.transaction(|tx| {
            let mut pending = self.queue.pending();
            // A resolution first cancels the waiting retries of its alert.
            for alert in n
                .alerts
                .iter()
                .filter(|a| a.status == AlertStatus::Resolved)
            {
                pending.cancel(&alert.fingerprint);
            }
            let world = Live {
                snapshot,
                pending: &pending,
            };
            let plans = self.config.decide(self.rules(set), n, time, tx, &world)?;
            let executions = plans
                .iter()
                .filter(|p| p.outcome == Outcome::Executed)
                .count();
            let slots = self
                .queue
                .reserve(executions)
                .ok_or(Reject::QueueFull(self.queue.size()))?;
            // After the queue itself: a rule alone has the whole queue, so only a full
            // queue refuses it; with several rules, one may not take more than its share.
            let share = self.share();
            for rule in self.rules(set) {
                let new = plans
                    .iter()
                    .filter(|p| p.outcome == Outcome::Executed && p.rule == rule.name)
                    .count();
                if new > 0 && pending.held_by(&rule.name) + new > share {
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
                pending.insert(&p.rule, &p.target, &p.fingerprint);
                registered.push((p.rule.clone(), p.target.clone()));
            }
            Ok((plans, slots))
        });
        match result {
            Ok((plans, slots)) => {
                for p in &plans {
                    self.metrics.decided(&p.rule, p.action, p.outcome);
                }
                Ok((plans, slots))
            }
            Err(e) => {
                // The commit failed after the registrations: undo them.
                let mut pending = self.queue.pending();
                for (rule, target) in registered {
                    pending.remove(&rule, &target);
                }
                Err(e)
            }
        }
    }

    /// Deletes what is older than the retention, at start and hourly.
    async fn prune_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = super::now() - self.config.audit.retention.as_secs_f64();
            let audit = Arc::clone(&self.audit);
            match tokio::task::spawn_blocking(move || audit.prune(before)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(rows = n, "heal: pruned the audit log"),
                Ok(Err(e)) => tracing::warn!(error = %e, "heal: pruning the audit log failed"),
                Err(_) => {}
            }
        }
    }

    /// What the landing page shows: the rules, the last day's decisions by result, and, only
    /// when the webhook needs no credentials (so `/heal/events` is public anyway), the latest
    /// ten. Targets and alert names stay behind the same credentials as `/heal/events`.
    pub async fn overview(&self) -> Result<Overview, AuditError> {
        let audit = Arc::clone(&self.audit);
        let public = self.credentials.allows(None);
        let since = super::now() - 86_400.0;
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
            webhook: self.config.webhook,
            pull_peers: self
                .config
                .pull
                .as_ref()
                .map_or(0, |p| p.alertmanagers.len()),
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
        self.metrics.webhook(code);
    }

    /// The healing metric families: the kept counters, and the gauges read now from the
    /// queue and the audit log.
    pub fn metrics(&self, out: &mut Vec<crate::metric::MetricFamily>) -> Result<(), AuditError> {
        use crate::metric::MetricFamily;
        let since = super::now() - self.config.budget.window.as_secs_f64();
        let given_up = self.audit.given_up(since)?;
        self.metrics.families(out);
        if let Some(p) = &self.puller {
            p.families(out);
        }
        out.push(
            MetricFamily::gauge(
                "hale_heal_queue_depth",
                None,
                "Healing actions waiting, running or waiting to retry.",
            )
            .with([], self.queue.depth() as u64),
        );
        let mut gave_up = MetricFamily::gauge(
            "hale_heal_gave_up",
            None,
            "1 while hale has given up on a rule's target: its attempt budget is spent.",
        );
        for (rule, target) in given_up {
            gave_up.push([("rule", rule), ("target", target)], 1u64);
        }
        out.push(gave_up);
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
