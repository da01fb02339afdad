//! The YAML config file (`--config FILE`): what cannot sensibly be a flag, starting with the
//! process groups to watch and the Docker containers to report. Parsed once into types the rest of hale trusts: unknown keys, wrong
//! types, bad regexes and bad name templates are errors that name the field and the line.
//!
//! hale runs with no config file at all; every section is optional.

use std::path::{Path, PathBuf};

use std::time::Duration;

use regex::Regex;
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

/// Deserializes a Prometheus-style duration string (`500ms`, `15s`, `1m30s`).
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    crate::cli::parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Deserializes a duration that must be longer than zero (an interval or a timeout).
pub fn positive_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = duration(d)?;
    if v.is_zero() {
        return Err(serde::de::Error::custom("must be longer than 0s"));
    }
    Ok(v)
}

/// Deserializes an optional regular expression, rejecting one that does not compile.
pub fn opt_regex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| Regex::new(&s).map_err(|e| serde::de::Error::custom(format!("bad regex: {e}"))))
        .transpose()
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
        let config = serde_saphyr::from_str::<Config>(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        config
            .heal
            .validate()
            .map_err(|message| ConfigError::Invalid {
                path: origin.to_path_buf(),
                message,
            })?;
        Ok(config)
    }
}
