//! `ipvs`: IP Virtual Server totals from `/proc/net/ip_vs_stats` and per-backend state from
//! `/proc/net/ip_vs`, as node_exporter 1.5's ipvs collector:
//! `node_ipvs_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total`
//! and `node_ipvs_backend_{connections_active,connections_inactive,weight}`, summed over the
//! labels `--collector.ipvs.backend-labels` keeps (default all of `local_address`,
//! `local_port`, `remote_address`, `remote_port`, `proto`, `local_mark`). A host without
//! IPVS (no `ip_vs_stats`) gives no series.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::collector::{read_optional_kept, Collector, Error, FlagError};
use crate::metric::{Label, MetricFamily};
use crate::paths::HostPaths;

const LABELS: [&str; 6] = ["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"];

/// The `ipvs` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.ipvs.flags")]
pub struct Flags {
    /// Comma separated list for IPVS backend stats labels.
    #[arg(
        id = "collector.ipvs.backend-labels",
        long = "collector.ipvs.backend-labels",
        value_name = "LABELS",
        default_value = "local_address,local_port,remote_address,remote_port,proto,local_mark"
    )]
    backend_labels: String,
}

/// The labels asked for, in node_exporter's order; an unknown one is a flag error.
fn backend_labels(value: &str) -> Result<Vec<&'static str>, FlagError> {
    let asked: std::collections::BTreeSet<&str> = value.split(',').filter(|l| !l.is_empty()).collect();
    let unknown: Vec<&str> = asked.iter().copied().filter(|l| !LABELS.contains(l)).collect();
    if !unknown.is_empty() {
        return Err(FlagError::Invalid {
            flag: "collector.ipvs.backend-labels",
            reason: format!("unknown IPVS backend labels: {:?}", unknown.join(", ")),
        });
    }
    Ok(LABELS.iter().copied().filter(|l| asked.contains(l)).collect())
}

/// The `ipvs` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "ipvs",
    enabled_by_default: true,
    help: "IPVS connection, packet and byte totals and backend state (node_ipvs_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Ipvs {
            paths: c.paths.clone(),
            labels: backend_labels(&flags.backend_labels)?,
        }))
    },
};

/// The ipvs collector.
pub struct Ipvs {
    paths: HostPaths,
    labels: Vec<&'static str>,
}

/// The five totals of `ip_vs_stats`' third line, hexadecimal.
fn parse_stats(text: &str) -> Result<[u64; 5], String> {
    // procfs' check: at least three line breaks, the totals on the third line.
    let line = text.split('\n').nth(2).filter(|_| text.matches('\n').count() >= 3);
    let fields: Vec<&str> = line.ok_or("ip_vs_stats corrupt: too short")?.split_whitespace().collect();
    if fields.len() != 5 {
        return Err("ip_vs_stats corrupt: unexpected number of fields".into());
    }
    let mut out = [0u64; 5];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = u64::from_str_radix(f, 16).map_err(|_| format!("{f:?} is not hexadecimal"))?;
    }
    Ok(out)
}

