//! `arp`: neighbour table entries per interface from `/proc/net/arp`, as node_exporter 1.5's
//! arp collector: `node_arp_entries{device}`, with its `--collector.arp.device-include` and
//! `--collector.arp.device-exclude` (neither set by default: every interface).

use std::sync::Arc;

use crate::collector::{Collector, DeviceFilter, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The `arp` collector's flags (node_exporter's names).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.arp.flags")]
pub struct Flags {
    /// Regexp of arp devices to exclude (mutually exclusive to device-include).
    #[arg(id = "collector.arp.device-exclude", long = "collector.arp.device-exclude", value_name = "REGEX")]
    device_exclude: Option<String>,

    /// Regexp of arp devices to include (mutually exclusive to device-exclude).
    #[arg(
        id = "collector.arp.device-include",
        long = "collector.arp.device-include",
        value_name = "REGEX",
        conflicts_with = "collector.arp.device-exclude"
    )]
    device_include: Option<String>,
}

/// The `arp` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "arp",
    enabled_by_default: true,
    help: "ARP entries per interface from /proc/net/arp (node_arp_entries)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        let devices = crate::collector::device_filter(
            ("collector.arp.device-include", flags.device_include.as_deref()),
            ("collector.arp.device-exclude", flags.device_exclude.as_deref()),
            "",
        )?;
        Ok(Arc::new(Arp {
            paths: c.paths.clone(),
            devices,
        }))
    },
};

/// The arp collector.
pub struct Arp {
    paths: HostPaths,
    devices: DeviceFilter,
}

/// Entries per device, in the order devices first appear.
fn parse(text: &str) -> Result<Vec<(String, u64)>, String> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for line in text.lines() {
        let columns: Vec<&str> = line.split_whitespace().collect();
        if columns.len() < 6 {
            return Err("unexpected ARP table format".into());
        }
        if columns.first() == Some(&"IP") {
            continue;
        }
        let device = columns.last().copied().unwrap_or("");
        match counts.iter_mut().find(|(d, _)| d == device) {
            Some((_, n)) => *n += 1,
            None => counts.push((device.to_string(), 1)),
        }
    }
    Ok(counts)
}

impl Collector for Arp {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("net/arp");
        let Some(text) = crate::collector::read_optional_kept(path.clone())? else {
            return Ok(());
        };
        let counts = parse(&text).map_err(|reason| Error::parse(path, reason))?;
        let mut family = MetricFamily::gauge("node_arp_entries", None, "ARP entries by device");
        for (device, n) in counts.into_iter().filter(|(d, _)| self.devices.keeps(d)) {
            family.push([("device", device)], n);
        }
        out.push(family);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_entries_per_device() {
        let text = "IP address HW type Flags HW address Mask Device\n\
                    10.0.0.1 0x1 0x2 aa:bb:cc:dd:ee:ff * eth0\n\
                    10.0.0.2 0x1 0x2 aa:bb:cc:dd:ee:00 * eth0\n\
                    172.17.0.2 0x1 0x2 02:42:ac:11:00:02 * docker0\n";
        assert_eq!(
            super::parse(text).unwrap(),
            vec![("eth0".to_string(), 2), ("docker0".to_string(), 1)]
        );
        assert!(super::parse("10.0.0.1 0x1\n").is_err());
    }
}
