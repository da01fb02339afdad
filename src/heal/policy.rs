//! The healing policy: what each alert of a notification becomes, for each rule that matches it.
//! In order: the allow-list (`denied`), idempotency per rule (`skipped_duplicate`: a retry, a
//! repeat, the other Alertmanager of an HA pair), the cooldown per rule and target
//! (`skipped_cooldown`), the attempt budget per window (`gave_up`), dry-run (`dry_run`), and only
//! then `executed`. The state it consults is the audit log; `hale heal simulate` consults it
//! without writing.

use std::time::Duration;

use serde::Deserialize;

use super::audit::AuditError;
use super::decision::{Decision, Outcome};
use super::payload::{Alert, Notification};
use super::rules::{ActionKind, Lookup, Rule, Verdict};
use crate::docker::ExitCause;

/// The attempt budget: at most `attempts` executions per rule and target within `window`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(deserialize_with = "crate::de::count::<_, _, 1, 1_000_000>")]
    pub attempts: u64,
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub window: Duration,
}

/// The wait before hale retries a failed action: `initial`, doubling per failure, at most `max`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub initial: Duration,
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// `heal.audit`: where the log lives and how long it keeps decisions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub path: std::path::PathBuf,
    /// Decisions and idempotency keys older than this are deleted (hourly).
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub retention: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            path: "/var/lib/hale/heal.db".into(),
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// `heal.autoheal`: restart labelled containers that turn unhealthy, without Prometheus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutohealConfig {
    /// Off by default: hale acts on the Docker socket only when the config says so.
    pub enabled: bool,
    /// The label a container carries to opt in.
    pub label: crate::docker::LabelSelector,
    /// How long a restart may take.
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub timeout: Duration,
}

impl Default for AutohealConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            label: crate::docker::LabelSelector {
                key: "hale.autoheal".into(),
                value: Some("true".into()),
            },
            timeout: Duration::from_secs(30),
        }
    }
}

/// The `heal:` section of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealConfig {
    /// Record every decision, act on none.
    pub dry_run: bool,
    /// No second execution of a rule on a target within this time.
    #[serde(deserialize_with = "crate::de::duration")]
    pub cooldown: Duration,
    pub budget: Budget,
    pub backoff: Backoff,
    /// Actions queued, running or waiting to retry, at most; a webhook that would overflow it
    /// gets 503 and nothing of it is recorded, so Alertmanager's retry is not a duplicate.
    #[serde(deserialize_with = "crate::de::count::<_, _, 1, 100_000>")]
    pub queue_size: usize,
    /// Actions running at once.
    #[serde(deserialize_with = "crate::de::count::<_, _, 1, 256>")]
    pub workers: usize,
    /// Largest webhook body accepted, in bytes.
    #[serde(deserialize_with = "crate::de::count::<_, _, 1, 268_435_456>")]
    pub max_body_bytes: usize,
    pub auth: super::auth::AuthConfig,
    pub audit: AuditConfig,
    pub autoheal: AutohealConfig,
    pub rules: Vec<Rule>,
    /// Accept alerts on `POST /webhook/alertmanager`. With `false` (fleet mode, alerts from
    /// `pull`) hale answers no request that can act, and `auth` is needed only to guard
    /// `/heal/events`.
    pub webhook: bool,
    /// Pull this host's alerts from an Alertmanager cluster.
    pub pull: Option<super::pull::PullConfig>,
    /// `auth` with its secret files read: filled once by [`HealConfig::validate`], so serve
    /// and `check-config` read the same secrets, and read them once.
    #[serde(skip)]
    pub credentials: Option<super::auth::Credentials>,
}

