//! Fuzzing, bounded so it runs in the test command: proptest drives the webhook payload
//! decoder, the config loader, the web config loader and the events query parser with random
//! bytes and with random edits of real inputs (a payload Alertmanager sent, the README's
//! config); none may panic, and every refusal must say something. Then the hand-made corpus in
//! `tests/fixtures/bad-inputs/` goes through a live hale: each webhook body gets a 4xx with a
//! JSON error and acts on nothing, and each config file a clear `check-config` error.

mod common;

use std::path::Path;

use common::{get_with, post_with, run_hale, stderr_of, temp_file, Hale};
use hale::heal::payload::Notification;
use proptest::prelude::*;

const FIRING: &str = include_str!("fixtures/alertmanager/firing.json");

/// A config using every section, as the README shows them.
const CONFIG: &str = "process_names:
  - comm: [nginx]
  - name: 'java:{{.Matches.app}}'
    cmdline: ['-jar (?P<app>\\S+)']
docker:
  include_labels: ['team=shop']
health:
  interval: 15s
  cpu: {warn: 85, fail: 95, critical: false}
  probes:
    - name: db
      tcp: 127.0.0.1:5432
heal:
  auth: {bearer_token: t0ken}
  cooldown: 5m
  budget: {attempts: 3, window: 1h}
  rules:
    - name: restart-unhealthy
      match: {alertname: ContainerUnhealthy}
      target_label: name
      action: restart
      allow: {names: ['web-*']}
web:
  roles: {heal: []}
  rate_limit: {webhook: {per_second: 20, burst: 100}}
";

/// Random edits of `base`: replace, insert or delete bytes, or cut it short.
fn edits(base: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    prop::collection::vec((0..len, any::<u8>(), 0u8..4), 1..8).prop_map(move |ops| {
        let mut b = base.as_bytes().to_vec();
        for (at, byte, op) in ops {
            let at = at.min(b.len().saturating_sub(1));
            match op {
                0 => {
                    if let Some(x) = b.get_mut(at) {
                        *x = byte;
                    }
                }
                1 => b.insert(at, byte),
                2 => {
                    if at < b.len() {
                        b.remove(at);
                    }
                }
                _ => b.truncate(at),
            }
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_payload_decoder_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = Notification::decode(&body) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn the_payload_decoder_never_panics_on_edited_real_payloads(body in edits(FIRING)) {
        match Notification::decode(&body) {
            Ok(n) => prop_assert!(n.alerts.iter().all(|a| !a.fingerprint.is_empty())),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn the_config_loader_never_panics(text in edits(CONFIG)) {
        let text = String::from_utf8_lossy(&text);
        if let Err(e) = hale::config::Config::parse(&text, Path::new("fuzz.yml")) {
            prop_assert!(e.to_string().contains("fuzz.yml"), "{e}");
        }
    }

    #[test]
    fn the_config_loader_never_panics_on_any_text(text in "\\PC{0,200}") {
        let _ = hale::config::Config::parse(&text, Path::new("fuzz.yml"));
    }

    #[test]
    fn the_web_config_loader_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = hale::web::config::WebConfigFile::parse(&text) {
            prop_assert!(!e.is_empty());
        }
    }

    #[test]
    fn the_events_query_parser_never_panics(query in "[a-z=&%0-9:+.-]{0,80}") {
        let _ = hale::heal::decision::Filter::from_query(&query);
    }
}

#[test]
fn the_bad_webhook_corpus_gets_clear_answers_and_acts_on_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("acted");
    let config = temp_file(&format!(
        "heal:\n  auth: {{bearer_token: t0ken}}\n  audit: {{path: {}}}\n  rules:\n    - name: touch\n      match_re: {{alertname: '.*'}}\n      action: exec\n      argv: [touch, {}]\n",
        dir.path().join("heal.db").display(),
        marker.display()
    ));
    let hale = Hale::start(&[&format!("--config={}", config.path().display())]);
    let mut files: Vec<_> = std::fs::read_dir("tests/fixtures/bad-inputs/webhook")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 15);
    for file in files {
        let body = std::fs::read(&file).unwrap();
        let r = post_with(
            &hale.url("/webhook/alertmanager"),
            &[("Authorization", "Bearer t0ken")],
            &body,
        );
        let name = file.display();
        assert!(
            r.status == 400 || r.status == 422,
            "{name}: {} {}",
            r.status,
            r.body
        );
        let v: serde_json::Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{name}: the error is not JSON: {e}"));
        assert!(
            v["error"].as_str().is_some_and(|e| e.len() > 5),
            "{name}: {}",
            r.body
        );
    }
    let events = get_with(
        &hale.url("/heal/events"),
        &[("Authorization", "Bearer t0ken")],
    );
    assert_eq!(events.body, r#"{"events":[]}"#, "nothing recorded");
    assert!(!marker.exists(), "nothing acted");
}

#[test]
fn the_bad_config_corpus_gets_clear_errors() {
    let mut files: Vec<_> = std::fs::read_dir("tests/fixtures/bad-inputs/config")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let out = run_hale(&["check-config", file.to_str().unwrap()]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", file.display());
        assert!(!err.contains("panicked"), "{}: {err}", file.display());
        assert!(
            err.contains(file.file_name().unwrap().to_str().unwrap()),
            "{}: the error names the file: {err}",
            file.display()
        );
    }
}
