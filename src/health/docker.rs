//! The Docker checks: `docker:responseTime` (how long listing containers took; unreachable
//! fails once Docker has answered, warns on a host where it never did) and one
//! `container:health` per container that has a health check.

use super::check::{round, Check, Status};
use super::config::HealthConfig;
use crate::docker::{Connection, Health as ContainerHealth, Watcher};

/// `docker:responseTime` and one `container:health` per container with a health check.
pub fn checks(cfg: &HealthConfig, watcher: &Watcher) -> Vec<Check> {
    let snap = watcher.snapshot();
    let t = cfg.docker;
    let mut checks = Vec::new();
    let (status, value, output) = match (&snap.connection, snap.response_time) {
        (Connection::Up, Some(rt)) => {
            let status = if rt >= t.fail {
                Status::Fail
            } else if rt >= t.warn {
                Status::Warn
            } else {
                Status::Pass
            };
            (
                status,
                rt.as_secs_f64() * 1000.0,
                Some(format!("listing containers took {rt:?}")),
            )
        }
        // Down after having answered: Docker went away. Never answered: perhaps no Docker here.
        (Connection::Down(reason), _) if snap.connected_once => (
            Status::Fail,
            0.0,
            Some(format!("Docker unreachable: {reason}")),
        ),
        (Connection::Down(reason), _) => (
            Status::Warn,
            0.0,
            Some(format!(
                "Docker has not answered since hale started: {reason}"
            )),
        ),
        _ => (
            Status::Warn,
            0.0,
            Some("not connected to Docker yet".into()),
        ),
    };
    checks.push(Check {
        key: "docker:responseTime".into(),
        component_id: watcher.config().host(),
        component_type: "datastore",
        value: round(value),
        unit: "ms",
        status,
        output,
        critical: t.critical,
        affected: if status == Status::Fail {
            vec!["/metrics".into()]
        } else {
            vec![]
        },
    });
    for c in snap.containers.values() {
        let status = match c.health {
            ContainerHealth::None => continue,
            ContainerHealth::Healthy => Status::Pass,
            ContainerHealth::Starting => Status::Warn,
            ContainerHealth::Unhealthy => Status::Fail,
        };
        checks.push(Check {
            key: "container:health".into(),
            component_id: c.name.clone(),
            component_type: "component",
            value: if status == Status::Pass { 1.0 } else { 0.0 },
            unit: "boolean",
            status,
            output: Some(format!("health check {}", c.health.as_str())),
            critical: cfg.container_health.critical,
            affected: vec![],
        });
    }
    checks
}
