//! The two calls hale makes to an Alertmanager peer, API v2 (`api/v2/openapi.yaml`):
//! `GET /api/v2/status` (is the peer's cluster settled?) and `GET /api/v2/alerts` (the alerts
//! selected for this host), over one `ureq` agent with the peer's TLS and credentials.
//!
//! Whatever a peer answers is input: the body is capped, its JSON is checked for the fields
//! hale reads (anything else is tolerated, as newer Alertmanagers add fields), and every
//! failure is a [`PollError`] with a bounded `reason` for `hale_heal_pull_errors_total` and a
//! message for the log. hale keys alerts by the fingerprint it computes from the labels, as
//! Alertmanager does (FNV-1a over the sorted label pairs), not by the one the peer sends.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::matcher::Matcher;

/// Why one poll of one peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("no answer within the timeout")]
    Timeout,
    #[error("the peer answered HTTP {0} to {1}")]
    Status(u16, &'static str),
    #[error("the peer refused hale's credentials (HTTP {0}): check heal.pull's basic_auth or authorization")]
    Auth(u16),
    #[error("the answer to {0} is larger than heal.pull.max_body_bytes ({1} bytes)")]
    TooLarge(&'static str, usize),
    #[error("the answer to {0} is not Alertmanager's API v2: {1}")]
    Decode(&'static str, String),
}

impl PollError {
    /// Every reason, for the metric's series at 0.
    pub const REASONS: [&'static str; 6] = [
        "connect",
        "timeout",
        "http_status",
        "auth",
        "too_large",
        "decode",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            PollError::Connect(_) => "connect",
            PollError::Timeout => "timeout",
            PollError::Status(..) => "http_status",
            PollError::Auth(_) => "auth",
            PollError::TooLarge(..) => "too_large",
            PollError::Decode(..) => "decode",
        }
    }
}

/// A peer's cluster state, from `/api/v2/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterStatus {
    /// Gossip has settled: its silences and notification log are the cluster's.
    Ready,
    /// Just started, still learning the cluster's silences: not to be trusted yet.
    Settling,
    /// Not clustered (a single Alertmanager): as good as ready.
    Disabled,
}

impl ClusterStatus {
    pub const ALL: [ClusterStatus; 3] = [
        ClusterStatus::Ready,
        ClusterStatus::Settling,
        ClusterStatus::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Ready => "ready",
            ClusterStatus::Settling => "settling",
            ClusterStatus::Disabled => "disabled",
        }
    }
}

#[derive(Deserialize)]
struct Status {
    cluster: Cluster,
}

#[derive(Deserialize)]
struct Cluster {
    status: String,
}

/// Decodes `/api/v2/status`.
pub fn decode_status(body: &[u8]) -> Result<ClusterStatus, PollError> {
    let what = "/api/v2/status";
    let s: Status =
        serde_json::from_slice(body).map_err(|e| PollError::Decode(what, e.to_string()))?;
    match s.cluster.status.as_str() {
        "ready" => Ok(ClusterStatus::Ready),
        "settling" => Ok(ClusterStatus::Settling),
        "disabled" => Ok(ClusterStatus::Disabled),
        other => Err(PollError::Decode(
            what,
            format!("unknown cluster.status {other:?}"),
        )),
    }
}

/// One alert as `/api/v2/alerts` lists it (`gettableAlert`), with what hale reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiAlert {
    #[serde(deserialize_with = "crate::heal::payload::unique_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "crate::heal::payload::unique_map")]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    pub status: AlertStatus,
}

/// An alert's state on one peer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
    /// Alertmanager 0.27 and later: muted by a time interval.
    #[serde(default)]
    pub muted_by: Vec<String>,
}

impl ApiAlert {
    /// Whether this peer holds the alert back: silenced, inhibited, muted, or not yet judged.
    pub fn muted(&self) -> bool {
        self.status.state != "active"
            || !self.status.silenced_by.is_empty()
            || !self.status.inhibited_by.is_empty()
            || !self.status.muted_by.is_empty()
    }

    /// When it started, in Unix seconds.
    pub fn starts(&self) -> Option<f64> {
        crate::docker::parse_time(&self.starts_at)
    }
}

/// Decodes `/api/v2/alerts`, checking each alert's start time.
pub fn decode_alerts(body: &[u8]) -> Result<Vec<ApiAlert>, PollError> {
    let what = "/api/v2/alerts";
    let alerts: Vec<ApiAlert> =
        serde_json::from_slice(body).map_err(|e| PollError::Decode(what, e.to_string()))?;
    for (i, a) in alerts.iter().enumerate() {
        if a.starts().is_none() {
            return Err(PollError::Decode(
                what,
                format!(
                    "alert {i}: startsAt {:?} is not an RFC 3339 time",
                    a.starts_at
                ),
            ));
        }
    }
    Ok(alerts)
}

