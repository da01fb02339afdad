//! The action queue: a bounded number of actions waiting, running or waiting to retry; a
//! bounded number running at once; one action per target at a time; retries after an
//! exponential backoff while the attempt budget allows, then `gave_up`; a resolved alert
//! cancels a waiting retry.
//!
//! Fail closed: no retry runs unless its `executed` row is on disk, so the budget holds even
//! when the log cannot be written (a full disk). The first attempt's `executed` row is written
//! by the decision transaction before the action is queued ([`super::engine`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::action::{Acted, Action, Work};
use super::audit::Audit;
use super::decision::{Decision, Outcome};
use super::metrics::Metrics;
use super::policy::{Backoff, Budget};

/// The actions waiting, running or waiting to retry, by (rule, target): what makes one action
/// per rule and target, a rule's share of the queue, and cancellation by fingerprint possible.
#[derive(Default)]
pub struct Pending(HashMap<(String, String), Entry>);

struct Entry {
    fingerprint: String,
    cancel: Arc<Notify>,
}

impl Pending {
    /// Whether `rule` has an action in flight on `target`.
    pub fn contains(&self, rule: &str, target: &str) -> bool {
        self.0.contains_key(&(rule.to_string(), target.to_string()))
    }

    /// How many actions `rule` has in flight.
    pub fn held_by(&self, rule: &str) -> usize {
        self.0.keys().filter(|(r, _)| r == rule).count()
    }

    /// Cancels the waiting retries of the alert with this fingerprint: it resolved.
    pub fn cancel(&self, fingerprint: &str) {
        for e in self.0.values().filter(|e| e.fingerprint == fingerprint) {
            // notify_one keeps the wake-up for a job that is not waiting yet.
            e.cancel.notify_one();
        }
    }

    /// Registers an action of `rule` on `target` for the alert `fingerprint`.
    pub fn insert(&mut self, rule: &str, target: &str, fingerprint: &str) {
        self.0.insert(
            (rule.to_string(), target.to_string()),
            Entry {
                fingerprint: fingerprint.to_string(),
                cancel: Arc::new(Notify::new()),
            },
        );
    }

    /// Forgets the action of `rule` on `target`.
    pub fn remove(&mut self, rule: &str, target: &str) {
        self.0.remove(&(rule.to_string(), target.to_string()));
    }

    fn cancel_handle(&self, rule: &str, target: &str) -> Arc<Notify> {
        self.0
            .get(&(rule.to_string(), target.to_string()))
            .map(|e| Arc::clone(&e.cancel))
            .unwrap_or_default()
    }
}

/// How large the queue is and how it retries.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub size: usize,
    pub workers: usize,
    pub budget: Budget,
    pub backoff: Backoff,
}

/// The queue.
pub struct Queue {
    limits: Limits,
    slots: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    targets: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pending: Mutex<Pending>,
    audit: Arc<Audit>,
    action: Arc<dyn Action>,
    metrics: Arc<Metrics>,
}

/// One action through its retries.
struct Job {
    work: Work,
    cancel: Arc<Notify>,
    _slot: OwnedSemaphorePermit,
}

impl Queue {
    pub fn new(
        limits: Limits,
        audit: Arc<Audit>,
        action: Arc<dyn Action>,
        metrics: Arc<Metrics>,
    ) -> Queue {
        Queue {
            slots: Arc::new(Semaphore::new(limits.size)),
            workers: Arc::new(Semaphore::new(limits.workers)),
            limits,
            targets: Mutex::new(HashMap::new()),
            pending: Mutex::new(Pending::default()),
            audit,
            action,
            metrics,
        }
    }

