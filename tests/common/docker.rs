//! Helpers for tests against a real Docker engine: the `docker` CLI, the locally built test
//! image (Debian's static busybox, imported: no registry is reachable), a per-test scope whose
//! containers carry a unique label (so parallel tests and hale instances never see each other's
//! containers) and are removed on drop, polling hale until the series show a state, and a private
//! `dockerd` that a test may stop and restart without touching the host's engine.
//!
//! Docker is required: every helper panics with the reason when the engine is missing, so a
//! test that needs it fails, never skips. `scripts/test.sh` installs and starts it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{get, parse, Hale, Series};

/// The test image, built from the host's static busybox by [`ensure_image`].
pub const IMAGE: &str = "hale-test/busybox:1";

/// Runs `docker [-H host] args` and returns its trimmed stdout; panics with stderr on failure.
pub fn docker(host: Option<&str>, args: &[&str]) -> String {
    try_docker(host, args).unwrap_or_else(|e| panic!("docker {}: {e}", args.join(" ")))
}

/// Runs `docker [-H host] args`; the error is the exit status and stderr.
pub fn try_docker(host: Option<&str>, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("docker");
    if let Some(h) = host {
        cmd.args(["-H", h]);
    }
    let out = cmd.args(args).output().map_err(|e| {
        format!("cannot run the docker CLI ({e}); scripts/test.sh installs docker.io")
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Makes sure the engine at `host` has [`IMAGE`], built by `scripts/test-image.sh` (the same
/// script the benchmarks use): only a static busybox, imported, no registry.
pub fn ensure_image(host: Option<&str>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-image.sh");
    let mut cmd = Command::new(script);
    cmd.env("IMAGE", IMAGE);
    if let Some(h) = host {
        cmd.env("DOCKER_HOST", h);
    }
    let out = cmd.output().expect("run scripts/test-image.sh");
    assert!(
        out.status.success(),
        "scripts/test-image.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One test's containers: each carries `hale.test.run=<unique>` and is removed on drop.
pub struct Scope {
    pub run: String,
    pub host: Option<String>,
}

impl Scope {
    /// A scope on the default engine.
    pub fn new(test: &str) -> Scope {
        Scope::on(test, None)
    }

    /// A scope on the engine at `host`.
    pub fn on(test: &str, host: Option<&str>) -> Scope {
        ensure_image(host);
        Scope {
            run: format!("{test}-{}", std::process::id()),
            host: host.map(str::to_string),
        }
    }

    /// A container name unique to this scope.
    pub fn name(&self, short: &str) -> String {
        format!("hale-{}-{short}", self.run)
    }

    pub fn docker(&self, args: &[&str]) -> String {
        docker(self.host.as_deref(), args)
    }

    /// `docker run -d` (or `create` when `start` is false) of the test image, labelled for this
    /// scope, with `options` before the image and `command` after it; returns the full ID.
    fn make(&self, verb: &str, short: &str, options: &[&str], command: &[&str]) -> String {
        let name = self.name(short);
        let label = format!("hale.test.run={}", self.run);
        let mut args = vec![verb];
        if verb == "run" {
            args.push("-d");
        }
        args.extend(["--name", &name, "--label", &label]);
        args.extend(options);
        args.push(IMAGE);
        args.extend(command);
        self.docker(&args)
    }

    pub fn run(&self, short: &str, options: &[&str], command: &[&str]) -> String {
        self.make("run", short, options, command)
    }

    pub fn create(&self, short: &str, options: &[&str], command: &[&str]) -> String {
        self.make("create", short, options, command)
    }

    /// `docker inspect -f template`.
    pub fn inspect(&self, id: &str, template: &str) -> String {
        self.docker(&["inspect", "-f", template, id])
    }

    /// The `docker:` section that limits hale to this scope's containers (no `host:`).
    pub fn selection(&self) -> String {
        format!(
            "docker:\n  include_labels: ['hale.test.run={}']\n",
            self.run
        )
    }

    /// A config file that limits hale to this scope's containers on this scope's engine, plus
    /// `extra` lines under `docker:`.
    pub fn config(&self, extra: &str) -> tempfile::NamedTempFile {
        let mut yaml = self.selection();
        if let Some(h) = &self.host {
            yaml.push_str(&format!("  host: '{h}'\n"));
        }
        // Tests keep stop reasons in memory unless they ask for a file: parallel hales must
        // not share the default one.
        if !extra.contains("state_file:") {
            yaml.push_str("  state_file: null\n");
        }
        for line in extra.lines() {
            yaml.push_str(&format!("  {line}\n"));
        }
        super::temp_file(&yaml)
    }

    /// Starts hale on this scope's containers (only the docker collector and a host one).
    pub fn hale(&self, extra: &str) -> (Hale, tempfile::NamedTempFile) {
        let config = self.config(extra);
        let hale = hale_on(config.path(), &[]);
        (hale, config)
    }
}

/// hale with only the docker collector and a host one, on the config at `config`, plus `flags`.
pub fn hale_on(config: &std::path::Path, flags: &[&str]) -> Hale {
    let arg = format!("--config={}", config.display());
    let mut args = vec![
        arg.as_str(),
        "--collector.disable-defaults",
        "--collector.docker",
        "--collector.loadavg",
    ];
    args.extend(flags);
    Hale::start(&args)
}

impl Drop for Scope {
    fn drop(&mut self) {
        let filter = format!("label=hale.test.run={}", self.run);
        if let Ok(ids) = try_docker(self.host.as_deref(), &["ps", "-aq", "--filter", &filter]) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = try_docker(self.host.as_deref(), &args);
            }
        }
    }
}

/// Whether hale's last scrape reached Docker.
pub fn docker_up(series: &[Series]) -> bool {
    super::value(
        series,
        "hale_scrape_collector_success",
        &[("collector", "docker")],
    ) == Some(1.0)
}

/// Starts hale with `args` and waits until it has reached Docker (container heal rules are
/// judged only then).
pub fn start_connected(args: &[&str]) -> Hale {
    let hale = Hale::start(args);
    wait_for(&hale, "docker connected", docker_up);
    hale
}

/// Scrapes hale until `ready` holds for the parsed series, and returns them. The deadline only
/// guards against a hang (Docker acts in well under a second; this allows for a loaded machine);
/// the panic shows what hale last exposed.
pub fn wait_for(hale: &Hale, what: &str, ready: impl Fn(&[Series]) -> bool) -> Vec<Series> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let reply = get(&hale.url("/metrics"), None);
        let series = parse(&reply.body);
        if ready(&series) {
            return series;
        }
        if Instant::now() > deadline {
            let log: Vec<String> = hale.log.try_iter().collect();
            panic!(
                "waited in vain for {what}; hale logged:\n{}\nand last exposed:\n{}",
                log.join("\n"),
                reply.body
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of `name` for the container named `container`, with extra label matches.
pub fn container_value(
    series: &[Series],
    name: &str,
    container: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let mut all = vec![("name", container)];
    all.extend_from_slice(labels);
    super::value(series, name, &all)
}

/// The state a container is in according to hale's state set, if exactly one is 1.
pub fn state_of(series: &[Series], container: &str) -> Option<String> {
    let on: Vec<&Series> = series
        .iter()
        .filter(|s| {
            s.name == "hale_container_state"
                && s.labels.get("name").map(String::as_str) == Some(container)
                && s.value == 1.0
        })
        .collect();
    match on.as_slice() {
        [one] => one.labels.get("state").cloned(),
        _ => None,
    }
}

/// A `dockerd` of the test's own: its own socket, data and exec roots, in its own network
/// namespace (`unshare --net`, so its `--bridge=none` cannot touch the host's `docker0`; `ip`
/// from iproute2 brings its loopback up). A test
/// can stop and start it freely. Stopped on drop.
pub struct PrivateDockerd {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    extra: Vec<String>,
    pub host: String,
}

impl PrivateDockerd {
    pub fn start() -> PrivateDockerd {
        PrivateDockerd::start_with(&[])
    }

    /// Starts one with extra dockerd flags (e.g. a TLS TCP listener beside the socket).
    pub fn start_with(extra: &[String]) -> PrivateDockerd {
        let dir = tempfile::Builder::new()
            .prefix("hd")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let host = format!("unix://{}/docker.sock", dir.path().display());
        let mut d = PrivateDockerd {
            dir,
            child: None,
            extra: extra.to_vec(),
            host,
        };
        d.resume();
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the daemon (again) and waits until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "dockerd already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("dockerd.log"))
            .expect("dockerd log");
        // Loopback starts down in a new network namespace; bring it up, then become dockerd.
        let child = Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                r#"ip link set lo up && exec dockerd "$@""#,
                "sh",
            ])
            .arg(format!("--host={}", self.host))
            .arg(format!("--data-root={}", self.path("data").display()))
            .arg(format!("--exec-root={}", self.path("exec").display()))
            .arg(format!("--pidfile={}", self.path("docker.pid").display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(&self.extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd under unshare (util-linux); scripts/test.sh installs docker.io");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        while try_docker(Some(&self.host), &["version"]).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "private dockerd exited with {status}:\n{}",
                    std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "private dockerd never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The daemon's PID (for entering its network namespace).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("dockerd running").id()
    }

    /// Stops the daemon with SIGTERM, as `systemctl stop docker` does, and waits for its exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Leave no container running behind the daemon.
            if let Ok(ids) = try_docker(Some(&self.host), &["ps", "-aq"]) {
                let ids: Vec<&str> = ids.split_whitespace().collect();
                if !ids.is_empty() {
                    let mut args = vec!["rm", "-f"];
                    args.extend(ids);
                    let _ = try_docker(Some(&self.host), &args);
                }
            }
        }
        self.stop();
        // The data root holds overlay mounts only while containers run; all are gone now.
    }
}
