//! Healing (issue 5, in progress): turning Alertmanager notifications into safe actions.
//!
//! Done so far: [`payload`] decodes Alertmanager's webhook payload (version 4) with errors that
//! separate "not JSON" (400) from "not the payload" (422), and [`rules`] matches alerts to heal
//! rules the way Alertmanager's matchers do and resolves the target through the rule's
//! allow-list. Not yet built, and not reachable from the binary: the webhook endpoint, the
//! SQLite audit log with idempotency, cooldowns, backoff and budgets, the action queue, and
//! `hale heal simulate`.

pub mod payload;
pub mod rules;
