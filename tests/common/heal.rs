//! Helpers for the healing tests: a hale with healing on over one test's containers, webhook
//! payloads shaped as Alertmanager sends them, and reading the audit log back.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::docker::{start_connected, Scope};
use super::{get_with, post_with, temp_file, Hale, Reply};

pub const TOKEN: &str = "t0ken";
pub const BEARER: (&str, &str) = ("Authorization", "Bearer t0ken");

/// A hale with healing on, its config and its audit directory.
pub struct Healing {
    pub hale: Hale,
    pub config: tempfile::NamedTempFile,
    pub dir: tempfile::TempDir,
}

/// The config: this scope's Docker selection plus `heal:` with the audit log in `dir` and
/// `heal` (YAML lines under `heal:`).
/// (`top` is more top-level YAML, e.g. a `web:` section.)
pub fn config_with(scope: &Scope, dir: &Path, heal: &str, top: &str) -> tempfile::NamedTempFile {
    let mut yaml = scope.selection();
    // Why containers stopped lives beside the audit log, so `Healing::restart` keeps it.
    yaml.push_str(&format!(
        "  state_file: {}\n",
        dir.join("docker-exits.json").display()
    ));
    yaml.push_str(top);
    yaml.push_str(&format!(
        "heal:\n  auth: {{bearer_token: {TOKEN}}}\n  audit: {{path: {}}}\n",
        dir.join("heal.db").display()
    ));
    for line in heal.lines() {
        yaml.push_str(&format!("  {line}\n"));
    }
    temp_file(&yaml)
}

impl Healing {
    pub fn start(scope: &Scope, heal: &str) -> Healing {
        Healing::start_with(scope, heal, "")
    }

    pub fn start_with(scope: &Scope, heal: &str, top: &str) -> Healing {
        let dir = tempfile::tempdir().unwrap();
        Healing::start_in(scope, dir, heal, top, &[])
    }

    /// [`Healing::start_with`] with the audit log in `dir` and more flags.
    pub fn start_in(
        scope: &Scope,
        dir: tempfile::TempDir,
        heal: &str,
        top: &str,
        flags: &[&str],
    ) -> Healing {
        let config = config_with(scope, dir.path(), heal, top);
        let hale = Healing::spawn_with(&config, flags);
        Healing { hale, config, dir }
    }

    pub fn spawn(config: &tempfile::NamedTempFile) -> Hale {
        Healing::spawn_with(config, &[])
    }

    fn spawn_with(config: &tempfile::NamedTempFile, flags: &[&str]) -> Hale {
        let arg = format!("--config={}", config.path().display());
        let mut args = vec![
            arg.as_str(),
            "--collector.disable-defaults",
            "--collector.docker",
            "--collector.heal",
        ];
        args.extend(flags);
        start_connected(&args)
    }

    /// The audit log's path.
    pub fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("heal.db")
    }

    /// Stops hale and starts it again on the same config and audit log.
    pub fn restart(&mut self) {
        self.hale = Healing::spawn(&self.config);
    }

    pub fn post(&self, body: &str) -> Reply {
        post_with(
            &self.hale.url("/webhook/alertmanager"),
            &[BEARER, ("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// Posts and expects 202; returns the decisions' results.
    pub fn accepted(&self, body: &str) -> Vec<String> {
        results(&self.post(body))
    }

    pub fn events(&self, query: &str) -> Vec<Value> {
        let r = get_with(&self.hale.url(&format!("/heal/events?{query}")), &[BEARER]);
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        v["events"].as_array().unwrap().clone()
    }

    /// Polls the audit log until `ready`; the deadline only guards against a hang.
    pub fn wait_events(
        &self,
        what: &str,
        query: &str,
        ready: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let events = self.events(query);
            if ready(&events) {
                return events;
            }
            assert!(Instant::now() < deadline, "never {what}: {events:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn metrics(&self) -> Vec<super::Series> {
        super::parse(&super::get(&self.hale.url("/metrics"), None).body)
    }
}

/// The results of a 202 answer's decisions.
pub fn results(r: &Reply) -> Vec<String> {
    assert_eq!(r.status, 202, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["result"].as_str().unwrap().to_string())
        .collect()
}

/// How many events have this result (and target, when given).
pub fn count(events: &[Value], result: &str, target: Option<&str>) -> usize {
    events
        .iter()
        .filter(|e| e["result"] == result && target.is_none_or(|t| e["target"] == t))
        .count()
}

pub fn alert(fingerprint: &str, starts_at: &str, labels: Value, status: &str) -> Value {
    json!({
        "status": status,
        "labels": labels,
        "annotations": {"summary": "from the test"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    })
}

pub fn notification(alerts: Vec<Value>) -> String {
    let status = if alerts.iter().any(|a| a["status"] == "firing") {
        "firing"
    } else {
        "resolved"
    };
    json!({
        "version": "4", "receiver": "hale", "status": status, "alerts": alerts,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "groupKey": "{}:{}", "truncatedAlerts": 0,
    })
    .to_string()
}

pub fn unhealthy(fingerprint: &str, starts_at: &str, name: &str) -> String {
    notification(vec![alert(
        fingerprint,
        starts_at,
        json!({"alertname": "ContainerUnhealthy", "name": name}),
        "firing",
    )])
}

pub fn started_at(scope: &Scope, name: &str) -> String {
    scope.inspect(name, "{{.State.StartedAt}}")
}

/// A container that stops within a second (busybox `sleep` as PID 1 ignores SIGTERM).
pub const QUICK_STOP: &[&str] = &["--stop-timeout", "1"];

pub fn restart_rule(scope: &Scope) -> String {
    format!(
        "rules:\n  - name: restart-web\n    match: {{alertname: ContainerUnhealthy}}\n    action: restart\n    allow: {{names: ['{}']}}\n",
        scope.name("web*")
    )
}
