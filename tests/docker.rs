//! The docker collector against a real Docker engine (Debian's docker.io, started by
//! scripts/test.sh): containers are created, started, paused, stopped, restarted, OOM-killed and
//! made unhealthy for real, and the series hale exposes are checked against what Docker itself
//! says (inspect, `docker stats`, the engine's stats API). Each test sees only its own containers
//! (a unique label and hale's `include_labels`), so the tests run in parallel. The daemon-restart
//! test uses a private dockerd so it never stops the host's engine.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;

use common::docker::{container_value, docker_up, state_of, wait_for, PrivateDockerd, Scope};
use common::{get, temp_file, value, Hale, Series};

fn has_container(series: &[Series], name: &str) -> bool {
    series
        .iter()
        .any(|s| s.labels.get("name").map(String::as_str) == Some(name))
}

/// Unix seconds of an RFC 3339 time, by coreutils' `date`, independent of hale's parser.
fn unix_seconds(rfc3339: &str) -> f64 {
    let out = Command::new("date")
        .args(["-d", rfc3339, "+%s.%N"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("date printed seconds")
}

/// GET on the local engine's API socket, as JSON: Docker's own numbers, without hale's code.
fn engine_get(path: &str) -> serde_json::Value {
    let mut s = UnixStream::connect("/var/run/docker.sock").expect("docker socket");
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP answer");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    serde_json::from_str(body).expect("JSON body")
}

/// Parses `docker stats` sizes such as `1.234MiB`.
fn docker_size(s: &str) -> f64 {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let factor = match unit {
        "B" => 1.0,
        "KiB" | "kB" => 1024.0,
        "MiB" | "MB" => 1024.0 * 1024.0,
        "GiB" | "GB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unknown unit {other:?} in {s:?}"),
    };
    n.parse::<f64>().expect("number") * factor
}

#[test]
fn lifecycle_follows_docker_events() {
    let scope = Scope::new("lifecycle");
    let (hale, _config) = scope.hale("info_labels: [com.example.team]");
    wait_for(&hale, "the first Docker sync", docker_up);

    let id = scope.create(
        "c",
        &[
            "--label",
            "com.example.team=shop",
            "--label",
            "com.example.token=hunter2",
            "-e",
            "PASSWORD=hunter2",
        ],
        &["sleep", "1000"],
    );
    let name = scope.name("c");
    let series = wait_for(&hale, "created", |s| {
        state_of(s, &name).as_deref() == Some("created")
    });
    // The state set has every state, exactly one of them 1.
    let states: Vec<&Series> = series
        .iter()
        .filter(|s| s.name == "hale_container_state" && s.labels.get("name") == Some(&name))
        .collect();
    assert_eq!(states.len(), 7, "{states:?}");
    // cAdvisor's labels: id is the cgroup path, image the image as given.
    let cgroup = format!("/docker/{id}");
    let image_id = scope.inspect(&id, "{{.Image}}");
    assert_eq!(
        value(
            &series,
            "hale_container_info",
            &[
                ("name", &name),
                ("id", &cgroup),
                ("image", common::docker::IMAGE),
                ("image_id", &image_id),
                ("container_label_com_example_team", "shop"),
            ]
        ),
        Some(1.0),
        "{series:?}"
    );
    let body = get(&hale.url("/metrics"), None).body;
    assert!(
        !body.contains("hunter2") && !body.contains("token"),
        "labels outside the allow-list and env must not leak"
    );
    assert_eq!(
        container_value(&series, "container_memory_usage_bytes", &name, &[]),
        None,
        "no resources for a container that is not running"
    );

    scope.docker(&["start", &id]);
    let series = wait_for(&hale, "running", |s| {
        state_of(s, &name).as_deref() == Some("running")
            && container_value(s, "container_memory_usage_bytes", &name, &[]).is_some()
    });
    let started = unix_seconds(&scope.inspect(&id, "{{.State.StartedAt}}"));
    let exposed = container_value(&series, "hale_container_started_at_seconds", &name, &[]);
    assert!(
        (exposed.unwrap() - started).abs() < 1e-3,
        "{exposed:?} vs {started}"
    );

    scope.docker(&["pause", &id]);
    wait_for(&hale, "paused", |s| {
        state_of(s, &name).as_deref() == Some("paused")
    });
    scope.docker(&["unpause", &id]);
    wait_for(&hale, "running again", |s| {
        state_of(s, &name).as_deref() == Some("running")
    });

    // sleep as PID 1 ignores SIGTERM, so stop ends in SIGKILL: 128 + 9.
    scope.docker(&["stop", "-t", "1", &id]);
    let series = wait_for(&hale, "exited", |s| {
        state_of(s, &name).as_deref() == Some("exited")
    });
    assert_eq!(
        container_value(&series, "hale_container_exit_code", &name, &[]),
        Some(137.0)
    );
    // A 137 that an operator asked for, not a crash: the stop was requested.
    assert_eq!(
        container_value(&series, "hale_container_stopped_by_request", &name, &[]),
        Some(1.0)
    );
    let finished = unix_seconds(&scope.inspect(&id, "{{.State.FinishedAt}}"));
    let exposed = container_value(&series, "hale_container_finished_at_seconds", &name, &[]);
    assert!((exposed.unwrap() - finished).abs() < 1e-3);
    assert_eq!(
        container_value(&series, "container_memory_usage_bytes", &name, &[]),
        None
    );

    scope.docker(&["restart", "-t", "1", &id]);
    let series = wait_for(&hale, "restarted", |s| {
        state_of(s, &name).as_deref() == Some("running")
            && container_value(s, "hale_container_started_at_seconds", &name, &[])
                .is_some_and(|t| t > started)
    });
    assert_eq!(
        container_value(&series, "hale_container_oom_killed", &name, &[]),
        Some(0.0)
    );
    assert_eq!(
        container_value(&series, "hale_container_stopped_by_request", &name, &[]),
        None,
        "only stopped containers say why"
    );

    scope.docker(&["rm", "-f", &id]);
    wait_for(&hale, "removed", |s| {
        docker_up(s) && !has_container(s, &name)
    });
}

/// Why a container stopped survives a restart of hale (`docker.state_file`), for the same stop
/// only: a container that started and stopped again while hale was away has no reason.
#[test]
fn stop_reasons_survive_a_restart_of_hale() {
    let scope = Scope::new("stop-reasons");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("docker-exits.json");
    let (hale, config) = scope.hale(&format!("state_file: {}", state.display()));
    scope.run("crashed", &[], &["sh", "-c", "sleep 0.5; exit 3"]);
    let stopped = scope.run("stopped", &[], &["sleep", "100000"]);
    let later = scope.run("later", &[], &["sh", "-c", "sleep 2; exit 4"]);
    scope.docker(&["stop", "-t", "1", &stopped]);
    scope.docker(&["stop", "-t", "1", &later]);
    let (crashed, stopped_name, later_name) = (
        scope.name("crashed"),
        scope.name("stopped"),
        scope.name("later"),
    );
    let reason = |s: &[Series], name: &str| {
        container_value(s, "hale_container_stopped_by_request", name, &[])
    };
    wait_for(&hale, "three stops, each with its reason", |s| {
        reason(s, &crashed) == Some(0.0)
            && reason(s, &stopped_name) == Some(1.0)
            && reason(s, &later_name) == Some(1.0)
    });
    drop(hale);
    let before = std::fs::read_to_string(&state).unwrap_or_default();
    // While hale is away, `later` starts and exits on its own: a new stop hale did not see.
    scope.docker(&["start", &later]);
    scope.docker(&["wait", &later]);

    let hale = common::docker::hale_on(config.path(), &["--log.level=debug"]);
    let series = wait_for(&hale, "the containers after the restart", |s| {
        docker_up(s) && state_of(s, &later_name).as_deref() == Some("exited")
    });
    let file = std::fs::read_to_string(&state).unwrap_or_default();
    let log: Vec<String> = hale.log.try_iter().collect();
    assert_eq!(
        reason(&series, &crashed),
        Some(0.0),
        "it still died on its own; {file}, before {before}; hale logged {log:?}"
    );
    assert_eq!(
        reason(&series, &stopped_name),
        Some(1.0),
        "still stopped by hand; {} in {file}, before {before}; hale logged {log:?}",
        scope.inspect(&stopped, "{{.Id}} {{.State.FinishedAt}}"),
    );
    // Its new stop is not the one recorded: the old "asked for" is not restored. (hale may
    // still learn the new one from the second of events it replays when it connects.)
    assert_ne!(
        reason(&series, &later_name),
        Some(1.0),
        "stopped again while hale was away: not the recorded stop"
    );
    assert!(file.contains(&scope.inspect(&stopped, "{{.Id}}")), "{file}");
}

#[test]
fn restart_policy_restarts_are_counted() {
    let scope = Scope::new("restarts");
    let (hale, _config) = scope.hale("");
    let id = scope.run(
        "crash",
        &["--restart", "on-failure:3"],
        &["sh", "-c", "sleep 0.2; exit 2"],
    );
    let name = scope.name("crash");
    // After three restarts the policy gives up and the container stays exited.
    let series = wait_for(&hale, "three restarts, then exited", |s| {
        container_value(s, "hale_container_restarts_total", &name, &[]) == Some(3.0)
            && state_of(s, &name).as_deref() == Some("exited")
    });
    assert_eq!(scope.inspect(&id, "{{.RestartCount}}"), "3");
    assert_eq!(
        container_value(&series, "hale_container_exit_code", &name, &[]),
        Some(2.0)
    );
    assert_eq!(
        container_value(&series, "hale_container_stopped_by_request", &name, &[]),
        Some(0.0),
        "it exited on its own"
    );
}

#[test]
fn oom_kills_are_reported() {
    let scope = Scope::new("oom");
    let (hale, _config) = scope.hale("");
    let limits = ["--memory", "16m", "--memory-swap", "16m"];
    // A child is OOM-killed; the container lives on and its cgroup counts the kill.
    scope.run(
        "child",
        &limits,
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000",
        ],
    );
    let child = scope.name("child");
    wait_for(&hale, "the child's OOM kill", |s| {
        container_value(s, "container_oom_events_total", &child, &[]).is_some_and(|v| v >= 1.0)
    });
    let series = wait_for(&hale, "the child container", |s| {
        state_of(s, &child).as_deref() == Some("running")
    });
    assert_eq!(
        container_value(&series, "hale_container_oom_killed", &child, &[]),
        Some(0.0)
    );
    // PID 1 itself is OOM-killed: Docker records exit code 137 and, usually, OOMKilled. Docker's
    // flag races with the exit under load and is sometimes false (hashicorp/nomad#13119 saw
    // the same with Docker 20.10), so hale must report whatever Docker recorded, and a few
    // attempts make sure the true case is seen.
    let mut flagged = false;
    for attempt in 0..4 {
        let short = format!("main{attempt}");
        let id = scope.run(
            &short,
            &limits,
            &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        );
        let main = scope.name(&short);
        // Docker may set the flag after the exit, on its `oom` event; hale re-inspects then.
        let docker_says = || scope.inspect(&id, "{{.State.OOMKilled}}") == "true";
        let series = wait_for(&hale, "hale agreeing with Docker's OOMKilled", |s| {
            state_of(s, &main).as_deref() == Some("exited")
                && container_value(s, "hale_container_oom_killed", &main, &[])
                    == Some(if docker_says() { 1.0 } else { 0.0 })
        });
        assert_eq!(
            container_value(&series, "hale_container_exit_code", &main, &[]),
            Some(137.0)
        );
        if container_value(&series, "hale_container_oom_killed", &main, &[]) == Some(1.0) {
            flagged = true;
            break;
        }
    }
    assert!(
        flagged,
        "Docker never flagged an OOM-killed container in 4 attempts"
    );
}