    /// The actions in flight, locked: the decision transaction holds this while it judges, so
    /// what it sees in flight cannot change under it.
    pub fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock()
    }

    /// Reserves `n` queue slots, or none if fewer are free.
    pub fn reserve(&self, n: usize) -> Option<Vec<OwnedSemaphorePermit>> {
        // The permits taken so far go back when the vector drops.
        (0..n)
            .map(|_| Arc::clone(&self.slots).try_acquire_owned().ok())
            .collect()
    }

    /// How many actions the queue holds at most.
    pub fn size(&self) -> usize {
        self.limits.size
    }

    /// Actions waiting, running or waiting to retry.
    pub fn depth(&self) -> usize {
        self.limits.size - self.slots.available_permits()
    }

    /// Runs a registered action (its `executed` row on disk) in the background, with the slot
    /// reserved for it.
    pub fn start(self: &Arc<Self>, work: Work, slot: OwnedSemaphorePermit) {
        let cancel = self
            .pending
            .lock()
            .cancel_handle(&work.rule.name, &work.target);
        let job = Job {
            work,
            cancel,
            _slot: slot,
        };
        tokio::spawn(Arc::clone(self).run(job));
    }

    /// Records a decision about `work`, off the async threads, and says whether it is on disk.
    /// A failure is logged and counted (`hale_heal_audit_errors_total`): an operator must know.
    pub async fn record(
        &self,
        work: &Work,
        outcome: Outcome,
        duration: Option<f64>,
        detail: String,
    ) -> bool {
        let decision = Decision {
            time: super::now(),
            rule: work.rule.name.clone(),
            alertname: work.alert.name().to_string(),
            fingerprint: work.alert.fingerprint.clone(),
            target: work.target.clone(),
            action: work.rule.action.as_str().to_string(),
            outcome,
            duration,
            detail,
            source: work.alert.origin.source,
            peer: work.alert.origin.peer.clone(),
        };
        self.metrics
            .decided(&decision.rule, work.rule.action.as_str(), outcome);
        if outcome == Outcome::Succeeded {
            self.metrics.succeeded(&decision.rule, decision.time);
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
        self.metrics.audit_error();
        tracing::error!(error, rule = %work.rule.name, target = %work.target,
            result = outcome.as_str(), "heal: a decision could not be recorded");
        false
    }

    fn target_lock(&self, target: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut targets = self.targets.lock();
        // Forget locks nobody holds, so the map stays as small as the work in flight.
        targets.retain(|_, l| Arc::strong_count(l) > 1);
        Arc::clone(targets.entry(target.to_string()).or_default())
    }

    /// One queued action, through its retries.
    async fn run(self: Arc<Self>, job: Job) {
        let work = &job.work;
        let mut failures = 0u32;
        loop {
            let lock = self.target_lock(&work.target);
            let acquired = tokio::select! {
                biased;
                () = job.cancel.notified() => None,
                acquired = async {
                    let guard = lock.lock_owned().await;
                    let worker = Arc::clone(&self.workers).acquire_owned().await;
                    (guard, worker)
                } => Some(acquired),
            };
            let Some(running) = acquired else {
                self.record(
                    work,
                    Outcome::Cancelled,
                    None,
                    "the alert resolved before the attempt ran".into(),
                )
                .await;
                break;
            };
            let started = Instant::now();
            let result = self.action.attempt(work).await;
            let elapsed = started.elapsed().as_secs_f64();
            drop(running);
            self.metrics.observe(work.rule.action.as_str(), elapsed);
            match result {
                Acted::Done(detail) => {
                    self.record(work, Outcome::Succeeded, Some(elapsed), detail)
                        .await;
                    break;
                }
                Acted::Refused(reason) => {
                    self.record(work, Outcome::Denied, Some(elapsed), reason)
                        .await;
                    break;
                }
                Acted::Hopeless(reason) => {
                    let detail = format!("{reason} (not retried: no retry can succeed)");
                    self.record(work, Outcome::Failed, Some(elapsed), detail)
                        .await;
                    break;
                }
                Acted::Failed(error) => {
                    self.record(work, Outcome::Failed, Some(elapsed), error)
                        .await;
                }
            }
            failures += 1;
            let budget = self.limits.budget;
            let since = super::now() - budget.window.as_secs_f64();
            let audit = Arc::clone(&self.audit);
            let (rule, target) = (work.rule.name.clone(), work.target.clone());
            // An unreadable log counts as a spent budget: fail closed.
            let attempts =
                tokio::task::spawn_blocking(move || audit.attempts_since(&rule, &target, since))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(u64::MAX);
            if attempts >= budget.attempts {
                self.record(
                    work,
                    Outcome::GaveUp,
                    None,
                    format!(
                        "{attempts} attempts in the last {:?} failed or were used; budget is {}",
                        budget.window, budget.attempts
                    ),
                )
                .await;
                break;
            }
            let delay = self.limits.backoff.delay(failures);
            let cancelled = tokio::select! {
                biased;
                () = job.cancel.notified() => true,
                () = tokio::time::sleep(delay) => false,
            };
            if cancelled {
                self.record(
                    work,
                    Outcome::Cancelled,
                    None,
                    "the alert resolved; the retry is cancelled".into(),
                )
                .await;
                break;
            }
            let recorded = self
                .record(
                    work,
                    Outcome::Executed,
                    None,
                    format!("retry {failures} after a {delay:?} backoff"),
                )
                .await;
            if !recorded {
                tracing::error!(rule = %work.rule.name, target = %work.target,
                    "heal: the retry is not run: its decision could not be recorded");
                break;
            }
        }
        self.pending.lock().remove(&work.rule.name, &work.target);
    }
}

