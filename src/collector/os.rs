//! `os`: the distribution, from `os-release` under the root filesystem (`/etc/os-release`, else
//! `/usr/lib/os-release`), as node_exporter's os collector: `node_os_info{...}` valued 1 and
//! `node_os_version{id,id_like,name}`, the major.minor of `VERSION_ID` (0 when it has none).

use std::collections::HashMap;
use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The os collector.
pub struct Os {
    paths: HostPaths,
}

/// The `KEY=value` lines of an os-release file: values unquoted as a shell would (double quotes
/// with `\` escapes, single quotes literal), comments and malformed lines skipped.
pub fn parse(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.insert(key.to_string(), unquote(raw.trim()));
    }
    out
}

fn unquote(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some('\'') => {
            let inner = raw.get(1..).unwrap_or("");
            inner.strip_suffix('\'').unwrap_or(inner).to_string()
        }
        Some('"') => {
            let mut value = String::new();
            let mut escaped = false;
            for c in chars {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    (_, c) => {
                        escaped = false;
                        value.push(c);
                    }
                }
            }
            value
        }
        _ => raw.to_string(),
    }
}

/// The leading `major[.minor]` of a `VERSION_ID`, as node_exporter's `^[0-9]+\.?[0-9]*`.
fn major_minor(version_id: &str) -> f64 {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let major = digits(version_id);
    if major == 0 {
        return 0.0;
    }
    let rest = version_id.get(major..).unwrap_or("");
    let end = match rest.strip_prefix('.') {
        Some(after) => major + 1 + digits(after),
        None => major,
    };
    version_id
        .get(..end)
        .and_then(|v| v.trim_end_matches('.').parse().ok())
        .unwrap_or(0.0)
}

/// `node_os_info`'s labels, in node_exporter's order, with the os-release key of each.
const INFO: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

impl Collector for Os {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let mut text = None;
        for file in ["etc/os-release", "usr/lib/os-release"] {
            match crate::paths::read(self.paths.rootfs_join(file)) {
                Ok(t) => {
                    text = Some(t);
                    break;
                }
                Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // No os-release at all (a minimal image): nothing to report, as node_exporter.
        let Some(text) = text else { return Ok(()) };
        let fields = parse(&text);
        let get = |key: &str| fields.get(key).cloned().unwrap_or_default();
        let labels = INFO.map(|(label, key)| (label, get(key)));
        out.push(
            MetricFamily::gauge(
                "node_os_info",
                None,
                "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
            )
            .with(labels, 1u64),
        );
        out.push(
            MetricFamily::gauge(
                "node_os_version",
                None,
                "Metric containing the major.minor part of the OS version.",
            )
            .with(
                [("id", get("ID")), ("id_like", get("ID_LIKE")), ("name", get("NAME"))],
                major_minor(&get("VERSION_ID")),
            ),
        );
        Ok(())
    }
}

/// The `os` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "os",
    enabled_by_default: true,
    help: "The distribution from os-release (node_os_info, node_os_version)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Os {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_is_read_as_a_shell_would() {
        let f = parse(
            "# comment\nNAME=\"Debian GNU/Linux\"\nID=debian\nVERSION='12 (bookworm)'\nPRETTY_NAME=\"say \\\"hi\\\"\"\nbad line\n=x\n",
        );
        assert_eq!(f["NAME"], "Debian GNU/Linux");
        assert_eq!(f["ID"], "debian");
        assert_eq!(f["VERSION"], "12 (bookworm)");
        assert_eq!(f["PRETTY_NAME"], "say \"hi\"");
        assert_eq!(f.len(), 4);
        assert_eq!(unquote("\"unterminated"), "unterminated");
        assert_eq!(unquote("'"), "");
    }

    #[test]
    fn version_is_major_minor_or_zero() {
        assert_eq!(major_minor("20.04"), 20.04);
        assert_eq!(major_minor("12"), 12.0);
        assert_eq!(major_minor("3.18.4"), 3.18);
        assert_eq!(major_minor("7."), 7.0);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(major_minor(""), 0.0);
    }
}
