//! The healing policy: what each alert of a notification becomes, for each rule that matches it.
//! In order: the allow-list (`denied`), idempotency per rule (`skipped_duplicate`: a retry, a
//! repeat, the other Alertmanager of an HA pair), the cooldown per rule and target
//! (`skipped_cooldown`), the attempt budget per window (`gave_up`), dry-run (`dry_run`), and only
//! then `executed`. The state it consults is the audit log; `hale heal simulate` consults it
//! without writing.

use std::time::Duration;

use serde::Deserialize;

use super::audit::{Audit, AuditError, Outcome};
use super::payload::{Alert, Notification};
use super::rules::{Rule, Verdict};

/// The attempt budget: at most `attempts` executions per rule and target within `window`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub attempts: u64,
    #[serde(deserialize_with = "crate::config::positive_duration")]
    pub window: Duration,
}

/// The `heal:` section of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealConfig {
    /// Record every decision, act on none.
    pub dry_run: bool,
    /// No second execution of a rule on a target within this time.
    #[serde(deserialize_with = "crate::config::duration")]
    pub cooldown: Duration,
    pub budget: Budget,
    pub rules: Vec<Rule>,
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
            rules: Vec::new(),
        }
    }
}

/// The state the policy reads: the audit log, claiming idempotency keys (live) or only looking
/// them up (simulation).
pub trait State {
    /// `true` when the key is new (and, live, now claimed).
    fn claim(&self, key: &str, now: f64) -> Result<bool, AuditError>;
    fn last_executed(&self, rule: &str, target: &str) -> Result<Option<f64>, AuditError>;
    fn attempts_since(&self, rule: &str, target: &str, since: f64) -> Result<u64, AuditError>;
}

impl State for Audit {
    fn claim(&self, key: &str, now: f64) -> Result<bool, AuditError> {
        Audit::claim(self, key, now)
    }
    fn last_executed(&self, rule: &str, target: &str) -> Result<Option<f64>, AuditError> {
        Audit::last_executed(self, rule, target)
    }
    fn attempts_since(&self, rule: &str, target: &str, since: f64) -> Result<u64, AuditError> {
        Audit::attempts_since(self, rule, target, since)
    }
}

/// No history at all: what a payload would do on a fresh hale.
pub struct NoHistory;

impl State for NoHistory {
    fn claim(&self, _: &str, _: f64) -> Result<bool, AuditError> {
        Ok(true)
    }
    fn last_executed(&self, _: &str, _: &str) -> Result<Option<f64>, AuditError> {
        Ok(None)
    }
    fn attempts_since(&self, _: &str, _: &str, _: f64) -> Result<u64, AuditError> {
        Ok(0)
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
}

impl HealConfig {
    /// Decides every (alert, matching rule) pair of a notification at time `now` (Unix
    /// seconds). `container_labels` looks up a container's labels for `allow.label`.
    pub fn decide(
        &self,
        n: &Notification,
        now: f64,
        state: &dyn State,
        container_labels: &dyn Fn(&str) -> Option<std::collections::HashMap<String, String>>,
    ) -> Result<Vec<Planned>, AuditError> {
        let mut out = Vec::new();
        for alert in &n.alerts {
            for rule in &self.rules {
                if let Some(p) = self.decide_one(alert, rule, now, state, container_labels)? {
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
        container_labels: &dyn Fn(&str) -> Option<std::collections::HashMap<String, String>>,
    ) -> Result<Option<Planned>, AuditError> {
        let plan = |target: String, outcome: Outcome, detail: String| Planned {
            rule: rule.name.clone(),
            alertname: alert.name().to_string(),
            fingerprint: alert.fingerprint.clone(),
            target,
            action: rule.action.as_str(),
            outcome,
            detail,
        };
        let target = match rule.judge(alert, container_labels) {
            Verdict::NoMatch => return Ok(None),
            Verdict::Denied { target, reason } => {
                return Ok(Some(plan(target, Outcome::Denied, reason)))
            }
            Verdict::Act { target } => target,
        };
        let key = format!("{}|{}", rule.name, alert.idempotency_key());
        if !state.claim(&key, now)? {
            return Ok(Some(plan(
                target,
                Outcome::SkippedDuplicate,
                "this firing was already handled".into(),
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
    use crate::heal::audit::Decision;

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
        let plans = cfg.decide(n, now, audit, &|_: &str| None).unwrap();
        assert_eq!(plans.len(), 1, "{plans:?}");
        let p = &plans[0];
        audit
            .record(&Decision {
                time: now,
                rule: p.rule.clone(),
                alertname: p.alertname.clone(),
                fingerprint: p.fingerprint.clone(),
                target: p.target.clone(),
                action: p.action.into(),
                outcome: p.outcome,
                duration: None,
                detail: p.detail.clone(),
            })
            .unwrap();
        p.outcome
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
    fn dry_run_records_and_simulation_writes_nothing() {
        let mut cfg: HealConfig = serde_saphyr::from_str(CONFIG).unwrap();
        cfg.dry_run = true;
        let n = notification("f1", "2026-11-23T04:00:00Z", "web-1");
        let plans = cfg.decide(&n, 1000.0, &NoHistory, &|_: &str| None).unwrap();
        assert_eq!(plans[0].outcome, Outcome::DryRun);
        // Without history a repeat is not a duplicate: a simulation claims nothing.
        let again = cfg.decide(&n, 1000.0, &NoHistory, &|_: &str| None).unwrap();
        assert_eq!(again[0].outcome, Outcome::DryRun);
    }
}
