//! The deploy kit under `deploy/` parses with the real tools and fits together:
//! `promtool check config` (with the shipped rules), `amtool check-config`, `docker-compose
//! config`, `systemd-analyze verify`, the Kubernetes manifests' selectors, ports and flags, and
//! the Dockerfile, built for real on a base image made here from the host's glibc (the
//! registry's bases are out of reach) and run against this host and its Docker socket.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::docker::Scope;
use common::servers::poll;
use serde_json::Value;

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test.sh installs it)"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn prometheus_config_loads_the_shipped_rules() {
    // rule_files is relative to the config file: lay them out as the compose file mounts them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("deploy/prometheus.yml", dir.path().join("prometheus.yml")).unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize("rules").unwrap(),
        dir.path().join("rules"),
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    let out = run("promtool", &["check", "config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 rule files found"), "{}", text(&out));
}

#[test]
fn alertmanager_config_routes_heal_alerts_to_hale_with_a_token() {
    let out = run("amtool", &["check-config", "deploy/alertmanager.yml"]);
    assert!(out.status.success(), "{}", text(&out));
    // The route a ContainerUnhealthy alert takes reaches hale (and the people).
    let out = run(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            "--config.file=deploy/alertmanager.yml",
            "alertname=ContainerUnhealthy",
            "heal=restart",
            "severity=warning",
        ],
    );
    let routes = text(&out);
    assert!(
        routes.contains("hale") && routes.contains("team"),
        "{routes}"
    );
    let yaml: Value =
        serde_saphyr::from_str(&std::fs::read_to_string("deploy/alertmanager.yml").unwrap())
            .unwrap();
    let hale = yaml["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "hale")
        .unwrap();
    let hook = &hale["webhook_configs"][0];
    assert!(hook["url"]
        .as_str()
        .unwrap()
        .ends_with(":9929/webhook/alertmanager"));
    assert!(hook["http_config"]["authorization"]["credentials_file"].is_string());
    // The token file is the one hale reads.
    let hale_yml = std::fs::read_to_string("deploy/hale.yml").unwrap();
    let file = hook["http_config"]["authorization"]["credentials_file"]
        .as_str()
        .unwrap();
    assert!(hale_yml.contains(file), "hale.yml reads {file}");
    // And hale accepts its own config.
    let out = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["check-config", "deploy/hale.yml"])
        .output()
        .unwrap();
    // The secret file exists only on a deployed host: the error must be about it, nothing else.
    let says = text(&out);
    assert!(
        out.status.success() || says.contains("/run/secrets/hale_webhook_token"),
        "{says}"
    );
}

#[test]
fn compose_file_parses_and_mounts_the_host_read_only() {
    let out = run(
        "docker-compose",
        &["-f", "deploy/docker-compose.yml", "config"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let config: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let services = config["services"].as_object().unwrap();
    for s in ["hale", "prometheus", "alertmanager", "grafana"] {
        assert!(services.contains_key(s), "service {s}");
    }
    let hale = &services["hale"];
    assert_eq!(hale["pid"], "host");
    assert_eq!(hale["network_mode"], "host");
    let volumes = serde_json::to_string(&hale["volumes"]).unwrap();
    assert!(
        volumes.contains(r#""source":"/","#) || volumes.contains(r#""/:/host:ro"#),
        "{volumes}"
    );
    for v in hale["volumes"].as_array().unwrap() {
        let target = v["target"].as_str().unwrap_or("");
        if target == "/host" || target == "/var/run/docker.sock" {
            assert_eq!(v["read_only"], true, "{v}");
        }
    }
}

#[test]
fn systemd_unit_verifies_clean() {
    let unit = std::fs::read_to_string("deploy/systemd/hale.service").unwrap();
    // verify insists that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hale.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/hale", env!("CARGO_BIN_EXE_hale")),
    )
    .unwrap();
    let out = run("systemd-analyze", &["verify", path.to_str().unwrap()]);
    let says = text(&out);
    assert!(out.status.success(), "{says}");
    assert!(
        !says.contains("Unknown") && !says.contains("ignoring"),
        "{says}"
    );
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=hale",
        "CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
}

#[test]
fn kubernetes_manifests_fit_together_and_pass_flags_hale_accepts() {
    let docs: Vec<Value> = serde_saphyr::from_multiple(
        &std::fs::read_to_string("deploy/kubernetes/hale.yaml").unwrap(),
    )
    .unwrap();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let ds = kind("DaemonSet");
    let svc = kind("Service");
    assert_eq!(ds["apiVersion"], "apps/v1");
    let selector = ds["spec"]["selector"]["matchLabels"].as_object().unwrap();
    let labels = ds["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (k, v) in selector {
        assert_eq!(labels.get(k), Some(v), "selector {k} matches the pod");
        assert_eq!(
            svc["spec"]["selector"][k], *v,
            "the Service selects the pod"
        );
    }
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    let c = &pod["containers"][0];
    let port = &c["ports"][0];
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], port["name"]);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health/live");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health/ready");
    for m in c["volumeMounts"].as_array().unwrap() {
        if m["mountPath"] == "/host" || m["mountPath"] == "/var/run/docker.sock" {
            assert_eq!(m["readOnly"], true, "{m}");
        }
    }
    // The args parse: hale rejects an unknown flag before --version.
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(&args)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
}

