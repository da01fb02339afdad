//! The Docker view: a snapshot of every container (running and stopped) that a background
//! [`watcher`] keeps fresh from Docker's events stream plus a periodic resync, so that a scrape
//! (and later `/health` and healing) reads memory and never waits on the Docker API.
//!
//! This module holds the `docker:` config section and the snapshot's types; [`watcher`] talks to
//! Docker through bollard, [`cgroup`] reads a running container's resources from its cgroup files
//! (v1 and v2), and [`stats`] is the fallback through Docker's stats API when those files are not
//! on this machine (a remote engine); [`exits`] keeps why containers stopped across restarts of
//! hale.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;

pub mod cgroup;
pub mod disk;
pub mod exits;
pub mod stats;
pub mod watcher;

pub use cgroup::Resources;
pub use watcher::Watcher;

/// Where a running container's resource metrics come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceSource {
    /// cgroup files when this machine has the container's cgroup, else the stats API.
    Auto,
    /// cgroup files only (containers whose cgroup is not found get no resource metrics).
    Cgroup,
    /// Docker's stats API only, polled in the background.
    StatsApi,
    /// No resource metrics: state, health and restarts only.
    None,
}

/// A label selector: `key` (the label is present) or `key=value` (it has this value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    pub key: String,
    pub value: Option<String>,
}

impl LabelSelector {
    /// Whether a container with these labels matches.
    pub fn matches(&self, labels: &std::collections::HashMap<String, String>) -> bool {
        match (labels.get(&self.key), &self.value) {
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == want,
            (None, _) => false,
        }
    }
}

impl<'de> Deserialize<'de> for LabelSelector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (s.as_str(), None),
        };
        if key.is_empty() {
            return Err(serde::de::Error::custom(format!(
                "label selector {s:?}: use `key` or `key=value`"
            )));
        }
        Ok(LabelSelector {
            key: key.to_string(),
            value,
        })
    }
}

/// The `docker:` section of the config file. Every field has a default, so hale watches the
/// local engine with no config at all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// The engine's address: `unix:///path`, `tcp://host:port` or `https://host:port`. Unset:
    /// `$DOCKER_HOST`, else the local socket. With `DOCKER_TLS_VERIFY` set, `tcp://` uses TLS
    /// with `ca.pem`, `cert.pem` and `key.pem` from `$DOCKER_CERT_PATH` (Docker's own rules).
    pub host: Option<String>,
    /// Full re-list of containers, which catches anything the events stream missed and proves
    /// the engine still answers.
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub resync_interval: Duration,
    /// Timeout of one Docker API request.
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub timeout: Duration,
    /// Where resource metrics come from.
    pub resources: ResourceSource,
    /// How often the stats API is polled when it is used.
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub stats_interval: Duration,
    /// How many stats API requests run at once (at least 1).
    #[serde(deserialize_with = "crate::de::count::<_, _, 1, 256>")]
    pub stats_concurrency: usize,
    /// Only containers whose name matches (unanchored, like node_exporter's include flags).
    #[serde(deserialize_with = "crate::de::opt_regex")]
    pub include_name: Option<Regex>,
    /// No container whose name matches.
    #[serde(deserialize_with = "crate::de::opt_regex")]
    pub exclude_name: Option<Regex>,
    /// When set, only containers matching at least one selector.
    pub include_labels: Vec<LabelSelector>,
    /// No container matching any selector.
    pub exclude_labels: Vec<LabelSelector>,
    /// Docker labels copied onto every container series as `container_label_<name>`, as
    /// cAdvisor's `--whitelisted_container_labels` (cAdvisor copies every label by default).
    /// Default none: labels can be unbounded or hold secrets. `info_labels`, its name before it
    /// applied to every series, is still accepted.
    #[serde(alias = "info_labels")]
    pub container_labels: Vec<String>,
    /// Where hale keeps why containers stopped, so a restart of hale remembers which stops
    /// were asked for; `null`: in memory only.
    pub state_file: Option<std::path::PathBuf>,
    /// How often the running containers' writable layers are measured, in the background
    /// (`container_fs_*`); `0s`: never.
    #[serde(deserialize_with = "crate::de::duration")]
    pub disk_usage_interval: Duration,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: None,
            resync_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            resources: ResourceSource::Auto,
            stats_interval: Duration::from_secs(15),
            stats_concurrency: 8,
            include_name: None,
            exclude_name: None,
            include_labels: Vec::new(),
            exclude_labels: Vec::new(),
            container_labels: Vec::new(),
            state_file: Some("/var/lib/hale/docker-exits.json".into()),
            disk_usage_interval: Duration::from_secs(60),
        }
    }
}

