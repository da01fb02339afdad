//! `netstat`: the kernel's protocol counters from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6`, as node_exporter's netstat collector: `node_netstat_<Protocol>_<Field>`,
//! untyped, for the fields `--collector.netstat.fields` selects (node_exporter's default
//! selection). A host without IPv6 has no `snmp6`; that is not an error.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// node_exporter's default `--collector.netstat.fields`.
pub const DEFAULT_FIELDS: &str = r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// The `netstat` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.netstat.flags")]
pub struct Flags {
    /// Regexp of fields to return for netstat collector (node_exporter's default selection).
    #[arg(
        id = "collector.netstat.fields",
        long = "collector.netstat.fields",
        value_name = "REGEX",
        default_value = DEFAULT_FIELDS
    )]
    fields: String,
}

/// The netstat collector.
pub struct Netstat {
    paths: HostPaths,
    fields: Regex,
    /// `--collector.netstat.fields`' answer for each field seen: the kernel's three files hold
    /// some three hundred fields, and matching each against the filter at every scrape cost
    /// more than parsing them. The names are the kernel's, a fixed set; the cap only guards
    /// against a procfs that invents new ones.
    decided: crate::collector::PerKey<bool>,
    /// The family name and help of each field kept.
    names: crate::collector::PerKey<(Cow<'static, str>, Cow<'static, str>)>,
}

/// Adds `protocol_name` → `value` to `out` when `keep` selects the key. Every value is parsed
/// (a bad one is an error, as node_exporter's); only the kept keys are allocated, since the
/// files hold some 400 fields and the default filter keeps a few dozen.
fn insert(
    out: &mut BTreeMap<String, f64>,
    key: &mut String,
    keep: &dyn Fn(&str) -> bool,
    (protocol, name, value): (&str, &str, &str),
    path: &std::path::Path,
) -> Result<(), Error> {
    let value = number(value, path)?;
    key.clear();
    key.push_str(protocol);
    key.push('_');
    key.push_str(name);
    if keep(key) {
        out.insert(key.clone(), value);
    }
    Ok(())
}

/// `Protocol_Field` → value, from the header/value line pairs of `netstat` and `snmp`, for the
/// keys `keep` selects.
fn parse_pairs(
    text: &str,
    path: &std::path::Path,
    keep: &dyn Fn(&str) -> bool,
    out: &mut BTreeMap<String, f64>,
) -> Result<(), Error> {
    let mut key = String::new();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(names) = lines.next() {
        let values = lines.next().ok_or_else(|| {
            Error::parse(path.to_path_buf(), format!("no value line after {names:?}"))
        })?;
        let mut names = names.split_ascii_whitespace();
        let mut values = values.split_ascii_whitespace();
        let (Some(protocol), Some(again)) = (names.next(), values.next()) else {
            continue;
        };
        let protocol = protocol.trim_end_matches(':');
        if again.trim_end_matches(':') != protocol {
            return Err(Error::parse(
                path.to_path_buf(),
                format!("{protocol}: the value line is {again:?}'s"),
            ));
        }
        let names: Vec<&str> = names.collect();
        let values: Vec<&str> = values.collect();
        if names.len() != values.len() {
            return Err(Error::parse(
                path.to_path_buf(),
                format!("{protocol}: {} names, {} values", names.len(), values.len()),
            ));
        }
        for (name, value) in names.into_iter().zip(values) {
            insert(out, &mut key, keep, (protocol, name, value), path)?;
        }
    }
    Ok(())
}

/// `Ip6InOctets 123` lines of `snmp6`: the protocol is the name up to its `6`.
fn parse_snmp6(
    text: &str,
    path: &std::path::Path,
    keep: &dyn Fn(&str) -> bool,
    out: &mut BTreeMap<String, f64>,
) -> Result<(), Error> {
    let mut buf = String::new();
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else { continue };
        let (protocol, name) = key.split_at(six + 1);
        insert(out, &mut buf, keep, (protocol, name, value), path)?;
    }
    Ok(())
}

fn number(value: &str, path: &std::path::Path) -> Result<f64, Error> {
    value
        .parse::<f64>()
        .map_err(|_| Error::parse(path.to_path_buf(), format!("{value:?} is not a number")))
}

impl Collector for Netstat {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let mut stats = BTreeMap::new();
        let keep = |k: &str| {
            self.decided
                .get(k, || self.fields.is_match(k))
                .unwrap_or_else(|| self.fields.is_match(k))
        };
        for file in ["net/netstat", "net/snmp"] {
            let path = self.paths.proc(file);
            parse_pairs(&crate::paths::read_kept(path.clone())?, &path, &keep, &mut stats)?;
        }
        let snmp6 = self.paths.proc("net/snmp6");
        match crate::paths::read_kept(snmp6.clone()) {
            Ok(text) => parse_snmp6(&text, &snmp6, &keep, &mut stats)?,
            Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        for (key, value) in stats {
            let names = |keep: fn(String) -> Cow<'static, str>| {
                (
                    keep(format!("node_netstat_{key}")),
                    keep(format!("Statistic {}.", key.replacen('_', "", 1))),
                )
            };
            let (name, help) = self
                .names
                .get(&key, || names(|s| crate::collector::forever(s).into()))
                .unwrap_or_else(|| names(Cow::Owned));
            out.push(MetricFamily::untyped(name, help).with([], value));
        }
        Ok(())
    }
}

/// The `netstat` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "netstat",
    enabled_by_default: true,
    help: "Protocol counters from /proc/net/{netstat,snmp,snmp6} (node_netstat_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        let fields = crate::collector::regex("collector.netstat.fields", &flags.fields)?;
        Ok(Arc::new(Netstat {
            paths: c.paths.clone(),
            fields,
            decided: Default::default(),
            names: Default::default(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_snmp6_lines() {
        let p = std::path::Path::new("/proc/net/snmp");
        let mut out = BTreeMap::new();
        parse_pairs(
            "Tcp: ActiveOpens CurrEstab\nTcp: 3 -1\nUdp: InDatagrams\nUdp: 7\n",
            p,
            &|k| k != "Tcp_ActiveOpens",
            &mut out,
        )
        .unwrap();
        assert_eq!(out["Tcp_CurrEstab"], -1.0);
        assert_eq!(out["Udp_InDatagrams"], 7.0);
        assert!(!out.contains_key("Tcp_ActiveOpens"), "the filter leaves it out");
        parse_snmp6("Ip6InOctets 10\nIcmp6InMsgs 2\nUdpLite6InErrors 0\n", p, &|_| true, &mut out).unwrap();
        assert_eq!(out["Ip6_InOctets"], 10.0);
        assert_eq!(out["UdpLite6_InErrors"], 0.0);
        assert!(parse_pairs("Tcp: A B\nTcp: 1\n", p, &|_| true, &mut BTreeMap::new()).is_err());
        assert!(parse_pairs("Tcp: A\nUdp: 1\n", p, &|_| true, &mut BTreeMap::new()).is_err());
        assert!(parse_pairs("Tcp: A\n", p, &|_| true, &mut BTreeMap::new()).is_err());
        assert!(parse_pairs("Tcp: A\nTcp: x\n", p, &|_| true, &mut BTreeMap::new()).is_err());
    }
}
