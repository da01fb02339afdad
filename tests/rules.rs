//! The shipped alert rules: `promtool check rules` is clean, `promtool test rules` passes, and
//! the conventions hold for every alert: a severity of critical, warning or info; a summary; a
//! description that shows the value (unless the value is only a 0/1 state); a `runbook_url`
//! whose section exists in `docs/runbooks.md`; a unit test where it fires with its labels and
//! annotations asserted; and, in that test, an input series built to tempt it that must not
//! fire. The alerts the project promises are all there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const RUNBOOKS: &str = "https://github.com/hale-dev/hale/blob/main/docs/runbooks.md#";

/// Alerts whose value is a 0/1 state (up, success, health, a gauge that is 1 while true), so
/// their description names the state and its duration instead of a number.
const STATE_ALERTS: &[&str] = &[
    "Watchdog",
    "HaleDown",
    "HaleDockerUnreachable",
    "HaleHealingGaveUp",
    "HostFilesystemReadOnly",
    "ProcessGroupNotRunning",
    "ContainerUnhealthy",
    "ContainerDown",
    "ContainerOomKilled",
    "HostClockNotSynchronising",
    "HostTextfileScrapeError",
    "HostNetworkCarrierLost",
];

/// What the project promises (issue 6), by the names the rules use.
const PROMISED: &[&str] = &[
    // hale itself
    "HaleDown",
    "HaleCollectorFailing",
    "HaleScrapeSlow",
    "HaleFileDescriptorsHigh",
    "HaleRestarting",
    "HaleHealingFailing",
    "HaleHealingGaveUp",
    "HaleWebhookRejecting",
    "HaleAuditLogFailing",
    "HalePullFailing",
    "HalePullPeerDisagrees",
    "HaleFleetHealingBudgetSpent",
    "Watchdog",
    // host
    "HostCpuBusy",
    "HostCpuCorePinned",
    "HostCpuIowait",
    "HostCpuSteal",
    "HostLoadHigh",
    "HostMemoryAvailableLow",
    "HostSwapFilling",
    "HostOomKill",
    "HostFilesystemFillingUp",
    "HostFilesystemAlmostFull",
    "HostInodesLow",
    "HostFilesystemReadOnly",
    "HostDiskIoSaturated",
    "HostNetworkErrors",
    "HostFileDescriptorsHigh",
    "HostClockSkew",
    "HostClockNotSynchronising",
    "HostClockOffsetHigh",
    "HostTextfileScrapeError",
    "HostTextfileStale",
    "HostNetworkCarrierLost",
    "HostNetworkInterfaceFlapping",
    "HostNetworkInterfaceSaturated",
    // processes
    "ProcessGroupFileDescriptorsHigh",
    "ProcessGroupThreadsRising",
    "ProcessGroupNotRunning",
    // containers
    "ContainerUnhealthy",
    "ContainerDown",
    "ContainerRestartLoop",
    "ContainerOomKilled",
    "ContainerMemoryNearLimit",
    "ContainerCpuThrottled",
    "ContainerMemoryLimitHit",
    "ContainerWritableLayerFilling",
];

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule files in {dir}");
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn promtool(args: &[&str], files: &[PathBuf]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .args(files)
        .output()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_check_and_test_pass() {
    let out = promtool(&["check", "rules"], &yaml_files("rules"));
    assert!(!out.contains("FAILED"), "{out}");
    let out = promtool(&["test", "rules"], &yaml_files("rules/tests"));
    assert!(out.contains("SUCCESS") && !out.contains("FAILED"), "{out}");
}

/// Every alerting rule in `rules/`, by name (a name may have a warning and a critical rule).
fn alerts() -> BTreeMap<String, Vec<Value>> {
    let mut all: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for file in yaml_files("rules") {
        let doc = load(&file);
        for group in doc["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                if let Some(name) = rule["alert"].as_str() {
                    all.entry(name.to_string()).or_default().push(rule.clone());
                }
            }
        }
    }
    all
}

