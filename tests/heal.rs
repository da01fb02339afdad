//! Healing against a real Docker engine and a real Alertmanager: the webhook restarts an allowed
//! container once however often the alert is delivered, honours cooldowns, budgets, dry-run,
//! allow-lists and hand-stopped containers, retries with backoff and cancels on resolve, keeps
//! its state across a restart and a SIGKILL, autoheals labelled containers, and refuses bad
//! input with the right answer while acting on nothing.
//!
//! Payloads under `tests/fixtures/alertmanager/` were recorded from Debian's
//! prometheus-alertmanager 0.25 posting to a capture server (see the README there).

mod common;

use std::time::{Duration, Instant};

use common::docker::Scope;
use common::heal::*;
use common::{get_with, post_with, temp_file, value, Hale};
use serde_json::{json, Value};

#[test]
fn restarts_an_allowed_container_once_however_often_the_alert_arrives() {
    let scope = Scope::new("heal-once");
    let web = scope.name("web");
    let db = scope.name("db");
    scope.run("web", QUICK_STOP, &["sleep", "100000"]);
    scope.run("db", QUICK_STOP, &["sleep", "100000"]);
    let (web_started, db_started) = (started_at(&scope, &web), started_at(&scope, &db));
    let mut h = Healing::start(&scope, &format!("cooldown: 1h\n{}", restart_rule(&scope)));

    let body = notification(vec![
        alert(
            "fp-web",
            "2026-11-23T04:00:00Z",
            json!({"alertname": "ContainerUnhealthy", "name": web}),
            "firing",
        ),
        alert(
            "fp-db",
            "2026-11-23T04:00:00Z",
            json!({"alertname": "ContainerUnhealthy", "name": db}),
            "firing",
        ),
    ]);
    // Two Alertmanagers of an HA pair deliver the same group at the same moment, and then
    // each retries it.
    let url = h.hale.url("/webhook/alertmanager");
    let deliver = || results(&post_with(&url, &[BEARER], body.as_bytes()));
    let answers: Vec<Vec<String>> = std::thread::scope(|s| {
        let a = s.spawn(deliver);
        let b = s.spawn(deliver);
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let executed: usize = answers
        .iter()
        .flatten()
        .filter(|r| *r == "executed")
        .count();
    assert_eq!(executed, 1, "{answers:?}");
    assert_eq!(h.accepted(&body), ["skipped_duplicate", "denied"]);

    let events = h.wait_events("restarted web", &format!("target={web}"), |e| {
        count(e, "succeeded", None) == 1
    });
    assert_eq!(count(&events, "executed", None), 1, "{events:#?}");
    assert_eq!(count(&events, "skipped_duplicate", None), 2, "{events:#?}");
    let web_restarted = started_at(&scope, &web);
    assert_ne!(
        web_restarted, web_started,
        "the allowed container was restarted"
    );
    assert_eq!(
        started_at(&scope, &db),
        db_started,
        "the denied one was not touched"
    );
    let denied = h.events(&format!("target={db}"));
    assert_eq!(count(&denied, "denied", None), 3, "{denied:#?}");
    assert!(denied[0]["detail"]
        .as_str()
        .unwrap()
        .contains("allow.names"));

    // A new firing of the same alert inside the cooldown.
    assert_eq!(
        h.accepted(&unhealthy("fp-web", "2026-11-23T04:10:00Z", &web)),
        ["skipped_cooldown"]
    );
    let m = h.metrics();
    let decisions = |result: &str| {
        value(
            &m,
            "hale_heal_decisions_total",
            &[
                ("rule", "restart-web"),
                ("action", "restart"),
                ("result", result),
            ],
        )
    };
    assert_eq!(decisions("executed"), Some(1.0));
    assert_eq!(decisions("succeeded"), Some(1.0));
    assert_eq!(decisions("skipped_duplicate"), Some(2.0));
    assert!(value(
        &m,
        "hale_heal_last_success_timestamp_seconds",
        &[("rule", "restart-web")]
    )
    .is_some());

    // hale restarts: idempotency keys and the cooldown come back from the audit log.
    h.restart();
    assert_eq!(
        h.accepted(&unhealthy("fp-web", "2026-11-23T04:00:00Z", &web)),
        ["skipped_duplicate"]
    );
    assert_eq!(
        h.accepted(&unhealthy("fp-web", "2026-11-23T04:20:00Z", &web)),
        ["skipped_cooldown"]
    );
    // Skipped decisions queue nothing, so nothing can restart it later.
    assert_eq!(value(&h.metrics(), "hale_heal_queue_depth", &[]), Some(0.0));
    assert_eq!(started_at(&scope, &web), web_restarted, "no second restart");
    let m = h.metrics();
    assert!(
        value(
            &m,
            "hale_heal_last_success_timestamp_seconds",
            &[("rule", "restart-web")]
        )
        .is_some(),
        "the last success survives the restart"
    );
}

#[test]
fn after_the_budget_hale_gives_up_and_says_so() {
    let scope = Scope::new("heal-budget");
    let web = scope.name("web");
    scope.run("web", QUICK_STOP, &["sleep", "100000"]);
    let h = Healing::start(
        &scope,
        &format!(
            "cooldown: 0s\nbudget: {{attempts: 2, window: 1h}}\n{}",
            restart_rule(&scope)
        ),
    );
    let mut starts = vec![started_at(&scope, &web)];
    for (i, t) in ["04:00:00", "04:01:00"].iter().enumerate() {
        assert_eq!(
            h.accepted(&unhealthy("fp", &format!("2026-11-23T{t}Z"), &web)),
            ["executed"]
        );
        h.wait_events(
            "restart done",
            &format!("target={web}&result=succeeded"),
            |e| e.len() == i + 1,
        );
        starts.push(started_at(&scope, &web));
    }
    assert_eq!(
        h.accepted(&unhealthy("fp", "2026-11-23T04:02:00Z", &web)),
        ["gave_up"]
    );
    starts.dedup();
    assert_eq!(starts.len(), 3, "two restarts, then none: {starts:?}");
    let m = h.metrics();
    assert_eq!(
        value(
            &m,
            "hale_heal_gave_up",
            &[("rule", "restart-web"), ("target", &web)]
        ),
        Some(1.0)
    );
}

#[test]
fn a_hand_stopped_container_stays_stopped_and_dry_run_touches_nothing() {
    let scope = Scope::new("heal-manual");
    let (stopped, crashed, dry) = (
        scope.name("web-stopped"),
        scope.name("web-crashed"),
        scope.name("web-dry"),
    );
    scope.run("web-stopped", QUICK_STOP, &["sleep", "100000"]);
    scope.run("web-dry", QUICK_STOP, &["sleep", "100000"]);
    let dry_started = started_at(&scope, &dry);
    let rules = format!(
        "rules:
  - name: start-down
    match: {{alertname: ContainerDown}}
    action: start
    allow: {{names: ['{glob}']}}
  - name: restart-web
    match: {{alertname: ContainerUnhealthy}}
    action: restart
    allow: {{names: ['{glob}']}}
  - name: stop-dry
    match: {{alertname: Dry}}
    action: stop
    dry_run: true
    allow: {{names: ['{glob}']}}
",
        glob = scope.name("web*")
    );
    let h = Healing::start(&scope, &rules);
    // An operator stops one container; another dies on its own while hale watches.
    scope.docker(&["stop", &stopped]);
    scope.run("web-crashed", &[], &["sh", "-c", "sleep 1; exit 3"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while scope.inspect(&crashed, "{{.State.Status}}") != "exited" {
        assert!(Instant::now() < deadline, "the crasher never exited");
        std::thread::sleep(Duration::from_millis(200));
    }
    // hale has seen the die event once it reports the stop as not requested.
    let deadline = Instant::now() + Duration::from_secs(60);
    while value(
        &h.metrics(),
        "hale_container_stopped_by_request",
        &[("name", crashed.as_str())],
    ) != Some(0.0)
    {
        assert!(Instant::now() < deadline, "hale never saw the crasher die");
        std::thread::sleep(Duration::from_millis(100));
    }
    let down = |fp: &str, name: &str| {
        notification(vec![alert(
            fp,
            "2026-11-23T04:00:00Z",
            json!({"alertname": "ContainerDown", "name": name}),
            "firing",
        )])
    };
    h.post(&down("fp-stopped", &stopped));
    h.post(&unhealthy("fp-stopped-2", "2026-11-23T04:00:00Z", &stopped));
    h.accepted(&down("fp-crashed", &crashed));
    h.wait_events(
        "crashed started",
        &format!("target={crashed}&result=succeeded"),
        |e| e.len() == 1,
    );
    assert_ne!(
        scope.inspect(&crashed, "{{.State.StartedAt}}"),
        "0001-01-01T00:00:00Z"
    );
    // Both alerts for the hand-stopped container were refused, before or at execution.
    let events = h.events(&format!("target={stopped}&result=denied"));
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events.iter().all(|e| e["detail"]
        .as_str()
        .unwrap()
        .contains("did not die on its own")));
    assert_eq!(scope.inspect(&stopped, "{{.State.Status}}"), "exited");

    assert_eq!(
        h.accepted(&notification(vec![alert(
            "fp-dry",
            "2026-11-23T04:00:00Z",
            json!({"alertname": "Dry", "name": dry}),
            "firing"
        )])),
        ["dry_run"]
    );
    // A dry run queues nothing, so nothing can act on it later.
    assert_eq!(value(&h.metrics(), "hale_heal_queue_depth", &[]), Some(0.0));
    assert_eq!(scope.inspect(&dry, "{{.State.Status}}"), "running");
    assert_eq!(started_at(&scope, &dry), dry_started);
}

/// The retry loop's timing (backoff, budget, cancellation) is unit-tested on a paused clock
/// (`heal::queue`); this holds the wiring: a failing command's stderr in the log, labels in its
/// environment, and a resolve posted to the webhook cancelling the retry it left waiting.
#[test]
fn a_failure_says_why_and_a_resolve_cancels_its_waiting_retry() {
    let scope = Scope::new("heal-retry");
    let marker = tempfile::tempdir().unwrap();
    let rules = format!(
        "cooldown: 0s
budget: {{attempts: 2, window: 1h}}
backoff: {{initial: 1h, max: 1h}}
rules:
  - name: flaky
    match: {{alertname: Flaky}}
    action: exec
    argv: ['/bin/sh', '-c', 'echo attempt for $HALE_LABEL_SERVICE >> {log}; echo no luck >&2; exit 1']
",
        log = marker.path().join("attempts").display()
    );
    let h = Healing::start(&scope, &rules);
    let flaky = |status: &str| {
        notification(vec![alert(
            "fp-f",
            "2026-11-23T04:00:00Z",
            json!({"alertname": "Flaky", "service": "queue"}),
            status,
        )])
    };
    assert_eq!(h.accepted(&flaky("firing")), ["executed"]);
    let events = h.wait_events("first failure", "rule=flaky", |e| {
        count(e, "failed", None) == 1
    });
    assert!(
        events[0]["detail"]
            .as_str()
            .unwrap()
            .contains("stderr: no luck"),
        "{events:#?}"
    );
    assert_eq!(value(&h.metrics(), "hale_heal_queue_depth", &[]), Some(1.0));
    // Its retry waits an hour; the resolve cancels it now.
    let resolved = h.post(&flaky("resolved"));
    assert_eq!(resolved.status, 202, "{}", resolved.body);
    let events = h.wait_events("cancelled", "rule=flaky", |e| {
        count(e, "cancelled", None) == 1
    });
    let results: Vec<&str> = events
        .iter()
        .rev()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["executed", "failed", "cancelled"]);
    let attempts = std::fs::read_to_string(marker.path().join("attempts")).unwrap();
    assert_eq!(attempts, "attempt for queue\n", "one attempt, no retry");
    assert_eq!(value(&h.metrics(), "hale_heal_queue_depth", &[]), Some(0.0));
}

#[test]
fn autoheal_restarts_only_labelled_unhealthy_containers_and_does_not_loop() {
    let scope = Scope::new("heal-autoheal");
    let (labelled, plain) = (scope.name("labelled"), scope.name("plain"));
    // Healthy for a moment, then unhealthy for good (the file is gone after every start).
    let sick = [
        "sh",
        "-c",
        "touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 100000",
    ];
    let check = [
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "--stop-timeout",
        "1",
    ];
    let mut opts = check.to_vec();
    opts.extend(["--label", "hale.autoheal=true"]);
    scope.run("labelled", &opts, &sick);
    scope.run("plain", &check, &sick);
    let (l0, p0) = (started_at(&scope, &labelled), started_at(&scope, &plain));
    let h = Healing::start(&scope, "cooldown: 1h\nautoheal: {enabled: true}\n");
    let events = h.wait_events(
        "autoheal restart",
        &format!("rule=autoheal&target={labelled}"),
        |e| count(e, "succeeded", None) == 1,
    );
    assert_eq!(count(&events, "executed", None), 1, "{events:#?}");
    assert_ne!(started_at(&scope, &labelled), l0, "restarted");
    // Unhealthy again after the restart: the cooldown holds it, no restart loop.
    h.wait_events(
        "cooldown after restart",
        &format!("rule=autoheal&target={labelled}"),
        |e| count(e, "skipped_cooldown", None) >= 1,
    );
    let all = h.events("rule=autoheal");
    assert_eq!(count(&all, "executed", None), 1, "{all:#?}");
    assert_eq!(count(&all, "executed", Some(&plain)), 0);
    assert_eq!(
        started_at(&scope, &plain),
        p0,
        "the unlabelled twin is untouched"
    );
    assert_eq!(
        scope.inspect(&plain, "{{.State.Health.Status}}"),
        "unhealthy"
    );
}

#[test]
fn bad_requests_get_clear_answers_and_nothing_acts() {
    let scope = Scope::new("heal-bad");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("acted");
    let rules = format!(
        "max_body_bytes: 4096
rules:
  - name: touch
    match_re: {{alertname: 'Container.*'}}
    action: exec
    argv: [touch, {}]
",
        marker.display()
    );
    let h = Healing::start(&scope, &rules);
    let url = h.hale.url("/webhook/alertmanager");
    let firing = std::fs::read_to_string("tests/fixtures/alertmanager/firing.json").unwrap();
    let half = &firing[..firing.len() / 2];
    let wrong_type = firing.replace(r#""alerts":["#, r#""alerts":"none","x":["#);
    let version_3 = firing.replace(r#""version":"4""#, r#""version":"3""#);
    let huge = format!(
        r#"{},"pad":"{}"}}"#,
        &firing[..firing.len() - 1],
        "x".repeat(8192)
    );
    for (name, headers, body, status, says) in [
        (
            "no credentials",
            vec![],
            firing.as_str(),
            401,
            "credentials",
        ),
        (
            "wrong token",
            vec![("Authorization", "Bearer nope")],
            firing.as_str(),
            401,
            "credentials",
        ),
        (
            "basic instead",
            vec![("Authorization", "Basic YWxlcnRtYW5hZ2VyOnBhNTU=")],
            firing.as_str(),
            401,
            "credentials",
        ),
        ("not JSON", vec![BEARER], "<html>", 400, "not JSON"),
        ("truncated", vec![BEARER], half, 400, "not JSON"),
        (
            "wrong type",
            vec![BEARER],
            wrong_type.as_str(),
            422,
            "expected a sequence",
        ),
        (
            "version 3",
            vec![BEARER],
            version_3.as_str(),
            422,
            "version",
        ),
        ("oversized", vec![BEARER], huge.as_str(), 413, "4096"),
    ] {
        let r = post_with(&url, &headers, body.as_bytes());
        assert_eq!(r.status, status, "{name}: {}", r.body);
        assert_eq!(r.content_type, "application/json", "{name}");
        let v: Value =
            serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{name}: {e}: {}", r.body));
        assert!(
            v["error"].as_str().unwrap().contains(says),
            "{name}: {}",
            r.body
        );
    }
    let r = get_with(&h.hale.url("/heal/events"), &[]);
    assert_eq!(r.status, 401);
    let r = get_with(&h.hale.url("/heal/events?result=exploded"), &[BEARER]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(h.events("").is_empty(), "nothing was recorded");
    assert!(!marker.exists(), "nothing acted");
    // Each refusal is counted by its code, for the webhook-rejecting alert.
    let m = h.metrics();
    for (code, n) in [
        ("401", 3.0),
        ("400", 2.0),
        ("422", 2.0),
        ("413", 1.0),
        ("202", 0.0),
    ] {
        assert_eq!(
            value(&m, "hale_heal_webhook_requests_total", &[("code", code)]),
            Some(n),
            "code {code}"
        );
    }

    // Alertmanager's own payloads, as recorded, are accepted: one alert, and a group cut short
    // by max_alerts (truncatedAlerts: 1).
    assert_eq!(h.accepted(&firing), ["executed"]);
    // Its resolution matches no rule (rules act on firing unless they say otherwise).
    let resolved = std::fs::read_to_string("tests/fixtures/alertmanager/resolved.json").unwrap();
    assert!(h.accepted(&resolved).is_empty());
    let truncated = std::fs::read_to_string("tests/fixtures/alertmanager/truncated.json").unwrap();
    // web-1 was just acted on (an exec's target is its `name` label): cooling down; web-2 is new.
    assert_eq!(h.accepted(&truncated), ["skipped_cooldown", "executed"]);
    h.wait_events("touched", "result=succeeded", |e| !e.is_empty());
    assert!(marker.exists());

    // The public landing page counts the decisions but names no target: those stay behind
    // the webhook's credentials.
    let landing = common::get(&h.hale.url("/"), None);
    assert_eq!(landing.status, 200);
    assert!(
        landing.body.contains("2 <code>executed</code>"),
        "{}",
        landing.body
    );
    assert!(landing.body.contains("1 rule(s)"), "{}", landing.body);
    assert!(!landing.body.contains("web-1"), "{}", landing.body);
}

#[test]
fn healing_is_off_without_config_and_refuses_when_docker_is_away() {
    let plain = Hale::start(&["--collector.disable-defaults", "--collector.loadavg"]);
    let r = post_with(&plain.url("/webhook/alertmanager"), &[BEARER], b"{}");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("healing is not configured"), "{}", r.body);

    let dir = tempfile::tempdir().unwrap();
    let config = temp_file(&format!(
        "docker: {{host: 'unix:///nonexistent/docker.sock'}}
heal:
  auth: {{bearer_token: {TOKEN}}}
  audit: {{path: {}}}
  rules:
    - name: restart-web
      match: {{alertname: ContainerUnhealthy}}
      action: restart
      allow: {{names: ['web-*']}}
",
        dir.path().join("heal.db").display()
    ));
    let hale = Hale::start(&[&format!("--config={}", config.path().display())]);
    let r = post_with(
        &hale.url("/webhook/alertmanager"),
        &[BEARER],
        unhealthy("fp", "2026-11-23T04:00:00Z", "web-1").as_bytes(),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("Docker is not reachable"), "{}", r.body);
    let r = get_with(&hale.url("/heal/events"), &[BEARER]);
    assert_eq!(
        r.body, r#"{"events":[]}"#,
        "a 503 records nothing, so the retry is judged afresh"
    );
}

#[test]
fn a_full_queue_answers_503_and_records_nothing() {
    let scope = Scope::new("heal-queue");
    let rules = "queue_size: 1
rules:
  - name: slow
    match: {alertname: Slow}
    action: exec
    argv: [sleep, '3']
";
    let h = Healing::start(&scope, rules);
    let slow = |fp: &str, job: &str| {
        notification(vec![alert(
            fp,
            "2026-11-23T04:00:00Z",
            json!({"alertname": "Slow", "name": job}),
            "firing",
        )])
    };
    assert_eq!(h.accepted(&slow("fp-a", "a")), ["executed"]);
    let r = h.post(&slow("fp-b", "b"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("queue is full"), "{}", r.body);
    assert!(h.events("target=b").is_empty());
    h.wait_events("a done", "target=a&result=succeeded", |e| e.len() == 1);
    assert_eq!(
        h.accepted(&slow("fp-b", "b")),
        ["executed"],
        "the retry is judged afresh"
    );
}

#[test]
fn sigkill_during_a_burst_loses_no_answered_decision() {
    let scope = Scope::new("heal-crash");
    // The burst is one client far over the default webhook rate: lift the limit.
    let mut h = Healing::start_with(
        &scope,
        "rules:\n  - name: note\n    match: {alertname: Burst}\n    action: exec\n    argv: ['true']\n    dry_run: true\n",
        "web: {rate_limit: {webhook: {per_second: 0, burst: 0}}}\n",
    );
    let url = h.hale.url("/webhook/alertmanager");
    let answered = parking_lot::Mutex::new(Vec::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (url, answered, stop) = (&url, &answered, &stop);
            s.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let fp = format!("fp-{t}-{i}");
                    let body = notification(vec![alert(
                        &fp,
                        "2026-11-23T04:00:00Z",
                        json!({"alertname": "Burst"}),
                        "firing",
                    )]);
                    match agent
                        .post(url)
                        .header("Authorization", "Bearer t0ken")
                        .send(body.as_bytes())
                    {
                        Ok(r) if r.status() == 202 => answered.lock().push(fp),
                        _ => break,
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while answered.lock().len() < 300 {
            assert!(
                Instant::now() < deadline,
                "the burst never reached 300 answers"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        h.hale.child.kill().unwrap(); // SIGKILL
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let _ = h.hale.child.wait();
    let answered = answered.into_inner();
    h.restart();
    let stored = h.events("limit=10000");
    let fingerprints: std::collections::HashSet<&str> = stored
        .iter()
        .map(|e| e["fingerprint"].as_str().unwrap())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|fp| !fingerprints.contains(fp.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered decisions lost: {lost:?}",
        lost.len(),
        answered.len()
    );
    assert!(stored.iter().all(|e| e["result"] == "dry_run"));
    // The database is whole: hale opened it, and a new decision is recorded.
    assert_eq!(
        h.accepted(&notification(vec![alert(
            "after",
            "2026-11-23T04:00:00Z",
            json!({"alertname": "Burst"}),
            "firing"
        )])),
        ["dry_run"]
    );
    let _ = &h.dir;
}

#[test]
fn a_real_alertmanager_drives_a_restart() {
    let scope = Scope::new("heal-am");
    let web = scope.name("web");
    scope.run("web", QUICK_STOP, &["sleep", "100000"]);
    let before = started_at(&scope, &web);
    let h = Healing::start(&scope, &restart_rule(&scope));
    let token = temp_file(TOKEN);
    let alertmanager = common::servers::Alertmanager::start(&format!(
        "route: {{receiver: hale, group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
receivers:
  - name: hale
    webhook_configs:
      - url: {}
        send_resolved: true
        http_config:
          authorization: {{credentials_file: {}}}
",
        h.hale.url("/webhook/alertmanager"),
        token.path().display()
    ));
    let am = alertmanager.url();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let added = std::process::Command::new("amtool")
            .args([
                &format!("--alertmanager.url={am}"),
                "alert",
                "add",
                "ContainerUnhealthy",
                &format!("name={web}"),
            ])
            .output()
            .expect("amtool");
        if added.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager never took the alert: {added:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let events = h.wait_events(
        "alertmanager's restart",
        &format!("target={web}&result=succeeded"),
        |e| e.len() == 1,
    );
    assert_eq!(events[0]["rule"], "restart-web");
    assert_ne!(started_at(&scope, &web), before);
}
