//! `health`: the `/health` checks as metrics, so alerts and dashboards see what load balancers
//! see: `hale_health_status{check,component,status}` (a state set over pass, warn, fail, as
//! reported after debouncing) and, per configured probe, `hale_probe_success{probe}` and
//! `hale_probe_duration_seconds{probe}`. It reads the health model's last sample; it never
//! samples or probes itself.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::health::{Health, Status};
use crate::metric::{MetricFamily, Unit};

/// The health collector.
pub struct HealthMetrics {
    health: Arc<Health>,
}

impl HealthMetrics {
    pub fn new(health: Arc<Health>) -> Self {
        Self { health }
    }
}

impl Collector for HealthMetrics {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let report = self.health.report();
        let mut status = MetricFamily::gauge(
            "hale_health_status",
            None,
            "Status of each /health check as a state set: 1 for the reported status.",
        );
        for c in &report.checks {
            for s in Status::ALL {
                status.push(
                    [
                        ("check", c.key.clone()),
                        ("component", c.component_id.clone()),
                        ("status", s.as_str().to_string()),
                    ],
                    c.status == s,
                );
            }
        }
        let mut success = MetricFamily::gauge(
            "hale_probe_success",
            None,
            "1 if the probe's last run succeeded.",
        );
        let mut duration = MetricFamily::gauge(
            "hale_probe_duration",
            Some(Unit::Seconds),
            "How long the probe's last run took.",
        );
        for (name, o) in self.health.probe_results() {
            success.push([("probe", name.clone())], o.success);
            duration.push([("probe", name)], o.duration.as_secs_f64());
        }
        out.extend(
            [status, success, duration]
                .into_iter()
                .filter(|f| !f.samples.is_empty()),
        );
        Ok(())
    }
}

/// The `health` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "health",
    enabled_by_default: true,
    help: "/health checks and probes as metrics (hale_health_status, hale_probe_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(HealthMetrics::new(Arc::clone(c.health))))
    },
};
