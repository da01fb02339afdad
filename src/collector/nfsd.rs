//! `nfsd`: the NFS server's statistics from `/proc/net/rpc/nfsd`, as node_exporter 1.5's nfsd
//! collector: the reply cache, stale file handles, bytes read and written, threads, the read
//! ahead cache, packets and connections, RPC counts and errors, and
//! `node_nfsd_requests_total{proto,method}` for NFSv2 and v3 procedures and the NFSv4
//! operations node_exporter names. A host without the NFS server gives no series.

use std::sync::Arc;

use crate::collector::nfs::{numbers, procedures, V2, V3};
use crate::collector::{read_optional_kept, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// NFSv4 operations in `proc4ops` order (procfs' names; index 0-2 unused).
const V4_OPS: &[&str] = &[
    "Op0Unused", "Op1Unused", "Op2Future", "Access", "Close", "Commit", "Create", "DelegPurge",
    "DelegReturn", "GetAttr", "GetFH", "Link", "Lock", "Lockt", "Locku", "Lookup", "LookupRoot",
    "Nverify", "Open", "OpenAttr", "OpenConfirm", "OpenDgrd", "PutFH", "PutPubFH", "PutRootFH",
    "Read", "ReadDir", "ReadLink", "Remove", "Rename", "Renew", "RestoreFH", "SaveFH", "SecInfo",
    "SetAttr", "Verify", "Write", "RelLockOwner",
];

/// The v4 operations node_exporter reports.
const V4_REPORTED: &[&str] = &[
    "Access", "Close", "Commit", "Create", "DelegPurge", "DelegReturn", "GetAttr", "GetFH",
    "Link", "Lock", "Lockt", "Locku", "Lookup", "LookupRoot", "Nverify", "Open", "OpenAttr",
    "OpenConfirm", "OpenDgrd", "PutFH", "Read", "ReadDir", "ReadLink", "Remove", "Rename",
    "Renew", "RestoreFH", "SaveFH", "SecInfo", "SetAttr", "Verify", "Write", "RelLockOwner",
];

#[derive(Default)]
struct Stats {
    rc: [u64; 3],
    fh: [u64; 5],
    io: [u64; 2],
    th: [u64; 2],
    ra: [u64; 12],
    net: [u64; 4],
    rpc: [u64; 5],
    v2: Vec<u64>,
    v3: Vec<u64>,
    v4: Vec<u64>,
}

fn fixed<const N: usize>(v: Vec<u64>, line: &str) -> Result<[u64; N], String> {
    v.try_into()
        .map_err(|_| format!("invalid NFSd metric line {line:?}"))
}

fn parse(text: &str) -> Result<Stats, String> {
    let mut s = Stats {
        v2: vec![0; V2.len()],
        v3: vec![0; V3.len()],
        v4: vec![0; V4_OPS.len()],
        ..Stats::default()
    };
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let Some((key, rest)) = parts.split_first().filter(|(_, r)| !r.is_empty()) else {
            return Err(format!("invalid NFSd metric line {line:?}"));
        };
        // `th` is followed by a histogram of floats procfs ignores.
        let rest = if *key == "th" {
            rest.get(..2)
                .ok_or_else(|| format!("invalid NFSd th metric line {line:?}"))?
        } else {
            rest
        };
        let v = numbers(rest)?;
        match *key {
            "rc" => s.rc = fixed(v, line)?,
            "fh" => s.fh = fixed(v, line)?,
            "io" => s.io = fixed(v, line)?,
            "th" => s.th = fixed(v, line)?,
            "ra" => s.ra = fixed(v, line)?,
            "net" => s.net = fixed(v, line)?,
            "rpc" => s.rpc = fixed(v, line)?,
            "proc2" => s.v2 = procedures(&v, V2, 18)?,
            "proc3" => s.v3 = procedures(&v, V3, 22)?,
            "proc4" => {
                if v.len() != 3 || v.first() != Some(&2) {
                    return Err(format!("invalid V4Stats line {line:?}"));
                }
            }
            "proc4ops" => s.v4 = procedures(&v, V4_OPS, 39)?,
            other => return Err(format!("unknown NFSd metric line {other:?}")),
        }
    }
    Ok(s)
}

