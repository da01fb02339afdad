//! The whole loop with the real servers: a real dockerd runs a container with a Docker
//! HEALTHCHECK; hale exports its health; a real Prometheus (1 s scrapes and evaluations) loads
//! the shipped `rules/`; a real Alertmanager runs the shipped `deploy/alertmanager.yml` (only
//! hale's address and the token file's path changed) and posts to hale's webhook with a bearer
//! token. The container is made unhealthy; ContainerUnhealthy fires after its `for: 1m`;
//! Alertmanager posts; hale restarts the container and records it; the alert resolves. A second
//! run with hale in dry-run records the decision and touches nothing.
//!
//! The test prints how long each step took (`cargo nextest run --test e2e --no-capture`).

mod common;

use std::time::{Duration, Instant};

use common::docker::{start_connected, Scope};
use common::servers::{poll, Alertmanager, Prometheus};
use common::{get_with, temp_file, Hale};
use serde_json::Value;

const TOKEN: &str = "e2e-t0ken";

/// Steps and how long each took.
struct Report {
    start: Instant,
    last: Instant,
    lines: Vec<String>,
}

impl Report {
    fn new() -> Report {
        let now = Instant::now();
        Report {
            start: now,
            last: now,
            lines: Vec::new(),
        }
    }

    fn step(&mut self, what: &str) {
        let now = Instant::now();
        let line = format!(
            "{:>6.1}s (+{:>5.1}s)  {what}",
            (now - self.start).as_secs_f64(),
            (now - self.last).as_secs_f64()
        );
        eprintln!("e2e: {line}");
        self.lines.push(line);
        self.last = now;
    }
}

fn hale_config(
    scope: &Scope,
    db: &std::path::Path,
    token: &std::path::Path,
    dry_run: bool,
) -> tempfile::NamedTempFile {
    temp_file(&format!(
        "{selection}heal:
  dry_run: {dry_run}
  auth: {{bearer_token_file: {token}}}
  audit: {{path: {db}}}
  rules:
    - name: restart-unhealthy
      match: {{alertname: ContainerUnhealthy}}
      target_label: name
      action: restart
      allow: {{names: ['{prefix}*']}}
",
        selection = scope.selection(),
        token = token.display(),
        db = db.display(),
        prefix = scope.name(""),
    ))
}

fn start_hale(config: &tempfile::NamedTempFile) -> Hale {
    start_connected(&[&format!("--config={}", config.path().display())])
}

/// The shipped Alertmanager config, pointed at this hale and this token file.
fn alertmanager_config(hale: &Hale, token: &std::path::Path) -> String {
    let shipped = std::fs::read_to_string("deploy/alertmanager.yml").unwrap();
    assert!(shipped.contains("http://host.docker.internal:9929"));
    shipped
        .replace(
            "http://host.docker.internal:9929",
            &format!("http://{}", hale.address),
        )
        .replace(
            "/run/secrets/hale_webhook_token",
            &token.display().to_string(),
        )
}