#[test]
fn health_checks_are_followed() {
    let scope = Scope::new("health");
    let (hale, _config) = scope.hale("");
    let fast = ["--health-interval", "1s", "--health-retries", "1"];
    let with = |cmd: &'static str| {
        let mut v = vec!["--health-cmd", cmd];
        v.extend(fast);
        v
    };
    scope.run("plain", &[], &["sleep", "1000"]);
    scope.run("good", &with("true"), &["sleep", "1000"]);
    scope.run("bad", &with("false"), &["sleep", "1000"]);
    scope.run(
        "slow",
        &["--health-cmd", "true", "--health-interval", "1h"],
        &["sleep", "1000"],
    );
    let flip = scope.run("flip", &with("test -f /tmp/ok"), &["sleep", "1000"]);
    let status = |s: &[Series], short: &str, want: &str| {
        container_value(
            s,
            "hale_container_health_status",
            &scope.name(short),
            &[("status", want)],
        ) == Some(1.0)
    };
    wait_for(&hale, "every health status", |s| {
        status(s, "plain", "none")
            && status(s, "good", "healthy")
            && status(s, "bad", "unhealthy")
            && status(s, "slow", "starting")
            && status(s, "flip", "unhealthy")
    });
    // Health changes arrive as events, without a resync.
    scope.docker(&["exec", &flip, "touch", "/tmp/ok"]);
    let series = wait_for(&hale, "flip turns healthy", |s| {
        status(s, "flip", "healthy")
    });
    // Exactly one status is 1.
    let on = series
        .iter()
        .filter(|s| {
            s.name == "hale_container_health_status"
                && s.labels.get("name") == Some(&scope.name("flip"))
                && s.value == 1.0
        })
        .count();
    assert_eq!(on, 1);
}

