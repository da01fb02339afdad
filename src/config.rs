//! The YAML config file (`--config FILE`): what cannot sensibly be a flag, starting with the
//! process groups to watch and the Docker containers to report. Parsed once into types the rest of hale trusts: unknown keys, wrong
//! types, bad regexes and bad name templates are errors that name the field and the line.
//!
//! hale runs with no config file at all; every section is optional.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::docker::DockerConfig;

use crate::process_match::ProcessMatcher;

/// A config file that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Process groups to watch, in process-exporter's `process_names` format so an existing
    /// process-exporter config block can be pasted in unchanged. First match wins.
    #[serde(default)]
    pub process_names: Vec<ProcessMatcher>,
    /// The Docker engine to watch and which containers to report.
    #[serde(default)]
    pub docker: DockerConfig,
    /// `/health`: thresholds, debouncing, probes and who sees details.
    #[serde(default)]
    pub health: crate::health::HealthConfig,
    /// Healing: the webhook's credentials, heal rules, limits, the audit log and autoheal.
    #[serde(default)]
    pub heal: crate::heal::policy::HealConfig,
    /// Roles for the web config's users, and per-client rate limits.
    #[serde(default)]
    pub web: crate::web::security::WebSection,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        // An empty file (or one holding only comments) is a valid, empty config.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Config::default());
        }
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            message,
        };
        let mut config =
            serde_saphyr::from_str::<Config>(text).map_err(|e| invalid(e.to_string()))?;
        // What serde cannot check, and every secret file, read here once: serve and
        // check-config then work from the same validated config.
        config.heal.validate().map_err(invalid)?;
        if let Some(path) = &config.health.details_token_file {
            let token = crate::secret::Secret::from_file(path)
                .map_err(|reason| invalid(format!("health.details_token_file {reason}")))?;
            config.health.details_token = Some(token);
        }
        Ok(config)
    }
}
