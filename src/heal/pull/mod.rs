//! Fleet mode: hale pulls its own host's alerts from an Alertmanager cluster (`heal.pull`)
//! instead of, or beside, accepting webhooks, so no inbound request is needed to heal and a
//! fleet needs one Alertmanager receiver, not one per host.
//!
//! Every `interval` (the first poll at a random point of the first interval, then ±10%
//! jitter, so a fleet's polls spread out) hale asks each peer of
//! the cluster for its status and for this host's alerts ([`api`]), skips a peer that is still
//! settling, merges the ready peers' answers and follows each firing as an episode ([`merge`]),
//! and hands new unmuted firings to the same decision pipeline as the webhook: the same rules,
//! allow-lists, dedupe, cooldowns, budgets, dry-run, audit log and metrics. A peer that fails is
//! asked again after a backoff that doubles from `interval` up to 5 minutes.
//!
//! The fleet-wide brake is a silence: hale never acts on an alert any ready peer silences, so a
//! silence on `hale_remediation="true"` stops every hale in the fleet at its next poll.

pub mod api;
pub mod matcher;
pub mod merge;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;

use self::api::{ClusterStatus, PollError};
use self::matcher::Matcher;
use self::merge::{Answer, Episodes, Firing};
use super::payload::{Alert, AlertSource, AlertStatus, Notification, Origin};
use crate::metric::{MetricFamily, Unit};

/// The longest `interval`: a poll a day is already no healing to speak of.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// The longest wait between two polls of a failing peer.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The `heal.pull` section.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// The peers of one Alertmanager cluster, e.g. `http://am1:9093` (a path prefix such as
    /// `--web.route-prefix` goes in the URL).
    pub alertmanagers: Vec<String>,
    /// The label that names the host an alert is for; empty for none.
    #[serde(default = "default_host_label")]
    pub host_label: String,
    /// This host's value of `host_label` (default: the host name).
    #[serde(default)]
    pub host: Option<String>,
    /// More matchers in Alertmanager's syntax (`severity="critical"`, `team=~"ops|sre"`); all
    /// must match.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Only alerts routed to receivers matching this regex (Alertmanager's `receiver` filter).
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(
        default = "default_interval",
        deserialize_with = "crate::de::positive_duration"
    )]
    pub interval: Duration,
    /// For each request to a peer, connecting included.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::de::positive_duration"
    )]
    pub timeout: Duration,
    /// Polls in a row an alert must be absent from every ready peer to have ended.
    #[serde(
        default = "default_resolve_after",
        deserialize_with = "crate::de::count::<_, _, 1, 1000>"
    )]
    pub resolve_after: u32,
    /// The largest answer read from a peer, in bytes.
    #[serde(
        default = "default_max_body",
        deserialize_with = "crate::de::count::<_, _, 1024, 1_073_741_824>"
    )]
    pub max_body_bytes: usize,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    /// Filled by [`PullConfig::validate`].
    #[serde(skip)]
    resolved: Option<Arc<Resolved>>,
}

fn default_host_label() -> String {
    "hale_host".into()
}
fn default_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_resolve_after() -> u32 {
    3
}
fn default_max_body() -> usize {
    16 << 20
}

/// Basic auth, as Prometheus' and Alertmanager's `http_config` write it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// An `Authorization` header, as `http_config` writes it (`type` defaults to `Bearer`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default = "bearer", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

fn bearer() -> String {
    "Bearer".into()
}

