//! Alertmanager's webhook payload, version 4, as Alertmanager's `notify/webhook` sends it:
//! `receiver`, `status`, `alerts[]` (each with `status`, `labels`, `annotations`, `startsAt`,
//! `endsAt`, `generatorURL`, `fingerprint`), `groupLabels`, `commonLabels`, `commonAnnotations`,
//! `externalURL`, `groupKey`, `truncatedAlerts`. Unknown fields are tolerated (newer
//! Alertmanagers add them); a body that is not JSON is a [`DecodeError::Syntax`] (HTTP 400), and
//! JSON of the wrong shape or with impossible values is a [`DecodeError::Invalid`] (HTTP 422),
//! each with a message that says where.

use std::collections::BTreeMap;

use serde::Deserialize;

/// firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// One alert of a notification.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    #[serde(default, deserialize_with = "unique_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "unique_map")]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, as Alertmanager writes it; part of the idempotency key.
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
    /// Where hale got the alert: never part of a payload.
    #[serde(skip)]
    pub origin: Origin,
}

/// Where an alert came from, as its decisions record it (`source` and `peer` in
/// `/heal/events`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub source: AlertSource,
    /// For a pulled alert: the Alertmanager peers that reported it, comma-separated.
    pub peer: String,
}

/// How an alert reached hale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertSource {
    /// Posted to `/webhook/alertmanager`.
    #[default]
    Webhook,
    /// Pulled from Alertmanager's API (`heal.pull`).
    Pull,
    /// An unhealthy container labelled for autoheal.
    Autoheal,
}

impl AlertSource {
    pub const ALL: [AlertSource; 3] = [
        AlertSource::Webhook,
        AlertSource::Pull,
        AlertSource::Autoheal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Webhook => "webhook",
            AlertSource::Pull => "pull",
            AlertSource::Autoheal => "autoheal",
        }
    }

    pub fn parse(s: &str) -> Option<AlertSource> {
        AlertSource::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl Alert {
    /// The key under which an alert is acted on once: Alertmanager's fingerprint (a hash of the
    /// label set) and when this firing started. Retries, repeats and an HA pair's duplicate
    /// deliveries of the same firing share it; a new firing of the same alert does not. Its
    /// resolution is a different event with its own key.
    pub fn idempotency_key(&self) -> String {
        match self.status {
            AlertStatus::Firing => format!("{}@{}", self.fingerprint, self.starts_at),
            AlertStatus::Resolved => format!("{}@{}/resolved", self.fingerprint, self.starts_at),
        }
    }

    /// The alert's name (`alertname` label), or empty.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// A whole notification.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub version: String,
    #[serde(default)]
    pub receiver: String,
    pub status: AlertStatus,
    pub alerts: Vec<Alert>,
    #[serde(default, deserialize_with = "unique_map")]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "unique_map")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "unique_map")]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
}

/// A JSON object of strings in which no key appears twice. JSON parsers disagree on which of two
/// equal keys wins, so for a daemon that acts on labels an ambiguous label set is refused (422)
/// rather than read one way here and another way by whoever wrote it.
pub(super) fn unique_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of string values")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!(
                        "the key {k:?} appears twice; hale refuses an ambiguous label set"
                    )));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

/// Why a body is not a notification hale accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all (or cut short): 400.
    #[error("the body is not JSON: {0}")]
    Syntax(String),
    /// JSON, but not Alertmanager's webhook payload version 4: 422.
    #[error("not an Alertmanager webhook payload (version 4): {0}")]
    Invalid(String),
}

