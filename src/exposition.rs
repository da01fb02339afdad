//! Turning metric families into bytes on the wire: content negotiation between OpenMetrics 1.0.0 and
//! the Prometheus text format 0.0.4, and the encoding itself.
//!
//! The families collectors build at each scrape are written directly, in either format, byte for
//! byte as `prometheus-client` would write them (the same metadata lines, escaping and number
//! formatting; `tests/golden.rs` holds both formats to the bytes): that is most of a scrape's
//! output, and going through `prometheus-client`'s per-sample encoders and then rewriting its
//! OpenMetrics into 0.0.4 cost most of a scrape's CPU. The few families `prometheus-client`
//! keeps live (hale's own counters and histograms) are still encoded by it. Its OpenMetrics and
//! 0.0.4 differ, for the types hale uses, in the metadata lines alone: 0.0.4 names a counter
//! family `x_total`, and has neither `# UNIT` nor `# EOF`; [`openmetrics_to_text004`] rewrites
//! those. (`_info` families are gauges named `x_info` in both, as node_exporter's.)
//!
//! `/metrics` serves 0.0.4 unless `--web.enable-openmetrics`, as node_exporter does: Prometheus
//! files 0.0.4 metadata under the sample names (`x_total`) that dashboards look up.

use std::fmt::Write as _;

use prometheus_client::collector::Collector as EncodeCollector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use std::sync::Arc;

use bytes::Bytes;

use crate::metric::{Kind, MetricFamily, Value};
use crate::scrape::Collected;

/// Exposition format chosen for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
    /// `text/plain; version=0.0.4`
    Text004,
}

impl Format {
    /// The exact Content-Type header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// Picks the format from an `Accept` header the way Prometheus' client libraries do: the
    /// acceptable entry with the highest q-value wins, OpenMetrics on a tie; anything else, or no
    /// header at all, gets text 0.0.4 (never 406, so curl and old scrapers always get an answer).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text004;
        };
        let mut best: Option<(f32, Format)> = None;
        for entry in accept.split(',') {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            let mut version: Option<String> = None;
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            let format = match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version.as_deref(), None | Some("1.0.0") | Some("0.0.1")) =>
                {
                    Format::OpenMetrics
                }
                "text/plain" | "text/*" | "*/*"
                    if matches!(version.as_deref(), None | Some("0.0.4")) =>
                {
                    Format::Text004
                }
                _ => continue,
            };
            if q <= 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((bq, bf)) => {
                    q > bq
                        || (q == bq && format == Format::OpenMetrics && bf != Format::OpenMetrics)
                }
            };
            if better {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Text004, |(_, f)| f)
    }
}

/// A collection's families in the chosen format, encoded once per collection and format.
pub fn encode(collected: &Arc<Collected>, format: Format) -> Bytes {
    let [openmetrics, text] = &collected.encoded;
    let slot = match format {
        Format::OpenMetrics => openmetrics,
        Format::Text004 => text,
    };
    slot.get_or_init(|| Bytes::from(encode_uncached(Arc::clone(collected), format)))
        .clone()
}

/// The size of the last body encoded, as the next one's starting capacity: a body of a hundred
/// containers is over a megabyte, and growing to it by doubling copied it twice over. Only a
/// hint: a wrong value costs a reallocation, nothing else.
static LAST_BODY_LEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn encode_uncached(collected: Arc<Collected>, format: Format) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let hint = LAST_BODY_LEN.load(Relaxed);
    let mut body = String::with_capacity((hint + hint / 8).max(64 * 1024));
    for family in &collected.families {
        if family.is_empty() || family.text.is_some() {
            continue;
        }
        match &family.live {
            Some(_) => write_live(&mut body, family, format),
            None => write_family(&mut body, family, format),
        }
    }
    if format == Format::OpenMetrics {
        body.push_str("# EOF\n");
    }
    append_text_families(&collected, format, &mut body);
    LAST_BODY_LEN.store(body.len(), Relaxed);
    body
}

