//! Healing: turning Alertmanager notifications (and unhealthy containers labelled for autoheal)
//! into safe actions, every decision kept in a durable audit log.
//!
//! [`payload`] decodes Alertmanager's webhook payload (version 4); [`auth`] checks the bearer
//! token or basic auth Alertmanager sends; [`rules`] matches alerts to heal rules the way
//! Alertmanager's matchers do and resolves the target through the rule's allow-list; [`policy`]
//! turns a notification into [`decision`]s (denied, duplicate, cooldown, budget, dry-run, executed);
//! [`audit`] is the SQLite log that holds the decisions and the idempotency keys from which
//! cooldowns and budgets are computed; [`engine`] is the healer: the decision transaction that
//! records decisions and hands executions to the [`queue`] (bounded, retries with backoff,
//! cancellation, one action per target), which runs them through an [`action::Action`] (Docker's,
//! or [`exec`]'s command); [`autoheal`] turns unhealthy labelled containers into alerts;
//! [`metrics`] are the healer's own counters; [`pull`] is fleet mode, the other source of
//! alerts: this host's, pulled from an Alertmanager cluster.

pub mod action;
pub mod audit;
pub mod auth;
pub mod autoheal;
pub mod decision;
pub mod engine;
pub mod exec;
pub mod metrics;
pub mod payload;
pub mod policy;
pub mod pull;
pub mod queue;
pub mod rules;

pub use engine::Healer;

/// The rule name autoheal's decisions carry; config rules may not use it.
pub const AUTOHEAL_RULE: &str = "autoheal";
/// The `alertname` of autoheal's synthetic alerts.
pub const AUTOHEAL_ALERT: &str = "HaleAutoheal";

/// Now, in Unix seconds: the time decisions carry.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A container ID as `docker ps` shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