#[test]
fn resources_agree_with_docker() {
    let scope = Scope::new("resources");
    let (hale, _config) = scope.hale("");
    let id = scope.run(
        "busy",
        &["--memory", "64m"],
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=1M count=10000; head -c 20000000 /dev/zero > /tmp/fill; touch /tmp/done; sleep 1000",
        ],
    );
    let name = scope.name("busy");
    // Wait until the work is done, so the container is idle while values are compared.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while scope.docker(&[
        "exec",
        &id,
        "sh",
        "-c",
        "test -f /tmp/done && echo yes || echo no",
    ]) != "yes"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "container work never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let ready = |s: &[Series]| {
        container_value(s, "container_network_receive_bytes_total", &name, &[]).is_some()
    };
    let before = wait_for(&hale, "resources", ready);
    let stats = engine_get(&format!("/containers/{id}/stats?stream=false"));
    let cli = scope.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}|{{.PIDs}}",
        &id,
    ]);
    let after = wait_for(&hale, "resources", ready);
    let v = |s: &[Series], metric: &str| {
        container_value(s, metric, &name, &[]).unwrap_or_else(|| panic!("{metric} missing"))
    };
    // Docker's number must lie between hale's readings before and after it, widened by the
    // tolerance: counters are bracketed exactly (plus 10 ms of CPU for Docker's own reads);
    // memory may move by 1 MiB between reads (page cache, the exec above).
    let bracket = |metric: &str, docker: f64, tolerance: f64| {
        let (a, b) = (v(&before, metric), v(&after, metric));
        let (lo, hi) = (a.min(b) - tolerance, a.max(b) + tolerance);
        assert!(
            (lo..=hi).contains(&docker),
            "{metric}: Docker says {docker}, hale said {a} then {b} (tolerance {tolerance})"
        );
    };
    let cpu = &stats["cpu_stats"]["cpu_usage"];
    bracket(
        "container_cpu_usage_seconds_total",
        cpu["total_usage"].as_f64().unwrap() / 1e9,
        0.01,
    );
    assert!(
        v(&after, "container_cpu_usage_seconds_total") > 0.1,
        "dd ran"
    );
    let mem = &stats["memory_stats"];
    let mib = 1024.0 * 1024.0;
    let usage = mem["usage"].as_f64().unwrap();
    bracket("container_memory_usage_bytes", usage, mib);
    let inactive = mem["stats"]["total_inactive_file"]
        .as_f64()
        .or_else(|| mem["stats"]["inactive_file"].as_f64())
        .unwrap();
    bracket("container_memory_working_set_bytes", usage - inactive, mib);
    // `docker stats` shows the same working set, rounded to 4 significant digits.
    let (mem_usage, pids) = cli.split_once('|').expect("stats format");
    let shown = docker_size(mem_usage.split('/').next().unwrap());
    bracket(
        "container_memory_working_set_bytes",
        shown,
        mib + shown * 0.001,
    );
    assert_eq!(
        v(&after, "container_spec_memory_limit_bytes"),
        scope
            .inspect(&id, "{{.HostConfig.Memory}}")
            .parse::<f64>()
            .unwrap()
    );
    assert_eq!(v(&after, "container_spec_memory_limit_bytes"), 64.0 * mib);
    assert_eq!(
        v(&after, "container_threads"),
        pids.trim().parse::<f64>().unwrap()
    );
    assert_eq!(
        v(&after, "container_threads"),
        stats["pids_stats"]["current"].as_f64().unwrap()
    );
    let eth0 = &stats["networks"]["eth0"];
    for (metric, key) in [
        ("container_network_receive_bytes_total", "rx_bytes"),
        ("container_network_receive_packets_total", "rx_packets"),
        ("container_network_transmit_bytes_total", "tx_bytes"),
        ("container_network_transmit_packets_total", "tx_packets"),
    ] {
        bracket(metric, eth0[key].as_f64().unwrap(), 0.0);
    }
    // Open files: every process of the container, counted from /proc independently.
    let pids = scope.docker(&["top", &id, "-o", "pid"]);
    let fds: usize = pids
        .lines()
        .skip(1)
        .filter_map(|p| std::fs::read_dir(format!("/proc/{}/fd", p.trim())).ok())
        .map(|d| d.count())
        .sum();
    bracket("container_file_descriptors", fds as f64, 0.0);
    let started = unix_seconds(&scope.inspect(&id, "{{.State.StartedAt}}"));
    assert!((v(&after, "container_start_time_seconds") - started).abs() < 1e-3);
}