/// TLS towards the peers, as `http_config`'s `tls_config` writes it.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The CA that signed the peers' certificates (default: the Mozilla roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, for peers that ask for one.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// What validation makes of the section: read once, used by every poll.
struct Resolved {
    peers: Vec<Peer>,
    matchers: Vec<Matcher>,
    query: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

struct Peer {
    /// The base URL, no trailing slash.
    base: String,
    /// The URL without credentials: the `peer` label and what decisions record.
    label: String,
}

impl std::fmt::Debug for PullConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("PullConfig")
            .field("alertmanagers", &self.alertmanagers)
            .field("host_label", &self.host_label)
            .field("host", &self.host)
            .field("matchers", &self.matchers)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The host name, as `uname -n` gives it.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// A secret inline or from its file, as `heal.auth` reads them (one rule for both sections).
fn secret(
    inline: &Option<String>,
    file: &Option<PathBuf>,
    what: &str,
) -> Result<Option<String>, String> {
    Ok(super::auth::secret(inline, file, what)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

fn read_pem(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("heal.pull.tls_config.{what} {}: {e}", path.display()))
}

impl PullConfig {
    /// Checks the section and reads its secret and certificate files, once.
    pub fn validate(&mut self) -> Result<(), String> {
        if self.interval > MAX_INTERVAL {
            return Err("heal.pull.interval: at most 1d".into());
        }
        if self.alertmanagers.is_empty() {
            return Err("heal.pull.alertmanagers: list at least one Alertmanager URL".into());
        }
        let mut peers: Vec<Peer> = Vec::new();
        for url in &self.alertmanagers {
            let uri: ureq::http::Uri = url
                .parse()
                .map_err(|e| format!("heal.pull.alertmanagers: {url:?} is not a URL: {e}"))?;
            let scheme = uri.scheme_str().unwrap_or("");
            if scheme != "http" && scheme != "https" || uri.host().is_none() {
                return Err(format!(
                    "heal.pull.alertmanagers: {url:?} is not an http:// or https:// URL"
                ));
            }
            if uri.query().is_some() {
                return Err(format!(
                    "heal.pull.alertmanagers: {url:?} has a query; give the base URL"
                ));
            }
            let authority = uri.authority().map_or("", |a| a.as_str());
            if authority.contains('@') {
                return Err(format!(
                    "heal.pull.alertmanagers: {url:?} holds credentials; use heal.pull.basic_auth"
                ));
            }
            let base = url.trim_end_matches('/').to_string();
            if peers.iter().any(|p| p.base == base) {
                return Err(format!("heal.pull.alertmanagers: {url:?} is listed twice"));
            }
            peers.push(Peer {
                label: base.clone(),
                base,
            });
        }
        let mut matchers = Vec::new();
        if !self.host_label.is_empty() {
            let host = self.host.clone().unwrap_or_else(hostname);
            if host.is_empty() {
                return Err("heal.pull.host: the host name is empty; set heal.pull.host".into());
            }
            // Validates the label name through the parser's rules.
            let probe = Matcher::parse(&format!("{}=\"\"", self.host_label))
                .map_err(|e| format!("heal.pull.host_label: {e}"))?;
            matchers.push(Matcher::equal(&probe.name, &host));
        }
        for m in &self.matchers {
            matchers.push(Matcher::parse(m).map_err(|e| format!("heal.pull.matchers: {e}"))?);
        }
        if matchers.is_empty() {
            return Err(
                "heal.pull: with host_label empty, give matchers: hale would act on every host's alerts"
                    .into(),
            );
        }
        if let Some(r) = &self.receiver {
            regex::Regex::new(&format!("^(?:{r})$"))
                .map_err(|e| format!("heal.pull.receiver: bad regex: {e}"))?;
        }
        let authorization = match (&self.basic_auth, &self.authorization) {
            (Some(_), Some(_)) => {
                return Err("heal.pull: basic_auth and authorization are exclusive".into())
            }
            (Some(b), None) => {
                let password = secret(
                    &b.password,
                    &b.password_file,
                    "heal.pull.basic_auth.password",
                )?
                .unwrap_or_default();
                use base64::Engine as _;
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{password}", b.username))
                ))
            }
            (None, Some(a)) => {
                if a.kind.is_empty() || a.kind.contains(char::is_whitespace) {
                    return Err(format!(
                        "heal.pull.authorization.type {:?} is not a scheme",
                        a.kind
                    ));
                }
                let c = secret(
                    &a.credentials,
                    &a.credentials_file,
                    "heal.pull.authorization.credentials",
                )?
                .ok_or("heal.pull.authorization needs credentials or credentials_file")?;
                Some(format!("{} {c}", a.kind))
            }
            (None, None) => None,
        };
        let tls = self.tls()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .max_redirects(0)
            .user_agent(concat!("hale/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        self.resolved = Some(Arc::new(Resolved {
            query: api::alerts_query(&matchers, self.receiver.as_deref()),
            peers,
            matchers,
            authorization,
            agent,
        }));
        Ok(())
    }

    fn tls(&self) -> Result<ureq::tls::TlsConfig, String> {
        use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
        let t = self.tls_config.clone().unwrap_or_default();
        let mut b = TlsConfig::builder().disable_verification(t.insecure_skip_verify);
        if let Some(ca) = &t.ca_file {
            let pem = read_pem(ca, "ca_file")?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(format!(
                    "heal.pull.tls_config.ca_file {}: no certificate in it",
                    ca.display()
                ));
            }
            b = b.root_certs(RootCerts::new_with_certs(&certs));
        }
        match (&t.cert_file, &t.key_file) {
            (Some(cert), Some(key)) => {
                let pem = read_pem(cert, "cert_file")?;
                let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if chain.is_empty() {
                    return Err(format!(
                        "heal.pull.tls_config.cert_file {}: no certificate in it",
                        cert.display()
                    ));
                }
                let key_pem = read_pem(key, "key_file")?;
                let key = PrivateKey::from_pem(&key_pem)
                    .map_err(|e| format!("heal.pull.tls_config.key_file {}: {e}", key.display()))?;
                b = b.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
            }
            (None, None) => {}
            _ => return Err("heal.pull.tls_config: cert_file and key_file go together".into()),
        }
        Ok(b.build())
    }

    /// The matchers that select this host's alerts, as hale sends them.
    pub fn selectors(&self) -> Vec<String> {
        self.resolved
            .as_ref()
            .map(|r| r.matchers.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    peer: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    peer: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The poller's metrics, every series present from the start.
#[derive(Default)]
struct Metrics {
    polls: Family<PeerLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    last_success: Family<PeerLabels, Gauge<f64, AtomicU64>>,
    cluster: Family<StatusLabels, Gauge>,
    peer_alerts: Family<PeerLabels, Gauge>,
    missing: Family<PeerLabels, Gauge>,
    foreign: Family<PeerLabels, Gauge>,
    alerts: Family<StateLabels, Gauge>,
}

/// The puller: its config and metrics, shared by the poll task and the scrape.
pub struct Puller {
    config: PullConfig,
    resolved: Arc<Resolved>,
    metrics: Metrics,
}

/// What one poll of one peer found.
enum Poll {
    Ready(ClusterStatus, Vec<api::ApiAlert>),
    Settling,
}

impl Puller {
    /// The puller of a validated section; `None` if it was not validated.
    pub fn new(config: PullConfig) -> Option<Arc<Puller>> {
        let resolved = config.resolved.clone()?;
        let metrics = Metrics::default();
        for p in &resolved.peers {
            let peer = || PeerLabels {
                peer: p.label.clone(),
            };
            drop(metrics.polls.get_or_create(&peer()));
            drop(metrics.last_success.get_or_create(&peer()));
            drop(metrics.peer_alerts.get_or_create(&peer()));
            drop(metrics.missing.get_or_create(&peer()));
            drop(metrics.foreign.get_or_create(&peer()));
            for reason in PollError::REASONS {
                drop(metrics.errors.get_or_create(&ErrorLabels {
                    peer: p.label.clone(),
                    reason,
                }));
            }
            for status in ClusterStatus::ALL
                .map(ClusterStatus::as_str)
                .into_iter()
                .chain(["unknown"])
            {
                drop(metrics.cluster.get_or_create(&StatusLabels {
                    peer: p.label.clone(),
                    status,
                }));
            }
        }
        for state in ["active", "muted"] {
            drop(metrics.alerts.get_or_create(&StateLabels { state }));
        }
        Some(Arc::new(Puller {
            config,
            resolved,
            metrics,
        }))
    }

    /// Asks one peer: its status, then (when it is not settling) this host's alerts.
    fn poll(&self, i: usize) -> Result<Poll, PollError> {
        let r = &self.resolved;
        let Some(peer) = r.peers.get(i) else {
            return Err(PollError::Connect("no such peer".into()));
        };
        let auth = r.authorization.as_deref();
        let max = self.config.max_body_bytes;
        let status = api::decode_status(&api::get(
            &r.agent,
            &format!("{}/api/v2/status", peer.base),
            auth,
            "/api/v2/status",
            max,
        )?)?;
        if status == ClusterStatus::Settling {
            return Ok(Poll::Settling);
        }
        let body = api::get(
            &r.agent,
            &format!("{}/api/v2/alerts?{}", peer.base, r.query),
            auth,
            "/api/v2/alerts",
            max,
        )?;
        Ok(Poll::Ready(status, api::decode_alerts(&body)?))
    }

    fn set_status(&self, peer: &str, now: &'static str) {
        for status in ClusterStatus::ALL
            .map(ClusterStatus::as_str)
            .into_iter()
            .chain(["unknown"])
        {
            self.metrics
                .cluster
                .get_or_create(&StatusLabels {
                    peer: peer.to_string(),
                    status,
                })
                .set(i64::from(status == now));
        }
    }

    fn peer_gauge(family: &Family<PeerLabels, Gauge>, peer: &str, v: usize) {
        family
            .get_or_create(&PeerLabels {
                peer: peer.to_string(),
            })
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    }

    /// The poller's families, for the scrape.
    pub fn families(&self, out: &mut Vec<MetricFamily>) {
        let m = &self.metrics;
        out.extend([
            MetricFamily::live(
                "hale_heal_pull_polls",
                None,
                "Polls of each Alertmanager peer since hale started (heal.pull).",
                m.polls.clone(),
            ),
            MetricFamily::live(
                "hale_heal_pull_errors",
                None,
                "Failed polls of each Alertmanager peer, by reason: connect, timeout, http_status, auth, too_large, decode.",
                m.errors.clone(),
            ),
            MetricFamily::live(
                "hale_heal_pull_last_success_timestamp",
                Some(Unit::Seconds),
                "When each peer last answered a poll (Unix time; 0 if never since hale started).",
                m.last_success.clone(),
            ),
            MetricFamily::live(
                "hale_heal_pull_peer_cluster_status",
                None,
                "Each peer's cluster status at its last poll (1 for the current one; unknown when it did not answer).",
                m.cluster.clone(),
            ),
            MetricFamily::live(
                "hale_heal_pull_peer_alerts",
                None,
                "Alerts each peer returned at its last successful poll (this host's selection, muted ones included).",
                m.peer_alerts.clone(),
            ),
            MetricFamily::live(
                "hale_heal_pull_peer_missing_alerts",
                None,
                "This host's alerts that other ready peers report and this one does not, at the last poll.",
                m.missing.clone(),
            ),
            MetricFamily::live(
                "hale_heal_pull_peer_foreign_alerts",
                None,
                "Alerts a peer returned that the matchers do not select (dropped), at its last poll.",
                m.foreign.clone(),
            ),
            MetricFamily::live(
                "hale_heal_pull_alerts",
                None,
                "This host's alerts across the ready peers at the last poll, by state (active or muted).",
                m.alerts.clone(),
            ),
        ]);
    }
}

/// A number in 0.0..=1.0, different on every call (std's per-instance random hash keys).
fn random_fraction() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() % 1001) as f64 / 1000.0
}

