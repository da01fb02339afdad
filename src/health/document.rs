//! The documents of draft-inadarei-api-health-check-06 (`application/health+json`) as
//! `#[derive(Serialize)]` types: `/health` (with or without `checks`), `/health/live` and
//! `/health/ready`. Each is rendered once per sample, not per request.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::check::{Check, Status};

/// The top level of a health document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    status: &'static str,
    version: &'a str,
    release_id: String,
    service_id: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<[String; 1]>,
    links: Links<'a>,
    /// By `component:measurement`, in key order.
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<BTreeMap<&'a str, Vec<CheckObject<'a>>>>,
}

#[derive(Serialize)]
struct Links<'a> {
    #[serde(rename = "self")]
    this: &'a str,
}

/// One object of a `checks` array.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckObject<'a> {
    component_id: &'a str,
    component_type: &'a str,
    observed_value: f64,
    observed_unit: &'a str,
    status: &'static str,
    time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    affected_endpoints: &'a [String],
}

/// Who this service is, as every document says, and how it samples (the full document's
/// note).
pub struct Identity {
    pub service_id: String,
    pub description: String,
    pub interval: Duration,
    pub consecutive: u32,
}

/// `/health`'s two renderings of one sample.
pub struct Rendered {
    /// With `notes` and `checks`, for a client that may see details.
    pub full: Bytes,
    /// The top level only.
    pub summary: Bytes,
}

impl Identity {
    fn document<'a>(
        &'a self,
        status: Status,
        output: Option<&'a str>,
        link: &'a str,
    ) -> Document<'a> {
        let version = env!("CARGO_PKG_VERSION");
        Document {
            status: status.as_str(),
            version: version.split('.').next().unwrap_or("0"),
            release_id: format!("{version}+{}", env!("HALE_REVISION")),
            service_id: &self.service_id,
            description: &self.description,
            // A passing service says nothing more.
            output: output.filter(|_| status != Status::Pass),
            notes: None,
            links: Links { this: link },
            checks: None,
        }
    }

    /// A document with the top level only (`/health/live`, `/health/ready`).
    pub fn top(&self, status: Status, output: Option<&str>, link: &str) -> Bytes {
        to_bytes(&self.document(status, output, link))
    }

    /// `/health/ready`: a sample was taken and no critical check fails.
    pub fn ready(&self, sampled: bool, checks: &[Check]) -> (Status, Bytes) {
        let (status, output) = if !sampled {
            (Status::Fail, Some("no sample taken yet".to_string()))
        } else if let Some(c) = checks
            .iter()
            .find(|c| c.critical && c.status == Status::Fail)
        {
            (
                Status::Fail,
                Some(format!("{} {} fails", c.key, c.component_id)),
            )
        } else {
            (Status::Pass, None)
        };
        (status, self.top(status, output.as_deref(), "/health/ready"))
    }

    /// `/health` for one sample taken at `time` (RFC 3339).
    pub fn health(
        &self,
        checks: &[Check],
        status: Status,
        output: Option<&str>,
        time: &str,
    ) -> Rendered {
        let mut doc = self.document(status, output, "/health");
        let summary = to_bytes(&doc);
        doc.notes = Some([format!(
            "sampled every {:?}; a status must hold for {} samples to change",
            self.interval, self.consecutive
        )]);
        let mut by_key: BTreeMap<&str, Vec<CheckObject>> = BTreeMap::new();
        for c in checks {
            by_key.entry(&c.key).or_default().push(CheckObject {
                component_id: &c.component_id,
                component_type: c.component_type,
                observed_value: c.value,
                observed_unit: c.unit,
                status: c.status.as_str(),
                time,
                output: c.output.as_deref().filter(|_| c.status != Status::Pass),
                affected_endpoints: &c.affected,
            });
        }
        doc.checks = Some(by_key);
        Rendered {
            full: to_bytes(&doc),
            summary,
        }
    }
}

fn to_bytes(doc: &Document) -> Bytes {
    // Serializing these types cannot fail: string keys, no maps with other keys.
    Bytes::from(serde_json::to_vec(doc).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            service_id: "host1".into(),
            description: "hale on host1".into(),
            interval: Duration::from_secs(15),
            consecutive: 3,
        }
    }

    #[test]
    fn the_documents_carry_what_the_draft_asks_and_nothing_empty() {
        let id = identity();
        let warn = Check {
            key: "disk:utilization".into(),
            component_id: "/".into(),
            component_type: "system",
            value: 91.5,
            unit: "percent",
            status: Status::Warn,
            output: Some("91.5% used".into()),
            critical: true,
            affected: vec![],
        };
        let pass = Check {
            status: Status::Pass,
            component_id: "/data".into(),
            output: Some("hidden while passing".into()),
            ..warn.clone()
        };
        let r = id.health(
            &[warn, pass],
            Status::Warn,
            Some("disk:utilization /: warn"),
            "2026-12-01T00:00:00Z",
        );
        let full: serde_json::Value = serde_json::from_slice(&r.full).unwrap();
        assert_eq!(full["status"], "warn");
        assert_eq!(full["serviceId"], "host1");
        assert_eq!(full["links"]["self"], "/health");
        assert_eq!(full["output"], "disk:utilization /: warn");
        let disks = full["checks"]["disk:utilization"].as_array().unwrap();
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0]["observedValue"], 91.5);
        assert_eq!(disks[0]["output"], "91.5% used");
        assert!(
            disks[1].get("output").is_none(),
            "a passing check's output is left out"
        );
        assert!(disks[0].get("affectedEndpoints").is_none());
        let summary: serde_json::Value = serde_json::from_slice(&r.summary).unwrap();
        assert!(summary.get("checks").is_none() && summary.get("notes").is_none());
        assert_eq!(summary["status"], "warn");

        let (status, ready) = id.ready(false, &[]);
        assert_eq!(status, Status::Fail);
        let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
        assert_eq!(ready["output"], "no sample taken yet");
        let live: serde_json::Value =
            serde_json::from_slice(&id.top(Status::Pass, Some("unused"), "/health/live")).unwrap();
        assert!(live.get("output").is_none(), "pass says nothing more");
    }
}