#[test]
fn stats_api_fallback_reports_the_same_container() {
    let scope = Scope::new("statsapi");
    scope.run("svc", &["--memory", "32m"], &["sleep", "1000"]);
    let name = scope.name("svc");
    let (files, _c1) = scope.hale("");
    let (api, _c2) = scope.hale("resources: stats_api\nstats_interval: 1s");
    let from_api = wait_for(&api, "stats API resources", |s| {
        container_value(s, "container_memory_usage_bytes", &name, &[]).is_some()
    });
    let from_files = wait_for(&files, "cgroup resources", |s| {
        container_value(s, "container_memory_usage_bytes", &name, &[]).is_some()
    });
    let both = |metric: &str| {
        (
            container_value(&from_files, metric, &name, &[]).unwrap(),
            container_value(&from_api, metric, &name, &[]).unwrap(),
        )
    };
    let (a, b) = both("container_spec_memory_limit_bytes");
    assert_eq!((a, b), (32.0 * 1024.0 * 1024.0, 32.0 * 1024.0 * 1024.0));
    let (a, b) = both("container_threads");
    assert_eq!(a, b);
    // An idle `sleep`: CPU barely moves between the two reads.
    let (a, b) = both("container_cpu_usage_seconds_total");
    assert!((a - b).abs() < 0.05, "cgroup {a} vs stats API {b}");
    let (a, b) = both("container_memory_working_set_bytes");
    assert!(
        (a - b).abs() < 1024.0 * 1024.0,
        "cgroup {a} vs stats API {b}"
    );
    // The stats API cannot see open files.
    assert_eq!(
        container_value(&from_api, "container_file_descriptors", &name, &[]),
        None
    );
    assert!(container_value(&from_files, "container_file_descriptors", &name, &[]).is_some());
}

#[test]
fn containers_are_selected_by_name_and_label() {
    let scope = Scope::new("filters");
    scope.run("keep", &[], &["sleep", "1000"]);
    scope.run(
        "drop",
        &["--label", "hale.test.skip=yes"],
        &["sleep", "1000"],
    );
    let (keep, drop) = (scope.name("keep"), scope.name("drop"));
    let (by_name, _c1) = scope.hale("exclude_name: '-drop$'");
    let (by_label, _c2) = scope.hale("exclude_labels: ['hale.test.skip=yes']");
    for hale in [&by_name, &by_label] {
        let series = wait_for(hale, "the kept container", |s| has_container(s, &keep));
        assert!(!has_container(&series, &drop), "{series:?}");
    }
}

