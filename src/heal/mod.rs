//! Healing (issue 5, in progress): turning Alertmanager notifications into safe actions.
//!
//! Done so far: [`payload`] decodes Alertmanager's webhook payload (version 4) with errors that
//! separate "not JSON" (400) from "not the payload" (422), and [`rules`] matches alerts to heal
//! rules the way Alertmanager's matchers do and resolves the target through the rule's
//! allow-list; [`audit`] is the SQLite log of decisions that also holds idempotency keys and
//! from which cooldowns and attempt budgets are computed. [`policy`] combines them into
//! decisions (denied, duplicate, cooldown, budget, dry-run, executed), which `hale heal simulate`
//! prints. Not yet built: the webhook endpoint, its authentication, the action queue with
//! retries and backoff, and the Docker and exec actions.

pub mod audit;
pub mod payload;
pub mod policy;
pub mod rules;
