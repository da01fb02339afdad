//! The Grafana dashboards under `grafana/dashboards/`: their conventions (classic JSON,
//! schemaVersion 41, a `datasource` variable and no `__inputs` so file provisioning works, `job`
//! and `instance` variables, every selector scoped to them, every range `$__rate_interval`,
//! units and descriptions on panels), and every panel query run through a real Prometheus
//! scraping a real hale (with a container, a process group, a probe and healing decisions): each
//! must parse and return data, or be listed below with the reason it cannot here.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::docker::{wait_for, Scope};
use common::servers::Prometheus;
use common::{post_with, temp_file, value, Hale};
use serde_json::Value;

/// Panels that may legitimately return nothing on the test host, by (dashboard uid, panel
/// title), with the reason.
const MAY_BE_EMPTY: &[(&str, &str, &str)] = &[];

fn dashboards() -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("grafana/dashboards")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "host, containers, processes, health: {files:?}"
    );
    files
        .into_iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect()
}

/// Every non-row panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// The `metric{...}` selectors of a query (the braces' contents).
fn selectors(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push(rest[start + 1..start + end].to_string());
        rest = &rest[start + end + 1..];
    }
    out
}

/// The `[...]` range selectors of a query.
fn ranges(expr: &str) -> Vec<String> {
    expr.split('[')
        .skip(1)
        .filter_map(|s| s.split_once(']').map(|(r, _)| r.to_string()))
        .collect()
}

#[test]
fn dashboards_follow_the_conventions() {
    for (path, d) in dashboards() {
        let file = path.display().to_string();
        assert_eq!(d["schemaVersion"], 41, "{file}");
        assert!(
            d.get("__inputs").is_none(),
            "{file}: __inputs breaks file provisioning"
        );
        assert!(
            d["uid"].as_str().is_some_and(|u| u.starts_with("hale-")),
            "{file}"
        );
        assert!(
            !d["description"].as_str().unwrap_or("").is_empty(),
            "{file}"
        );
        let vars = d["templating"]["list"].as_array().unwrap();
        let var = |name: &str| {
            vars.iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no {name} variable"))
        };
        assert_eq!(var("datasource")["type"], "datasource", "{file}");
        assert_eq!(var("datasource")["query"], "prometheus", "{file}");
        for name in ["job", "instance"] {
            assert_eq!(var(name)["type"], "query", "{file}");
            assert_eq!(var(name)["datasource"]["uid"], "${datasource}", "{file}");
        }
        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("");
            let at = format!("{file}: panel {title:?}");
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{at}: duplicate id");
            assert!(!title.is_empty(), "{at}");
            assert!(
                !p["description"].as_str().unwrap_or("").is_empty(),
                "{at}: description"
            );
            assert!(
                !p["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty(),
                "{at}: unit"
            );
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{at}");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{at}: no query");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{at}");
                let expr = t["expr"].as_str().unwrap();
                for s in selectors(expr) {
                    assert!(
                        s.contains(r#"job="$job""#) && s.contains(r#"instance="$instance""#),
                        "{at}: selector {{{s}}} in {expr} is not scoped to $job and $instance"
                    );
                }
                for r in ranges(expr) {
                    assert_eq!(r, "$__rate_interval", "{at}: {expr}");
                }
            }
        }
    }
}

#[test]
fn provisioning_points_at_the_dashboards() {
    let text = std::fs::read_to_string("grafana/provisioning/dashboards/hale.yml").unwrap();
    let v: Value = serde_saphyr::from_str(&text).unwrap();
    let path = v["providers"][0]["options"]["path"].as_str().unwrap();
    let compose = std::fs::read_to_string("deploy/docker-compose.yml").unwrap();
    assert!(
        compose.contains(&format!("../grafana/dashboards:{path}:ro")),
        "deploy/docker-compose.yml mounts grafana/dashboards at {path}"
    );
    let text = std::fs::read_to_string("grafana/provisioning/datasources/hale.yml").unwrap();
    let v: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(v["datasources"][0]["type"], "prometheus");
}

/// Replaces Grafana's variables in a query as Grafana would for this hale.
fn substitute(expr: &str, instance: &str, containers: &str) -> String {
    expr.replace("$__rate_interval", "15s")
        .replace("$job", "hale")
        .replace("$instance", instance)
        .replace("$name", containers)
        .replace("$groupname", ".+")
}