#[test]
fn docker_down_and_back_up() {
    let mut daemon = PrivateDockerd::start();
    let scope = Scope::on("down", Some(&daemon.host));
    scope.run("svc", &["--restart", "always"], &["sleep", "1000"]);
    let name = scope.name("svc");
    let (hale, _config) = scope.hale("");
    let series = wait_for(&hale, "running", |s| {
        state_of(s, &name).as_deref() == Some("running")
    });
    let first_start =
        container_value(&series, "hale_container_started_at_seconds", &name, &[]).unwrap();

    daemon.stop();
    let series = wait_for(&hale, "docker reported down", |s| {
        value(
            s,
            "hale_scrape_collector_success",
            &[("collector", "docker")],
        ) == Some(0.0)
    });
    assert!(
        !series
            .iter()
            .any(|s| s.name.starts_with("hale_container_") || s.name.starts_with("container_")),
        "no container lingers while Docker is down: {series:?}"
    );
    assert_eq!(
        value(
            &series,
            "hale_scrape_collector_success",
            &[("collector", "loadavg")]
        ),
        Some(1.0),
        "host metrics are unaffected"
    );
    assert!(value(&series, "node_load1", &[]).is_some());

    daemon.resume();
    // The restart policy brings the container back; hale reconnects by itself.
    wait_for(&hale, "reconnected and running again", |s| {
        docker_up(s)
            && state_of(s, &name).as_deref() == Some("running")
            && container_value(s, "hale_container_started_at_seconds", &name, &[])
                .is_some_and(|t| t > first_start)
    });
}

#[test]
fn a_hung_docker_never_holds_a_scrape() {
    // An "engine" that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().map_while(Result::ok) {
            held.push(conn);
        }
    });
    let config = temp_file(&format!("docker:\n  host: tcp://{addr}\n  timeout: 1s\n"));
    let arg = format!("--config={}", config.path().display());
    let hale = Hale::start(&[&arg]);
    for _ in 0..3 {
        let reply = get(&hale.url("/metrics"), None);
        assert_eq!(reply.status, 200);
        let series = common::parse(&reply.body);
        assert_eq!(
            value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", "docker")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", "cpu")]
            ),
            Some(1.0)
        );
    }
    // The watcher gives up on the silent engine after its timeout and says why.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let line = hale
            .log
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("hale logs the Docker failure");
        if line.contains("no answer within") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no timeout logged");
    }
}

#[test]
fn docker_host_from_the_environment_over_tcp() {
    // A TCP front for the local engine's socket: DOCKER_HOST=tcp://... must be honoured.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let unix = UnixStream::connect("/var/run/docker.sock").expect("docker socket");
            let (mut tr, mut tw) = (conn.try_clone().unwrap(), conn);
            let (mut ur, mut uw) = (unix.try_clone().unwrap(), unix);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut tr, &mut uw);
                let _ = uw.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut ur, &mut tw);
                let _ = tw.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    let scope = Scope::new("tcp");
    scope.run("svc", &[], &["sleep", "1000"]);
    let name = scope.name("svc");
    let config = scope.config("");
    let arg = format!("--config={}", config.path().display());
    let host = format!("tcp://{addr}");
    let hale = Hale::start_with_env(&[&arg], &[("DOCKER_HOST", &host)]);
    let series = wait_for(&hale, "the container over TCP", |s| {
        state_of(s, &name).as_deref() == Some("running")
    });
    assert!(docker_up(&series));
    let log: Vec<String> = hale.log.try_iter().collect();
    assert!(
        log.iter()
            .any(|l| l.contains("docker: connected") && l.contains(&host)),
        "{log:?}"
    );
}

/// Runs `openssl` with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, in Docker's
/// file names (`ca.pem`, `cert.pem`, `key.pem` for the client).
fn make_certs(dir: &std::path::Path, ca_name: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
    ]);
    let subject = format!("/CN={ca_name}");
    ca.push(&subject);
    openssl(dir, &ca);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (key, cert, ext, cn) in [
        (
            "server-key.pem",
            "server-cert.pem",
            "server.ext",
            "/CN=localhost",
        ),
        ("key.pem", "cert.pem", "client.ext", "/CN=hale"),
    ] {
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", key, "-out", "req.csr", "-subj", cn]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "req.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                cert,
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    }
}

#[test]
fn docker_over_tls_with_client_certificates() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path(), "hale-test-ca");
    let pem = |f: &str| certs.path().join(f).display().to_string();
    // dockerd's own TLS (--tlsverify: client certificates from our CA only), on a private
    // daemon whose loopback is in its own network namespace; socat relays the bytes from the
    // host's loopback into it, so TLS runs end to end between hale and dockerd.
    let daemon = PrivateDockerd::start_with(&[
        "--host=tcp://127.0.0.1:2376".into(),
        "--tlsverify".into(),
        format!("--tlscacert={}", pem("ca.pem")),
        format!("--tlscert={}", pem("server-cert.pem")),
        format!("--tlskey={}", pem("server-key.pem")),
    ]);
    let port = common::free_port();
    let _relay = common::KillOnDrop(
        Command::new("socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg(format!(
                "EXEC:nsenter --net=/proc/{}/ns/net socat STDIO TCP\\:127.0.0.1\\:2376",
                daemon.pid()
            ))
            .spawn()
            .expect("socat (scripts/test.sh installs it)"),
    );
    let scope = Scope::on("tls", Some(&daemon.host));
    scope.run("svc", &[], &["sleep", "1000"]);
    let name = scope.name("svc");
    // The scope's selection without its host: hale finds the engine through the environment.
    let config = temp_file(&scope.selection());
    let arg = format!("--config={}", config.path().display());
    let host = format!("tcp://127.0.0.1:{port}");
    let cert_path = certs.path().display().to_string();
    let tls_env = |path: &str| {
        [
            ("DOCKER_HOST", host.clone()),
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", path.to_string()),
        ]
    };
    let env = tls_env(&cert_path);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let hale = Hale::start_with_env(&[&arg], &env);
    wait_for(&hale, "the container over TLS", |s| {
        docker_up(s) && state_of(s, &name).as_deref() == Some("running")
    });

    // A client certificate from a CA the engine does not trust is refused: never connected.
    let strangers = tempfile::tempdir().unwrap();
    make_certs(strangers.path(), "stranger-ca");
    std::fs::copy(certs.path().join("ca.pem"), strangers.path().join("ca.pem")).unwrap();
    let stranger_path = strangers.path().display().to_string();
    let env = tls_env(&stranger_path);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = Hale::start_with_env(&[&arg], &env);
    let line = refused
        .log
        .iter()
        .find(|l| l.contains("docker: not connected"))
        .expect("hale logs the refused connection");
    assert!(line.contains(&host), "{line}");
    let series = common::parse(&get(&refused.url("/metrics"), None).body);
    assert_eq!(
        value(
            &series,
            "hale_scrape_collector_success",
            &[("collector", "docker")]
        ),
        Some(0.0)
    );
    assert!(!has_container(&series, &name));
}

