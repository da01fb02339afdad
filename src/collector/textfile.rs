//! `textfile`: metrics that cron jobs and scripts write into `*.prom` files, as node_exporter
//! 1.5's textfile collector serves them. `--collector.textfile.directory` names the directory
//! (or a glob of directories); every file in it ending `.prom` is read at scrape time and its
//! families are served as written.
//!
//! node_exporter's rules, which hale keeps:
//! - A file that does not parse, or that carries client-side timestamps, is left out whole and
//!   sets `node_textfile_scrape_error` to 1. A bad file never breaks the scrape.
//! - `node_textfile_mtime_seconds{file}` is the modification time (whole seconds) of each file
//!   read successfully, so an alert can tell a job that stopped writing.
//! - Within one file's family, a series lacking a label the others have gets it empty.
//! - A family without help gets "Metric read from <files>". Two files giving one family merge
//!   when their type and help agree; otherwise the first file's family wins.
//! - A directory that cannot be read sets the error; no directory configured (the default) is
//!   no error and serves only `node_textfile_scrape_error 0`.
//!
//! hale adds one bound: a file larger than 16 MiB is an error, not read (a runaway job cannot
//! make every scrape allocate without limit).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::textformat::{self, Family};

/// Files larger than this are refused.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The `textfile` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.textfile.flags")]
pub struct Flags {
    /// Directory to read text files with metrics from (files ending .prom; a glob of
    /// directories works too). Empty: none.
    #[arg(
        id = "collector.textfile.directory",
        long = "collector.textfile.directory",
        value_name = "DIR",
        default_value = ""
    )]
    directory: String,
}

/// The `textfile` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "textfile",
    enabled_by_default: true,
    help: "Metrics from *.prom files in --collector.textfile.directory (node_textfile_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Textfile {
            directory: flags.directory,
        }))
    },
};

/// The textfile collector.
pub struct Textfile {
    directory: String,
}

impl Textfile {
    /// The directories the flag names: its glob's matches, or the flag as one directory.
    fn directories(&self) -> Vec<PathBuf> {
        let globbed: Vec<PathBuf> = glob::glob(&self.directory)
            .map(|paths| paths.filter_map(Result::ok).collect())
            .unwrap_or_default();
        if globbed.is_empty() {
            vec![PathBuf::from(&self.directory)]
        } else {
            globbed
        }
    }
}

/// Reads and checks one file: its families, and its mtime in whole seconds.
fn read_file(path: &Path) -> Result<(Vec<Family>, i64), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes, over the {MAX_FILE_BYTES}-byte limit",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let families = textformat::parse(&text).map_err(|e| e.to_string())?;
    if families
        .iter()
        .any(|f| f.samples.iter().any(|s| s.timestamp_ms.is_some()))
    {
        return Err("contains unsupported client-side timestamps, skipping entire file".into());
    }
    // The mtime is taken after the file parsed, so a failing file never looks fresh.
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| e.to_string())?;
    let secs = match mtime.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    };
    Ok((families, secs))
}

