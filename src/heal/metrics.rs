//! The healer's own metrics, kept by `prometheus-client`'s types (counters, a histogram, gauge
//! families) from the moment hale starts, and the gauges read at scrape time from the queue and
//! the audit log.
//!
//! Every configured rule's `hale_heal_decisions_total` series exist at 0 from the start, for
//! every result, so `increase()` sees a rule's first failure and its first success. The webhook's
//! status codes and the configured actions' duration histograms start at 0 for the same reason.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::AtomicU64;

use super::decision::Outcome;
use super::rules::Rule;
use crate::metric::{MetricFamily, Unit};

/// Buckets of `hale_heal_action_duration_seconds`: restarts take seconds, commands up to their
/// timeout.
pub const DURATION_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// The status codes `POST /webhook/alertmanager` answers with once healing is configured.
pub const WEBHOOK_CODES: [u16; 7] = [202, 400, 401, 413, 422, 500, 503];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    rule: String,
    action: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: u16,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The counters, the histogram and the last-success gauges since hale started.
pub struct Metrics {
    decisions: Family<DecisionLabels, Counter>,
    durations: Family<ActionLabels, Histogram, fn() -> Histogram>,
    last_success: Family<RuleLabels, Gauge<f64, AtomicU64>>,
    webhook: Family<CodeLabels, Counter>,
    audit_errors: Counter,
}

impl Metrics {
    /// Metrics for these rules, every rule's decision series at 0, each rule's last success
    /// as the audit log has it.
    pub fn new<'a>(
        rules: impl IntoIterator<Item = &'a Rule>,
        last_success: impl IntoIterator<Item = (String, f64)>,
    ) -> Metrics {
        let m = Metrics {
            decisions: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            last_success: Family::default(),
            webhook: Family::default(),
            audit_errors: Counter::default(),
        };
        for rule in rules {
            drop(m.durations.get_or_create(&ActionLabels {
                action: rule.action.as_str(),
            }));
            for outcome in Outcome::ALL {
                // Creating the series is the point; the guard it returns is not needed.
                drop(m.decisions.get_or_create(&DecisionLabels {
                    rule: rule.name.clone(),
                    action: rule.action.as_str(),
                    result: outcome.as_str(),
                }));
            }
        }
        for code in WEBHOOK_CODES {
            drop(m.webhook.get_or_create(&CodeLabels { code }));
        }
        for (rule, time) in last_success {
            m.last_success.get_or_create(&RuleLabels { rule }).set(time);
        }
        m
    }

    /// Counts one decision.
    pub fn decided(&self, rule: &str, action: &'static str, outcome: Outcome) {
        self.decisions
            .get_or_create(&DecisionLabels {
                rule: rule.to_string(),
                action,
                result: outcome.as_str(),
            })
            .inc();
    }

    /// Notes a success of `rule` at `time` (Unix seconds).
    pub fn succeeded(&self, rule: &str, time: f64) {
        self.last_success
            .get_or_create(&RuleLabels {
                rule: rule.to_string(),
            })
            .set(time);
    }

    /// Observes how long one attempt of `action` took.
    pub fn observe(&self, action: &'static str, seconds: f64) {
        self.durations
            .get_or_create(&ActionLabels { action })
            .observe(seconds);
    }

    /// Counts one webhook answer.
    pub fn webhook(&self, code: u16) {
        self.webhook.get_or_create(&CodeLabels { code }).inc();
    }

    /// Counts one failed audit-log write.
    pub fn audit_error(&self) {
        self.audit_errors.inc();
    }

    /// The kept families, to be encoded with the scrape (they read the live values).
    pub fn families(&self, out: &mut Vec<MetricFamily>) {
        out.extend([
            MetricFamily::live(
                "hale_heal_decisions",
                None,
                "Healing decisions since hale started, by rule, action and result.",
                self.decisions.clone(),
            ),
            MetricFamily::live(
                "hale_heal_action_duration",
                Some(Unit::Seconds),
                "How long healing actions took, by action.",
                self.durations.clone(),
            ),
            MetricFamily::live(
                "hale_heal_last_success_timestamp",
                Some(Unit::Seconds),
                "When each rule's action last succeeded (Unix time), from the audit log.",
                self.last_success.clone(),
            ),
            MetricFamily::live(
                "hale_heal_webhook_requests",
                None,
                "Webhook requests since hale started, by the HTTP status code answered (202 accepted; others rejected).",
                self.webhook.clone(),
            ),
            MetricFamily::live(
                "hale_heal_audit_errors",
                None,
                "Audit-log writes that failed since hale started; while they fail, webhooks get 503 and no action runs.",
                self.audit_errors.clone(),
            ),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{encode, Format};
    use crate::scrape::Collected;
    use std::sync::Arc;

    fn text(m: &Metrics) -> String {
        let mut families = Vec::new();
        m.families(&mut families);
        let collected = Arc::new(Collected::new(families, Vec::new()));
        String::from_utf8(encode(&collected, Format::Text004).to_vec()).unwrap()
    }

    #[test]
    fn every_rule_and_result_starts_at_zero_and_counts_from_there() {
        let rule: Rule = serde_saphyr::from_str(
            "{name: web, match: {alertname: Down}, action: restart, allow: {names: [web]}}",
        )
        .unwrap();
        let m = Metrics::new([&rule], [("web".to_string(), 1234.5)]);
        let before = text(&m);
        for outcome in Outcome::ALL {
            let line = format!(
                "hale_heal_decisions_total{{rule=\"web\",action=\"restart\",result=\"{}\"}} 0\n",
                outcome.as_str()
            );
            assert!(before.contains(&line), "{line} in {before}");
        }
        assert!(before.contains("hale_heal_webhook_requests_total{code=\"503\"} 0\n"));
        assert!(
            before.contains("hale_heal_audit_errors_total 0\n"),
            "{before}"
        );
        assert!(before.contains("hale_heal_last_success_timestamp_seconds{rule=\"web\"} 1234.5\n"));
        assert!(before.contains("hale_heal_action_duration_seconds_count{action=\"restart\"} 0\n"));

        m.decided("web", "restart", Outcome::Failed);
        m.decided("web", "restart", Outcome::Failed);
        m.webhook(503);
        m.audit_error();
        m.observe("restart", 0.3);
        let after = text(&m);
        assert!(after.contains(
            "hale_heal_decisions_total{rule=\"web\",action=\"restart\",result=\"failed\"} 2\n"
        ));
        assert!(after.contains("hale_heal_webhook_requests_total{code=\"503\"} 1\n"));
        assert!(after.contains("hale_heal_audit_errors_total 1\n"));
        assert!(after.contains(
            "hale_heal_action_duration_seconds_bucket{le=\"0.5\",action=\"restart\"} 1\n"
        ));
    }
}
