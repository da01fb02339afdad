//! Dependency probes from the `health.probes` config: `tcp` (a connect), `http` (method, URL,
//! expected status, optional body regex, TLS verification on or off) and `command` (an argv run
//! without a shell, expected exit code). Each runs on its own interval in the background with a
//! timeout; `/health` and the metrics read the last result.

use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;

/// One configured probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The check is reported as `<name>:responseTime`.
    pub name: String,
    #[serde(flatten)]
    pub kind: ProbeKind,
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::de::positive_duration"
    )]
    pub timeout: Duration,
    #[serde(
        default = "default_interval",
        deserialize_with = "crate::de::positive_duration"
    )]
    pub interval: Duration,
    /// A failing critical probe fails `/health`; a non-critical one can only warn.
    #[serde(default = "yes")]
    pub critical: bool,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_interval() -> Duration {
    Duration::from_secs(15)
}
fn yes() -> bool {
    true
}

/// What a probe does.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// `host:port` to connect to.
    Tcp(String),
    Http(HttpProbe),
    /// argv; no shell.
    Command(CommandProbe),
}

/// An HTTP probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub url: String,
    #[serde(default = "get")]
    pub method: String,
    /// Expected status; default 200.
    #[serde(default = "ok")]
    pub status: u16,
    /// When set, the body must match.
    #[serde(default, deserialize_with = "crate::de::opt_regex")]
    pub body_regex: Option<Regex>,
    /// Verify the server's certificate (against the Mozilla roots). Default on.
    #[serde(default = "yes")]
    pub tls_verify: bool,
}

fn get() -> String {
    "GET".into()
}
fn ok() -> u16 {
    200
}

/// A command probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandProbe {
    pub argv: Vec<String>,
    #[serde(default)]
    pub exit_code: i32,
}

/// The last result of a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub success: bool,
    pub duration: Duration,
    /// Why it failed.
    pub error: Option<String>,
}

impl ProbeConfig {
    /// A short description of the target, for `componentId` and logs.
    pub fn target(&self) -> String {
        match &self.kind {
            ProbeKind::Tcp(addr) => format!("tcp://{addr}"),
            ProbeKind::Http(h) => h.url.clone(),
            ProbeKind::Command(c) => c.argv.first().cloned().unwrap_or_default(),
        }
    }

    /// Runs the probe once.
    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.attempt()).await;
        let duration = started.elapsed();
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!("no answer within {:?}", self.timeout)),
        };
        Outcome {
            success: error.is_none(),
            duration,
            error,
        }
    }

    async fn attempt(&self) -> Result<(), String> {
        match &self.kind {
            ProbeKind::Tcp(addr) => tokio::net::TcpStream::connect(addr)
                .await
                .map(drop)
                .map_err(|e| format!("connecting to {addr}: {e}")),
            ProbeKind::Http(h) => {
                let (h, timeout) = (h.clone(), self.timeout);
                tokio::task::spawn_blocking(move || http(&h, timeout))
                    .await
                    .map_err(|e| format!("probe task: {e}"))?
            }
            ProbeKind::Command(c) => {
                let Some((program, args)) = c.argv.split_first() else {
                    return Err("empty argv".into());
                };
                let status = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .status()
                    .await
                    .map_err(|e| format!("running {program}: {e}"))?;
                match status.code() {
                    Some(code) if code == c.exit_code => Ok(()),
                    Some(code) => Err(format!("{program} exited {code}, expected {}", c.exit_code)),
                    None => Err(format!("{program} was killed by a signal")),
                }
            }
        }
    }
}

fn http(h: &HttpProbe, timeout: Duration) -> Result<(), String> {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(!h.tls_verify)
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .tls_config(tls)
        .build()
        .into();
    let method = ureq::http::Method::from_bytes(h.method.as_bytes())
        .map_err(|_| format!("bad method {:?}", h.method))?;
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(&h.url)
        .body(())
        .map_err(|e| format!("bad request: {e}"))?;
    let mut response = agent.run(request).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    if status != h.status {
        return Err(format!("status {status}, expected {}", h.status));
    }
    if let Some(re) = &h.body_regex {
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("reading the body: {e}"))?;
        if !re.is_match(&body) {
            return Err(format!("body does not match {}", re.as_str()));
        }
    }
    Ok(())
}
/// One `<probe>:responseTime` check per probe that has run: its last outcome.
pub fn checks(
    probes: &[ProbeConfig],
    results: &std::collections::HashMap<String, Outcome>,
) -> Vec<super::check::Check> {
    use super::check::{round, Check, Status};
    probes
        .iter()
        .filter_map(|p| {
            let o = results.get(&p.name)?;
            Some(Check {
                key: format!("{}:responseTime", p.name),
                component_id: p.target(),
                component_type: "component",
                value: round(o.duration.as_secs_f64() * 1000.0),
                unit: "ms",
                status: if o.success {
                    Status::Pass
                } else {
                    Status::Fail
                },
                output: o.error.clone(),
                critical: p.critical,
                affected: Vec::new(),
            })
        })
        .collect()
}
