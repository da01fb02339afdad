//! The Prometheus text exposition format 0.0.4, read and written for the `textfile` collector:
//! files that cron jobs and scripts write for node_exporter, which hale serves as node_exporter
//! does. [`parse`] follows client_golang's `expfmt.TextParser` (what node_exporter reads these
//! files with): the same grammar, and the same inputs refused (a second `TYPE` or `HELP` for a
//! name, a `TYPE` after the name's samples, a bad name or value, a histogram sample without
//! `le`, a label given twice). [`Family::render`] writes a family back in either format.
//!
//! hale's own families go through `prometheus-client`; these cannot, because a file may hold a
//! summary, or a counter not named `_total`, which that encoder does not write. No crate is the
//! Rust ecosystem's standard parser for this format, so this one is small, strict and fuzzed.

use std::fmt::Write as _;

/// A family's type, as its `# TYPE` line says (untyped without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    Summary,
    Histogram,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "untyped" => Kind::Untyped,
            "summary" => Kind::Summary,
            "histogram" => Kind::Histogram,
            _ => return None,
        })
    }

    fn text004(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }

    /// The label that tells a summary's or histogram's series apart within one label set.
    fn inner_label(self) -> Option<&'static str> {
        match self {
            Kind::Summary => Some("quantile"),
            Kind::Histogram => Some("le"),
            _ => None,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The part of the sample's name after the family's: `""`, `_bucket`, `_sum` or `_count`.
    pub suffix: &'static str,
    /// In the order given, without `le`/`quantile`.
    pub labels: Labels,
    /// `le` or `quantile`, for the series that have it.
    pub inner: Option<String>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// A metric family as a file gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    /// `None` when the file has no `# HELP` line for it, or an empty one.
    pub help: Option<String>,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

/// Why a file was refused, with its line number.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    matches!(chars.next(), Some(c) if ok_first(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

/// Parses a float the way Go's `strconv.ParseFloat` does for what appears in practice
/// (`1`, `-2.5e-3`, `+Inf`, `NaN`).
fn parse_float(s: &str) -> Option<f64> {
    // Rust also accepts "infinity"; Go does too. Both refuse "", "0x" forms differ but are rare.
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Unescapes `\\`, `\n` (and, in label values, `\"`); other escapes stay as written, as Go's.
fn unescape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Label pairs in the order given.
pub type Labels = Vec<(String, String)>;

/// Splits `{a="b",c="d"} rest` into the labels and the rest.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or("unterminated label set")?;
        let (name, after) = rest.split_at(end);
        if !is_name(name, false) {
            return Err(format!("invalid label name {name:?}"));
        }
        let after = after.trim_start_matches([' ', '\t']);
        let after = after
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after label name {name:?}"))?;
        let after = after.trim_start_matches([' ', '\t']);
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| format!("expected '\"' to open the value of label {name:?}"))?;
        // Find the closing quote, skipping escaped characters.
        let mut close = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let close = close.ok_or_else(|| format!("unterminated value of label {name:?}"))?;
        let (raw, after) = after.split_at(close);
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name:?} given twice"));
        }
        labels.push((name.to_string(), unescape(raw, true)));
        rest = after.get(1..).unwrap_or("").trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after a label value".into());
        }
    }
}

/// Which declared family a sample name belongs to, and the suffix it carries.
fn owner<'a>(name: &'a str, kinds: &[(String, Kind)]) -> (&'a str, &'static str) {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            let declared = kinds.iter().find(|(n, _)| n == base).map(|(_, k)| *k);
            match (declared, suffix) {
                (Some(Kind::Histogram), _) | (Some(Kind::Summary), "_sum" | "_count") => {
                    return (base, suffix)
                }
                _ => {}
            }
        }
    }
    (name, "")
}