/// Gives every series of the family the labels any of its series has (empty where missing).
fn fill_labels(family: &mut Family) {
    let mut names: Vec<String> = Vec::new();
    for s in &family.samples {
        for (n, _) in &s.labels {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    for s in &mut family.samples {
        for n in &names {
            if !s.labels.iter().any(|(k, _)| k == n) {
                s.labels.push((n.clone(), String::new()));
            }
        }
    }
}

/// Completes each label set of a summary or histogram as client_golang writes it: a `_sum` and
/// a `_count` (0 when the file has none), and a histogram's `+Inf` bucket (its count).
fn complete_groups(family: &mut Family) {
    use textformat::Kind;
    if !matches!(family.kind, Kind::Summary | Kind::Histogram) {
        return;
    }
    let mut sets: Vec<Vec<(String, String)>> = Vec::new();
    for s in &family.samples {
        let mut labels = s.labels.clone();
        labels.sort();
        if !sets.contains(&labels) {
            sets.push(labels);
        }
    }
    for set in sets {
        let find = |family: &Family, suffix: &str, inner: Option<&str>| {
            family.samples.iter().find_map(|s| {
                let mut labels = s.labels.clone();
                labels.sort();
                (s.suffix == suffix && labels == set && (inner.is_none() || s.inner.as_deref().and_then(|v| v.parse::<f64>().ok()) == Some(f64::INFINITY))).then_some(s.value)
            })
        };
        let count = find(family, "_count", None);
        for (suffix, present) in [("_sum", find(family, "_sum", None)), ("_count", count)] {
            if present.is_none() {
                family.samples.push(textformat::Sample {
                    suffix,
                    labels: set.clone(),
                    inner: None,
                    value: 0.0,
                    timestamp_ms: None,
                });
            }
        }
        if family.kind == Kind::Histogram && find(family, "_bucket", Some("+Inf")).is_none() {
            family.samples.push(textformat::Sample {
                suffix: "_bucket",
                labels: set.clone(),
                inner: Some("+Inf".into()),
                value: count.unwrap_or(0.0),
                timestamp_ms: None,
            });
        }
    }
}

/// Drops a series whose name and labels an earlier one had (client_golang refuses the
/// duplicate; a scraper would keep either).
fn dedupe(family: &mut Family) {
    let mut seen = std::collections::HashSet::new();
    family.samples.retain(|s| {
        let mut labels = s.labels.clone();
        labels.sort();
        seen.insert((s.suffix, labels, s.inner.clone()))
    });
}

impl Collector for Textfile {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let mut errored = false;
        // (family, the files that gave it, whether its help came from a file)
        let mut merged: Vec<(Family, Vec<String>, bool)> = Vec::new();
        let mut mtimes: Vec<(String, i64)> = Vec::new();
        for dir in self.directories() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(_) if self.directory.is_empty() => continue,
                Err(e) => {
                    errored = true;
                    tracing::warn!(path = %dir.display(), error = %e, "textfile: failed to read the directory");
                    continue;
                }
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".prom"))
                .collect();
            names.sort();
            for name in names {
                let path = dir.join(&name);
                let shown = path.display().to_string();
                let families = match read_file(&path) {
                    Ok((families, mtime)) => {
                        mtimes.push((shown.clone(), mtime));
                        families
                    }
                    Err(e) => {
                        errored = true;
                        tracing::warn!(file = %shown, error = %e, "textfile: failed to collect textfile data");
                        continue;
                    }
                };
                for mut family in families {
                    fill_labels(&mut family);
                    complete_groups(&mut family);
                    match merged.iter_mut().find(|(f, _, _)| f.name == family.name) {
                        Some((into, files, _)) => {
                            files.push(shown.clone());
                            if into.kind == family.kind && into.help == family.help {
                                into.samples.append(&mut family.samples);
                            } else {
                                tracing::warn!(metric = %family.name, file = %shown, "textfile: type or help differs from an earlier file's; left out");
                            }
                        }
                        None => {
                            let helped = family.help.is_some();
                            merged.push((family, vec![shown.clone()], helped));
                        }
                    }
                }
            }
        }
        for (mut family, files, helped) in merged {
            if !helped {
                family.help = Some(format!("Metric read from {}", files.join(", ")));
            }
            dedupe(&mut family);
            out.push(MetricFamily::from_text(family));
        }
        if !mtimes.is_empty() {
            mtimes.sort();
            let mut f = MetricFamily::gauge(
                "node_textfile_mtime_seconds",
                None,
                "Unixtime mtime of textfiles successfully read.",
            );
            for (file, mtime) in mtimes {
                f.push([("file", file)], mtime as f64);
            }
            out.push(f);
        }
        out.push(
            MetricFamily::gauge(
                "node_textfile_scrape_error",
                None,
                "1 if there was an error opening or reading a file, 0 otherwise",
            )
            .with([], errored),
        );
        Ok(())
    }
}