/// `d` ± 10%, differently on every call.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.9 + random_fraction() / 5.0)
}

/// The wait before asking a peer again after `failures` failed polls in a row.
fn backoff(interval: Duration, failures: u32) -> Duration {
    let doubled = interval.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF.max(interval))
}

/// A firing as the decision pipeline takes it.
fn notification(f: &Firing, resolved: &Resolved) -> Notification {
    let peers: Vec<&str> = f
        .peers
        .iter()
        .filter_map(|i| resolved.peers.get(*i).map(|p| p.label.as_str()))
        .collect();
    let alert = Alert {
        status: AlertStatus::Firing,
        labels: f.alert.labels.clone(),
        annotations: f.alert.annotations.clone(),
        starts_at: f.alert.starts_at.clone(),
        ends_at: f.alert.ends_at.clone(),
        generator_url: f.alert.generator_url.clone(),
        fingerprint: f.fingerprint.clone(),
        origin: Origin {
            source: AlertSource::Pull,
            peer: peers.join(","),
        },
    };
    Notification {
        version: "4".into(),
        receiver: String::new(),
        status: AlertStatus::Firing,
        alerts: vec![alert],
        group_labels: BTreeMap::new(),
        common_labels: BTreeMap::new(),
        common_annotations: BTreeMap::new(),
        external_url: String::new(),
        group_key: String::new(),
        truncated_alerts: 0,
    }
}

