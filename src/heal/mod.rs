//! Healing: turning Alertmanager notifications (and unhealthy containers labelled for autoheal)
//! into safe actions, every decision kept in a durable audit log.
//!
//! [`payload`] decodes Alertmanager's webhook payload (version 4); [`auth`] checks the bearer
//! token or basic auth Alertmanager sends; [`rules`] matches alerts to heal rules the way
//! Alertmanager's matchers do and resolves the target through the rule's allow-list; [`policy`]
//! turns a notification into decisions (denied, duplicate, cooldown, budget, dry-run, executed);
//! [`audit`] is the SQLite log that holds the decisions and the idempotency keys from which
//! cooldowns and budgets are computed; [`engine`] runs it all: the decision transaction, the
//! bounded queue, retries with backoff, cancellation, the Docker actions and autoheal; [`exec`]
//! runs the `exec` action's command.

pub mod audit;
pub mod auth;
pub mod engine;
pub mod exec;
pub mod payload;
pub mod policy;
pub mod rules;

pub use engine::Healer;

/// The rule name autoheal's decisions carry; config rules may not use it.
pub const AUTOHEAL_RULE: &str = "autoheal";
/// The `alertname` of autoheal's synthetic alerts.
pub const AUTOHEAL_ALERT: &str = "HaleAutoheal";
