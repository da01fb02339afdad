//! `health`: the `/health` checks as metrics, so alerts and dashboards see what load balancers
//! see: `hale_health_status{check,component,status}` (a state set over pass, warn, fail, as
//! reported after debouncing) and, per configured probe, `hale_probe_success{probe}` and
//! `hale_probe_duration_seconds{probe}`. It reads the health model's last sample; it never
//! samples or probes itself.

use std::sync::Arc;

use crate::collector::{Collector, Error, Source};
use crate::metric::MetricFamily;

/// The health collector.
pub struct HealthMetrics {
    health: Arc<dyn Source>,
}

impl HealthMetrics {
    pub fn new(health: Arc<dyn Source>) -> Self {
        Self { health }
    }
}

impl Collector for HealthMetrics {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        self.health.families(out)
    }
}

/// The `health` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "health",
    enabled_by_default: true,
    help: "/health checks and probes as metrics (hale_health_status, hale_probe_*)",
    flags: crate::collector::no_flags,
    build: |c| Ok(Arc::new(HealthMetrics::new(Arc::clone(&c.health)))),
};