/// Alertmanager's fingerprint of a label set (`model.LabelSet.Fingerprint`): FNV-1a (64 bit)
/// over the label names in order, each name and value followed by the byte 0xff, printed as 16
/// hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

/// The query of `GET /api/v2/alerts`: active alerts and muted ones, so that hale can tell "this
/// peer mutes it" from "this peer does not have it" (an alert any ready peer mutes is not acted
/// on); never unprocessed ones (their silences are not yet known); the matchers; the receiver.
pub fn alerts_query(matchers: &[Matcher], receiver: Option<&str>) -> String {
    let mut q: Vec<(&str, String)> = vec![
        ("active", "true".into()),
        ("silenced", "true".into()),
        ("inhibited", "true".into()),
        ("unprocessed", "false".into()),
    ];
    q.extend(matchers.iter().map(|m| ("filter", m.to_string())));
    if let Some(r) = receiver {
        q.push(("receiver", r.to_string()));
    }
    serde_urlencoded::to_string(q).unwrap_or_default()
}

/// Reads one answer's status and body under the cap.
pub fn get(
    agent: &ureq::Agent,
    url: &str,
    authorization: Option<&str>,
    what: &'static str,
    max_body: usize,
) -> Result<Vec<u8>, PollError> {
    let mut request = ureq::http::Request::builder()
        .method("GET")
        .uri(url)
        .header("Accept", "application/json");
    if let Some(a) = authorization {
        request = request.header("Authorization", a);
    }
    let request = request
        .body(())
        .map_err(|e| PollError::Connect(format!("bad URL {url}: {e}")))?;
    let mut response = agent
        .run(request)
        .map_err(|e| classify(e, what, max_body))?;
    let code = response.status().as_u16();
    match code {
        200 => {}
        401 | 403 => return Err(PollError::Auth(code)),
        _ => return Err(PollError::Status(code, what)),
    }
    response
        .body_mut()
        .with_config()
        .limit(max_body as u64)
        .read_to_vec()
        .map_err(|e| classify(e, what, max_body))
}

fn classify(e: ureq::Error, what: &'static str, max_body: usize) -> PollError {
    match e {
        ureq::Error::Timeout(_) => PollError::Timeout,
        ureq::Error::BodyExceedsLimit(_) => PollError::TooLarge(what, max_body),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => PollError::Timeout,
        other => PollError::Connect(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_alertmanagers() {
        // model.LabelSet{}.Fingerprint() is the FNV-1a offset basis; the others were computed
        // with prometheus/common's model.LabelSet.Fingerprint.
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
        let one = BTreeMap::from([("alertname".to_string(), "A".to_string())]);
        let two = BTreeMap::from([
            ("alertname".to_string(), "A".to_string()),
            ("hale_host".to_string(), "h1".to_string()),
        ]);
        assert_ne!(fingerprint(&one), fingerprint(&two));
        assert_eq!(fingerprint(&one).len(), 16);
    }

    #[test]
    fn status_and_alerts_decode_and_refuse_what_they_are_not() {
        assert_eq!(
            decode_status(
                br#"{"cluster":{"name":"x","status":"settling","peers":[]},"uptime":"x"}"#
            ),
            Ok(ClusterStatus::Settling)
        );
        assert!(matches!(
            decode_status(b"<html>"),
            Err(PollError::Decode(..))
        ));
        assert!(matches!(
            decode_status(br#"{"cluster":{"status":"bogus"}}"#),
            Err(PollError::Decode(..))
        ));
        let body = br#"[{"labels":{"alertname":"A"},"annotations":{},"startsAt":"2026-12-01T00:00:00.123Z",
            "endsAt":"2026-12-01T00:05:00Z","updatedAt":"x","fingerprint":"zz","receivers":[{"name":"hale"}],
            "status":{"state":"suppressed","silencedBy":["s1"],"inhibitedBy":[]},"generatorURL":"http://p"}]"#;
        let alerts = decode_alerts(body).unwrap();
        assert!(alerts[0].muted());
        let starts = alerts[0].starts().unwrap();
        assert!((starts - 1_796_083_200.123).abs() < 1e-6, "{starts}");
        assert!(matches!(
            decode_alerts(br#"[{"labels":{},"startsAt":"yesterday","status":{"state":"active"}}]"#),
            Err(PollError::Decode(..))
        ));
        assert!(matches!(
            decode_alerts(br#"[{"labels":{"a":"1","a":"2"},"startsAt":"2026-12-01T00:00:00Z","status":{"state":"active"}}]"#),
            Err(PollError::Decode(..))
        ));
    }

    #[test]
    fn the_query_asks_for_muted_alerts_too_and_quotes_matchers() {
        let m = [Matcher::parse("hale_host=\"h 1\"").unwrap()];
        assert_eq!(
            alerts_query(&m, Some("hale.*")),
            "active=true&silenced=true&inhibited=true&unprocessed=false&filter=hale_host%3D%22h+1%22&receiver=hale.*"
        );
    }
}