#[test]
fn every_panel_query_returns_data_from_a_real_prometheus() {
    let scope = Scope::new("dashboards");
    // A container with limits (CPU throttling, memory of limit), a health check and a network.
    scope.run(
        "app",
        &[
            "--cpus",
            "0.5",
            "--memory",
            "64m",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
        ],
        &["sh", "-c", "while true; do :; done"],
    );
    let dir = tempfile::tempdir().unwrap();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = temp_file(&format!(
        "{selection}process_names:
  - comm: [hale]
health:
  interval: 1s
  consecutive: 1
  probes:
    - name: listener
      tcp: {probe}
      interval: 1s
heal:
  auth: {{bearer_token: t0ken}}
  cooldown: 0s
  budget: {{attempts: 1, window: 1h}}
  audit: {{path: {db}}}
  rules:
    - name: noop
      match: {{alertname: Noop}}
      action: exec
      argv: ['true']
",
        selection = scope.selection(),
        probe = probe.local_addr().unwrap(),
        db = dir.path().join("heal.db").display(),
    ));
    // A cron job's textfile, for the textfile panel.
    let textfiles = tempfile::tempdir().unwrap();
    std::fs::write(
        textfiles.path().join("backup.prom"),
        "backup_last_success_timestamp_seconds 1.7e9\n",
    )
    .unwrap();
    let hale = Hale::start(&[
        &format!("--config={}", config.path().display()),
        &format!(
            "--collector.textfile.directory={}",
            textfiles.path().display()
        ),
    ]);
    let app = scope.name("app");
    wait_for(&hale, "the app container's resources", |s| {
        value(
            s,
            "container_cpu_cfs_periods_total",
            &[("name", app.as_str())],
        )
        .is_some()
    });
    // One executed and succeeded action, then a give-up: every healing family has series.
    let webhook = |starts: &str| {
        let body = format!(
            r#"{{"version":"4","status":"firing","receiver":"hale","alerts":[{{"status":"firing",
            "labels":{{"alertname":"Noop"}},"startsAt":"{starts}","fingerprint":"f0"}}]}}"#
        );
        post_with(
            &hale.url("/webhook/alertmanager"),
            &[("Authorization", "Bearer t0ken")],
            body.as_bytes(),
        )
    };
    assert_eq!(webhook("2026-11-23T08:00:00Z").status, 202);
    wait_for(&hale, "the action's success", |s| {
        value(
            s,
            "hale_heal_action_duration_seconds_count",
            &[("action", "exec")],
        ) == Some(1.0)
    });
    assert!(webhook("2026-11-23T08:01:00Z").body.contains("gave_up"));

    let prometheus = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: hale\n    static_configs:\n      - targets: ['{}']\n",
        hale.address
    ));
    // Enough scrapes for every 15 s rate window to hold several samples.
    prometheus.wait_for(
        "20 s of scrapes",
        r#"count_over_time(up{job="hale"}[30s]) >= 20"#,
    );
    let instance = hale.address.clone();
    // Scope names are letters, digits and dashes: no regex escaping needed.
    let containers = format!("{}.*", scope.name(""));

    let mut failures = Vec::new();
    let mut empty_allowed = Vec::new();
    let mut queries = 0;
    for (path, d) in dashboards() {
        let uid = d["uid"].as_str().unwrap().to_string();
        // Variables: their label_values() selectors must find series.
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" {
                continue;
            }
            let def = v["definition"].as_str().unwrap();
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{uid}: variable {def}"));
            let (selector, label) = inner.rsplit_once(',').unwrap();
            let selector = substitute(selector.trim(), &instance, &containers);
            let found = prometheus.vector(&format!("count by ({}) ({selector})", label.trim()));
            if found.is_empty() {
                failures.push(format!("{uid}: variable {def} finds nothing"));
            }
        }
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap();
            for t in p["targets"].as_array().unwrap() {
                queries += 1;
                let expr = substitute(t["expr"].as_str().unwrap(), &instance, &containers);
                let answer = prometheus.query(&expr);
                if answer["status"] != "success" {
                    failures.push(format!(
                        "{}: {title:?}: {expr}: {}",
                        path.display(),
                        answer["error"]
                    ));
                    continue;
                }
                let empty = answer["data"]["result"]
                    .as_array()
                    .is_none_or(|r| r.is_empty());
                if empty {
                    match MAY_BE_EMPTY
                        .iter()
                        .find(|(u, t, _)| *u == uid && *t == title)
                    {
                        Some((_, _, why)) => empty_allowed.push(format!("{title}: {why}")),
                        None => failures.push(format!("{uid}: {title:?}: no data for {expr}")),
                    }
                }
            }
        }
    }
    eprintln!("{queries} panel queries run; empty by design: {empty_allowed:?}");
    assert!(queries > 50, "{queries}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