impl Default for HealConfig {
    fn default() -> Self {
        Self {
            dry_run: false,
            cooldown: Duration::from_secs(300),
            budget: Budget {
                attempts: 3,
                window: Duration::from_secs(3600),
            },
            backoff: Backoff {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(300),
            },
            queue_size: 64,
            workers: 4,
            max_body_bytes: 1 << 20,
            auth: super::auth::AuthConfig::default(),
            audit: AuditConfig::default(),
            autoheal: AutohealConfig::default(),
            rules: Vec::new(),
            webhook: true,
            pull: None,
            credentials: None,
        }
    }
}

impl HealConfig {
    /// Whether healing is on: there are rules, or autoheal is enabled.
    pub fn enabled(&self) -> bool {
        !self.rules.is_empty() || self.autoheal.enabled
    }

    /// Checks what serde cannot: unique rule names, a budget of at least one attempt, and
    /// credentials when healing is on, which it reads from their files and keeps.
    pub fn validate(&mut self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for r in &self.rules {
            if !names.insert(r.name.as_str()) {
                return Err(format!("heal.rules: two rules are named {:?}", r.name));
            }
            if r.name == super::AUTOHEAL_RULE {
                return Err(format!("heal.rules: the name {:?} is autoheal's", r.name));
            }
        }
        if self.budget.attempts == 0 {
            return Err("heal.budget.attempts: must be at least 1".into());
        }
        if self.backoff.initial > self.backoff.max {
            return Err("heal.backoff: initial is longer than max".into());
        }
        if let Some(pull) = &mut self.pull {
            if self.rules.is_empty() {
                return Err(
                    "heal.pull: pulled alerts act only through heal.rules; add rules".into(),
                );
            }
            pull.validate()?;
        }
        if !self.webhook && self.pull.is_none() && !self.rules.is_empty() {
            return Err(
                "heal.webhook is false and heal.pull is not set: no alert can reach heal.rules"
                    .into(),
            );
        }
        if self.enabled() {
            self.credentials = Some(if self.webhook || self.auth.configured() {
                self.auth.resolve()?
            } else {
                // No webhook: nothing to authenticate but readers of /heal/events, who then
                // need a web user with the events role.
                super::auth::Credentials::nobody()
            });
        }
        Ok(())
    }
}

/// The state the policy reads: the audit log, claiming idempotency keys (live) or only looking
/// them up (simulation).
pub trait State {
    /// `true` when the key is new (and, live, now claimed).
    fn claim(&self, key: &str, now: f64) -> Result<bool, AuditError>;
    fn last_executed(&self, rule: &str, target: &str) -> Result<Option<f64>, AuditError>;
    fn attempts_since(&self, rule: &str, target: &str, since: f64) -> Result<u64, AuditError>;
    /// Failed attempts since the last success, for the backoff between alerts.
    fn failures_in_a_row(&self, rule: &str, target: &str) -> Result<u32, AuditError>;
}

/// What the policy knows beyond the audit log: the containers, and the actions in flight.
pub trait World {
    fn container(&self, name: &str) -> Lookup;
    /// Whether an attempt of this rule on this target is queued, running or waiting to retry.
    fn pending(&self, rule: &str, target: &str) -> bool;
}

/// No history and no Docker: what a payload would do on a fresh hale (`hale heal simulate`).
pub struct Offline;

impl State for Offline {
    fn claim(&self, _: &str, _: f64) -> Result<bool, AuditError> {
        Ok(true)
    }
    fn last_executed(&self, _: &str, _: &str) -> Result<Option<f64>, AuditError> {
        Ok(None)
    }
    fn attempts_since(&self, _: &str, _: &str, _: f64) -> Result<u64, AuditError> {
        Ok(0)
    }
    fn failures_in_a_row(&self, _: &str, _: &str) -> Result<u32, AuditError> {
        Ok(0)
    }
}

impl World for Offline {
    fn container(&self, _: &str) -> Lookup {
        Lookup::Unknown
    }
    fn pending(&self, _: &str, _: &str) -> bool {
        false
    }
}