impl DockerConfig {
    /// Whether hale watches a container with this name and these labels.
    pub fn selects(&self, name: &str, labels: &std::collections::HashMap<String, String>) -> bool {
        if self
            .include_name
            .as_ref()
            .is_some_and(|re| !re.is_match(name))
        {
            return false;
        }
        if self
            .exclude_name
            .as_ref()
            .is_some_and(|re| re.is_match(name))
        {
            return false;
        }
        if !self.include_labels.is_empty() && !self.include_labels.iter().any(|s| s.matches(labels))
        {
            return false;
        }
        !self.exclude_labels.iter().any(|s| s.matches(labels))
    }

    /// The engine address in force: the config, else `$DOCKER_HOST`, else the local socket.
    pub fn host(&self) -> String {
        self.host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
    }
}

/// Docker's container states, in the order `hale_container_state` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Created,
        State::Running,
        State::Paused,
        State::Restarting,
        State::Removing,
        State::Exited,
        State::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
        }
    }

    /// Parses Docker's `State.Status`.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A container's health-check status; `None` when it has no health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub const ALL: [Health; 4] = [
        Health::None,
        Health::Starting,
        Health::Healthy,
        Health::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }

    /// Parses Docker's `State.Health.Status`; anything unknown or empty is `None`.
    pub fn parse(s: &str) -> Health {
        Health::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .unwrap_or(Health::None)
    }
}

/// One container as hale last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// Docker's full container ID.
    pub docker_id: String,
    /// The container's cgroup path, e.g. `/docker/<id>`: cAdvisor's `id` label, so series join
    /// with cAdvisor-based dashboards.
    pub cgroup: String,
    /// The name without Docker's leading `/`.
    pub name: String,
    /// The image as the container was created from it (`Config.Image`), cAdvisor's `image`.
    pub image: String,
    /// The image's content ID (`sha256:...`).
    pub image_id: String,
    /// Only the labels named in `container_labels`, in that order.
    pub container_labels: Vec<(String, String)>,
    pub state: State,
    pub health: Health,
    /// Docker's `RestartCount`: restarts by the restart policy since the container was created.
    pub restart_count: u64,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// Unix seconds; `None` when never started / never finished.
    /// When Docker created the container (inspect's `Created`), Unix seconds.
    pub created_at: Option<f64>,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    /// The main process in hale's PID namespace, when running.
    pub pid: Option<u32>,
    /// Whether the container has its own network namespace (not `host`, not another container's).
    pub own_network: bool,
    /// `HostConfig.Memory`: the limit Docker set, 0 for none.
    pub memory_limit: u64,
    /// Resources come from the stats API for this container (its cgroup is not on this machine).
    pub use_stats_api: bool,
    /// The cgroup's limits, read when the container was inspected (start, update, resync).
    pub spec: Option<cgroup::Spec>,
    /// The writable layer's directory as hale sees it (overlay2's `UpperDir` under
    /// `--path.rootfs`), when the storage driver has one.
    pub upper_dir: Option<std::path::PathBuf>,
}

/// What healing needs of every container, whether or not the `docker:` selection reports it:
/// its full labels (for allow-lists and `hale.autoheal`), state and health.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub docker_id: String,
    pub name: String,
    pub labels: std::collections::HashMap<String, String>,
    pub state: State,
    pub health: Health,
    /// Unix seconds of the last start.
    pub started_at: Option<f64>,
    /// Unix seconds of the last stop, `None` when it never stopped.
    pub finished_at: Option<f64>,
}

/// Why a container that is not running stopped, as the events stream told hale. A container
/// that stopped while hale was not watching has no entry: hale does not know, and healing treats
/// that like a stop an operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCause {
    /// A client asked (`docker stop`, `docker kill`, Compose, an orchestrator, or hale itself).
    Requested,
    /// It died on its own: its process exited, crashed or was OOM-killed.
    OnItsOwn,
}

/// Whether hale is connected to Docker.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// Not connected yet since start.
    Connecting,
    /// Connected; containers are current.
    Up,
    /// Lost or refused, with the reason; containers are empty.
    Down(String),
}

