//! The `health:` section of the config file: thresholds (checked in order, warn at or below
//! fail), the sampling interval and debouncing, details access, and the probes.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::check::Status;
use super::probe::ProbeConfig;

/// Warn and fail levels of a utilization, in percent, and whether it counts for the overall
/// status.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "RawThreshold")]
pub struct Threshold {
    pub warn: f64,
    pub fail: f64,
    pub critical: bool,
}

/// A threshold as written: percentages, checked to be in order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    #[serde(deserialize_with = "crate::de::percent")]
    warn: f64,
    #[serde(deserialize_with = "crate::de::percent")]
    fail: f64,
    critical: bool,
}

impl TryFrom<RawThreshold> for Threshold {
    type Error = String;

    fn try_from(r: RawThreshold) -> Result<Self, String> {
        if r.warn > r.fail {
            return Err(format!("warn ({}) is above fail ({})", r.warn, r.fail));
        }
        Ok(Threshold::new(r.warn, r.fail, r.critical))
    }
}

impl Threshold {
    const fn new(warn: f64, fail: f64, critical: bool) -> Self {
        Self {
            warn,
            fail,
            critical,
        }
    }

    pub(super) fn status(&self, value: f64) -> Status {
        if value >= self.fail {
            Status::Fail
        } else if value >= self.warn {
            Status::Warn
        } else {
            Status::Pass
        }
    }
}

/// Docker's response time levels; an engine hale cannot reach fails.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "RawDockerThreshold")]
pub struct DockerThreshold {
    pub warn: Duration,
    pub fail: Duration,
    pub critical: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDockerThreshold {
    #[serde(deserialize_with = "crate::de::positive_duration")]
    warn: Duration,
    #[serde(deserialize_with = "crate::de::positive_duration")]
    fail: Duration,
    critical: bool,
}

impl TryFrom<RawDockerThreshold> for DockerThreshold {
    type Error = String;

    fn try_from(r: RawDockerThreshold) -> Result<Self, String> {
        if r.warn > r.fail {
            return Err(format!("warn ({:?}) is above fail ({:?})", r.warn, r.fail));
        }
        Ok(DockerThreshold {
            warn: r.warn,
            fail: r.fail,
            critical: r.critical,
        })
    }
}

/// Whether container health checks count for the overall status.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerThreshold {
    pub critical: bool,
}

/// The `health:` section of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    #[serde(deserialize_with = "crate::de::positive_duration")]
    pub interval: Duration,
    /// Samples a new status must hold before it is reported (1: at once).
    #[serde(deserialize_with = "crate::de::count::<_, _, 1, 1000>")]
    pub consecutive: u32,
    /// `serviceId`; default: the host name.
    pub service_id: Option<String>,
    /// `description`; default: "hale on <host name>".
    pub description: Option<String>,
    /// When false, clients without the details token see only the top-level status.
    pub show_details: bool,
    /// A file holding the bearer token that unlocks details when `show_details` is false.
    pub details_token_file: Option<PathBuf>,
    /// The token in `details_token_file`, read once when the config is loaded.
    #[serde(skip)]
    pub details_token: Option<crate::secret::Secret>,
    pub cpu: Threshold,
    pub memory: Threshold,
    pub swap: Threshold,
    pub disk: Threshold,
    pub fd: Threshold,
    pub docker: DockerThreshold,
    pub container_health: ContainerThreshold,
    pub probes: Vec<ProbeConfig>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            consecutive: 3,
            service_id: None,
            description: None,
            show_details: true,
            details_token_file: None,
            details_token: None,
            cpu: Threshold::new(85.0, 95.0, false),
            memory: Threshold::new(85.0, 95.0, true),
            swap: Threshold::new(50.0, 90.0, false),
            disk: Threshold::new(85.0, 95.0, true),
            fd: Threshold::new(80.0, 90.0, true),
            docker: DockerThreshold {
                warn: Duration::from_secs(1),
                fail: Duration::from_secs(5),
                critical: true,
            },
            container_health: ContainerThreshold { critical: false },
            probes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_health_config_is_rejected() {
        for bad in [
            "interval: 0s",
            "consecutive: -1",
            "memory: {warn: 80}",
            "probes: [{name: x}]",
            "probes: [{name: x, tcp: 'a:1', timeout: 0s}]",
            "probes: [{name: x, http: {url: 'http://a/', body_regex: '('}}]",
            "probes: [{name: x, udp: 'a:1'}]",
            "probes: [{name: x, command: {argv: [true]}}]",
            "bogus: 1",
            "consecutive: 0",
            "consecutive: 4294967296",
            "cpu: {warn: 95, fail: 85, critical: false}",
            "cpu: {warn: .nan, fail: 95, critical: false}",
            "cpu: {warn: -1, fail: 95, critical: false}",
            "docker: {warn: 5s, fail: 1s, critical: false}",
        ] {
            assert!(
                serde_saphyr::from_str::<HealthConfig>(bad).is_err(),
                "{bad} was accepted"
            );
        }
        let ok: HealthConfig =
            serde_saphyr::from_str("probes: [{name: db, tcp: '127.0.0.1:5432', critical: false}]")
                .unwrap();
        assert_eq!(ok.probes[0].target(), "tcp://127.0.0.1:5432");
        assert!(!ok.probes[0].critical);
        assert_eq!(ok.consecutive, 3);
    }
}