/// A base image holding only the shared libraries hale links (what distroless/cc provides).
fn base_image(binary: &str) -> String {
    let tag = "hale-test/cc-base:1".to_string();
    let ldd = run("ldd", &[binary]);
    assert!(ldd.status.success(), "{}", text(&ldd));
    let libs: Vec<String> = String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(str::to_string)
        })
        .collect();
    assert!(libs.iter().any(|l| l.contains("libc.so")), "{libs:?}");
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("base.tar");
    let mut args = vec![
        "-chf".to_string(),
        tar.display().to_string(),
        "--absolute-names".to_string(),
    ];
    // -h stores the libraries' targets under their linked names.
    args.extend(libs);
    let out = Command::new("tar").args(&args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    common::docker::docker(None, &["import", tar.to_str().unwrap(), &tag]);
    tag
}

#[test]
fn the_dockerfile_builds_an_image_that_serves_this_host() {
    let scope = Scope::new("image");
    let binary = env!("CARGO_BIN_EXE_hale");
    let root = env!("CARGO_MANIFEST_DIR");
    let relative = Path::new(binary).strip_prefix(root).unwrap_or_else(|_| {
        panic!("the binary {binary} must be under {root} for the build context")
    });
    let base = base_image(binary);
    let tag = format!("hale-test/hale:{}", scope.run);
    common::docker::docker(
        None,
        &[
            "build",
            "-q",
            "-f",
            "deploy/Dockerfile",
            "--build-arg",
            &format!("BASE={base}"),
            "--build-arg",
            &format!("BINARY={}", relative.display()),
            "-t",
            &tag,
            root,
        ],
    );
    let port = common::free_port();
    let label = format!("hale.test.run={}", scope.run);
    let listen = format!("--web.listen-address=127.0.0.1:{port}");
    common::docker::docker(
        None,
        &[
            "run",
            "-d",
            "--label",
            &label,
            "--pid",
            "host",
            "--network",
            "host",
            // Not `rslave` as in the compose file: on this test machine (itself a container)
            // `/` is not a shared mount, which rslave requires.
            "-v",
            "/:/host:ro",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock:ro",
            &tag,
            "--path.procfs=/host/proc",
            "--path.sysfs=/host/sys",
            "--path.rootfs=/host",
            &listen,
        ],
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let body = poll(
        "the image's hale answers",
        std::time::Duration::from_secs(60),
        || {
            std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            let body = common::get(&url, None).body;
            // The first scrape may come before the watcher's first list of containers.
            if !body.contains("hale_scrape_collector_success{collector=\"docker\"} 1") {
                return Err(format!("Docker not connected yet: {body}"));
            }
            Ok(body)
        },
    );
    let series = common::parse(&body);
    for collector in ["cpu", "meminfo", "filesystem", "docker", "netdev"] {
        assert_eq!(
            common::value(
                &series,
                "hale_scrape_collector_success",
                &[("collector", collector)]
            ),
            Some(1.0),
            "{collector} works from the image"
        );
    }
    // The host's root filesystem is seen through /host, reported without the prefix.
    assert!(
        series.iter().any(|s| s.name == "node_filesystem_size_bytes"
            && s.labels.get("mountpoint").map(String::as_str) == Some("/")),
        "{body}"
    );
    let _ = common::docker::try_docker(None, &["rmi", "-f", &tag]);
}

/// The fleet kit (`deploy/fleet/`) parses with the real tools and fits together: heal alerts
/// route to the receiver hale's `heal.pull.receiver` selects, the fleet budget inhibits them,
/// Prometheus loads the rules and finds the targets by file, and hale accepts its config.
#[test]
fn the_fleet_kit_fits_together() {
    let out = run("amtool", &["check-config", "deploy/fleet/alertmanager.yml"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            "--config.file=deploy/fleet/alertmanager.yml",
            "alertname=ContainerUnhealthy",
            "heal=restart",
            "hale_host=web-1",
            "severity=warning",
        ],
    );
    let routes = text(&out);
    assert!(
        routes.contains("hale") && routes.contains("team"),
        "{routes}"
    );
    let am: Value =
        serde_saphyr::from_str(&std::fs::read_to_string("deploy/fleet/alertmanager.yml").unwrap())
            .unwrap();
    let inhibit = am["inhibit_rules"].as_array().unwrap();
    assert!(
        inhibit.iter().any(|r| {
            r["source_matchers"][0] == "alertname=\"HaleFleetHealingBudgetSpent\""
                && r["target_matchers"][0] == "heal=~\".+\""
        }),
        "the fleet budget inhibits heal alerts: {inhibit:?}"
    );
    let rules = std::fs::read_to_string("rules/hale.yml").unwrap();
    assert!(rules.contains("alert: HaleFleetHealingBudgetSpent"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        "deploy/fleet/prometheus.yml",
        dir.path().join("prometheus.yml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize("rules").unwrap(),
        dir.path().join("rules"),
    )
    .unwrap();
    let out = run(
        "promtool",
        &[
            "check",
            "config",
            dir.path().join("prometheus.yml").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let prometheus = std::fs::read_to_string("deploy/fleet/prometheus.yml").unwrap();
    assert!(prometheus.contains("file_sd_configs"));
    let targets: Value = serde_json::from_str(
        &std::fs::read_to_string("deploy/fleet/hale-targets.example.json").unwrap(),
    )
    .unwrap();
    for group in targets.as_array().unwrap() {
        assert!(group["labels"]["hale_host"].is_string(), "{group}");
    }

    let hale: Value =
        serde_saphyr::from_str(&std::fs::read_to_string("deploy/fleet/hale.yml").unwrap()).unwrap();
    assert_eq!(hale["heal"]["webhook"], false);
    assert_eq!(hale["heal"]["pull"]["receiver"], "hale");
    let out = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["check-config", "deploy/fleet/hale.yml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("pulling alerts from 2 Alertmanager peer(s) where hale_host=")
            && text(&out).contains("webhook off"),
        "{}",
        text(&out)
    );

    for file in [
        "deploy/fleet/docker-compose.yml",
        "deploy/fleet/hale-compose.yml",
    ] {
        let out = run("docker-compose", &["-f", file, "config"]);
        assert!(out.status.success(), "{file}: {}", text(&out));
    }
    let out = run(
        "docker-compose",
        &["-f", "deploy/fleet/docker-compose.yml", "config"],
    );
    let compose: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    for (me, other) in [
        ("alertmanager-1", "alertmanager-2"),
        ("alertmanager-2", "alertmanager-1"),
    ] {
        let command = serde_json::to_string(&compose["services"][me]["command"]).unwrap();
        assert!(
            command.contains(&format!("--cluster.peer={other}:9094")),
            "{me}: {command}"
        );
    }
}