/// The metadata name of a structured family: its name and unit, as `prometheus-client` writes
/// it (and `_total` for a counter in text format 0.0.4).
fn push_meta_name(out: &mut String, family: &MetricFamily, format: Format) {
    out.push_str(&family.name);
    if let Some(unit) = &family.unit {
        out.push('_');
        out.push_str(unit.as_str());
    }
    if format == Format::Text004 && family.kind == Kind::Counter {
        out.push_str("_total");
    }
}

/// Writes one family of samples directly, byte for byte what `prometheus-client` writes for it
/// (and, in text format 0.0.4, what [`openmetrics_to_text004`] makes of that): the same
/// metadata lines, label escaping and number formatting (`itoa`, `dtoa`). It is the bulk of
/// every scrape, so it skips `prometheus-client`'s per-sample encoder objects and the second
/// pass over the body. `tests/golden.rs` holds both formats to the bytes.
fn write_family(out: &mut String, family: &MetricFamily, format: Format) {
    let kind = match (format, family.kind) {
        (_, Kind::Counter) => "counter",
        (_, Kind::Gauge) => "gauge",
        (_, Kind::Histogram) => "histogram",
        (Format::OpenMetrics, Kind::Untyped) => "unknown",
        (Format::Text004, Kind::Untyped) => "untyped",
    };
    out.push_str("# HELP ");
    push_meta_name(out, family, format);
    out.push(' ');
    out.push_str(&family.help);
    out.push_str("\n# TYPE ");
    push_meta_name(out, family, format);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
    if let (Format::OpenMetrics, Some(unit)) = (format, &family.unit) {
        out.push_str("# UNIT ");
        out.push_str(&family.name);
        out.push('_');
        out.push_str(unit.as_str());
        out.push(' ');
        out.push_str(unit.as_str());
        out.push('\n');
    }
    // Histogram families carry no plain samples (they are live).
    if family.kind == Kind::Histogram {
        return;
    }
    let (mut itoa, mut dtoa) = (itoa::Buffer::new(), dtoa::Buffer::new());
    let name = family.exposed_name();
    for sample in &family.samples {
        out.push_str(&name);
        let shared = sample.shared.as_deref().map_or("", |s| s.text());
        if !shared.is_empty() || !sample.labels.is_empty() {
            out.push('{');
            out.push_str(shared);
            for (i, (k, v)) in sample.labels.iter().enumerate() {
                if i > 0 || !shared.is_empty() {
                    out.push(',');
                }
                crate::metric::push_label(out, k, v);
            }
            out.push('}');
        }
        out.push(' ');
        match sample.value {
            Value::Int(v) => out.push_str(itoa.format(v)),
            Value::Float(v) => out.push_str(dtoa.format(v)),
        }
        out.push('\n');
    }
}

/// A family `prometheus-client` keeps (hale's own counters and histograms), encoded by it
/// through a registry of its own (hale has a handful of these).
fn write_live(out: &mut String, family: &MetricFamily, format: Format) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(LiveFamily(family.clone())));
    let mut text = String::new();
    // Writing into a String cannot fail, and the collector only fails on writer errors.
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        return;
    }
    let text = text.strip_suffix("# EOF\n").unwrap_or(&text);
    match format {
        Format::OpenMetrics => out.push_str(text),
        Format::Text004 => out.push_str(&openmetrics_to_text004(text)),
    }
}

/// A live family as a `prometheus-client` collector.
#[derive(Debug)]
struct LiveFamily(MetricFamily);

impl EncodeCollector for LiveFamily {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let family = &self.0;
        let Some(live) = &family.live else {
            return Ok(());
        };
        let metric_type = match family.kind {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
            Kind::Histogram => MetricType::Histogram,
            Kind::Untyped => MetricType::Unknown,
        };
        let metric = encoder.encode_descriptor(
            &family.name,
            &family.help,
            family.unit.as_ref(),
            metric_type,
        )?;
        live.0.encode(metric)
    }
}

