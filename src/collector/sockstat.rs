//! `sockstat`: socket counts per protocol from `/proc/net/sockstat` and `/proc/net/sockstat6`,
//! as node_exporter's sockstat collector: `node_sockstat_sockets_used`,
//! `node_sockstat_<PROTO>_{inuse,orphan,tw,alloc,mem,memory}` and `<PROTO>_mem_bytes` (pages
//! times the page size). A missing file (no IPv6) contributes nothing.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The fields node_exporter reports; others a kernel adds are skipped, as there.
const FIELDS: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

/// The sockstat collector.
pub struct Sockstat {
    paths: HostPaths,
}

/// `(family name, help, value)` of every series one file gives.
pub fn parse(
    text: &str,
    ipv6: bool,
    page_size: u64,
    path: &std::path::Path,
) -> Result<Vec<(String, String, u64)>, Error> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((protocol, rest)) = line.split_once(':') else {
            continue;
        };
        let words: Vec<&str> = rest.split_ascii_whitespace().collect();
        let number = |w: &str| {
            w.parse::<u64>().map_err(|_| {
                Error::parse(path.to_path_buf(), format!("{protocol}: {w:?} is not a number"))
            })
        };
        if protocol == "sockets" {
            if let (false, ["used", v, ..]) = (ipv6, words.as_slice()) {
                out.push((
                    "node_sockstat_sockets_used".into(),
                    "Number of IPv4 sockets in use.".into(),
                    number(v)?,
                ));
            }
            continue;
        }
        for pair in words.chunks(2) {
            let [key, v] = pair else {
                return Err(Error::parse(
                    path.to_path_buf(),
                    format!("{protocol}: a key without a value"),
                ));
            };
            if !FIELDS.contains(key) {
                continue;
            }
            let v = number(v)?;
            out.push((
                format!("node_sockstat_{protocol}_{key}"),
                format!("Number of {protocol} sockets in state {key}."),
                v,
            ));
            if *key == "mem" {
                out.push((
                    format!("node_sockstat_{protocol}_mem_bytes"),
                    format!("Number of {protocol} sockets in state mem_bytes."),
                    v.saturating_mul(page_size),
                ));
            }
        }
    }
    Ok(out)
}

impl Collector for Sockstat {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let page_size = rustix::param::page_size() as u64;
        for (file, ipv6) in [("net/sockstat", false), ("net/sockstat6", true)] {
            let path = self.paths.proc(file);
            let text = match crate::paths::read_kept(path.clone()) {
                Ok(t) => t,
                Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            for (name, help, v) in parse(&text, ipv6, page_size, &path)? {
                out.push(MetricFamily::gauge(name, None, help).with([], v));
            }
        }
        Ok(())
    }
}

/// The `sockstat` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "sockstat",
    enabled_by_default: true,
    help: "Sockets per protocol (node_sockstat_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Sockstat {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_fields_and_page_bytes() {
        let p = std::path::Path::new("/proc/net/sockstat");
        let got = parse(
            "sockets: used 229\nTCP: inuse 4 orphan 0 tw 4 alloc 17 mem 1\nFRAG: inuse 0 memory 0\n",
            false,
            4096,
            p,
        )
        .unwrap();
        let get = |n: &str| got.iter().find(|(name, ..)| name == n).map(|t| t.2);
        assert_eq!(get("node_sockstat_sockets_used"), Some(229));
        assert_eq!(get("node_sockstat_TCP_alloc"), Some(17));
        assert_eq!(get("node_sockstat_TCP_mem_bytes"), Some(4096));
        assert_eq!(get("node_sockstat_FRAG_memory"), Some(0));
        // sockstat6 has no socket total.
        let v6 = parse("sockets: used 9\nTCP6: inuse 17\n", true, 4096, p).unwrap();
        assert_eq!(v6.len(), 1);
        assert!(parse("TCP: inuse x\n", false, 4096, p).is_err());
        assert!(parse("TCP: inuse\n", false, 4096, p).is_err());
    }
}
