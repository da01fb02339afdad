//! hale: one small binary per Docker host that exports host, process and container metrics for
//! Prometheus under the names node_exporter, process-exporter and cAdvisor use, answers health
//! checks, and heals what alerts point at. This crate is the library behind the `hale` binary;
//! `main.rs` only parses flags, wires these modules together and turns errors into exit codes.

pub mod cli;
pub mod collector;
pub mod config;
pub mod de;
pub mod docker;
pub mod exposition;
pub mod heal;
pub mod health;
pub mod landing;
pub mod logging;
pub mod metric;
pub mod paths;
pub mod proc_files;
pub mod process_match;
pub mod scrape;
pub mod secret;
pub mod server;
pub mod shared;
pub mod web;

use std::sync::Arc;

use cli::Options;
use scrape::Scraper;

/// Builds the scraper for the enabled collectors.
pub fn scraper(options: &Options) -> Scraper {
    let collectors = options
        .collectors
        .iter()
        .map(|spec| (spec.name, (spec.build)(&options.settings)))
        .collect();
    Scraper::new(collectors, options.collector_timeout)
}

/// Builds the HTTP app state from validated options and the web security, starting healing
/// when it is configured (which needs a tokio runtime).
pub fn app_state(
    options: &Options,
    web: Arc<web::security::Web>,
) -> Result<Arc<server::AppState>, heal::engine::StartError> {
    let settings = &options.settings;
    let healer = if settings.heal.enabled() {
        let needs_docker = settings.heal.autoheal.enabled
            || settings.heal.rules.iter().any(|r| r.action.on_container());
        let watcher = needs_docker.then(|| settings.docker_watcher());
        let healer = heal::Healer::start(settings.heal.clone(), watcher, &settings.docker.host())?;
        settings.healer.get_or_start(|| Arc::clone(&healer));
        Some(healer)
    } else {
        None
    };
    Ok(Arc::new(
        server::AppState::new(
            scraper(options),
            settings.health_model(),
            options.telemetry_path.clone(),
            options.max_requests,
            healer,
        )
        .with_web(web, options.limits.request_timeout),
    ))
}
