//! The metric model collectors fill in at scrape time: families of samples with a name, help, unit
//! and type. It carries no text; [`crate::exposition`] hands it to `prometheus-client`'s encoder,
//! which adds unit suffixes and `_total` the way Prometheus expects.

use std::borrow::Cow;

use prometheus_client::encoding::EncodeMetric;
use prometheus_client::metrics::MetricType;
pub use prometheus_client::registry::Unit;

/// How a family is typed in the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic; the encoder appends `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets, sum and count; only as a [`Live`] metric.
    Histogram,
    /// No type claimed (`untyped` in text format, `unknown` in OpenMetrics), for node_exporter
    /// families that are untyped there, such as `node_vmstat_*`, whose names a `_total` would break.
    Untyped,
}

/// A metric `prometheus-client` keeps itself (a `Counter`, a `Family`, a `Histogram`), read
/// when the family is encoded: for hale's own counters, which live as long as hale does and are
/// updated from many tasks, rather than rebuilt at every scrape.
#[derive(Clone)]
pub struct Live(pub std::sync::Arc<dyn EncodeMetric + Send + Sync>);

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live(..)")
    }
}

/// A sample value. Integers stay integers in the output (no `1024.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl Value {
    /// The value as a float, for comparisons and tests.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
        }
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(u64::from(v))
    }
}

/// A label pair. Keys are nearly always static; values mostly come from the host, and the
/// static ones (a state set's states) cost no allocation.
pub type Label = (Cow<'static, str>, Cow<'static, str>);

/// Labels several series share (a container's `id`, `name`, `image` and allow-listed Docker
/// labels, on some seventy series per container), with their exposition text made once: each
/// series then costs a reference count instead of an allocation per label value, and the
/// encoder copies one string instead of escaping every value again (with 100 containers,
/// 20,000 allocations and as many escapes a scrape).
#[derive(Debug, PartialEq)]
pub struct SharedLabels {
    labels: Vec<Label>,
    /// `k1="v1",k2="v2"` with values escaped, as the exposition writes them.
    text: String,
}

impl SharedLabels {
    pub fn new(labels: Vec<Label>) -> std::sync::Arc<SharedLabels> {
        let mut text = String::new();
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            push_label(&mut text, k, v);
        }
        std::sync::Arc::new(SharedLabels { labels, text })
    }

    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// The labels as the exposition writes them, without braces.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Writes `key="value"` with the value escaped as the exposition formats want (`\\`, `\"`,
/// `\n`), as `prometheus-client` escapes them.
pub fn push_label(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str("=\"");
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
    } else {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// One series of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels this series shares with others, written before `labels`.
    pub shared: Option<std::sync::Arc<SharedLabels>>,
    pub labels: Vec<Label>,
    pub value: Value,
}

impl Sample {
    /// Every label of the series: the shared ones, then its own.
    pub fn all_labels(&self) -> impl Iterator<Item = &Label> {
        self.shared
            .iter()
            .flat_map(|s| s.labels.iter())
            .chain(&self.labels)
    }
}

/// A metric family as the encoder sees it.
#[derive(Debug, Clone)]
pub struct MetricFamily {
    /// Base name, without the unit suffix or `_total`/`_info`: those come from `unit` and `kind`.
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub unit: Option<Unit>,
    pub kind: Kind,
    pub samples: Vec<Sample>,
    /// A metric `prometheus-client` keeps, encoded in place of `samples`.
    pub live: Option<Live>,
    /// A family read from a text file (the `textfile` collector), written as it was read in
    /// place of `samples`: it may be a summary or a counter without `_total`, which
    /// `prometheus-client` does not write.
    pub text: Option<std::sync::Arc<crate::textformat::Family>>,
}

