//! `heal`: healing as metrics: `hale_heal_decisions_total{rule,action,result}`,
//! `hale_heal_action_duration_seconds{action}` (histogram), `hale_heal_queue_depth`,
//! `hale_heal_last_success_timestamp_seconds{rule}` and `hale_heal_gave_up{rule,target}`. Labels
//! stay bounded: rules come from the config, actions and results are fixed sets, and targets are
//! containers inside a rule's allow-list. Without healing configured it exports nothing.

use std::sync::Arc;

use crate::collector::{Collector, Error, Source};
use crate::metric::MetricFamily;

/// The heal collector.
pub struct HealMetrics {
    healer: Option<Arc<dyn Source>>,
}

impl HealMetrics {
    pub fn new(healer: Option<Arc<dyn Source>>) -> Self {
        Self { healer }
    }
}

impl Collector for HealMetrics {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let Some(healer) = &self.healer else {
            return Ok(());
        };
        healer.families(out)
    }
}

/// The `heal` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "heal",
    enabled_by_default: true,
    help: "Healing decisions, action durations, queue depth and give-ups (hale_heal_*); nothing unless healing is configured",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(HealMetrics::new(c.healer.clone())))
    },
};