fn events(hale: &Hale, query: &str) -> Vec<Value> {
    let r = get_with(
        &hale.url(&format!("/heal/events?{query}")),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["events"].as_array().cloned().unwrap_or_default()
}

/// The ContainerUnhealthy alerts for `name` in Prometheus, by state.
fn alert_state(prometheus: &Prometheus, name: &str) -> Option<String> {
    prometheus
        .alerts()
        .iter()
        .find(|a| a["labels"]["alertname"] == "ContainerUnhealthy" && a["labels"]["name"] == name)
        .map(|a| a["state"].as_str().unwrap_or("").to_string())
}

fn health_of(scope: &Scope, name: &str) -> String {
    scope.inspect(name, "{{.State.Health.Status}}")
}

const STEP: Duration = Duration::from_secs(240);

fn wait_firing(prometheus: &Prometheus, name: &str) {
    poll("ContainerUnhealthy firing", STEP, || {
        match alert_state(prometheus, name).as_deref() {
            Some("firing") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

/// Waits until the audit log has decisions with `result` for `target`.
fn wait_events(hale: &Hale, target: &str, result: &str) -> Vec<Value> {
    poll(&format!("a {result} decision"), STEP, || {
        let e = events(hale, &format!("target={target}&result={result}"));
        if e.is_empty() {
            Err(format!("{:?}", events(hale, "")))
        } else {
            Ok(e)
        }
    })
}

#[test]
fn an_unhealthy_container_is_healed_through_prometheus_and_alertmanager() {
    let mut report = Report::new();
    let scope = Scope::new("e2e");
    let web = scope.name("web");
    // Healthy while /run/sick is absent; /run is a tmpfs, so a restart makes it healthy again.
    scope.run(
        "web",
        &[
            "--tmpfs",
            "/run",
            "--health-cmd",
            "test ! -e /run/sick",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--stop-timeout",
            "1",
        ],
        &["sleep", "100000"],
    );
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = hale_config(&scope, &dir.path().join("heal.db"), &token, false);
    let hale = start_hale(&config);

    let targets = dir.path().join("targets.json");
    let write_targets = |hale: &Hale| {
        std::fs::write(&targets, format!(r#"[{{"targets":["{}"]}}]"#, hale.address)).unwrap();
    };
    write_targets(&hale);
    let alertmanager = Alertmanager::start(&alertmanager_config(&hale, &token));
    let rules: Vec<String> = ["hale", "host", "processes", "containers"]
        .iter()
        .map(|f| {
            std::fs::canonicalize(format!("rules/{f}.yml"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    let prometheus = Prometheus::start(&format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: {rules:?}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am}']
scrape_configs:
  - job_name: hale
    file_sd_configs:
      - files: ['{targets}']
        refresh_interval: 1s
",
        am = alertmanager.port,
        targets = targets.display(),
    ));
    prometheus.wait_for(
        "hale's container healthy in Prometheus",
        &format!(
            r#"hale_container_health_status{{job="hale",name="{web}",status="healthy"}} == 1"#
        ),
    );
    report.step("servers up; Prometheus sees the container healthy");

    // --- Run 1: heal for real.
    let before = scope.inspect(&web, "{{.State.StartedAt}}");
    scope.docker(&["exec", &web, "touch", "/run/sick"]);
    prometheus.wait_for(
        "the container unhealthy in Prometheus",
        &format!(
            r#"hale_container_health_status{{job="hale",name="{web}",status="unhealthy"}} == 1"#
        ),
    );
    report.step("made unhealthy; Docker, hale and Prometheus agree");
    poll("ContainerUnhealthy pending", STEP, || {
        alert_state(&prometheus, &web).ok_or_else(|| "no alert".to_string())
    });
    report.step("ContainerUnhealthy pending");
    wait_firing(&prometheus, &web);
    report.step("ContainerUnhealthy firing (for: 1m)");
    let succeeded = wait_events(&hale, &web, "succeeded");
    report.step("Alertmanager posted; hale restarted the container and recorded it");
    assert_eq!(succeeded[0]["rule"], "restart-unhealthy");
    assert_eq!(succeeded[0]["alertname"], "ContainerUnhealthy");
    let executed = events(&hale, &format!("target={web}&result=executed"));
    assert_eq!(executed.len(), 1, "acted once: {executed:?}");
    assert_ne!(
        scope.inspect(&web, "{{.State.StartedAt}}"),
        before,
        "restarted"
    );
    poll("healthy again", STEP, || {
        match health_of(&scope, &web).as_str() {
            "healthy" => Ok(()),
            other => Err(other.to_string()),
        }
    });
    poll("ContainerUnhealthy resolved", STEP, || {
        match alert_state(&prometheus, &web) {
            None => Ok(()),
            Some(s) => Err(s),
        }
    });
    report.step("the container is healthy and the alert resolved");

    // --- Run 2: the same loop with hale in dry-run acts on nothing.
    drop(hale);
    let config = hale_config(&scope, &dir.path().join("heal-dry.db"), &token, true);
    let hale = start_hale(&config);
    write_targets(&hale);
    alertmanager.reload(&alertmanager_config(&hale, &token));
    prometheus.wait_for(
        "the dry-run hale scraped",
        &format!(r#"up{{job="hale",instance="{}"}} == 1"#, hale.address),
    );
    report.step("dry-run hale up, scraped, and Alertmanager pointed at it");
    let before = scope.inspect(&web, "{{.State.StartedAt}}");
    scope.docker(&["exec", &web, "touch", "/run/sick"]);
    wait_firing(&prometheus, &web);
    report.step("made unhealthy again; ContainerUnhealthy firing");
    let dry = wait_events(&hale, &web, "dry_run");
    report.step("Alertmanager posted; hale recorded dry_run");
    assert_eq!(dry[0]["rule"], "restart-unhealthy");
    // Nothing acted: no execution recorded, the container neither restarted nor healed.
    assert!(events(&hale, "result=executed").is_empty());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(scope.inspect(&web, "{{.State.StartedAt}}"), before);
    assert_eq!(health_of(&scope, &web), "unhealthy");
    report.step("dry run: the container was left as it was");
    eprintln!("e2e report:\n{}", report.lines.join("\n"));
}