impl Notification {
    /// Decodes and checks a webhook body.
    pub fn decode(body: &[u8]) -> Result<Notification, DecodeError> {
        let n: Notification = serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => DecodeError::Invalid(e.to_string()),
            _ => DecodeError::Syntax(e.to_string()),
        })?;
        if n.version != "4" {
            return Err(DecodeError::Invalid(format!(
                "version {:?}; hale speaks version \"4\"",
                n.version
            )));
        }
        for (i, a) in n.alerts.iter().enumerate() {
            if a.fingerprint.is_empty() {
                return Err(DecodeError::Invalid(format!(
                    "alerts[{i}]: empty fingerprint"
                )));
            }
            if time::OffsetDateTime::parse(
                &a.starts_at,
                &time::format_description::well_known::Rfc3339,
            )
            .is_err()
            {
                return Err(DecodeError::Invalid(format!(
                    "alerts[{i}].startsAt {:?} is not an RFC 3339 time",
                    a.starts_at
                )));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13.14: with a label key twice, the last one won silently.
    #[test]
    fn duplicate_label_keys_are_refused() {
        for field in ["labels", "annotations"] {
            let body = format!(
                r#"{{"version":"4","status":"firing","alerts":[{{"status":"firing",
                "{field}":{{"alertname":"A","name":"web-1","name":"db-1"}},
                "startsAt":"2026-11-23T04:00:00Z","fingerprint":"f"}}]}}"#
            );
            match Notification::decode(body.as_bytes()) {
                Err(DecodeError::Invalid(m)) => {
                    assert!(m.contains("\"name\" appears twice"), "{m}")
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        let body = r#"{"version":"4","status":"firing","alerts":[],
            "commonLabels":{"a":"1","a":"2"}}"#;
        assert!(matches!(
            Notification::decode(body.as_bytes()),
            Err(DecodeError::Invalid(_))
        ));
    }

    /// A notification as Alertmanager 0.25 (Debian 12's) sends it, with a field hale does not
    /// know added, as a newer Alertmanager might.
    const PAYLOAD: &str = r#"{
      "receiver": "hale",
      "status": "firing",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "ContainerUnhealthy", "name": "web-1", "severity": "critical"},
        "annotations": {"summary": "web-1 is unhealthy"},
        "startsAt": "2026-11-23T04:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": "6e1b3c2a9f0d4e57"
      }],
      "groupLabels": {"alertname": "ContainerUnhealthy"},
      "commonLabels": {"alertname": "ContainerUnhealthy"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "version": "4",
      "groupKey": "{}:{alertname=\"ContainerUnhealthy\"}",
      "truncatedAlerts": 0,
      "somethingNew": {"x": 1}
    }"#;

    #[test]
    fn decodes_alertmanagers_payload_and_tolerates_new_fields() {
        let n = Notification::decode(PAYLOAD.as_bytes()).unwrap();
        assert_eq!(n.status, AlertStatus::Firing);
        assert_eq!(n.alerts.len(), 1);
        let a = &n.alerts[0];
        assert_eq!(a.name(), "ContainerUnhealthy");
        assert_eq!(a.labels["name"], "web-1");
        assert_eq!(
            a.idempotency_key(),
            "6e1b3c2a9f0d4e57@2026-11-23T04:00:00.123456789Z"
        );
        assert_eq!(n.external_url, "http://alertmanager:9093");
    }

    #[test]
    fn bad_bodies_get_the_right_error() {
        let syntax = [&b""[..], b"{", b"not json", &PAYLOAD.as_bytes()[..100]];
        for body in syntax {
            assert!(
                matches!(Notification::decode(body), Err(DecodeError::Syntax(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let invalid = [
            PAYLOAD.replace(r#""version": "4""#, r#""version": "3""#),
            PAYLOAD.replace(r#""status": "firing","#, r#""status": "burning","#),
            PAYLOAD.replace(r#""alerts": ["#, r#""alerts": 7, "x": ["#),
            PAYLOAD.replace(
                r#""fingerprint": "6e1b3c2a9f0d4e57""#,
                r#""fingerprint": """#,
            ),
            PAYLOAD.replace("2026-11-23T04:00:00.123456789Z", "yesterday"),
            PAYLOAD.replace(r#""startsAt""#, r#""startedAt""#),
            "[]".to_string(),
            "{}".to_string(),
        ];
        for body in &invalid {
            let r = Notification::decode(body.as_bytes());
            assert!(
                matches!(r, Err(DecodeError::Invalid(_))),
                "{r:?} for {body}"
            );
        }
    }
}