/// One decision, before it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub rule: String,
    pub alertname: String,
    pub fingerprint: String,
    pub target: String,
    pub action: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    /// Index of the alert in the notification.
    pub alert: usize,
    /// When it was decided (Unix seconds): the time its audit row carries.
    pub time: f64,
    /// For a container action: the ID of the container that passed the allow-list, which is
    /// the one acted on (none in a simulation, which does not ask Docker).
    pub container_id: Option<String>,
    /// Where the alert came from.
    pub origin: super::payload::Origin,
}

impl Planned {
    /// The audit-log row of this decision: also what the webhook answers for it, so a
    /// decision has one rendering ([`Decision::to_json`]).
    pub fn decision(&self) -> Decision {
        Decision {
            time: self.time,
            rule: self.rule.clone(),
            alertname: self.alertname.clone(),
            fingerprint: self.fingerprint.clone(),
            target: self.target.clone(),
            action: self.action.into(),
            outcome: self.outcome,
            duration: None,
            detail: self.detail.clone(),
            source: self.origin.source,
            peer: self.origin.peer.clone(),
        }
    }
}

/// Why hale does not start (or restart) a container that is not running unless it died on its
/// own: an operator's `docker stop` must stay stopped, whatever alert fires.
pub const STOPPED_BY_REQUEST: &str = "the container is stopped and did not die on its own \
    (stopped by request, or before hale watched it): hale does not start it";