/// Writes the families read from text files (the `textfile` collector) after the others, before
/// OpenMetrics' `# EOF`. A file's family whose name another collector already exports is left
/// out, as node_exporter's registry leaves out the inconsistent one: two families of one name
/// would make Prometheus keep whichever came last.
fn append_text_families(collected: &Collected, format: Format, body: &mut String) {
    let texts = || collected.families.iter().filter_map(|f| f.text.as_deref());
    if texts().next().is_none() {
        return;
    }
    let taken: std::collections::HashSet<String> = collected
        .families
        .iter()
        .filter(|f| f.text.is_none() && !f.is_empty())
        .map(crate::metric::MetricFamily::exposed_name)
        .collect();
    let eof = format == Format::OpenMetrics && body.ends_with("# EOF\n");
    if eof {
        body.truncate(body.len() - "# EOF\n".len());
    }
    let text_format = match format {
        Format::OpenMetrics => crate::textformat::Format::OpenMetrics,
        Format::Text004 => crate::textformat::Format::Text004,
    };
    for family in texts().filter(|f| !f.samples.is_empty()) {
        if taken.contains(&family.name) {
            tracing::warn!(metric = %family.name, "textfile: a family of this name comes from another collector; left out");
            continue;
        }
        family.render(text_format, body);
    }
    if eof {
        body.push_str("# EOF\n");
    }
}