#[cfg(test)]
mod tests {
    //! The queue with a fake action on tokio's paused clock: backoffs of seconds or minutes
    //! pass in no real time, and the times the fake sees are exact.

    use super::*;
    use crate::heal::payload::{Alert, AlertStatus};
    use crate::heal::rules::Rule;
    use std::collections::{BTreeMap, VecDeque};
    use std::time::Duration;
    use tokio::sync::mpsc;
    use tokio::time::Instant as Virtual;

    /// An action that answers from a script (then `Failed`), optionally takes `hold` of
    /// virtual time, tells the test of every call, and keeps how many ran at once.
    struct Fake {
        script: Mutex<VecDeque<Acted>>,
        hold: Duration,
        calls: mpsc::UnboundedSender<(String, Virtual)>,
        running: Mutex<HashMap<String, usize>>,
        most_per_target: Mutex<usize>,
        most_at_once: Mutex<usize>,
    }

    impl Action for Fake {
        fn attempt<'a>(&'a self, work: &'a Work) -> futures_util::future::BoxFuture<'a, Acted> {
            Box::pin(async move {
                {
                    let mut running = self.running.lock();
                    let here = running.entry(work.target.clone()).or_default();
                    *here += 1;
                    let mut most = self.most_per_target.lock();
                    *most = (*most).max(*here);
                    let all: usize = running.values().sum();
                    let mut at_once = self.most_at_once.lock();
                    *at_once = (*at_once).max(all);
                }
                let _ = self.calls.send((work.target.clone(), Virtual::now()));
                tokio::time::sleep(self.hold).await;
                if let Some(n) = self.running.lock().get_mut(&work.target) {
                    *n -= 1;
                }
                self.script
                    .lock()
                    .pop_front()
                    .unwrap_or(Acted::Failed("scripted failure".into()))
            })
        }
    }

    struct Rig {
        queue: Arc<Queue>,
        audit: Arc<Audit>,
        fake: Arc<Fake>,
        calls: mpsc::UnboundedReceiver<(String, Virtual)>,
        _dir: tempfile::TempDir,
    }

