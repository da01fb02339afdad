//! The background task that keeps the container [`Snapshot`] fresh.
//!
//! One session: connect, negotiate the API version, subscribe to container events (replaying
//! from just before the list, so nothing that happens during the list is missed), list and
//! inspect every container, publish, then apply each event by re-inspecting the container it
//! names, with a full resync every `resync_interval` that also proves the engine still answers.
//! Any error ends the session: the snapshot is published empty with the reason (a container hale
//! cannot vouch for is not reported), and the task reconnects with capped exponential backoff.
//!
//! Readers take an `Arc<Snapshot>` from a `tokio::sync::watch` channel (a pointer copy under a
//! lock); the writer builds a new snapshot per change, and subscribers (autoheal) wake on it. A
//! scrape therefore never waits on Docker, however slow Docker is.
//!
//! Besides the containers the `docker:` selection reports, every container's labels, state and
//! health are kept for healing, and the events stream tells why each container last stopped:
//! `kill` and `stop` events come only from a client's request, while a bare `die` is a process
//! that exited on its own. Those reasons are written to `docker.state_file` ([`super::exits`])
//! and restored at the first list after hale starts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerInspectResponse, EventMessage};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::{stream, StreamExt};

use super::cgroup::Layout;
use super::exits::{Entry, ExitStore};
use super::{
    Connection, Container, DockerConfig, ExitCause, Health, Known, ResourceSource, Snapshot, State,
};
use crate::paths::HostPaths;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Inspections in flight during a full resync.
const INSPECT_CONCURRENCY: usize = 8;

/// Keeps the snapshot; shared by the collector and the background task.
pub struct Watcher {
    config: DockerConfig,
    paths: HostPaths,
    layout: Layout,
    snapshot: tokio::sync::watch::Sender<Arc<Snapshot>>,
    store: Arc<ExitStore>,
    /// The reasons read at start, until the first full list applies them.
    restore: parking_lot::Mutex<Option<BTreeMap<String, Entry>>>,
}

/// How the engine names cgroups, learnt from `/info` at the start of a session.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CgroupDriver {
    Cgroupfs,
    Systemd,
}

