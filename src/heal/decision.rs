//! A decision and its one rendering: what became of one alert for one rule, as the audit log
//! keeps it, `GET /heal/events` and the webhook's answer show it (JSON), and `hale heal simulate`
//! prints it (logfmt, the same fields). [`Filter`] is the query of `GET /heal/events`.

use serde::Serialize;

pub use super::payload::AlertSource;

/// What became of one alert for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Executed,
    Succeeded,
    Failed,
    DryRun,
    SkippedDuplicate,
    SkippedCooldown,
    Denied,
    GaveUp,
    Cancelled,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Executed,
        Outcome::Succeeded,
        Outcome::Failed,
        Outcome::DryRun,
        Outcome::SkippedDuplicate,
        Outcome::SkippedCooldown,
        Outcome::Denied,
        Outcome::GaveUp,
        Outcome::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::DryRun => "dry_run",
            Outcome::SkippedDuplicate => "skipped_duplicate",
            Outcome::SkippedCooldown => "skipped_cooldown",
            Outcome::Denied => "denied",
            Outcome::GaveUp => "gave_up",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One row of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Unix seconds.
    pub time: f64,
    pub rule: String,
    pub alertname: String,
    pub fingerprint: String,
    pub target: String,
    pub action: String,
    pub outcome: Outcome,
    /// Seconds the action took, for `succeeded` and `failed`.
    pub duration: Option<f64>,
    /// The error, the denial's reason, or the command's (truncated) output.
    pub detail: String,
    /// How the alert reached hale: `webhook`, `pull` or `autoheal`.
    pub source: AlertSource,
    /// For a pulled alert, the Alertmanager peers that reported it (comma-separated).
    pub peer: String,
}

/// Filters of [`Audit::events`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub limit: Option<u32>,
    pub since: Option<f64>,
    pub outcome: Option<Outcome>,
    pub target: Option<String>,
    pub rule: Option<String>,
    pub source: Option<AlertSource>,
}

impl Filter {
    /// Parses `GET /heal/events`' query: `limit` (1 to 10000, default 100), `since` (RFC 3339
    /// or Unix seconds), `result`, `target`, `rule`, `source`. Anything else is an error that says so.
    pub fn from_query(query: &str) -> Result<Filter, String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| format!("bad query: {e}"))?;
        let mut f = Filter::default();
        for (k, v) in pairs {
            match k.as_str() {
                "limit" => {
                    f.limit = Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|n| (1..=10_000).contains(n))
                            .ok_or_else(|| format!("limit={v:?}: use 1 to 10000"))?,
                    )
                }
                "since" => {
                    let t = v
                        .parse::<f64>()
                        .ok()
                        .filter(|t| t.is_finite())
                        .or_else(|| crate::docker::parse_time(&v))
                        .ok_or_else(|| {
                            format!("since={v:?}: use an RFC 3339 time or Unix seconds")
                        })?;
                    f.since = Some(t);
                }
                "result" => {
                    f.outcome = Some(Outcome::parse(&v).ok_or_else(|| {
                        format!(
                            "result={v:?}: use one of {}",
                            Outcome::ALL.map(Outcome::as_str).join(", ")
                        )
                    })?)
                }
                "target" => f.target = Some(v),
                "rule" => f.rule = Some(v),
                "source" => {
                    f.source = Some(AlertSource::parse(&v).ok_or_else(|| {
                        format!(
                            "source={v:?}: use one of {}",
                            AlertSource::ALL.map(AlertSource::as_str).join(", ")
                        )
                    })?)
                }
                other => {
                    return Err(format!(
                    "unknown parameter {other:?}: use limit, since, result, target, rule, source"
                ))
                }
            }
        }
        Ok(f)
    }
}

impl Decision {
    /// The decision's time in RFC 3339 (UTC), empty when out of range.
    pub fn time_rfc3339(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos((self.time * 1e9) as i128)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// The decision as `GET /heal/events` and the webhook's answer show it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.view()).unwrap_or_default()
    }

    /// The same fields, in the same order, as one logfmt line: what `hale heal simulate`
    /// prints.
    pub fn to_logfmt(&self) -> String {
        let v = self.view();
        let duration = v.duration_seconds.map(|d| d.to_string());
        let fields = [
            ("time", v.time.as_str()),
            ("rule", v.rule),
            ("alertname", v.alertname),
            ("fingerprint", v.fingerprint),
            ("target", v.target),
            ("action", v.action),
            ("result", v.result),
            ("duration_seconds", duration.as_deref().unwrap_or("")),
            ("detail", v.detail),
            ("source", v.source),
            ("peer", v.peer),
        ];
        let mut line = String::new();
        for (key, value) in fields {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(key);
            line.push('=');
            let bare = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.:+".contains(c));
            if bare {
                line.push_str(value);
            } else {
                line.push_str(&format!("{value:?}"));
            }
        }
        line
    }

    fn view(&self) -> View<'_> {
        View {
            time: self.time_rfc3339(),
            rule: &self.rule,
            alertname: &self.alertname,
            fingerprint: &self.fingerprint,
            target: &self.target,
            action: &self.action,
            result: self.outcome.as_str(),
            duration_seconds: self.duration,
            detail: &self.detail,
            source: self.source.as_str(),
            peer: &self.peer,
        }
    }
}

/// A decision's one rendering.
#[derive(Serialize)]
struct View<'a> {
    time: String,
    rule: &'a str,
    alertname: &'a str,
    fingerprint: &'a str,
    target: &'a str,
    action: &'a str,
    result: &'static str,
    duration_seconds: Option<f64>,
    detail: &'a str,
    source: &'static str,
    peer: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decision_renders_the_same_fields_as_json_and_logfmt() {
        let d = Decision {
            time: 1_764_547_200.5,
            rule: "restart-web".into(),
            alertname: "ContainerDown".into(),
            fingerprint: "f1".into(),
            target: "web 1".into(),
            action: "restart".into(),
            outcome: Outcome::SkippedCooldown,
            duration: Some(0.25),
            detail: "last acted 10s ago".into(),
            source: AlertSource::Pull,
            peer: "http://am1:9093".into(),
        };
        let json = d.to_json();
        assert_eq!(json["result"], "skipped_cooldown");
        assert_eq!(json["time"], "2025-12-01T00:00:00.5Z");
        assert_eq!(json["duration_seconds"], 0.25);
        assert_eq!(
            d.to_logfmt(),
            "time=2025-12-01T00:00:00.5Z rule=restart-web alertname=ContainerDown \
             fingerprint=f1 target=\"web 1\" action=restart result=skipped_cooldown \
             duration_seconds=0.25 detail=\"last acted 10s ago\" source=pull \
             peer=\"http://am1:9093\""
        );
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        for key in keys {
            assert!(d.to_logfmt().contains(&format!("{key}=")), "{key}");
        }
    }
}