    fn rig(script: Vec<Acted>, hold: Duration, workers: usize, attempts: u64) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let audit = Arc::new(Audit::open(&dir.path().join("audit.db")).unwrap());
        let (tx, calls) = mpsc::unbounded_channel();
        let fake = Arc::new(Fake {
            script: Mutex::new(script.into()),
            hold,
            calls: tx,
            running: Mutex::default(),
            most_per_target: Mutex::new(0),
            most_at_once: Mutex::new(0),
        });
        let limits = Limits {
            size: 16,
            workers,
            budget: Budget {
                attempts,
                window: Duration::from_secs(3600),
            },
            backoff: Backoff {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(300),
            },
        };
        let metrics = Arc::new(Metrics::new([], []));
        let queue = Arc::new(Queue::new(
            limits,
            Arc::clone(&audit),
            Arc::clone(&fake) as Arc<dyn Action>,
            metrics,
        ));
        Rig {
            queue,
            audit,
            fake,
            calls,
            _dir: dir,
        }
    }

    fn work(rule: &str, target: &str, fingerprint: &str) -> Work {
        let rule: Rule = serde_saphyr::from_str(&format!(
            "{{name: {rule}, match: {{alertname: Down}}, action: restart, allow: {{names: ['*']}}}}"
        ))
        .unwrap();
        Work {
            rule,
            alert: Alert {
                status: AlertStatus::Firing,
                labels: BTreeMap::from([("alertname".into(), "Down".into())]),
                annotations: BTreeMap::new(),
                starts_at: "2026-12-01T00:00:00Z".into(),
                ends_at: String::new(),
                generator_url: String::new(),
                fingerprint: fingerprint.into(),
                origin: Default::default(),
            },
            target: target.into(),
            container_id: Some(format!("id-{target}")),
        }
    }

    impl Rig {
        /// What the decision transaction does for an executed decision, then the queue.
        fn enqueue(&self, work: Work) {
            let executed = Decision {
                time: crate::heal::now(),
                rule: work.rule.name.clone(),
                alertname: "Down".into(),
                fingerprint: work.alert.fingerprint.clone(),
                target: work.target.clone(),
                action: "restart".into(),
                outcome: Outcome::Executed,
                duration: None,
                detail: String::new(),
                source: Default::default(),
                peer: String::new(),
            };
            self.audit.record(&executed).unwrap();
            self.queue
                .pending()
                .insert(&work.rule.name, &work.target, &work.alert.fingerprint);
            let slot = self.queue.reserve(1).unwrap().pop().unwrap();
            self.queue.start(work, slot);
        }

        async fn next_call(&mut self) -> (String, Virtual) {
            self.calls.recv().await.unwrap()
        }

        /// Waits until the queue is empty. Call it after the last expected attempt began:
        /// its polls move the paused clock, which then times nothing the test asserts.
        async fn drained(&self) {
            while self.queue.depth() > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        /// The results recorded for `target`, oldest first.
        fn outcomes(&self, target: &str) -> Vec<Outcome> {
            let filter = crate::heal::decision::Filter {
                target: Some(target.into()),
                ..Default::default()
            };
            let mut rows = self.audit.events(&filter).unwrap();
            rows.reverse();
            rows.into_iter().map(|d| d.outcome).collect()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_retried_after_a_doubling_backoff_until_it_succeeds() {
        let failed = || Acted::Failed("boom".into());
        let mut rig = rig(
            vec![failed(), failed(), Acted::Done(String::new())],
            Duration::ZERO,
            1,
            5,
        );
        rig.enqueue(work("r", "web", "f1"));
        let (_, first) = rig.next_call().await;
        let (_, second) = rig.next_call().await;
        let (_, third) = rig.next_call().await;
        rig.drained().await;
        assert_eq!(
            second - first,
            Duration::from_secs(10),
            "the initial backoff"
        );
        assert_eq!(third - second, Duration::from_secs(20), "doubled");
        use Outcome::*;
        assert_eq!(
            rig.outcomes("web"),
            [Executed, Failed, Executed, Failed, Executed, Succeeded]
        );
        assert!(
            rig.calls.try_recv().is_err(),
            "no attempt after the success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_attempt_budget_ends_the_retries_with_gave_up() {
        let mut rig = rig(Vec::new(), Duration::ZERO, 1, 3);
        rig.enqueue(work("r", "web", "f1"));
        for _ in 0..3 {
            rig.next_call().await;
        }
        rig.drained().await;
        use Outcome::*;
        assert_eq!(
            rig.outcomes("web"),
            [Executed, Failed, Executed, Failed, Executed, Failed, GaveUp]
        );
        assert!(rig.calls.try_recv().is_err(), "three attempts, no fourth");
        assert_eq!(rig.queue.depth(), 0, "the slot is given back");
        assert!(!rig.queue.pending().contains("r", "web"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_resolved_alert_cancels_the_waiting_retry() {
        let mut rig = rig(Vec::new(), Duration::ZERO, 1, 5);
        rig.enqueue(work("r", "web", "f1"));
        rig.enqueue(work("r", "db", "other"));
        rig.next_call().await;
        rig.next_call().await;
        // The alert of `web` resolves while its retry waits out the backoff.
        rig.queue.pending().cancel("f1");
        // `db`'s alert stays firing: its retry runs.
        let (target, _) = rig.next_call().await;
        assert_eq!(target, "db");
        rig.queue.pending().cancel("other");
        rig.drained().await;
        use Outcome::*;
        assert_eq!(rig.outcomes("web"), [Executed, Failed, Cancelled]);
        assert_eq!(
            rig.outcomes("db"),
            [Executed, Failed, Executed, Failed, Cancelled]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_target_has_one_action_at_a_time_and_workers_bound_the_rest() {
        let done = || Acted::Done(String::new());
        let mut rig = rig(
            vec![done(), done(), done(), done()],
            Duration::from_secs(5),
            2,
            5,
        );
        // Two rules on one target, and two other targets; two workers.
        rig.enqueue(work("a", "web", "f1"));
        rig.enqueue(work("b", "web", "f2"));
        rig.enqueue(work("a", "db", "f3"));
        rig.enqueue(work("a", "cache", "f4"));
        let mut calls = Vec::new();
        for _ in 0..4 {
            calls.push(rig.next_call().await);
        }
        rig.drained().await;
        assert_eq!(*rig.fake.most_per_target.lock(), 1, "one action per target");
        assert_eq!(*rig.fake.most_at_once.lock(), 2, "two workers, both used");
        let web: Vec<Virtual> = calls
            .iter()
            .filter(|(t, _)| t == "web")
            .map(|(_, at)| *at)
            .collect();
        assert_eq!(web.len(), 2);
        assert!(
            web[1] - web[0] >= Duration::from_secs(5),
            "the second action on web waited for the first"
        );
        assert_eq!(
            rig.outcomes("web"),
            [
                Outcome::Executed,
                Outcome::Executed,
                Outcome::Succeeded,
                Outcome::Succeeded
            ]
        );
    }
}