impl Watcher {
    /// Creates the watcher, and the task that keeps its snapshot fresh (events stream, resync,
    /// reconnects) for the caller to run: [`crate::app`] runs it until hale stops.
    pub fn new(config: DockerConfig, paths: HostPaths) -> (Arc<Watcher>, crate::task::Task) {
        let layout = Layout::detect(&paths);
        let store = Arc::new(ExitStore::new(config.state_file.clone()));
        let restore = store.load();
        let watcher = Arc::new(Watcher {
            config,
            paths,
            layout,
            snapshot: tokio::sync::watch::Sender::new(Arc::new(Snapshot::connecting())),
            store,
            restore: parking_lot::Mutex::new(Some(restore)),
        });
        let task = Box::pin(Arc::clone(&watcher).run());
        (watcher, task)
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.borrow())
    }

    /// A receiver that wakes on every new snapshot.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<Snapshot>> {
        self.snapshot.subscribe()
    }

    /// The config this watcher runs with.
    pub fn config(&self) -> &DockerConfig {
        &self.config
    }

    /// The cgroup layout of this machine.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The host paths resources are read under.
    pub fn paths(&self) -> &HostPaths {
        &self.paths
    }

    fn publish(&self, change: impl FnOnce(&mut Snapshot)) {
        self.snapshot.send_modify(|current| {
            let mut next = Snapshot::clone(current);
            change(&mut next);
            *current = Arc::new(next);
        });
    }

    async fn run(self: Arc<Self>) {
        let host = self.config.host();
        let mut retry = FIRST_RETRY;
        let mut failures = 0u64;
        loop {
            let started = Instant::now();
            let reason = self.session(&host).await;
            // A session that lasted is a fresh outage: start the backoff again.
            if started.elapsed() > MAX_RETRY {
                retry = FIRST_RETRY;
                failures = 0;
            }
            failures += 1;
            if failures == 1 {
                tracing::warn!(host = %host, error = %reason, retry_seconds = retry.as_secs_f64(),
                    "docker: not connected; retrying (repeats are logged at debug)");
            } else {
                tracing::debug!(host = %host, error = %reason, "docker: still not connected");
            }
            self.publish(|s| {
                s.connection = Connection::Down(reason);
                s.containers.clear();
                s.stats.clear();
                s.known.clear();
            });
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_RETRY);
        }
    }

    /// One connection's life; returns why it ended.
    async fn session(&self, host: &str) -> String {
        match self.session_inner(host).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn session_inner(&self, host: &str) -> Result<std::convert::Infallible, String> {
        let timeout = self.config.timeout;
        let docker = Docker::connect_with_host(host)
            .map_err(|e| format!("connecting to {host}: {e}"))?
            .with_timeout(timeout);
        let docker = within(
            timeout,
            "negotiating the API version",
            docker.negotiate_version(),
        )
        .await?;
        let info = within(timeout, "reading engine info", docker.info()).await?;
        let driver = match info.cgroup_driver.map(|d| d.to_string()).as_deref() {
            Some("systemd") => CgroupDriver::Systemd,
            _ => CgroupDriver::Cgroupfs,
        };
        // Replay from a second before the list, so a change during the list is not lost. The
        // engine's clock, not ours: a remote engine's clock may be behind, and a `since` in its
        // future would hold back every event until its clock caught up.
        let engine_now = info
            .system_time
            .as_deref()
            .and_then(super::parse_time)
            .map_or_else(
                || time::OffsetDateTime::now_utc().unix_timestamp(),
                |t| t as i64,
            );
        let since = (engine_now - 1).to_string();
        let mut events = Box::pin(docker.events(Some(EventsOptions {
            since: Some(since),
            until: None,
            filters: Some(HashMap::from([(
                "type".to_string(),
                vec!["container".to_string()],
            )])),
        })));
        self.resync(&docker, driver).await?;
        tracing::info!(host, "docker: connected");

        let stats = self.stats_loop(docker.clone());
        tokio::pin!(stats);
        let disk = self.disk_loop();
        tokio::pin!(disk);
        let mut resync = tokio::time::interval(self.config.resync_interval);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await; // the first tick is immediate; the list just ran
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => self.apply(&docker, driver, event).await?,
                    Some(Err(e)) => return Err(format!("events stream: {e}")),
                    None => return Err("events stream ended".into()),
                },
                _ = resync.tick() => self.resync(&docker, driver).await?,
                () = &mut stats => {}
                () = &mut disk => {}
            }
        }
    }

    /// Lists and inspects every container and replaces the snapshot's.
    async fn resync(&self, docker: &Docker, driver: CgroupDriver) -> Result<(), String> {
        let started = Instant::now();
        let list = within(
            self.config.timeout,
            "listing containers",
            docker.list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            })),
        )
        .await?;
        let response_time = started.elapsed();
        let inspected: Vec<Result<Option<ContainerInspectResponse>, String>> =
            stream::iter(list.into_iter().filter_map(|c| c.id))
                .map(|id| self.inspect(docker, id))
                .buffer_unordered(INSPECT_CONCURRENCY)
                .collect()
                .await;
        let mut containers = BTreeMap::new();
        let mut known = BTreeMap::new();
        for inspect in inspected {
            let Some((k, c)) = inspect?.and_then(|i| self.container(i, driver)) else {
                continue;
            };
            if let Some(c) = c {
                containers.insert(c.docker_id.clone(), Arc::new(c));
            }
            known.insert(k.name.clone(), Arc::new(k));
        }
        let restore = self.restore.lock().take();
        self.publish(|s| {
            // hale's first list: the reasons it recorded before it restarted, for the same
            // containers still stopped at the same moment.
            if let Some(restore) = restore {
                let mut restored = 0usize;
                for (id, entry) in restore {
                    let container = known.values().find(|k| k.docker_id == id);
                    let same_stop = container.is_some_and(|k| {
                        !matches!(k.state, State::Running | State::Paused | State::Restarting)
                            && k.finished_at.is_some_and(|t| entry.same_time(t))
                    });
                    if same_stop {
                        s.exits.entry(id).or_insert(entry.cause());
                        restored += 1;
                    } else {
                        tracing::debug!(container = id, recorded = entry.finished_at,
                            now = ?container.map(|k| (k.state, k.finished_at)),
                            "docker: a recorded stop reason no longer applies");
                    }
                }
                tracing::info!(
                    restored,
                    "docker: stop reasons restored from the state file"
                );
            }
            s.connection = Connection::Up;
            s.connected_once = true;
            s.stats.retain(|id, _| containers.contains_key(id));
            s.exits
                .retain(|id, _| known.values().any(|k| &k.docker_id == id));
            s.oom_events
                .retain(|id, _| known.values().any(|k| &k.docker_id == id));
            for k in known.values() {
                s.oom_events.entry(k.docker_id.clone()).or_insert(0);
            }
            s.containers = containers;
            s.known = known;
            s.last_sync = Some(Instant::now());
            s.response_time = Some(response_time);
        });
        self.persist().await;
        Ok(())
    }

    /// Writes why each stopped container stopped, if that changed.
    async fn persist(&self) {
        let s = self.snapshot();
        let entries: BTreeMap<String, Entry> = s
            .exits
            .iter()
            .filter_map(|(id, cause)| {
                let finished_at = s.known.values().find(|k| &k.docker_id == id)?.finished_at?;
                Some((
                    id.clone(),
                    Entry {
                        requested: *cause == ExitCause::Requested,
                        finished_at,
                    },
                ))
            })
            .collect();
        let store = Arc::clone(&self.store);
        // A failed write is logged by the store; a failed task (a bug) costs only the record.
        let _ = tokio::task::spawn_blocking(move || store.save(entries)).await;
    }

    /// Inspects one container; `None` when it no longer exists.
    async fn inspect(
        &self,
        docker: &Docker,
        id: String,
    ) -> Result<Option<ContainerInspectResponse>, String> {
        match tokio::time::timeout(self.config.timeout, docker.inspect_container(&id, None)).await {
            Ok(Ok(i)) => Ok(Some(i)),
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => Ok(None),
            Ok(Err(e)) if !matches!(e, BollardError::RequestTimeoutError) => {
                Err(format!("inspecting container {id}: {e}"))
            }
            Ok(Err(_)) | Err(_) => Err(format!(
                "inspecting container {id}: no answer within {:?}",
                self.config.timeout
            )),
        }
    }

    /// Applies one container event.
    async fn apply(
        &self,
        docker: &Docker,
        driver: CgroupDriver,
        event: EventMessage,
    ) -> Result<(), String> {
        let Some(id) = event.actor.and_then(|a| a.id) else {
            return Ok(());
        };
        let action = event.action.unwrap_or_default();
        if !changes_state(&action) {
            return Ok(());
        }
        let inspected = if action == "destroy" {
            None
        } else {
            self.inspect(docker, id.clone())
                .await?
                .and_then(|i| self.container(i, driver))
        };
        tracing::debug!(container = id, action, "docker event");
        self.publish(|s| {
            match action.as_str() {
                "kill" | "stop" => {
                    s.exits.insert(id.clone(), ExitCause::Requested);
                }
                "die" => {
                    s.exits.entry(id.clone()).or_insert(ExitCause::OnItsOwn);
                }
                "start" => {
                    s.exits.remove(&id);
                }
                "destroy" => {
                    s.exits.remove(&id);
                    s.oom_events.remove(&id);
                }
                "oom" => {
                    *s.oom_events.entry(id.clone()).or_insert(0) += 1;
                }
                _ => {}
            }
            if action == "create" {
                s.oom_events.entry(id.clone()).or_insert(0);
            }
            // A rename moves the entry, so drop the old name first.
            s.known.retain(|_, k| k.docker_id != id);
            let (known, container) = match inspected {
                Some((k, c)) => (Some(k), c),
                None => (None, None),
            };
            if let Some(k) = known {
                s.known.insert(k.name.clone(), Arc::new(k));
            }
            match container {
                Some(c) => {
                    s.containers.insert(id, Arc::new(c));
                }
                None => {
                    s.containers.remove(&id);
                    s.stats.remove(&id);
                }
            }
        });
        if matches!(
            action.as_str(),
            "die" | "kill" | "stop" | "start" | "destroy"
        ) {
            self.persist().await;
        }
        Ok(())
    }

    /// Measures the running containers' writable layers every `disk_usage_interval`, for the
    /// session's life, on a blocking thread (see [`super::disk`]).
    async fn disk_loop(&self) {
        if self.config.disk_usage_interval.is_zero() {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval(self.config.disk_usage_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let wanted: Vec<(String, std::path::PathBuf)> = self
                .snapshot()
                .containers
                .values()
                .filter(|c| c.pid.is_some())
                .filter_map(|c| Some((c.docker_id.clone(), c.upper_dir.clone()?)))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let mounts_path = self.paths.proc("self/mounts");
            let measured = tokio::task::spawn_blocking(move || {
                let mounts = crate::paths::read_text(mounts_path).unwrap_or_default();
                wanted
                    .into_iter()
                    .filter_map(|(id, dir)| {
                        let usage = super::disk::usage(&dir).ok()?;
                        let fs = super::disk::filesystem(&dir, &mounts)?;
                        Some((id, (usage, fs)))
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            self.publish(|s| {
                s.disk = measured
                    .into_iter()
                    .filter(|(id, _)| s.containers.contains_key(id))
                    .collect();
            });
        }
    }

    /// Polls the stats API for the containers that need it, for the session's life.
    async fn stats_loop(&self, docker: Docker) {
        if matches!(
            self.config.resources,
            ResourceSource::None | ResourceSource::Cgroup
        ) {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval(self.config.stats_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let wanted: Vec<String> = self
                .snapshot()
                .containers
                .values()
                .filter(|c| c.use_stats_api && c.pid.is_some())
                .map(|c| c.docker_id.clone())
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let fetched = super::stats::fetch(
                &docker,
                wanted,
                self.config.stats_concurrency,
                self.config.timeout,
            )
            .await;
            self.publish(|s| {
                s.stats = fetched
                    .into_iter()
                    .filter(|(id, _)| s.containers.contains_key(id))
                    .map(|(id, r)| (id, Arc::new(r)))
                    .collect();
            });
        }
    }

    /// Builds hale's view of an inspected container: what healing knows of it, and the
    /// reported container unless the config leaves it out. `None` without an ID.
    fn container(
        &self,
        i: ContainerInspectResponse,
        driver: CgroupDriver,
    ) -> Option<(Known, Option<Container>)> {
        let docker_id = i.id?;
        let name = i
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        let config = i.config.unwrap_or_default();
        let labels = config.labels.unwrap_or_default();
        let state = i.state.unwrap_or_default();
        let status = state.status.map(|s| s.to_string()).unwrap_or_default();
        let health = state
            .health
            .and_then(|h| h.status)
            .map(|s| Health::parse(s.as_ref()))
            .unwrap_or(Health::None);
        let started_at = state.started_at.as_deref().and_then(super::parse_time);
        let known = Known {
            docker_id: docker_id.clone(),
            name: name.clone(),
            labels: labels.clone(),
            state: State::parse(&status).unwrap_or(State::Dead),
            health,
            started_at,
            finished_at: state.finished_at.as_deref().and_then(super::parse_time),
        };
        if !self.config.selects(&name, &labels) {
            return Some((known, None));
        }
        let host_config = i.host_config.unwrap_or_default();
        let pid = state
            .pid
            .filter(|&p| p > 0)
            .and_then(|p| u32::try_from(p).ok());
        let cgroup = pid
            .and_then(|p| self.layout.path_of(&self.paths, p))
            .filter(|p| p != "/")
            .unwrap_or_else(|| {
                derived_cgroup(
                    driver,
                    host_config.cgroup_parent.as_deref().unwrap_or(""),
                    &docker_id,
                )
            });
        let network_mode = host_config.network_mode.unwrap_or_default();
        let use_stats_api = match self.config.resources {
            ResourceSource::StatsApi => true,
            ResourceSource::Auto => pid.is_some() && !self.layout.has(&cgroup),
            ResourceSource::Cgroup | ResourceSource::None => false,
        };
        let container = Container {
            cgroup: cgroup.clone(),
            name,
            image: config.image.unwrap_or_default(),
            image_id: i.image.unwrap_or_default(),
            container_labels: self
                .config
                .container_labels
                .iter()
                .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
            state: known.state,
            health,
            restart_count: i.restart_count.unwrap_or(0).max(0) as u64,
            exit_code: state.exit_code.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            created_at: i.created.as_deref().and_then(super::parse_time),
            started_at,
            finished_at: state.finished_at.as_deref().and_then(super::parse_time),
            pid,
            own_network: network_mode != "host" && !network_mode.starts_with("container:"),
            memory_limit: host_config.memory.unwrap_or(0).max(0) as u64,
            spec: pid
                .filter(|_| !use_stats_api)
                .and_then(|_| self.layout.spec(&cgroup)),
            upper_dir: i
                .graph_driver
                .as_ref()
                .and_then(|g| g.data.get("UpperDir"))
                .map(|d| self.paths.rootfs_join(d)),
            use_stats_api,
            docker_id,
        };
        Some((known, Some(container)))
    }
}

/// Whether an event can change what hale reports. Exec, attach, resize and copy events are
/// frequent and change nothing.
fn changes_state(action: &str) -> bool {
    matches!(
        action,
        "create"
            | "start"
            | "restart"
            | "die"
            | "stop"
            | "kill"
            | "oom"
            | "pause"
            | "unpause"
            | "destroy"
            | "rename"
            | "update"
    ) || action.starts_with("health_status")
}

/// The cgroup Docker gives a container, for when it cannot be read from a live process.
fn derived_cgroup(driver: CgroupDriver, parent: &str, id: &str) -> String {
    match driver {
        CgroupDriver::Cgroupfs => {
            let parent = if parent.is_empty() { "/docker" } else { parent };
            format!("/{}/{id}", parent.trim_matches('/'))
        }
        CgroupDriver::Systemd => {
            let slice = if parent.is_empty() {
                "system.slice"
            } else {
                parent
            };
            format!("/{}/docker-{id}.scope", slice.trim_matches('/'))
        }
    }
}

/// Awaits a Docker call within `timeout`, turning both failures into a message that says what
/// was asked.
async fn within<T>(
    timeout: Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<T, BollardError>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        // bollard's own timeout is the same one; say it the same way.
        Ok(Err(BollardError::RequestTimeoutError)) | Err(_) => {
            Err(format!("{what}: no answer within {timeout:?}"))
        }
        Ok(Err(e)) => Err(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_names_as_docker_makes_them() {
        assert_eq!(
            derived_cgroup(CgroupDriver::Cgroupfs, "", "abc"),
            "/docker/abc"
        );
        assert_eq!(
            derived_cgroup(CgroupDriver::Cgroupfs, "/custom/", "abc"),
            "/custom/abc"
        );
        assert_eq!(
            derived_cgroup(CgroupDriver::Systemd, "", "abc"),
            "/system.slice/docker-abc.scope"
        );
    }

    #[test]
    fn only_state_changing_events_count() {
        assert!(changes_state("die"));
        assert!(changes_state("health_status: unhealthy"));
        assert!(!changes_state("exec_start: sh -c true"));
        assert!(!changes_state("resize"));
    }
}
