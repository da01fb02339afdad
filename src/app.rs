//! The composition root: builds every part of a serving hale from the validated options and
//! config, handing each only what it uses: the Docker watcher (when the docker collector or a
//! container heal rule needs it), the health model, the healer (when healing is configured),
//! the collectors and the HTTP state. Long-running parts do not start themselves: each
//! constructor returns its tasks, and [`App::tasks`] holds them for the binary to run beside
//! the listener until shutdown (model: kube-rs controller-rs's `main`), so every task has an
//! owner and one way to stop.

use std::sync::Arc;

use crate::cli::Options;
use crate::collector::{filesystem, Context, FlagError};
use crate::config::Config;
use crate::server::AppState;

pub use crate::task::Task;

/// A built hale: the HTTP state, and the tasks that keep it current.
pub struct App {
    pub state: Arc<AppState>,
    /// (name, task): the Docker watcher, the health sampler and probes, healing's pruning and
    /// autoheal.
    pub tasks: Vec<(&'static str, Task)>,
}

/// Why hale could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Flag(#[from] FlagError),
    #[error("starting healing: {0}")]
    Heal(#[from] crate::heal::engine::StartError),
}

/// Builds hale from its options and config (nothing runs until the tasks are polled).
pub fn build(
    options: &Options,
    config: &Config,
    web: Arc<crate::web::security::Web>,
) -> Result<App, BuildError> {
    let mut tasks: Vec<(&'static str, Task)> = Vec::new();
    let enabled = |name: &str| options.collectors.iter().any(|s| s.name == name);
    let heal = &config.heal;
    let heal_needs_docker = heal.enabled()
        && (heal.autoheal.enabled || heal.rules.iter().any(|r| r.action.on_container()));
    let docker = (enabled("docker") || heal_needs_docker).then(|| {
        let (watcher, task) =
            crate::docker::Watcher::new(config.docker.clone(), options.paths.clone());
        tasks.push(("docker watcher", task));
        watcher
    });
    let process_names = Arc::new(config.process_names.clone());
    let (health, health_tasks) = crate::health::Health::new(crate::health::Inputs {
        config: config.health.clone(),
        paths: options.paths.clone(),
        filesystem: filesystem::Options::from_matches(&options.matches)?,
        process_names: Arc::clone(&process_names),
        docker: docker.clone().filter(|_| enabled("docker")),
    });
    tasks.extend(health_tasks.into_iter().map(|t| ("health", t)));
    let healer = if heal.enabled() {
        let watcher = docker.clone().filter(|_| heal_needs_docker);
        let (healer, heal_tasks) =
            crate::heal::Healer::new(heal.clone(), watcher, &config.docker.host())?;
        tasks.extend(heal_tasks.into_iter().map(|t| ("healing", t)));
        Some(healer)
    } else {
        None
    };
    let context = Context {
        matches: &options.matches,
        paths: &options.paths,
        process_names: &process_names,
        docker: docker.as_ref(),
        health: Arc::clone(&health) as Arc<dyn crate::collector::Source>,
        healer: healer
            .clone()
            .map(|h| h as Arc<dyn crate::collector::Source>),
    };
    let collectors = options
        .collectors
        .iter()
        .map(|spec| Ok((spec.name, (spec.build)(&context)?)))
        .collect::<Result<Vec<_>, FlagError>>()?;
    let scraper = crate::scrape::Scraper::new(collectors, options.collector_timeout);
    let mut state = AppState::new(
        scraper,
        health,
        options.telemetry_path.clone(),
        options.max_requests,
        healer,
    )
    .with_web(web, options.limits.request_timeout);
    state.openmetrics = options.openmetrics;
    let state = Arc::new(state);
    Ok(App { state, tasks })
}

impl App {
    /// Spawns the tasks on the current tokio runtime, detached, and returns the HTTP state: for
    /// tests and tools that serve the app in-process and stop with their runtime. The binary
    /// owns its tasks instead (`main.rs`).
    pub fn detach(self) -> Arc<AppState> {
        for (_, task) in self.tasks {
            tokio::spawn(task);
        }
        self.state
    }
}