/// What the watcher last published.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub connection: Connection,
    /// By Docker ID. Empty unless `connection` is `Up`: a container hale cannot vouch for is
    /// not reported, so none lingers while Docker is away.
    pub containers: BTreeMap<String, Arc<Container>>,
    /// Resources from the stats API, by Docker ID, for containers that use it.
    pub stats: BTreeMap<String, Arc<Resources>>,
    /// By Docker ID: the last walk of each running container's writable layer, and its
    /// filesystem.
    pub disk: BTreeMap<String, (disk::LayerUsage, disk::Filesystem)>,
    /// Every container by name, selected or not, for healing. Empty unless `connection` is `Up`.
    pub known: BTreeMap<String, Arc<Known>>,
    /// By Docker ID: why each container seen stopping since its last start stopped. Kept across
    /// reconnections (a stop does not become less deliberate because Docker restarted).
    pub exits: BTreeMap<String, ExitCause>,
    /// By Docker ID: Docker's `oom` events for each container since hale started, 0 for one
    /// without. Kept across the container's restarts, which a restart policy does within
    /// moments of the kill, clearing `OOMKilled` and the cgroup's own count.
    pub oom_events: BTreeMap<String, u64>,
    /// When the last full list finished, and how long the engine took to answer it.
    pub last_sync: Option<Instant>,
    pub response_time: Option<Duration>,
    /// Whether the engine has ever answered since hale started: an engine that never did may
    /// simply not exist on this host, which is not the same as Docker going down.
    pub connected_once: bool,
}

impl Snapshot {
    /// The snapshot before the first connection.
    pub fn connecting() -> Self {
        Snapshot {
            connection: Connection::Connecting,
            containers: BTreeMap::new(),
            stats: BTreeMap::new(),
            disk: BTreeMap::new(),
            known: BTreeMap::new(),
            exits: BTreeMap::new(),
            oom_events: BTreeMap::new(),
            last_sync: None,
            response_time: None,
            connected_once: false,
        }
    }
}

/// Parses Docker's RFC 3339 timestamps into Unix seconds; Docker's zero time
/// (`0001-01-01T00:00:00Z`, "never") and unparsable values are `None`.
pub fn parse_time(s: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    if t.year() <= 1 {
        return None;
    }
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn docker_times() {
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time(""), None);
        let t = parse_time("2026-11-23T02:31:22.409912779Z").unwrap();
        assert!((t - 1_795_401_082.409_912_8).abs() < 1e-6, "{t}");
    }

    #[test]
    fn selection_by_name_and_label() {
        let labels: HashMap<String, String> = [("team".to_string(), "shop".to_string())]
            .into_iter()
            .collect();
        let none = HashMap::new();
        let cfg: DockerConfig = serde_saphyr::from_str(
            "include_name: '^web'\nexclude_name: 'tmp$'\ninclude_labels: [team=shop, tier]\n",
        )
        .unwrap();
        assert!(cfg.selects("web-1", &labels));
        assert!(!cfg.selects("db-1", &labels), "name not included");
        assert!(!cfg.selects("web-tmp", &labels), "name excluded");
        assert!(!cfg.selects("web-1", &none), "no include label");
        let cfg: DockerConfig = serde_saphyr::from_str("exclude_labels: [team]\n").unwrap();
        assert!(!cfg.selects("web-1", &labels));
        assert!(cfg.selects("web-1", &none));
    }

    #[test]
    fn zero_intervals_and_concurrency_are_rejected() {
        for bad in [
            "resync_interval: 0s",
            "timeout: 0s",
            "stats_interval: 0ms",
            "stats_concurrency: 0",
            "resources: sometimes",
            "include_name: '('",
            "include_labels: ['=x']",
        ] {
            assert!(
                serde_saphyr::from_str::<DockerConfig>(bad).is_err(),
                "{bad} was accepted"
            );
        }
        let ok: DockerConfig =
            serde_saphyr::from_str("resync_interval: 30s\nresources: stats_api\n").unwrap();
        assert_eq!(ok.resync_interval, Duration::from_secs(30));
        assert_eq!(ok.resources, ResourceSource::StatsApi);
    }

    #[test]
    fn states_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("bogus"), None);
        assert_eq!(Health::parse(""), Health::None);
        assert_eq!(Health::parse("unhealthy"), Health::Unhealthy);
    }
}