#[test]
fn every_alert_follows_the_conventions() {
    let runbooks = std::fs::read_to_string("docs/runbooks.md").unwrap();
    let alerts = alerts();
    for name in PROMISED {
        assert!(
            alerts.contains_key(*name),
            "promised alert {name} is missing"
        );
    }
    for (name, rules) in &alerts {
        let mut severities = BTreeSet::new();
        for rule in rules {
            let severity = rule["labels"]["severity"].as_str().unwrap_or("");
            assert!(
                ["critical", "warning", "info"].contains(&severity),
                "{name}: severity {severity:?}"
            );
            assert!(
                severities.insert(severity),
                "{name}: two rules with severity {severity}"
            );
            let a = &rule["annotations"];
            let summary = a["summary"].as_str().unwrap_or("");
            let description = a["description"].as_str().unwrap_or("");
            assert!(!summary.is_empty(), "{name}: no summary");
            assert!(!description.is_empty(), "{name}: no description");
            if !STATE_ALERTS.contains(&name.as_str()) {
                assert!(
                    description.contains("$value"),
                    "{name}: the description must show the value: {description}"
                );
            }
            let url = a["runbook_url"].as_str().unwrap_or("");
            assert_eq!(url, format!("{RUNBOOKS}{}", name.to_lowercase()), "{name}");
            assert!(
                runbooks.contains(&format!("\n### {name}\n")),
                "{name}: no section in docs/runbooks.md"
            );
            let expr = rule["expr"].as_str().unwrap_or("");
            if expr != "vector(1)" {
                assert!(
                    expr.contains(r#"job="hale""#),
                    "{name}: selects job=\"hale\""
                );
            }
        }
    }
}

/// `{a="b",c="d"}` of a promtool series string.
fn series_labels(series: &str) -> BTreeMap<String, String> {
    let inner = series
        .split_once('{')
        .and_then(|(_, rest)| rest.rsplit_once('}'))
        .map_or("", |(inner, _)| inner);
    inner
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

#[test]
fn every_alert_is_tested_firing_and_tempted() {
    let alerts = alerts();
    let mut fired: BTreeSet<String> = BTreeSet::new();
    for file in yaml_files("rules/tests") {
        let doc = load(&file);
        for test in doc["tests"].as_array().unwrap() {
            let inputs: Vec<BTreeMap<String, String>> = test["input_series"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| series_labels(s["series"].as_str().unwrap()))
                .collect();
            for case in test["alert_rule_test"].as_array().unwrap() {
                let name = case["alertname"].as_str().unwrap().to_string();
                let expected: Vec<BTreeMap<String, String>> = case["exp_alerts"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|e| serde_json::from_value(e["exp_labels"].clone()).unwrap())
                            .collect()
                    })
                    .unwrap_or_default();
                if expected.is_empty() {
                    continue;
                }
                for e in case["exp_alerts"].as_array().unwrap() {
                    let annotations = e["exp_annotations"].as_object();
                    assert!(
                        annotations.is_some_and(|a| a.len() == 3),
                        "{name} in {}: assert summary, description and runbook_url",
                        file.display()
                    );
                }
                fired.insert(name.clone());
                if name == "Watchdog" {
                    continue;
                }
                // A tempting series: one no expected alert accounts for (it differs from each
                // in some label both carry).
                let tempting = inputs.iter().any(|s| {
                    expected.iter().all(|e| {
                        s.iter()
                            .any(|(k, v)| e.get(k).is_some_and(|ev| ev.as_str() != v))
                    })
                });
                assert!(
                    tempting,
                    "{name} in {}: add an input series that must not fire",
                    file.display()
                );
            }
        }
    }
    let untested: Vec<_> = alerts.keys().filter(|a| !fired.contains(*a)).collect();
    assert!(
        untested.is_empty(),
        "alerts with no firing test: {untested:?}"
    );
}
