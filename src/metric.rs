//! The metric model collectors fill in at scrape time: families of samples with a name, help, unit
//! and type. It carries no text; [`crate::exposition`] hands it to `prometheus-client`'s encoder,
//! which adds unit suffixes and `_total` the way Prometheus expects.

use std::borrow::Cow;

pub use prometheus_client::registry::Unit;

/// How a family is typed in the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic; the encoder appends `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// An `_info` metric valued 1; the encoder appends `_info`.
    Info,
    /// Cumulative buckets, sum and count; its series are in `MetricFamily::histograms`.
    Histogram,
    /// No type claimed (`untyped` in text format, `unknown` in OpenMetrics), for node_exporter
    /// families that are untyped there, such as `node_vmstat_*`, whose names a `_total` would break.
    Untyped,
}

/// A histogram's state: per-bucket counts for fixed upper bounds, plus sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// (upper bound, observations in (previous bound, bound]), the last bound `+Inf`. Not
    /// cumulative: the encoder accumulates them into Prometheus' `le` buckets.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (`+Inf` is added).
    pub fn new(bounds: &[f64]) -> Self {
        let mut buckets: Vec<(f64, u64)> = bounds.iter().map(|&b| (b, 0)).collect();
        buckets.push((f64::INFINITY, 0));
        Self {
            buckets,
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one observation.
    pub fn observe(&mut self, v: f64) {
        if let Some((_, n)) = self.buckets.iter_mut().find(|(bound, _)| v <= *bound) {
            *n += 1;
        }
        self.sum += v;
        self.count += 1;
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

/// A label pair. Keys are nearly always static; values come from the host.
pub type Label = (Cow<'static, str>, String);

/// One series of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<Label>,
    pub value: Value,
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
    /// The series of a [`Kind::Histogram`] family.
    pub histograms: Vec<(Vec<Label>, Histogram)>,
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
            histograms: Vec::new(),
        }
    }

    /// A histogram family; `name` excludes the unit.
    pub fn histogram(
        name: impl Into<Cow<'static, str>>,
        unit: Option<Unit>,
        help: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(Kind::Histogram, name, unit, help)
    }

    /// Adds a histogram series.
    pub fn push_histogram<const N: usize>(
        &mut self,
        labels: [(&'static str, String); N],
        h: Histogram,
    ) {
        let labels = labels
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect();
        self.histograms.push((labels, h));
    }

    /// Whether the family has no series at all.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.histograms.is_empty()
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

    /// An info family; `name` excludes `_info`.
    pub fn info(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Info, name, None, help)
    }

    /// Adds a series with the given label pairs.
    pub fn push<const N: usize>(
        &mut self,
        labels: [(&'static str, String); N],
        value: impl Into<Value>,
    ) {
        let labels = labels
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect();
        self.samples.push(Sample {
            labels,
            value: value.into(),
        });
    }

    /// Adds a series whose label names are not all known at compile time.
    pub fn push_labels(&mut self, labels: Vec<Label>, value: impl Into<Value>) {
        self.samples.push(Sample {
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
