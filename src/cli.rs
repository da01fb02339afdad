//! Command-line flags, in node_exporter's names (`--web.listen-address`, `--path.procfs`,
//! `--collector.<name>` / `--no-collector.<name>`, ...). Raw values are parsed here once and
//! validated into [`Options`], which the rest of hale trusts; a bad value is an error that names
//! the flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::collector;
use crate::config::Config;
use crate::logging;
use crate::paths::HostPaths;

/// hale: host, process and container metrics, health and safe healing for Docker hosts.
#[derive(Debug, Parser)]
#[command(name = "hale", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Addresses on which to expose metrics and the web interface. Repeatable.
    #[arg(long = "web.listen-address", value_name = "ADDR", default_value = ":9929", action = ArgAction::Append)]
    pub listen_addresses: Vec<String>,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Maximum number of parallel scrape requests; 0 disables the limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40, value_parser = crate::de::count_flag(0, 100_000))]
    pub max_requests: usize,

    /// Serve OpenMetrics 1.0.0 to scrapers that ask for it. Off by default, as node_exporter
    /// serves: Prometheus then files counter and `_info` metadata under the names dashboards
    /// query (`x_total`, `x_info`), not under OpenMetrics' family names (`x`).
    #[arg(long = "web.enable-openmetrics")]
    pub enable_openmetrics: bool,

    /// Web config file (Prometheus exporter-toolkit format: TLS, headers, basic-auth users),
    /// re-read when it changes and on SIGHUP.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Connections served at once; more wait in the kernel's backlog.
    #[arg(long = "web.max-connections", value_name = "N", default_value_t = 512, value_parser = crate::de::count_flag(1, 1_000_000))]
    pub max_connections: usize,

    /// Connections one client address (an IPv6 client: its /64) may hold at once; past it, its
    /// new connections are closed at once. Default: a quarter of --web.max-connections.
    #[arg(long = "web.max-connections-per-client", value_name = "N", value_parser = crate::de::count_flag(1, 1_000_000))]
    pub max_connections_per_client: Option<usize>,

    /// Time a client has for the TLS handshake and for each request's headers.
    #[arg(long = "web.read-header-timeout", value_name = "DURATION", default_value = "10s", value_parser = crate::de::parse_duration)]
    pub read_header_timeout: Duration,

    /// Time a request has to be read and answered.
    #[arg(long = "web.request-timeout", value_name = "DURATION", default_value = "30s", value_parser = crate::de::parse_duration)]
    pub request_timeout: Duration,

    /// Largest request line plus headers, in bytes (8192 to 1048576); larger gets 431.
    #[arg(
        long = "web.max-header-bytes",
        value_name = "BYTES",
        default_value_t = 16384,
        value_parser = crate::de::count_flag(8192, 1 << 20)
    )]
    pub max_header_bytes: usize,

    /// procfs mountpoint.
    #[arg(long = "path.procfs", value_name = "DIR", default_value = "/proc")]
    pub procfs: PathBuf,

    /// sysfs mountpoint.
    #[arg(long = "path.sysfs", value_name = "DIR", default_value = "/sys")]
    pub sysfs: PathBuf,

    /// rootfs mountpoint (the host's `/` when hale runs in a container).
    #[arg(long = "path.rootfs", value_name = "DIR", default_value = "/")]
    pub rootfs: PathBuf,

    /// YAML config file (process groups, Docker, health, heal rules). hale runs on defaults
    /// without one.
    #[arg(long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: logging::Level,

    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: logging::Format,

    /// Set all collectors to disabled by default; enable them one by one with --collector.<name>.
    #[arg(long = "collector.disable-defaults")]
    pub disable_defaults: bool,

    /// Time budget of a scrape's collectors; a collector still running then is reported failed
    /// and the scrape answers without it. Prometheus' own scrape timeout, when sent, lowers it.
    #[arg(long = "scrape.collector-timeout", value_name = "DURATION", default_value = "4s", value_parser = crate::de::parse_duration)]
    pub collector_timeout: Duration,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; without one, hale serves.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config file and exit: 0 when valid, 1 with the field and line when not.
    CheckConfig {
        /// The YAML config file to check.
        file: PathBuf,
    },
    /// Healing tools.
    Heal {
        #[command(subcommand)]
        command: HealCommand,
    },
}

