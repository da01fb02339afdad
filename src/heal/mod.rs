//! Healing (issue 5, in progress): turning Alertmanager notifications into safe actions.
//!
//! Done so far: [`payload`] decodes Alertmanager's webhook payload (version 4) with errors that
//! separate "not JSON" (400) from "not the payload" (422), and [`rules`] matches alerts to heal
//! rules the way Alertmanager's matchers do and resolves the target through the rule's
//! allow-list; [`audit`] is the SQLite log of decisions that also holds idempotency keys and
//! from which cooldowns and attempt budgets are computed. Not yet built, and not reachable from
//! the binary: the webhook endpoint, the policy that combines these, the action queue, and
//! `hale heal simulate`.

pub mod audit;
pub mod payload;
pub mod rules;