/// The nfsd collector.
pub struct Nfsd {
    paths: HostPaths,
}

impl Collector for Nfsd {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("net/rpc/nfsd");
        let Some(text) = read_optional_kept(path.clone())? else {
            return Ok(());
        };
        let s = parse(&text).map_err(|reason| Error::parse(path, reason))?;
        let counter = |name: &'static str, help: &'static str, v: u64| {
            MetricFamily::counter(name, None, help).with([], v)
        };
        let gauge = |name: &'static str, help: &'static str, v: u64| {
            MetricFamily::gauge(name, None, help).with([], v)
        };
        let mut packets = MetricFamily::counter(
            "node_nfsd_packets",
            None,
            "Total NFSd network packets (sent+received) by protocol type.",
        );
        packets.push([("proto", "udp".into())], s.net[1]);
        packets.push([("proto", "tcp".into())], s.net[2]);
        let mut errors = MetricFamily::counter(
            "node_nfsd_rpc_errors",
            None,
            "Total number of NFSd RPC errors by error type.",
        );
        for (label, v) in [("fmt", s.rpc[2]), ("auth", s.rpc[3]), ("cInt", s.rpc[4])] {
            errors.push([("error", label.into())], v);
        }
        let mut requests =
            MetricFamily::counter("node_nfsd_requests", None, "Total number NFSd Requests by method and protocol.");
        // v2 and v3 without Null, v4 the operations node_exporter names.
        for (proto, names, values) in [("2", V2, &s.v2), ("3", V3, &s.v3)] {
            for (name, v) in names.iter().zip(values.iter()).skip(1) {
                requests.push([("proto", proto.into()), ("method", (*name).into())], *v);
            }
        }
        for (name, v) in V4_OPS.iter().zip(s.v4.iter()) {
            if V4_REPORTED.contains(name) {
                requests.push([("proto", "4".into()), ("method", (*name).into())], *v);
            }
        }
        out.extend([
            counter("node_nfsd_reply_cache_hits", "Total number of NFSd Reply Cache hits (client lost server response).", s.rc[0]),
            counter("node_nfsd_reply_cache_misses", "Total number of NFSd Reply Cache an operation that requires caching (idempotent).", s.rc[1]),
            counter("node_nfsd_reply_cache_nocache", "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).", s.rc[2]),
            counter("node_nfsd_file_handles_stale", "Total number of NFSd stale file handles", s.fh[0]),
            counter("node_nfsd_disk_bytes_read", "Total NFSd bytes read.", s.io[0]),
            counter("node_nfsd_disk_bytes_written", "Total NFSd bytes written.", s.io[1]),
            gauge("node_nfsd_server_threads", "Total number of NFSd kernel threads that are running.", s.th[0]),
            gauge("node_nfsd_read_ahead_cache_size_blocks", "How large the read ahead cache is in blocks.", s.ra[0]),
            counter("node_nfsd_read_ahead_cache_not_found", "Total number of NFSd read ahead cache not found.", s.ra[11]),
            packets,
            counter("node_nfsd_connections", "Total number of NFSd TCP connections.", s.net[3]),
            errors,
            counter("node_nfsd_server_rpcs", "Total number of NFSd RPCs.", s.rpc[0]),
            requests,
        ]);
        Ok(())
    }
}

/// The `nfsd` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "nfsd",
    enabled_by_default: true,
    help: "NFS server statistics (node_nfsd_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Nfsd {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_what_procfs_refuses() {
        assert!(super::parse("rc 1 2\n").is_err());
        assert!(super::parse("th 8\n").is_err());
        assert!(super::parse("proc4ops 2 1 2\n").is_err());
        assert!(super::parse("proc4 3 1 2 3\n").is_err());
        let s = super::parse("th 8 0 0.000 0.100\n").unwrap();
        assert_eq!(s.th, [8, 0]);
    }
}