/// `hale heal ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum HealCommand {
    /// Print the decisions an Alertmanager webhook payload would produce under the config's heal
    /// rules, touching nothing: no action, no audit record, no Docker call. It assumes no history
    /// (no cooldown or budget spent) and no container labels, so rules with `allow.label` show
    /// as denied.
    Simulate {
        /// A webhook payload as Alertmanager posts it (JSON, version 4).
        payload: PathBuf,
    },
}

/// A flag value that does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("--web.telemetry-path={0:?}: must start with '/' and not be '/' (the landing page)")]
    TelemetryPath(String),
    #[error(transparent)]
    Path(#[from] crate::paths::PathError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("--{flag}: {reason}")]
    Limit { flag: &'static str, reason: String },
    #[error(
        "healing without credentials (heal.auth.disabled) on {address}, which is not a loopback address: \
         anyone who reaches it could restart containers. Set heal.auth credentials, listen on 127.0.0.1, \
         or set heal.auth.allow_unauthenticated_from_network to {:?}",
        crate::heal::auth::UNAUTHENTICATED_CONSENT
    )]
    UnauthenticatedHealing { address: String },
}

/// Validated settings for serving.
#[derive(Debug)]
pub struct Options {
    pub listen_addresses: Vec<String>,
    pub telemetry_path: String,
    pub max_requests: usize,
    /// `--web.enable-openmetrics`.
    pub openmetrics: bool,
    pub web_config_file: Option<PathBuf>,
    pub web: crate::web::security::WebSection,
    pub limits: crate::web::listener::Limits,
    pub collectors: Vec<&'static collector::Spec>,
    pub collector_timeout: Duration,
    pub paths: HostPaths,
    /// The parsed command line: each collector reads and validates its own flags from it.
    pub matches: ArgMatches,
}

/// The full clap command, with a `--collector.<name>` / `--no-collector.<name>` pair per collector.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for spec in collector::SPECS {
        // The collector's own flags, declared in its file.
        cmd = (spec.flags)(cmd);
        let on = format!("collector.{}", spec.name);
        let off = format!("no-collector.{}", spec.name);
        let default = if spec.enabled_by_default {
            "enabled"
        } else {
            "disabled"
        };
        cmd = cmd
            .arg(
                Arg::new(on.clone())
                    .long(on.clone())
                    .action(ArgAction::SetTrue)
                    .overrides_with(off.clone())
                    .help(format!(
                        "Enable the {} collector (default: {default}). {}.",
                        spec.name, spec.help
                    )),
            )
            .arg(
                Arg::new(off.clone())
                    .long(off)
                    .action(ArgAction::SetTrue)
                    .overrides_with(on)
                    .hide(true),
            );
    }
    cmd
}

/// Parses the process arguments (exits with usage on error, as clap does).
pub fn parse() -> (Cli, ArgMatches) {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, matches)
}

/// Parses arguments from a list (for tests).
pub fn try_parse_from<I, T>(args: I) -> Result<(Cli, ArgMatches), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok((cli, matches))
}

/// The enabled collectors, in registry order: defaults (or none with `--collector.disable-defaults`),
/// then each `--collector.<name>` / `--no-collector.<name>`, the last of a pair winning.
pub fn enabled_collectors(cli: &Cli, matches: &ArgMatches) -> Vec<&'static collector::Spec> {
    collector::SPECS
        .iter()
        .filter(|spec| {
            let on = matches.get_flag(&format!("collector.{}", spec.name));
            let off = matches.get_flag(&format!("no-collector.{}", spec.name));
            if on {
                true
            } else if off {
                false
            } else {
                spec.enabled_by_default && !cli.disable_defaults
            }
        })
        .collect()
}