/// Rewrites `prometheus-client`'s OpenMetrics output into text format 0.0.4 (see the module doc).
pub fn openmetrics_to_text004(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // HELP precedes TYPE, and the family's 0.0.4 name depends on the type, so hold HELP back.
    let mut pending_help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name, help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "unknown" => ("", "untyped"),
                other => ("", other),
            };
            if let Some((help_name, help)) = pending_help.take() {
                if help_name == name {
                    let _ = writeln!(out, "# HELP {name}{suffix} {help}");
                }
            }
            let _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{MetricFamily, Unit};

    fn encode(families: Vec<MetricFamily>, format: Format) -> String {
        let collected = Arc::new(Collected::new(families, Vec::new()));
        let first = super::encode(&collected, format);
        assert_eq!(
            first,
            super::encode(&collected, format),
            "the cached body is the same"
        );
        String::from_utf8(first.to_vec()).unwrap()
    }

    #[test]
    fn negotiates_like_prometheus() {
        // What Prometheus 2.x sends by default.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text004);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text004);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text004);
        assert_eq!(
            Format::negotiate(Some(
                "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"
            )),
            Format::Text004
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
        // An OpenMetrics version we do not speak falls back to text.
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=2.0.0")),
            Format::Text004
        );
        assert_eq!(Format::negotiate(Some("application/json")), Format::Text004);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text004
        );
    }

    fn sample_families() -> Vec<MetricFamily> {
        vec![
            MetricFamily::counter(
                "node_cpu",
                Some(Unit::Seconds),
                "Seconds the CPUs spent in each mode.",
            )
            .with([("cpu", "0".into()), ("mode", "idle".into())], 12.5),
            MetricFamily::gauge(
                "node_memory_MemTotal",
                Some(Unit::Bytes),
                "Memory information field MemTotal_bytes.",
            )
            .with([], 1024u64),
            MetricFamily::info("node_uname", "Labeled system information.")
                .with([("sysname", "Linux".into())], 1u64),
            MetricFamily::gauge("empty", None, "never shown"),
        ]
    }

    #[test]
    fn histograms_in_both_formats() {
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::histogram::Histogram;
        let durations: Family<Vec<(String, String)>, Histogram, _> =
            Family::new_with_constructor(|| Histogram::new([0.5, 1.0]));
        let restart = vec![("action".to_string(), "restart".to_string())];
        for v in [0.25, 0.75, 3.0] {
            durations.get_or_create(&restart).observe(v);
        }
        let fam = MetricFamily::live(
            "hale_heal_action_duration",
            Some(Unit::Seconds),
            "How long.",
            durations.clone(),
        );
        assert_eq!(fam.kind, crate::metric::Kind::Histogram);
        let om = encode(vec![fam.clone()], Format::OpenMetrics);
        assert!(
            om.contains("# TYPE hale_heal_action_duration_seconds histogram\n"),
            "{om}"
        );
        assert!(
            om.contains(
                "hale_heal_action_duration_seconds_bucket{le=\"0.5\",action=\"restart\"} 1\n"
            ) || om.contains(
                "hale_heal_action_duration_seconds_bucket{action=\"restart\",le=\"0.5\"} 1\n"
            ),
            "{om}"
        );
        let text = encode(vec![fam], Format::Text004);
        assert!(
            text.contains("# TYPE hale_heal_action_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("hale_heal_action_duration_seconds_count{action=\"restart\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("hale_heal_action_duration_seconds_sum{action=\"restart\"} 4.0\n"),
            "{text}"
        );
        assert!(
            text.contains("le=\"+Inf\",action=\"restart\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("le=\"1.0\",action=\"restart\"} 2\n"),
            "cumulative: {text}"
        );
    }

    #[test]
    fn openmetrics_output_has_units_total_and_eof() {
        let text = encode(sample_families(), Format::OpenMetrics);
        assert_eq!(
            text,
            "# HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds counter\n\
             # UNIT node_cpu_seconds seconds\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n\
             # HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.\n\
             # TYPE node_memory_MemTotal_bytes gauge\n\
             # UNIT node_memory_MemTotal_bytes bytes\n\
             node_memory_MemTotal_bytes 1024\n\
             # HELP node_uname_info Labeled system information.\n\
             # TYPE node_uname_info gauge\n\
             node_uname_info{sysname=\"Linux\"} 1\n\
             # EOF\n"
        );
    }

    #[test]
    fn text004_output_names_families_by_their_samples() {
        let text = encode(sample_families(), Format::Text004);
        assert_eq!(
            text,
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n\
             # HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.\n\
             # TYPE node_memory_MemTotal_bytes gauge\n\
             node_memory_MemTotal_bytes 1024\n\
             # HELP node_uname_info Labeled system information.\n\
             # TYPE node_uname_info gauge\n\
             node_uname_info{sysname=\"Linux\"} 1\n"
        );
    }

    #[test]
    fn shared_labels_are_written_as_the_same_labels_would_be() {
        use crate::metric::SharedLabels;
        let labels: Vec<crate::metric::Label> = vec![
            ("id".into(), "/docker/a\"b".into()),
            ("name".into(), "x\\y\nz".into()),
        ];
        let shared = SharedLabels::new(labels.clone());
        let mut plain = MetricFamily::gauge("g", None, "h");
        let mut with_shared = MetricFamily::gauge("g", None, "h");
        plain.push_labels(labels.clone(), 1u64);
        with_shared.push_shared(&shared, [], 1u64);
        let mut own = labels;
        own.push(("state".into(), "ru\"n".into()));
        plain.push_labels(own, 2u64);
        with_shared.push_shared(&shared, [("state", "ru\"n".into())], 2u64);
        for format in [Format::Text004, Format::OpenMetrics] {
            let expected = encode(vec![plain.clone()], format);
            assert!(
                expected.contains(r#"g{id="/docker/a\"b",name="x\\y\nz",state="ru\"n"} 2"#),
                "{expected}"
            );
            assert_eq!(encode(vec![with_shared.clone()], format), expected);
        }
        let all: Vec<_> = with_shared.samples[1]
            .all_labels()
            .map(|(k, _)| k.as_ref())
            .collect();
        assert_eq!(all, ["id", "name", "state"]);
    }

    #[test]
    fn label_values_are_escaped() {
        let fam = MetricFamily::gauge("g", None, "h").with([("path", "a\"b\\c\nd".into())], 1u64);
        let text = encode(vec![fam], Format::Text004);
        assert!(text.contains(r#"g{path="a\"b\\c\nd"} 1"#), "{text}");
    }
}