impl MetricFamily {
    /// A new, empty family.
    pub fn new(
        kind: Kind,
        name: impl Into<Cow<'static, str>>,
        unit: Option<Unit>,
        help: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            unit,
            kind,
            samples: Vec::new(),
            live: None,
            text: None,
        }
    }

    /// A family whose series `prometheus-client` keeps: a `Counter`, `Gauge`, `Histogram`, or a
    /// `Family` of them. `name` excludes the unit and `_total`.
    pub fn live(
        name: impl Into<Cow<'static, str>>,
        unit: Option<Unit>,
        help: impl Into<Cow<'static, str>>,
        metric: impl EncodeMetric + Send + Sync + 'static,
    ) -> Self {
        let kind = match metric.metric_type() {
            MetricType::Counter => Kind::Counter,
            MetricType::Gauge => Kind::Gauge,
            MetricType::Histogram => Kind::Histogram,
            _ => Kind::Untyped,
        };
        let mut family = Self::new(kind, name, unit, help);
        family.live = Some(Live(std::sync::Arc::new(metric)));
        family
    }

    /// The name a structured family's samples carry in text format 0.0.4: its name, unit and
    /// `_total` for a counter.
    pub fn exposed_name(&self) -> String {
        let mut name = self.name.to_string();
        if let Some(unit) = &self.unit {
            name.push('_');
            name.push_str(unit.as_str());
        }
        if self.kind == Kind::Counter {
            name.push_str("_total");
        }
        name
    }

    /// Whether the family has no series at all.
    pub fn is_empty(&self) -> bool {
        match (&self.live, &self.text) {
            (Some(live), _) => live.0.is_empty(),
            (None, Some(text)) => text.samples.is_empty(),
            (None, None) => self.samples.is_empty(),
        }
    }

    /// A family read from a text file, served as read.
    pub fn from_text(family: crate::textformat::Family) -> Self {
        let mut f = Self::new(Kind::Untyped, family.name.clone(), None, "");
        f.text = Some(std::sync::Arc::new(family));
        f
    }

    /// A counter family; `name` excludes the unit and `_total`.
    pub fn counter(
        name: impl Into<Cow<'static, str>>,
        unit: Option<Unit>,
        help: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(Kind::Counter, name, unit, help)
    }

    /// A gauge family; `name` excludes the unit.
    pub fn gauge(
        name: impl Into<Cow<'static, str>>,
        unit: Option<Unit>,
        help: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(Kind::Gauge, name, unit, help)
    }

    /// An untyped family; see [`Kind::Untyped`].
    pub fn untyped(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Untyped, name, None, help)
    }

    /// An info family: a gauge valued 1 named `<name>_info`, typed gauge in both formats as
    /// node_exporter and cAdvisor serve theirs (typed `info`, Prometheus would file its metadata
    /// under `<name>`, where nobody looks it up).
    pub fn info(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>) -> Self {
        let name: Cow<'static, str> = name.into();
        Self::new(Kind::Gauge, format!("{name}_info"), None, help)
    }

    /// Adds a series with the given label pairs.
    pub fn push<const N: usize>(
        &mut self,
        labels: [(&'static str, String); N],
        value: impl Into<Value>,
    ) {
        let labels = labels
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), Cow::Owned(v)))
            .collect();
        self.samples.push(Sample {
            shared: None,
            labels,
            value: value.into(),
        });
    }

    /// Adds a series with `shared` labels (see [`Sample::shared`]) followed by `labels`.
    pub fn push_shared<const N: usize>(
        &mut self,
        shared: &std::sync::Arc<SharedLabels>,
        labels: [(&'static str, Cow<'static, str>); N],
        value: impl Into<Value>,
    ) {
        self.samples.push(Sample {
            shared: Some(std::sync::Arc::clone(shared)),
            labels: labels
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
            value: value.into(),
        });
    }

    /// Adds a series whose label names are not all known at compile time.
    pub fn push_labels(&mut self, labels: Vec<Label>, value: impl Into<Value>) {
        self.samples.push(Sample {
            shared: None,
            labels,
            value: value.into(),
        });
    }

    /// Adds the series and returns the family, for one-line families.
    pub fn with<const N: usize>(
        mut self,
        labels: [(&'static str, String); N],
        value: impl Into<Value>,
    ) -> Self {
        self.push(labels, value);
        self
    }
}

/// A counter under its exact name, without the `_total` that `prometheus-client` adds: for
/// other programs' counters named so (cAdvisor's `container_memory_failcnt`,
/// process-exporter's `namedprocess_scrape_errors`), which dashboards query by that name.
/// Written as a text-format family: typed `counter` in text 0.0.4, `unknown` in OpenMetrics
/// (which wants `_total` on counters).
pub fn exact_counter(
    name: &str,
    help: &str,
    samples: Vec<(Vec<(String, String)>, f64)>,
) -> MetricFamily {
    use crate::textformat::{Family, Kind as TextKind, Sample as TextSample};
    MetricFamily::from_text(Family {
        name: name.to_string(),
        help: Some(help.to_string()),
        kind: TextKind::Counter,
        samples: samples
            .into_iter()
            .map(|(labels, value)| TextSample {
                suffix: "",
                labels,
                inner: None,
                value,
                timestamp_ms: None,
            })
            .collect(),
    })
}