impl Options {
    /// Validates the flags and the config file into serving options.
    pub fn from_cli(
        cli: &Cli,
        matches: &ArgMatches,
        config: &Config,
    ) -> Result<Options, OptionsError> {
        if !cli.telemetry_path.starts_with('/') || cli.telemetry_path == "/" {
            return Err(OptionsError::TelemetryPath(cli.telemetry_path.clone()));
        }
        let paths = HostPaths::new(cli.procfs.clone(), cli.sysfs.clone(), cli.rootfs.clone())?;
        let collectors = enabled_collectors(cli, matches);
        if config.heal.enabled() && config.heal.auth.disabled {
            let consent = config
                .heal
                .auth
                .allow_unauthenticated_from_network
                .as_deref()
                == Some(crate::heal::auth::UNAUTHENTICATED_CONSENT);
            if let Some(address) = cli.listen_addresses.iter().find(|a| !is_loopback(a)) {
                if !consent {
                    return Err(OptionsError::UnauthenticatedHealing {
                        address: address.clone(),
                    });
                }
            }
        }
        for (flag, d) in [
            ("web.read-header-timeout", cli.read_header_timeout),
            ("web.request-timeout", cli.request_timeout),
            ("scrape.collector-timeout", cli.collector_timeout),
        ] {
            if d.is_zero() {
                return Err(OptionsError::Limit {
                    flag,
                    reason: "must be longer than zero".into(),
                });
            }
        }
        Ok(Options {
            listen_addresses: cli.listen_addresses.clone(),
            telemetry_path: cli.telemetry_path.clone(),
            max_requests: cli.max_requests,
            openmetrics: cli.enable_openmetrics,
            web_config_file: cli.web_config_file.clone(),
            web: config.web.clone(),
            limits: crate::web::listener::Limits {
                max_connections: cli.max_connections,
                max_connections_per_client: cli
                    .max_connections_per_client
                    .unwrap_or(cli.max_connections / 4)
                    .clamp(1, cli.max_connections),
                header_timeout: cli.read_header_timeout,
                request_timeout: cli.request_timeout,
                max_header_bytes: cli.max_header_bytes,
            },
            collectors,
            collector_timeout: cli.collector_timeout,
            paths,
            matches: matches.clone(),
        })
    }
}

/// Whether a `--web.listen-address` only accepts connections from this host: `127.0.0.0/8`,
/// `::1` or `localhost`. `:PORT` (every interface) and host names are not.
pub fn is_loopback(address: &str) -> bool {
    let Some((host, _port)) = address.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_flags_follow_node_exporter() {
        let names = |args: &[&str]| {
            let (cli, m) =
                try_parse_from(std::iter::once("hale").chain(args.iter().copied())).unwrap();
            enabled_collectors(&cli, &m)
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        };
        assert!(names(&[]).contains(&"cpu"));
        assert!(!names(&["--no-collector.cpu"]).contains(&"cpu"));
        assert_eq!(
            names(&["--collector.disable-defaults", "--collector.loadavg"]),
            vec!["loadavg"]
        );
        // The last of a pair wins.
        assert!(names(&["--no-collector.cpu", "--collector.cpu"]).contains(&"cpu"));
        assert!(!names(&["--collector.cpu", "--no-collector.cpu"]).contains(&"cpu"));
        assert!(try_parse_from(["hale", "--collector.nope"]).is_err());
    }

    #[test]
    fn listen_address_is_repeatable_with_a_default() {
        let (cli, _) = try_parse_from(["hale"]).unwrap();
        assert_eq!(cli.listen_addresses, vec![":9929"]);
        let (cli, _) = try_parse_from([
            "hale",
            "--web.listen-address=127.0.0.1:1",
            "--web.listen-address",
            "[::1]:2",
        ])
        .unwrap();
        assert_eq!(cli.listen_addresses, vec!["127.0.0.1:1", "[::1]:2"]);
    }
}