#[test]
fn health_reports_docker_and_container_health_checks() {
    let scope = Scope::new("healthz");
    scope.run(
        "bad",
        &[
            "--health-cmd",
            "false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &["sleep", "1000"],
    );
    scope.run("plain", &[], &["sleep", "1000"]);
    let name = scope.name("bad");
    let config = temp_file(&format!(
        "{}health:\n  interval: 200ms\n  consecutive: 1\n  container_health: {{critical: true}}\n  disk: {{warn: 101, fail: 102, critical: true}}\n  memory: {{warn: 101, fail: 102, critical: true}}\n  fd: {{warn: 101, fail: 102, critical: true}}\n",
        scope.selection()
    ));
    let hale = Hale::start(&[&format!("--config={}", config.path().display())]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let doc = loop {
        let reply = get(&hale.url("/health"), None);
        let doc: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let bad = doc["checks"]["container:health"].as_array().and_then(|a| {
            a.iter()
                .find(|c| c["componentId"] == name.as_str())
                .cloned()
        });
        if bad.is_some_and(|c| c["status"] == "fail") {
            assert_eq!(
                reply.status, 503,
                "a critical unhealthy container fails /health"
            );
            break doc;
        }
        assert!(std::time::Instant::now() < deadline, "{doc:#}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let docker = &doc["checks"]["docker:responseTime"][0];
    assert_eq!(docker["status"], "pass", "{docker}");
    assert_eq!(docker["observedUnit"], "ms");
    assert_eq!(docker["componentId"], "unix:///var/run/docker.sock");
    // Only containers with a health check are listed.
    let listed = doc["checks"]["container:health"].as_array().unwrap();
    assert!(!listed
        .iter()
        .any(|c| c["componentId"] == scope.name("plain").as_str()));
}

/// cAdvisor's memory, spec, process and machine families over a real container (cgroup v1 on
/// this machine; v2 through the fixture tree in `src/docker/cgroup.rs`), each checked against
/// the cgroup file or the kernel read independently, and the allow-listed Docker label on every
/// container series.
#[test]
fn cadvisor_families_agree_with_the_cgroup() {
    let scope = Scope::new("cadvisor");
    let config =
        scope.config("container_labels: [com.docker.compose.service]\ndisk_usage_interval: 1s");
    let hale = common::docker::hale_on(config.path(), &["--collector.machine"]);
    let id = scope.run(
        "web",
        &[
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--memory",
            "64m",
            "--memory-reservation",
            "32m",
            "--label",
            "com.docker.compose.service=web",
            "--label",
            "com.example.secret=hunter2",
        ],
        &["sh", "-c", "nc -l -p 8080 & sleep 1000"],
    );
    let name = scope.name("web");
    let s = wait_for(&hale, "the container's sockets", |s| {
        container_value(s, "container_sockets", &name, &[]) == Some(1.0)
    });
    let v = |metric: &str| {
        container_value(&s, metric, &name, &[]).unwrap_or_else(|| panic!("{metric} missing"))
    };
    let mib = 1024.0 * 1024.0;
    assert_eq!(v("container_spec_cpu_quota"), 50_000.0);
    assert_eq!(v("container_spec_cpu_period"), 100_000.0);
    assert_eq!(v("container_spec_cpu_shares"), 512.0);
    assert_eq!(
        v("container_spec_memory_reservation_limit_bytes"),
        32.0 * mib
    );
    let cgroup = scope.inspect(&id, "{{.State.Pid}}");
    let own = std::fs::read_to_string(format!("/proc/{cgroup}/cgroup")).unwrap();
    let memory_path = own
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, c, p) = (parts.next()?, parts.next()?, parts.next()?);
            (c.split(',').any(|c| c == "memory") || c.is_empty()).then(|| p.to_string())
        })
        .unwrap();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = if v2 {
        format!("/sys/fs/cgroup{memory_path}")
    } else {
        format!("/sys/fs/cgroup/memory{memory_path}")
    };
    let file = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
    if !v2 {
        // Docker sets swap to twice the memory limit unless told otherwise.
        let swap_limit: f64 = file("memory.memsw.limit_in_bytes").trim().parse().unwrap();
        assert_eq!(v("container_spec_memory_swap_limit_bytes"), swap_limit);
        assert_eq!(swap_limit, 128.0 * mib);
        let failcnt: f64 = file("memory.failcnt").trim().parse().unwrap();
        assert_eq!(v("container_memory_failcnt"), failcnt);
    }
    let stat = file("memory.stat");
    let stat_of = |k: &str| -> f64 {
        stat.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (cache_key, mapped_key) = if v2 {
        ("file", "file_mapped")
    } else {
        ("total_cache", "total_mapped_file")
    };
    // An idle container's page cache and mapped files move by at most a page or two.
    assert!((v("container_memory_cache") - stat_of(cache_key)).abs() <= mib);
    assert!((v("container_memory_mapped_file") - stat_of(mapped_key)).abs() <= mib);
    assert!(v("container_memory_max_usage_bytes") >= v("container_memory_usage_bytes"));
    let (active_key, inactive_key) = if v2 {
        ("active_file", "inactive_file")
    } else {
        ("total_active_file", "total_inactive_file")
    };
    assert!((v("container_memory_total_active_file_bytes") - stat_of(active_key)).abs() <= mib);
    assert!((v("container_memory_total_inactive_file_bytes") - stat_of(inactive_key)).abs() <= mib);
    // Page faults only grow: hale's reading came before this one of the file.
    for (kind, scope) in [("pgfault", "container"), ("pgmajfault", "hierarchy")] {
        let hale = container_value(
            &s,
            "container_memory_failures_total",
            &name,
            &[("failure_type", kind), ("scope", scope)],
        )
        .unwrap();
        assert!(hale <= stat_of(kind), "{kind}: {hale}");
    }
    assert!(
        container_value(
            &s,
            "container_memory_failures_total",
            &name,
            &[("failure_type", "pgfault"), ("scope", "container")]
        )
        .unwrap()
            > 0.0
    );
    // CFS burst from cpu.stat (the kernel has it since 5.14).
    let cpu_stat = if v2 {
        file("cpu.stat")
    } else {
        std::fs::read_to_string(format!("/sys/fs/cgroup/cpu{memory_path}/cpu.stat")).unwrap()
    };
    let bursts: f64 = cpu_stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_bursts "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(v("container_cpu_cfs_burst_periods_total"), bursts);
    assert!(container_value(&s, "container_cpu_cfs_burst_seconds_total", &name, &[]).is_some());
    // No --pids-limit: pids.max is `max`, which cAdvisor shows as 0.
    let pids_dir = if v2 {
        dir.clone()
    } else {
        format!("/sys/fs/cgroup/pids{memory_path}")
    };
    let pids_max = std::fs::read_to_string(format!("{pids_dir}/pids.max")).unwrap();
    assert_eq!(pids_max.trim(), "max");
    assert_eq!(v("container_threads_max"), 0.0);
    if !v2 {
        let kmem: f64 = file("memory.kmem.usage_in_bytes").trim().parse().unwrap();
        assert!((v("container_memory_kernel_usage") - kmem).abs() <= mib);
    }
    // No health check: cAdvisor's -1.
    assert_eq!(v("container_health_state"), -1.0);
    assert_eq!(v("container_memory_swap"), 0.0);
    // nc and sleep (busybox sh execs its last command); nc's listening socket is the only
    // socket.
    let processes = scope
        .docker(&["top", &id, "-o", "pid"])
        .lines()
        .skip(1)
        .count();
    assert_eq!(v("container_processes"), processes as f64);
    assert_eq!(processes, 2);
    // Task states, counted over the cgroup's threads as the kernel counts them for cAdvisor:
    // with nc stopped, one stopped task (nc) and one sleeping (sleep).
    let nc = scope
        .docker(&["top", &id, "-o", "pid,comm"])
        .lines()
        .find_map(|l| l.trim().strip_suffix("nc").map(|p| p.trim().to_string()))
        .expect("nc's pid");
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &nc])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    signal("-STOP");
    let state = |s: &[common::Series], st: &str| {
        container_value(s, "container_tasks_state", &name, &[("state", st)])
    };
    let t = wait_for(&hale, "nc counted as stopped", |s| {
        state(s, "stopped") == Some(1.0)
    });
    signal("-CONT");
    assert_eq!(state(&t, "sleeping"), Some(1.0));
    assert_eq!(state(&t, "uninterruptible"), Some(0.0));
    assert_eq!(state(&t, "iowaiting"), Some(0.0));
    assert!(state(&t, "running").is_some());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - v("container_last_seen")).abs() < 60.0);
    // Created (inspect's `Created`) just before it started.
    let created = v("container_creation_time_seconds");
    assert!(created <= v("container_start_time_seconds") && now - created < 300.0);
    // The allow-listed label is on every container series; the other is on none.
    for metric in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_last_seen",
        "hale_container_state",
        "hale_container_info",
    ] {
        assert!(
            s.iter().any(|x| x.name == metric
                && x.labels.get("name") == Some(&name)
                && x.labels.get("container_label_com_docker_compose_service")
                    == Some(&"web".to_string())),
            "{metric} lacks container_label_com_docker_compose_service"
        );
    }
    assert!(!s
        .iter()
        .any(|x| x.labels.contains_key("container_label_com_example_secret")));
    // The machine's size, as cAdvisor reports it.
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    assert_eq!(value(&s, "machine_cpu_cores", &[]), Some(cores));
    let mem_total: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        value(&s, "machine_memory_bytes", &[]),
        Some(mem_total * 1024.0)
    );
    let shell = |cmd: &str| -> f64 {
        let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let swap = shell("awk '/^SwapTotal:/ {print $2 * 1024}' /proc/meminfo");
    assert_eq!(value(&s, "machine_swap_bytes", &[]), Some(swap));
    // cAdvisor's counts: distinct `core id`s and `physical id`s of /proc/cpuinfo.
    let cores = shell("grep '^core id' /proc/cpuinfo | sort -u | wc -l");
    let sockets = shell("grep '^physical id' /proc/cpuinfo | sort -u | wc -l");
    assert!(cores >= 1.0 && sockets >= 1.0);
    assert_eq!(value(&s, "machine_cpu_physical_cores", &[]), Some(cores));
    assert_eq!(value(&s, "machine_cpu_sockets", &[]), Some(sockets));
    assert_eq!(value(&s, "machine_cpu_books", &[]), Some(0.0));

    // The root cgroup (cAdvisor's id="/"): the whole machine, at least the container.
    let root = |metric: &str| {
        value(&s, metric, &[("id", "/")]).unwrap_or_else(|| panic!("{metric}{{id=\"/\"}}"))
    };
    assert!(root("container_cpu_usage_seconds_total") >= v("container_cpu_usage_seconds_total"));
    assert!(root("container_memory_usage_bytes") >= v("container_memory_usage_bytes"));
    if !v2 {
        let usage: f64 = std::fs::read_to_string("/sys/fs/cgroup/memory/memory.usage_in_bytes")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!((root("container_memory_usage_bytes") - usage).abs() < 256.0 * mib);
    }

    // The writable layer: 8 MB written into the container shows within a walk or two, on the
    // filesystem Docker keeps its data on.
    let layer = |s: &[Series]| container_value(s, "container_fs_usage_bytes", &name, &[]);
    let first = wait_for(&hale, "a first walk of the layer", |s| layer(s).is_some());
    let before = layer(&first).unwrap();
    scope.docker(&[
        "exec",
        &id,
        "sh",
        "-c",
        "head -c 8000000 /dev/urandom > /junk",
    ]);
    let s = wait_for(&hale, "the layer to grow by 8 MB", |s| {
        layer(s).is_some_and(|v| v >= before + 8_000_000.0)
    });
    let upper = scope.inspect(&id, "{{.GraphDriver.Data.UpperDir}}");
    let du = Command::new("du").args(["-sxB1", &upper]).output().unwrap();
    let du: f64 = String::from_utf8_lossy(&du.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // du and hale walk the same tree; the container may touch a file between the two.
    let ours = layer(&s).unwrap();
    assert!((ours - du).abs() < 1024.0 * 1024.0, "hale {ours}, du {du}");
    let df = Command::new("df")
        .args(["-B1", "--output=size,itotal", &upper])
        .output()
        .unwrap();
    let df = String::from_utf8_lossy(&df.stdout);
    let mut numbers = df.lines().nth(1).unwrap().split_whitespace();
    let size: f64 = numbers.next().unwrap().parse().unwrap();
    let inodes: f64 = numbers.next().unwrap().parse().unwrap();
    assert_eq!(
        container_value(&s, "container_fs_limit_bytes", &name, &[]),
        Some(size)
    );
    assert_eq!(
        container_value(&s, "container_fs_inodes_total", &name, &[]),
        Some(inodes)
    );
    let device = s
        .iter()
        .find(|x| x.name == "container_fs_usage_bytes" && x.labels.get("name") == Some(&name))
        .and_then(|x| x.labels.get("device").cloned())
        .unwrap();
    assert!(!device.is_empty(), "the device label names the filesystem");

    // Block I/O: what the cgroup's blkio file says per device, hale says under the device's
    // name. (Where Docker's disk is not a block device the cgroup names none, and hale then
    // has no series.)
    if !v2 {
        let blkio_dir = dir.replacen("/sys/fs/cgroup/memory", "/sys/fs/cgroup/blkio", 1);
        let text = std::fs::read_to_string(format!(
            "{blkio_dir}/blkio.throttle.io_service_bytes_recursive"
        ))
        .unwrap();
        let reads: Vec<(String, f64)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (dev, op, v) = (f.next()?, f.next()?, f.next()?);
                let v: f64 = v.parse().ok()?;
                (op == "Read").then(|| (dev.to_string(), v))
            })
            .collect();
        let ours: Vec<&Series> = s
            .iter()
            .filter(|x| {
                x.name == "container_fs_reads_bytes_total" && x.labels.get("name") == Some(&name)
            })
            .collect();
        assert_eq!(ours.len(), reads.len(), "{reads:?}");
        for (dev, v) in reads {
            let uevent = std::fs::read_to_string(format!("/sys/dev/block/{dev}/uevent")).unwrap();
            let devname = uevent
                .lines()
                .find_map(|l| l.strip_prefix("DEVNAME="))
                .unwrap();
            let hale = ours
                .iter()
                .find(|x| x.labels.get("device") == Some(&format!("/dev/{devname}")))
                .unwrap();
            // hale read the counter before this test read the file.
            assert!(
                hale.value <= v,
                "{dev}: hale {} then the file {v}",
                hale.value
            );
        }
    }
}