impl HealConfig {
    /// Decides every (alert, matching rule) pair of a notification at time `now` (Unix
    /// seconds), for `rules` (the config's, or autoheal's).
    pub fn decide(
        &self,
        rules: &[Rule],
        n: &Notification,
        now: f64,
        state: &dyn State,
        world: &dyn World,
    ) -> Result<Vec<Planned>, AuditError> {
        let mut out = Vec::new();
        for (index, alert) in n.alerts.iter().enumerate() {
            for rule in rules {
                if let Some(mut p) = self.decide_one(alert, rule, now, state, world)? {
                    p.alert = index;
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    fn decide_one(
        &self,
        alert: &Alert,
        rule: &Rule,
        now: f64,
        state: &dyn State,
        world: &dyn World,
    ) -> Result<Option<Planned>, AuditError> {
        let plan = |target: String, outcome: Outcome, detail: String| Planned {
            rule: rule.name.clone(),
            alertname: alert.name().to_string(),
            fingerprint: alert.fingerprint.clone(),
            target,
            action: rule.action.as_str(),
            outcome,
            detail,
            alert: 0,
            container_id: None,
            time: now,
            origin: alert.origin.clone(),
        };
        let target = match rule.judge(alert, |name| world.container(name)) {
            Verdict::NoMatch => return Ok(None),
            Verdict::Denied { target, reason } => {
                return Ok(Some(plan(target, Outcome::Denied, reason)))
            }
            Verdict::Act {
                target,
                container_id,
            } => (target, container_id),
        };
        let (target, container_id) = target;
        let plan = |target: String, outcome: Outcome, detail: String| Planned {
            container_id: container_id.clone(),
            ..plan(target, outcome, detail)
        };
        if matches!(rule.action, ActionKind::Start | ActionKind::Restart) {
            if let Lookup::Found(v) = world.container(&target) {
                if !v.running && v.exit != Some(ExitCause::OnItsOwn) {
                    return Ok(Some(plan(
                        target,
                        Outcome::Denied,
                        STOPPED_BY_REQUEST.into(),
                    )));
                }
            }
        }
        let key = format!("{}|{}", rule.name, alert.idempotency_key());
        if !state.claim(&key, now)? {
            return Ok(Some(plan(
                target,
                Outcome::SkippedDuplicate,
                "this firing was already handled".into(),
            )));
        }
        if world.pending(&rule.name, &target) {
            return Ok(Some(plan(
                target,
                Outcome::SkippedCooldown,
                "an attempt is already queued, running or waiting to retry".into(),
            )));
        }
        if let Some(last) = state.last_executed(&rule.name, &target)? {
            let wait = self.cooldown.as_secs_f64() - (now - last);
            if wait > 0.0 {
                return Ok(Some(plan(
                    target,
                    Outcome::SkippedCooldown,
                    format!("cooling down for {wait:.0}s more"),
                )));
            }
            // After failures the gap grows past the cooldown: a new firing of a target that
            // keeps failing waits out the same backoff a retry would, even across restarts.
            let failures = state.failures_in_a_row(&rule.name, &target)?;
            if failures > 0 {
                let wait = self.backoff.delay(failures).as_secs_f64() - (now - last);
                if wait > 0.0 {
                    return Ok(Some(plan(
                        target,
                        Outcome::SkippedCooldown,
                        format!(
                            "backing off for {wait:.0}s more after {failures} failed attempt(s)"
                        ),
                    )));
                }
            }
        }
        let since = now - self.budget.window.as_secs_f64();
        let attempts = state.attempts_since(&rule.name, &target, since)?;
        if attempts >= self.budget.attempts {
            return Ok(Some(plan(
                target,
                Outcome::GaveUp,
                format!(
                    "{attempts} attempts in the last {:?}; budget is {}",
                    self.budget.window, self.budget.attempts
                ),
            )));
        }
        if self.dry_run || rule.dry_run {
            return Ok(Some(plan(
                target,
                Outcome::DryRun,
                "dry-run: nothing done".into(),
            )));
        }
        Ok(Some(plan(target, Outcome::Executed, String::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::audit::Audit;

    const CONFIG: &str = "cooldown: 60s
budget: {attempts: 2, window: 1h}
rules:
  - name: restart
    match: {alertname: ContainerUnhealthy}
    action: restart
    allow: {names: ['web-*']}
";

    fn notification(fingerprint: &str, starts: &str, name: &str) -> Notification {
        let body = format!(
            r#"{{"version":"4","status":"firing","alerts":[{{"status":"firing",
            "labels":{{"alertname":"ContainerUnhealthy","name":"{name}"}},
            "startsAt":"{starts}","fingerprint":"{fingerprint}"}}]}}"#
        );
        Notification::decode(body.as_bytes()).unwrap()
    }

    fn outcome(cfg: &HealConfig, n: &Notification, now: f64, audit: &Audit) -> Outcome {
        let plans = audit
            .transaction(|tx| {
                let plans = cfg.decide(&cfg.rules, n, now, tx, &RunningContainers)?;
                for p in &plans {
                    tx.record(&p.decision())?;
                }
                Ok::<_, AuditError>(plans)
            })
            .unwrap();
        assert_eq!(plans.len(), 1, "{plans:?}");
        plans[0].outcome
    }

    /// Every container exists and runs (only allow.names rules are used here).
    struct RunningContainers;
    impl World for RunningContainers {
        fn container(&self, name: &str) -> Lookup {
            Lookup::Found(crate::heal::rules::TargetView {
                id: format!("id-{name}"),
                running: true,
                ..Default::default()
            })
        }
        fn pending(&self, _: &str, _: &str) -> bool {
            false
        }
    }

    #[test]
    fn duplicates_cooldown_budget_and_denial_in_order() {
        let cfg: HealConfig = serde_saphyr::from_str(CONFIG).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::open(&dir.path().join("a.db")).unwrap();
        let first = notification("f1", "2026-11-23T04:00:00Z", "web-1");
        assert_eq!(outcome(&cfg, &first, 1000.0, &audit), Outcome::Executed);
        // Alertmanager's retry, or the other member of an HA pair: the same firing.
        assert_eq!(
            outcome(&cfg, &first, 1001.0, &audit),
            Outcome::SkippedDuplicate
        );
        // A new firing inside the cooldown.
        let second = notification("f1", "2026-11-23T04:00:30Z", "web-1");
        assert_eq!(
            outcome(&cfg, &second, 1030.0, &audit),
            Outcome::SkippedCooldown
        );
        // After the cooldown: the second and last attempt of the budget.
        let third = notification("f1", "2026-11-23T04:02:00Z", "web-1");
        assert_eq!(outcome(&cfg, &third, 1100.0, &audit), Outcome::Executed);
        let fourth = notification("f1", "2026-11-23T04:04:00Z", "web-1");
        assert_eq!(outcome(&cfg, &fourth, 1200.0, &audit), Outcome::GaveUp);
        // An hour after the first attempt, the budget has room again.
        let later = notification("f1", "2026-11-23T05:10:00Z", "web-1");
        assert_eq!(
            outcome(&cfg, &later, 1000.0 + 3601.0, &audit),
            Outcome::Executed
        );
        // Outside the allow-list.
        let other = notification("f2", "2026-11-23T04:00:00Z", "db-1");
        assert_eq!(outcome(&cfg, &other, 1000.0, &audit), Outcome::Denied);
    }

    #[test]
    fn failures_stretch_the_gap_between_alerts_until_a_success() {
        let mut cfg: HealConfig = serde_saphyr::from_str(CONFIG).unwrap();
        cfg.budget.attempts = 100;
        cfg.backoff = Backoff {
            initial: Duration::from_secs(120),
            max: Duration::from_secs(600),
        };
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::open(&dir.path().join("a.db")).unwrap();
        let result = |time: f64, outcome: Outcome| {
            audit
                .record(&Decision {
                    time,
                    rule: "restart".into(),
                    alertname: "ContainerUnhealthy".into(),
                    fingerprint: "f1".into(),
                    target: "web-1".into(),
                    action: "restart".into(),
                    outcome,
                    duration: Some(1.0),
                    detail: String::new(),
                    source: Default::default(),
                    peer: String::new(),
                })
                .unwrap();
        };
        let firing =
            |minute: u32| notification("f1", &format!("2026-11-23T04:{minute:02}:00Z"), "web-1");
        assert_eq!(outcome(&cfg, &firing(0), 1000.0, &audit), Outcome::Executed);
        result(1001.0, Outcome::Failed);
        // Past the 60 s cooldown, but one failure asks for 120 s.
        assert_eq!(
            outcome(&cfg, &firing(1), 1100.0, &audit),
            Outcome::SkippedCooldown
        );
        assert_eq!(outcome(&cfg, &firing(2), 1121.0, &audit), Outcome::Executed);
        result(1122.0, Outcome::Failed);
        // Two failures in a row: 240 s.
        assert_eq!(
            outcome(&cfg, &firing(3), 1121.0 + 200.0, &audit),
            Outcome::SkippedCooldown
        );
        assert_eq!(
            outcome(&cfg, &firing(4), 1121.0 + 241.0, &audit),
            Outcome::Executed
        );
        // A success resets the backoff: the plain cooldown applies again.
        result(1363.0, Outcome::Succeeded);
        assert_eq!(
            outcome(&cfg, &firing(5), 1362.0 + 61.0, &audit),
            Outcome::Executed
        );
    }

    #[test]
    fn dry_run_records_and_simulation_writes_nothing() {
        let mut cfg: HealConfig = serde_saphyr::from_str(CONFIG).unwrap();
        cfg.dry_run = true;
        let n = notification("f1", "2026-11-23T04:00:00Z", "web-1");
        let plans = cfg
            .decide(&cfg.rules, &n, 1000.0, &Offline, &Offline)
            .unwrap();
        assert_eq!(plans[0].outcome, Outcome::DryRun);
        // Without history a repeat is not a duplicate: a simulation claims nothing.
        let again = cfg
            .decide(&cfg.rules, &n, 1000.0, &Offline, &Offline)
            .unwrap();
        assert_eq!(again[0].outcome, Outcome::DryRun);
    }
}