/// Parses a whole file. Families come in the order their names first appear.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = Vec::new();
    // (name, declared kind), to route `_sum`/`_count`/`_bucket` samples to their family.
    let mut kinds: Vec<(String, Kind)> = Vec::new();
    let index = |families: &mut Vec<Family>, name: &str| -> usize {
        match families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                families.push(Family {
                    name: name.to_string(),
                    help: None,
                    kind: Kind::Untyped,
                    samples: Vec::new(),
                });
                families.len() - 1
            }
        }
    };
    let mut helped: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let err = |reason: String| ParseError {
            line: n + 1,
            reason,
        };
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start_matches([' ', '\t']);
            let mut words = comment.splitn(3, [' ', '\t']);
            let keyword = words.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = words.next().unwrap_or("");
            if !is_name(name, true) {
                return Err(err(format!(
                    "invalid metric name {name:?} in {keyword} line"
                )));
            }
            let rest = words.next().unwrap_or("");
            if keyword == "HELP" {
                if helped.iter().any(|h| h == name) {
                    return Err(err(format!("second HELP line for metric name {name:?}")));
                }
                helped.push(name.to_string());
                let i = index(&mut families, name);
                let help = unescape(rest, false);
                if let Some(f) = families.get_mut(i) {
                    f.help = (!help.is_empty()).then_some(help);
                }
            } else {
                let kind = Kind::parse(rest.trim_end_matches([' ', '\t']))
                    .ok_or_else(|| err(format!("unknown metric type {rest:?}")))?;
                if kinds.iter().any(|(k, _)| k == name) {
                    return Err(err(format!("second TYPE line for metric name {name:?}")));
                }
                let i = index(&mut families, name);
                if let Some(f) = families.get_mut(i) {
                    if !f.samples.is_empty() {
                        return Err(err(format!(
                            "TYPE line for metric name {name:?} after its samples"
                        )));
                    }
                    f.kind = kind;
                }
                kinds.push((name.to_string(), kind));
            }
            continue;
        }
        let end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(end);
        if !is_name(name, true) {
            return Err(err(format!("invalid metric name in {line:?}")));
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let (mut labels, rest) = match rest.strip_prefix('{') {
            Some(inner) => parse_labels(inner).map_err(err)?,
            None => (Vec::new(), rest),
        };
        let mut fields = rest.split([' ', '\t']).filter(|f| !f.is_empty());
        let value = fields
            .next()
            .ok_or_else(|| err(format!("no value for {name}")))?;
        let value = parse_float(value).ok_or_else(|| err(format!("{value:?} is not a float")))?;
        let timestamp_ms = match fields.next() {
            None => None,
            Some(ts) => Some(
                ts.parse::<i64>()
                    .map_err(|_| err(format!("{ts:?} is not a timestamp")))?,
            ),
        };
        if let Some(extra) = fields.next() {
            return Err(err(format!("unexpected {extra:?} after the timestamp")));
        }
        let (base, suffix) = owner(name, &kinds);
        let i = index(&mut families, base);
        let Some(family) = families.get_mut(i) else {
            continue;
        };
        let inner = match (family.kind.inner_label(), suffix) {
            (Some("le"), "_bucket") | (Some("quantile"), "") => {
                let label = family.kind.inner_label().unwrap_or("");
                let pos = labels
                    .iter()
                    .position(|(n, _)| n == label)
                    .ok_or_else(|| err(format!("{name} has no {label} label")))?;
                let (_, v) = labels.remove(pos);
                if parse_float(&v).is_none() {
                    return Err(err(format!("{label}={v:?} is not a float")));
                }
                Some(v)
            }
            (Some("le"), "") => {
                return Err(err(format!(
                    "{name}: a histogram sample needs _bucket, _sum or _count"
                )))
            }
            _ => None,
        };
        family.samples.push(Sample {
            suffix,
            labels,
            inner,
            value,
            timestamp_ms,
        });
    }
    Ok(families)
}

/// Writes a value as Prometheus reads it: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text004,
    OpenMetrics,
}

