//! Autoheal: containers that carry the opt-in label (`hale.autoheal=true` by default) and turn
//! unhealthy become synthetic `HaleAutoheal` alerts, judged by the same policy and run by the
//! same queue as Alertmanager's, with one built-in rule (restart).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::Healer;
use super::payload::{Alert, AlertStatus, Notification};
use super::policy::AutohealConfig;
use crate::docker::{Connection, State, Watcher};

/// Autoheal: on every snapshot, each running container with the label that is unhealthy
/// gets a synthetic `HaleAutoheal` alert through the same policy, at once when it turns
/// unhealthy and again at most once per cooldown while it stays so; one healthy again
/// resolves it, which cancels a waiting retry.
pub async fn run(
    healer: Arc<Healer>,
    watcher: Arc<Watcher>,
    config: AutohealConfig,
    cooldown: Duration,
) {
    let mut changes = watcher.subscribe();
    // Container ID → (when this unhealthy episode was first seen, when it was last judged).
    let mut unhealthy: HashMap<String, (String, Instant)> = HashMap::new();
    let mut recheck = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = recheck.tick() => {}
        }
        let snapshot = watcher.snapshot();
        if snapshot.connection != Connection::Up {
            continue;
        }
        let mut alerts = Vec::new();
        for k in snapshot.known.values() {
            if !config.label.matches(&k.labels) {
                continue;
            }
            let sick = k.state == State::Running && k.health == crate::docker::Health::Unhealthy;
            if !sick {
                if let Some((since, _)) = unhealthy.remove(&k.docker_id) {
                    alerts.push(autoheal_alert(k, &since, AlertStatus::Resolved));
                }
                continue;
            }
            let due = match unhealthy.get(&k.docker_id) {
                None => true,
                Some((_, judged)) => judged.elapsed() >= cooldown.max(Duration::from_secs(5)),
            };
            if due {
                let since = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                unhealthy.insert(k.docker_id.clone(), (since.clone(), Instant::now()));
                alerts.push(autoheal_alert(k, &since, AlertStatus::Firing));
            }
        }
        // Forget containers that are gone.
        unhealthy.retain(|id, _| snapshot.known.values().any(|k| &k.docker_id == id));
        if alerts.is_empty() {
            continue;
        }
        let n = Notification {
            version: "4".into(),
            receiver: "autoheal".into(),
            status: AlertStatus::Firing,
            alerts,
            group_labels: BTreeMap::new(),
            common_labels: BTreeMap::new(),
            common_annotations: BTreeMap::new(),
            external_url: String::new(),
            group_key: String::new(),
            truncated_alerts: 0,
        };
        if let Err(e) = healer.autoheal(n).await {
            tracing::warn!(error = %e, "heal: autoheal could not decide");
            // Judge again on the next tick.
            unhealthy.clear();
        }
    }
}

fn autoheal_alert(k: &crate::docker::Known, since: &str, status: AlertStatus) -> Alert {
    Alert {
        status,
        labels: BTreeMap::from([
            ("alertname".to_string(), super::AUTOHEAL_ALERT.to_string()),
            ("name".to_string(), k.name.clone()),
        ]),
        annotations: BTreeMap::new(),
        starts_at: since.to_string(),
        ends_at: String::new(),
        generator_url: String::new(),
        fingerprint: format!("autoheal:{}", super::short(&k.docker_id)),
        origin: super::payload::Origin {
            source: super::payload::AlertSource::Autoheal,
            peer: String::new(),
        },
    }
}
