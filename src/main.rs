//! The `hale` binary: parses flags, loads the config, and serves; or runs a subcommand. It alone
//! turns errors into exit codes: 0 on success, 1 on a runtime or config error, 2 on bad usage.

// What STYLE asks of this code, enforced by the compiler rather than by review: no
// unwrap/expect/panic and no indexing that can panic on data from the host, Docker or the
// network; no poisoning locks and no panicking float-to-Duration conversion (clippy.toml names
// them). Crate attributes, so they bind the library and the binary, not the tests.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_types,
    clippy::disallowed_methods
)]
use std::process::ExitCode;
use std::sync::Arc;

/// See Cargo.toml's note on mimalloc: the binary's allocator, not the library's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context as _;
use hale::cli::{self, Command, Options};
use hale::config::Config;

fn main() -> ExitCode {
    let (cli, matches) = cli::parse();
    if let Some(Command::CheckConfig { file }) = &cli.command {
        return match Config::load(file) {
            Ok(config) => {
                let pull = config.heal.pull.as_ref().map_or(String::new(), |p| {
                    format!(
                        ", pulling alerts from {} Alertmanager peer(s) where {}",
                        p.alertmanagers.len(),
                        p.selectors().join(", ")
                    )
                });
                println!(
                    "{}: valid ({} process group matcher(s), {} health probe(s), {} heal rule(s){}{}{}, Docker at {})",
                    file.display(),
                    config.process_names.len(),
                    config.health.probes.len(),
                    config.heal.rules.len(),
                    if config.heal.autoheal.enabled { ", autoheal on" } else { "" },
                    pull,
                    if config.heal.enabled() && !config.heal.webhook { ", webhook off" } else { "" },
                    config.docker.host()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("hale: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Heal {
        command: cli::HealCommand::Simulate { payload },
    }) = &cli.command
    {
        return match simulate(cli.config.as_deref(), payload) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hale: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    hale::logging::init(cli.log_level, cli.log_format);
    raise_open_file_limit();
    match serve(&cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "hale stopped");
            eprintln!("hale: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as Go's runtime does for every Go
/// program since Go 1.19 (node_exporter, Prometheus): hale serves up to `--web.max-connections`
/// clients and keeps the kernel files it reads at every scrape open (a few hundred at most), and
/// the usual soft limit of 1024 is close to their sum. Commands heal rules run inherit it, as
/// they did from Go programs before Go 1.21; a program still using `select(2)` has to lower it.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum) {
        if soft < hard {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open file limit"),
                Err(e) => tracing::debug!(error = %e, "could not raise the open file limit"),
            }
        }
    }
}

/// `hale heal simulate`: decisions only, printed one per line in logfmt.
fn simulate(config: Option<&std::path::Path>, payload: &std::path::Path) -> anyhow::Result<()> {
    let config = match config {
        Some(path) => Config::load(path)?,
        None => anyhow::bail!("--config FILE is needed: the heal rules are in it"),
    };
    let body = std::fs::read(payload).with_context(|| format!("reading {}", payload.display()))?;
    let notification = hale::heal::payload::Notification::decode(&body)
        .with_context(|| format!("{}", payload.display()))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let offline = hale::heal::policy::Offline;
    let plans = config
        .heal
        .decide(&config.heal.rules, &notification, now, &offline, &offline)?;
    if plans.is_empty() {
        println!(
            "no rule matches any of the {} alert(s)",
            notification.alerts.len()
        );
    }
    for p in plans {
        println!("{}", p.decision().to_logfmt());
    }
    Ok(())
}

fn serve(cli: &cli::Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let options = Options::from_cli(cli, matches, &config)?;
    // One async worker: HTTP and encoding are light, collectors run on the blocking pool, and
    // overlapping scrapes share one collection. A second worker bought ~25% more scrapes/s
    // under 8 concurrent clients for ~1 MiB more RSS (bench/scrape.sh); an exporter that runs on
    // every host should be small. The blocking pool is capped so a host full of stuck mounts
    // cannot grow hale without bound.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(32)
        .thread_keep_alive(std::time::Duration::from_secs(60))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        // Before anything is logged as listening, so an early SIGTERM is a clean stop.
        let shutdown = hale::server::shutdown_signal().context("installing signal handlers")?;
        let web = Arc::new(
            hale::web::security::Web::load(options.web_config_file.as_deref(), &options.web)?,
        );
        if options.web_config_file.is_some() && !web.tls() {
            if let Some(a) = options.listen_addresses.iter().find(|a| !hale::cli::is_loopback(a)) {
                if web.current().users.is_some() {
                    tracing::warn!(address = %a, "basic auth without TLS: passwords cross the network in clear text");
                }
            }
        }
        let app = hale::app::build(&options, &config, Arc::clone(&web))?;
        // Every long-running part has this one owner: they run beside the listener, stop
        // with it, and one that ends on its own (a bug) stops hale, so a supervisor restarts
        // it rather than hale serving answers it can no longer vouch for.
        let mut tasks = tokio::task::JoinSet::new();
        let reload = Arc::clone(&web);
        tasks.spawn(async move {
            reload.watch().await;
            "web config reloader"
        });
        for (name, task) in app.tasks {
            tasks.spawn(async move {
                task.await;
                name
            });
        }
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            collectors = options
                .collectors
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(","),
            "starting hale"
        );
        let mut listeners = Vec::new();
        for address in &options.listen_addresses {
            let listener = hale::server::bind(address).await?;
            tracing::info!(address = %listener.local_addr()?, "listening");
            listeners.push(listener);
        }
        let serving = hale::web::listener::serve(
            listeners,
            hale::server::app(app.state),
            web,
            options.limits,
            shutdown,
        );
        tokio::select! {
            served = serving => served.context("serving HTTP"),
            Some(ended) = tasks.join_next() => match ended {
                Ok(name) => anyhow::bail!("hale bug: the {name} stopped"),
                Err(e) => anyhow::bail!("hale bug: a background task failed: {e}"),
            },
        }
    })
}
