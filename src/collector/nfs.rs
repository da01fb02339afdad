//! `nfs`: the NFS client's RPC statistics from `/proc/net/rpc/nfs`, as node_exporter 1.5's nfs
//! collector: `node_nfs_packets_total{protocol}`, `node_nfs_connections_total`,
//! `node_nfs_rpcs_total`, `node_nfs_rpc_retransmissions_total`,
//! `node_nfs_rpc_authentication_refreshes_total` and `node_nfs_requests_total{proto,method}`
//! for every NFSv2, v3 and v4 procedure (0 for a version the kernel does not report, as
//! node_exporter). A host without the NFS client gives no series.

use std::sync::Arc;

use crate::collector::{read_optional_kept, Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// NFSv2 procedures, in the kernel's order.
pub(crate) const V2: &[&str] = &[
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures, in the kernel's order.
pub(crate) const V3: &[&str] = &[
    "Null", "GetAttr", "SetAttr", "Lookup", "Access", "ReadLink", "Read", "Write", "Create",
    "MkDir", "SymLink", "MkNod", "Remove", "RmDir", "Rename", "Link", "ReadDir", "ReadDirPlus",
    "FsStat", "FsInfo", "PathConf", "Commit",
];

/// NFSv4 client operations, in the kernel's order (procfs' names).
const V4_CLIENT: &[&str] = &[
    "Null", "Read", "Write", "Commit", "Open", "OpenConfirm", "OpenNoattr", "OpenDowngrade",
    "Close", "Setattr", "FsInfo", "Renew", "SetClientID", "SetClientIDConfirm", "Lock", "Lockt",
    "Locku", "Access", "Getattr", "Lookup", "LookupRoot", "Remove", "Rename", "Link", "Symlink",
    "Create", "Pathconf", "StatFs", "ReadLink", "ReadDir", "ServerCaps", "DelegReturn", "GetACL",
    "SetACL", "FsLocations", "ReleaseLockowner", "Secinfo", "FsidPresent", "ExchangeID",
    "CreateSession", "DestroySession", "Sequence", "GetLeaseTime", "ReclaimComplete",
    "LayoutGet", "GetDeviceInfo", "LayoutCommit", "LayoutReturn", "SecinfoNoName",
    "TestStateID", "FreeStateID", "GetDeviceList", "BindConnToSession", "DestroyClientID",
    "Seek", "Allocate", "DeAllocate", "LayoutStats", "Clone",
];

/// A `procN` line's values, by the names it is known by: `count` then that many values;
/// `min` the fewest the parser accepts; missing names (an older kernel) read 0.
pub(crate) fn procedures(values: &[u64], names: &[&str], min: usize) -> Result<Vec<u64>, String> {
    let (count, rest) = values.split_first().ok_or("empty procedure line")?;
    let count = usize::try_from(*count).map_err(|_| "bad count")?;
    if rest.len() != count || count < min {
        return Err(format!("{} values for a count of {count}", rest.len()));
    }
    Ok((0..names.len()).map(|i| rest.get(i).copied().unwrap_or(0)).collect())
}

/// The numbers of a stats line after its key.
pub(crate) fn numbers(parts: &[&str]) -> Result<Vec<u64>, String> {
    parts
        .iter()
        .map(|p| p.parse::<u64>().map_err(|_| format!("{p:?} is not a number")))
        .collect()
}

/// The nfs collector.
pub struct Nfs {
    paths: HostPaths,
}

#[derive(Default)]
struct Stats {
    net: [u64; 4],
    rpc: [u64; 3],
    v2: Vec<u64>,
    v3: Vec<u64>,
    v4: Vec<u64>,
}

fn parse(text: &str) -> Result<Stats, String> {
    let mut s = Stats {
        v2: vec![0; V2.len()],
        v3: vec![0; V3.len()],
        v4: vec![0; V4_CLIENT.len()],
        ..Stats::default()
    };
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let Some((key, rest)) = parts.split_first().filter(|(_, r)| !r.is_empty()) else {
            return Err(format!("invalid NFS metric line {line:?}"));
        };
        let v = numbers(rest)?;
        match *key {
            "net" => {
                s.net = v.try_into().map_err(|_| format!("invalid Network line {line:?}"))?;
            }
            "rpc" => {
                s.rpc = v.try_into().map_err(|_| format!("invalid RPC line {line:?}"))?;
            }
            "proc2" => s.v2 = procedures(&v, V2, 18)?,
            "proc3" => s.v3 = procedures(&v, V3, 22)?,
            "proc4" => s.v4 = procedures(&v, V4_CLIENT, 0)?,
            other => return Err(format!("unknown NFS metric line {other:?}")),
        }
    }
    Ok(s)
}

impl Collector for Nfs {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("net/rpc/nfs");
        let Some(text) = read_optional_kept(path.clone())? else {
            return Ok(());
        };
        let s = parse(&text).map_err(|reason| Error::parse(path, reason))?;
        let counter = |name: &'static str, help: &'static str| MetricFamily::counter(name, None, help);
        let mut packets = counter(
            "node_nfs_packets",
            "Total NFSd network packets (sent+received) by protocol type.",
        );
        packets.push([("protocol", "udp".into())], s.net[1]);
        packets.push([("protocol", "tcp".into())], s.net[2]);
        let mut requests = counter("node_nfs_requests", "Number of NFS procedures invoked.");
        for (proto, names, values) in [("2", V2, &s.v2), ("3", V3, &s.v3), ("4", V4_CLIENT, &s.v4)] {
            for (name, v) in names.iter().zip(values.iter()) {
                requests.push([("proto", proto.into()), ("method", (*name).into())], *v);
            }
        }
        out.extend([
            packets,
            counter("node_nfs_connections", "Total number of NFSd TCP connections.")
                .with([], s.net[3]),
            counter("node_nfs_rpcs", "Total number of RPCs performed.").with([], s.rpc[0]),
            counter(
                "node_nfs_rpc_retransmissions",
                "Number of RPC transmissions performed.",
            )
            .with([], s.rpc[1]),
            counter(
                "node_nfs_rpc_authentication_refreshes",
                "Number of RPC authentication refreshes performed.",
            )
            .with([], s.rpc[2]),
            requests,
        ]);
        Ok(())
    }
}

/// The `nfs` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "nfs",
    enabled_by_default: true,
    help: "NFS client RPC statistics (node_nfs_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Nfs {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_what_procfs_refuses() {
        assert!(super::parse("net 1 2 3\n").is_err());
        assert!(super::parse("proc3 22 1 2\n").is_err());
        assert!(super::parse("bogus 1\n").is_err());
        assert!(super::parse("rpc\n").is_err());
        let s = super::parse("proc4 2 7 8\n").unwrap();
        assert_eq!(&s.v4[..3], &[7, 8, 0]);
    }
}