/// The poll loop: runs until hale stops.
pub async fn run(healer: Arc<super::Healer>, puller: Arc<Puller>) {
    let r = Arc::clone(&puller.resolved);
    let interval = puller.config.interval;
    let mut episodes = Episodes::new(puller.config.resolve_after);
    let mut failures = vec![0u32; r.peers.len()];
    let mut due = vec![Instant::now(); r.peers.len()];
    tracing::info!(
        peers = %r.peers.iter().map(|p| p.label.as_str()).collect::<Vec<_>>().join(","),
        matchers = %puller.config.selectors().join(","),
        interval = ?interval,
        "heal: pulling this host's alerts from Alertmanager"
    );
    // The first poll at a random point of the first interval: a fleet restarted at once (a
    // deploy, a power cut) would otherwise poll in step, past Alertmanager's GET concurrency.
    tokio::time::sleep(interval.mul_f64(random_fraction())).await;
    loop {
        let now = Instant::now();
        let asked: Vec<usize> = (0..r.peers.len())
            .filter(|i| due.get(*i).is_some_and(|d| *d <= now))
            .collect();
        let polls = asked.iter().map(|&i| {
            let p = Arc::clone(&puller);
            tokio::task::spawn_blocking(move || p.poll(i))
        });
        let results = futures_util::future::join_all(polls).await;
        let mut ready: Vec<(usize, Vec<api::ApiAlert>)> = Vec::new();
        for (&i, result) in asked.iter().zip(results) {
            let Some(peer) = r.peers.get(i) else { continue };
            let label = PeerLabels {
                peer: peer.label.clone(),
            };
            puller.metrics.polls.get_or_create(&label).inc();
            let result = result.unwrap_or_else(|e| {
                Err(PollError::Connect(format!(
                    "hale bug: the poll task failed: {e}"
                )))
            });
            match result {
                Ok(poll) => {
                    if let Some(f) = failures.get_mut(i) {
                        if *f > 0 {
                            tracing::info!(peer = %peer.label, "heal: the Alertmanager peer answers again");
                        }
                        *f = 0;
                    }
                    puller
                        .metrics
                        .last_success
                        .get_or_create(&label)
                        .set(super::now());
                    match poll {
                        Poll::Settling => {
                            tracing::debug!(peer = %peer.label, "heal: the Alertmanager peer is settling; its answer is not used");
                            puller.set_status(&peer.label, ClusterStatus::Settling.as_str());
                        }
                        Poll::Ready(status, alerts) => {
                            puller.set_status(&peer.label, status.as_str());
                            Puller::peer_gauge(
                                &puller.metrics.peer_alerts,
                                &peer.label,
                                alerts.len(),
                            );
                            ready.push((i, alerts));
                        }
                    }
                }
                Err(e) => {
                    let n = failures.get(i).copied().unwrap_or(0).saturating_add(1);
                    if let Some(f) = failures.get_mut(i) {
                        *f = n;
                    }
                    let wait = backoff(interval, n);
                    if let Some(d) = due.get_mut(i) {
                        // A day-long interval at most (validate), so this cannot overflow.
                        *d = now.checked_add(wait).unwrap_or(now);
                    }
                    puller
                        .metrics
                        .errors
                        .get_or_create(&ErrorLabels {
                            peer: peer.label.clone(),
                            reason: e.reason(),
                        })
                        .inc();
                    puller.set_status(&peer.label, "unknown");
                    tracing::warn!(peer = %peer.label, error = %e, reason = e.reason(), retry_in = ?wait,
                        "heal: polling an Alertmanager peer failed; nothing is done on its account");
                }
            }
        }
        if !ready.is_empty() {
            let answers: Vec<Answer> = ready
                .iter()
                .map(|(peer, alerts)| Answer {
                    peer: *peer,
                    alerts,
                })
                .collect();
            let merged = merge::merge(&answers, &r.matchers);
            for (i, n) in &merged.missing {
                if let Some(p) = r.peers.get(*i) {
                    Puller::peer_gauge(&puller.metrics.missing, &p.label, *n);
                }
            }
            for (i, n) in &merged.foreign {
                if let Some(p) = r.peers.get(*i) {
                    Puller::peer_gauge(&puller.metrics.foreign, &p.label, *n);
                    if *n > 0 {
                        tracing::warn!(peer = %p.label, alerts = n,
                            "heal: the Alertmanager peer returned alerts the matchers do not select; they are ignored");
                    }
                }
            }
            let muted = merged.alerts.values().filter(|s| s.muted).count();
            let set = |state, v: usize| {
                puller
                    .metrics
                    .alerts
                    .get_or_create(&StateLabels { state })
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            set("active", merged.alerts.len() - muted);
            set("muted", muted);
            let changes = episodes.update(&merged, super::now());
            for fp in &changes.ended {
                healer.cancel_retries(fp);
            }
            for f in &changes.firing {
                match healer.pulled(notification(f, &r)).await {
                    Ok(plans) => {
                        episodes.submitted(&f.fingerprint);
                        for p in plans {
                            tracing::debug!(rule = %p.rule, target = %p.target, result = p.outcome.as_str(), "heal: pulled alert decided");
                        }
                    }
                    Err(e) => tracing::warn!(fingerprint = %f.fingerprint, error = %e,
                        "heal: a pulled alert could not be decided; it is tried again at the next poll"),
                }
            }
        }
        tokio::time::sleep(jitter(interval)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Result<PullConfig, String> {
        let mut c: PullConfig = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn the_section_selects_this_host_by_default_and_refuses_what_would_act_on_others() {
        let c = config("alertmanagers: [http://am1:9093/, 'http://am2:9093']").unwrap();
        assert_eq!(c.selectors(), [format!("hale_host=\"{}\"", hostname())]);
        let c = config("{alertmanagers: [http://am1:9093], host: web-1, matchers: ['severity=~\"page|ticket\"']}").unwrap();
        assert_eq!(
            c.selectors(),
            ["hale_host=\"web-1\"", "severity=~\"page|ticket\""]
        );
        for (bad, says) in [
            ("alertmanagers: []", "at least one"),
            ("alertmanagers: [am1:9093]", "http://"),
            ("alertmanagers: ['http://u:p@am1:9093']", "credentials"),
            (
                "alertmanagers: [http://am1:9093, http://am1:9093/]",
                "twice",
            ),
            (
                "{alertmanagers: [http://am1:9093], host_label: ''}",
                "every host",
            ),
            (
                "{alertmanagers: [http://am1:9093], host_label: 'bad-label'}",
                "host_label",
            ),
            (
                "{alertmanagers: [http://am1:9093], matchers: ['nope']}",
                "heal.pull.matchers",
            ),
            (
                "{alertmanagers: [http://am1:9093], receiver: '('}",
                "receiver",
            ),
            (
                "{alertmanagers: [http://am1:9093], interval: 0s}",
                "interval",
            ),
            (
                "{alertmanagers: [http://am1:9093], authorization: {type: Bearer}}",
                "credentials",
            ),
            (
                "{alertmanagers: [http://am1:9093], tls_config: {cert_file: /x}}",
                "together",
            ),
            (
                "{alertmanagers: [http://am1:9093], tls_config: {ca_file: /nonexistent}}",
                "ca_file",
            ),
        ] {
            let err = config(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn a_failing_peer_is_asked_again_after_a_doubling_capped_backoff() {
        let i = Duration::from_secs(30);
        assert_eq!(backoff(i, 1), i);
        assert_eq!(backoff(i, 2), Duration::from_secs(60));
        assert_eq!(backoff(i, 4), Duration::from_secs(240));
        assert_eq!(backoff(i, 40), MAX_BACKOFF);
        assert_eq!(
            backoff(Duration::from_secs(600), 3),
            Duration::from_secs(600)
        );
        for _ in 0..100 {
            let j = jitter(i);
            assert!(
                j >= Duration::from_secs(27) && j <= Duration::from_secs(33),
                "{j:?}"
            );
        }
    }
}