/// `C0A80016:0CEA` or `[2620:0000:...]:0CEA` as (address, port), addresses as Go prints them
/// (an IPv4-mapped IPv6 address as IPv4).
fn parse_ip_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("unexpected IP:Port: {s}");
    let ip: IpAddr = match s.len() {
        13 => {
            let n = u32::from_str_radix(s.get(0..8).ok_or_else(bad)?, 16).map_err(|_| bad())?;
            IpAddr::V4(Ipv4Addr::from(n))
        }
        46 => {
            let v6: Ipv6Addr = s.get(1..40).ok_or_else(bad)?.parse().map_err(|_| bad())?;
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return Err(bad()),
    };
    let port = u16::from_str_radix(s.get(s.len() - 4..).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    Ok((ip.to_string(), port))
}

/// One backend line with its service: label values in [`LABELS`] order, and (active,
/// inactive, weight).
type Backend = ([String; 6], [u64; 3]);

fn parse_backends(text: &str) -> Result<Vec<Backend>, String> {
    let mut out = Vec::new();
    let (mut proto, mut mark, mut address, mut port) = (String::new(), String::new(), String::new(), 0u16);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [] | ["IP", ..] | ["Prot", ..] | [_, "RemoteAddress:Port", ..] => {}
            [p @ ("TCP" | "UDP"), addr, ..] => {
                proto = p.to_string();
                mark.clear();
                (address, port) = parse_ip_port(addr)?;
            }
            ["FWM", m, ..] => {
                proto = "FWM".into();
                mark = m.to_string();
                address.clear();
                port = 0;
            }
            ["->", remote, _, weight, active, inactive, ..] => {
                let (raddr, rport) = parse_ip_port(remote)?;
                let n = |s: &str| s.parse::<u64>().map_err(|_| format!("{s:?} is not a number"));
                out.push((
                    [address.clone(), port.to_string(), raddr, rport.to_string(), proto.clone(), mark.clone()],
                    [n(active)?, n(inactive)?, n(weight)?],
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Collector for Ipvs {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("net/ip_vs_stats");
        let Some(text) = read_optional_kept(path.clone())? else {
            return Ok(());
        };
        let totals = parse_stats(&text).map_err(|r| Error::parse(path, r))?;
        #[rustfmt::skip]
        let names = [
            ("node_ipvs_connections", "The total number of connections made."),
            ("node_ipvs_incoming_packets", "The total number of incoming packets."),
            ("node_ipvs_outgoing_packets", "The total number of outgoing packets."),
            ("node_ipvs_incoming_bytes", "The total amount of incoming data."),
            ("node_ipvs_outgoing_bytes", "The total amount of outgoing data."),
        ];
        for ((name, help), v) in names.into_iter().zip(totals) {
            out.push(MetricFamily::counter(name, None, help).with([], v));
        }
        let path = self.paths.proc("net/ip_vs");
        let text = crate::paths::read_kept(path.clone())?;
        let backends = parse_backends(&text).map_err(|r| Error::parse(path, r))?;
        let mut sums: BTreeMap<Vec<String>, [u64; 3]> = BTreeMap::new();
        for (values, counts) in backends {
            let key: Vec<String> = LABELS
                .iter()
                .zip(values)
                .filter(|(l, _)| self.labels.contains(l))
                .map(|(_, v)| v)
                .collect();
            let sum = sums.entry(key).or_default();
            for (s, c) in sum.iter_mut().zip(counts) {
                *s = s.saturating_add(c);
            }
        }
        let mut families = [
            MetricFamily::gauge("node_ipvs_backend_connections_active", None, "The current active connections by local and remote address."),
            MetricFamily::gauge("node_ipvs_backend_connections_inactive", None, "The current inactive connections by local and remote address."),
            MetricFamily::gauge("node_ipvs_backend_weight", None, "The current backend weight by local and remote address."),
        ];
        for (key, counts) in sums {
            let labels: Vec<Label> = self.labels.iter().map(|l| std::borrow::Cow::Borrowed(*l)).zip(key.into_iter().map(Into::into)).collect();
            for (family, c) in families.iter_mut().zip(counts) {
                family.push_labels(labels.clone(), c);
            }
        }
        out.extend(families);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_services_and_backends() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
TCP  C0A80016:0CEA wlc\n  -> C0A85216:0CEA      Tunnel  100    248        2\n\
FWM  10001000 wlc\n  -> [2620:0000:0abc:0000:0000:0000:0000:0001]:0050 Route 20 64 1\n";
        let b = super::parse_backends(text).unwrap();
        assert_eq!(b[0].0, ["192.168.0.22", "3306", "192.168.82.22", "3306", "TCP", ""].map(String::from));
        assert_eq!(b[0].1, [248, 2, 100]);
        assert_eq!(b[1].0, ["", "0", "2620:0:abc::1", "80", "FWM", "10001000"].map(String::from));
        assert!(super::parse_backends("TCP nonsense wlc\n").is_err());
        assert!(super::parse_stats("a\nb\n").is_err());
        assert_eq!(super::parse_stats("h\nh\n 10 A 0 1 2\n\n").unwrap(), [16, 10, 0, 1, 2]);
        assert!(super::backend_labels("proto,nope").is_err());
        assert_eq!(super::backend_labels("proto,local_port").unwrap(), ["local_port", "proto"]);
    }
}