impl Family {
    /// Writes the family: `# HELP`, `# TYPE`, then the samples, label names sorted (as
    /// client_golang writes them) with `le`/`quantile` last. In OpenMetrics a counter is typed
    /// under its name without `_total`, and a counter without that suffix is `unknown`, which
    /// OpenMetrics requires.
    pub fn render(&self, format: Format, out: &mut String) {
        let (meta_name, kind) = match (format, self.kind) {
            (Format::OpenMetrics, Kind::Counter) => match self.name.strip_suffix("_total") {
                Some(base) => (base, "counter"),
                None => (self.name.as_str(), "unknown"),
            },
            (Format::OpenMetrics, Kind::Untyped) => (self.name.as_str(), "unknown"),
            (_, k) => (self.name.as_str(), k.text004()),
        };
        out.push_str("# HELP ");
        out.push_str(meta_name);
        out.push(' ');
        escape_into(
            out,
            self.help.as_deref().unwrap_or(""),
            format == Format::OpenMetrics,
        );
        out.push('\n');
        let _ = writeln!(out, "# TYPE {meta_name} {kind}");
        for s in &self.samples {
            out.push_str(&self.name);
            out.push_str(s.suffix);
            let mut labels: Vec<&(String, String)> = s.labels.iter().collect();
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            let inner = self.kind.inner_label().zip(s.inner.as_deref());
            if !labels.is_empty() || inner.is_some() {
                out.push('{');
                let mut first = true;
                for (k, v) in labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .chain(inner)
                {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_into(out, v, true);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&format_value(s.value));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_node_exporter_reads() {
        let text = "# HELP events_total A \\\\ help\\nline.\n# TYPE events_total counter\n\
                    events_total{foo=\"b\\\"ar\",file=\"a\",} 10\n\
                    events_total 2.5e3\n\n# a comment\nplain_metric -Inf\n";
        let f = parse(text).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].help.as_deref(), Some("A \\ help\nline."));
        assert_eq!(f[0].kind, Kind::Counter);
        assert_eq!(
            f[0].samples[0].labels,
            vec![
                ("foo".to_string(), "b\"ar".to_string()),
                ("file".to_string(), "a".to_string())
            ]
        );
        assert_eq!(f[0].samples[1].value, 2500.0);
        assert_eq!(f[1].kind, Kind::Untyped);
        assert_eq!(f[1].samples[0].value, f64::NEG_INFINITY);
        let mut out = String::new();
        f[0].render(Format::Text004, &mut out);
        assert_eq!(
            out,
            "# HELP events_total A \\\\ help\\nline.\n# TYPE events_total counter\n\
             events_total{file=\"a\",foo=\"b\\\"ar\"} 10\nevents_total 2500\n"
        );
        let mut om = String::new();
        f[0].render(Format::OpenMetrics, &mut om);
        assert!(om.starts_with("# HELP events A"), "{om}");
        assert!(om.contains("# TYPE events counter\n"), "{om}");
    }

    #[test]
    fn summaries_and_histograms_keep_their_parts() {
        let text = "# TYPE d summary\nd{quantile=\"0.5\",a=\"x\"} 1\nd_sum{a=\"x\"} 3\nd_count{a=\"x\"} 2\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
        let f = parse(text).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].samples.len(), 3);
        assert_eq!(f[0].samples[0].inner.as_deref(), Some("0.5"));
        assert_eq!(f[1].samples[3].suffix, "_count");
        let mut out = String::new();
        f[0].render(Format::Text004, &mut out);
        assert!(out.contains("d{a=\"x\",quantile=\"0.5\"} 1\n"), "{out}");
        assert!(out.contains("d_sum{a=\"x\"} 3\n"), "{out}");
    }

    #[test]
    fn refuses_what_expfmt_refuses() {
        for bad in [
            "# TYPE a counter\n# TYPE a gauge\n",
            "# HELP a x\n# HELP a y\n",
            "a 1\n# TYPE a counter\n",
            "a{b=\"1\",b=\"2\"} 1\n",
            "a{b=\"1} 1\n",
            "a{1b=\"1\"} 1\n",
            "a one\n",
            "a 1 2 3\n",
            "a 1 x\n",
            "1a 1\n",
            "# TYPE h histogram\nh 1\n",
            "# TYPE h histogram\nh_bucket 1\n",
            "# TYPE s summary\ns{quantile=\"x\"} 1\n",
            "# TYPE a widget\n",
            "a\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn timestamps_are_parsed_so_the_caller_can_refuse_them() {
        let f = parse("m 1 1441205977284\n").unwrap();
        assert_eq!(f[0].samples[0].timestamp_ms, Some(1441205977284));
    }

    #[test]
    fn values_print_as_prometheus_reads_them() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(1.691853e6), "1691853");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(0.5).parse::<f64>().unwrap(), 0.5);
        assert_eq!(format_value(1e300).parse::<f64>().unwrap(), 1e300);
    }
}
