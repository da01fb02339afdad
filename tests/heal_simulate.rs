//! `hale heal simulate`: the decisions a webhook payload would produce, printed, with nothing
//! done; and its clear errors for a bad payload or a missing config.

mod common;

use common::{run_hale as hale, stderr_of, temp_file as file};

const CONFIG: &str = "heal:
  auth: {bearer_token: t0ken}
  rules:
    - name: restart-unhealthy
      match: {alertname: ContainerUnhealthy}
      action: restart
      allow: {names: ['web-*']}
    - name: page-cleanup
      match: {alertname: ContainerUnhealthy}
      action: exec
      argv: [/usr/local/bin/cleanup]
      dry_run: true
";

const PAYLOAD: &str = r#"{"version":"4","status":"firing","receiver":"hale","alerts":[
 {"status":"firing","labels":{"alertname":"ContainerUnhealthy","name":"web-1"},
  "startsAt":"2026-11-23T04:00:00Z","fingerprint":"aaa"},
 {"status":"firing","labels":{"alertname":"ContainerUnhealthy","name":"db-1"},
  "startsAt":"2026-11-23T04:00:00Z","fingerprint":"bbb"},
 {"status":"firing","labels":{"alertname":"DiskFull","name":"web-1"},
  "startsAt":"2026-11-23T04:00:00Z","fingerprint":"ccc"}]}"#;

#[test]
fn simulate_prints_each_decision() {
    let (config, payload) = (file(CONFIG), file(PAYLOAD));
    let out = hale(&[
        "heal",
        "simulate",
        payload.path().to_str().unwrap(),
        "--config",
        config.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].contains("rule=restart-unhealthy")
            && lines[0].contains("target=web-1")
            && lines[0].contains("result=executed"),
        "{stdout}"
    );
    assert!(
        lines[1].contains("result=dry_run") && lines[1].contains("action=exec"),
        "{stdout}"
    );
    assert!(
        lines[2].contains("target=db-1")
            && lines[2].contains("result=denied")
            && lines[2].contains("allow.names"),
        "{stdout}"
    );
    assert!(lines[3].contains("result=dry_run"), "{stdout}");
    assert!(!stdout.contains("DiskFull"), "no rule matches it: {stdout}");
}

#[test]
fn simulate_errors_are_clear() {
    let config = file(CONFIG);
    for (payload, want) in [
        ("{", "not JSON"),
        (
            r#"{"version":"3","status":"firing","alerts":[]}"#,
            "version \"3\"",
        ),
        (
            r#"{"version":"4","status":"firing","alerts":7}"#,
            "not an Alertmanager webhook payload",
        ),
    ] {
        let p = file(payload);
        let out = hale(&[
            "heal",
            "simulate",
            p.path().to_str().unwrap(),
            "--config",
            config.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr_of(&out);
        assert!(err.contains(want), "{payload}: {err}");
    }
    let p = file(PAYLOAD);
    let out = hale(&["heal", "simulate", p.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--config FILE is needed"));
    let unsafe_rule = file("heal:\n  rules:\n    - {name: r, match: {a: b}, action: restart}\n");
    let out = hale(&["check-config", unsafe_rule.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("needs an allow-list"));
}
