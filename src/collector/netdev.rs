//! `netdev`: per-interface counters from `/proc/net/dev`, as node_exporter's netdev collector
//! (`node_network_{receive,transmit}_*_total{device}`). Container veth interfaces are excluded
//! by default (see [`super::DEFAULT_NETDEV_EXCLUDE`]).

use crate::collector::{Collector, DeviceFilter, Error};
use crate::metric::{MetricFamily, Unit};
use crate::paths::HostPaths;

/// Column names of `/proc/net/dev`, in order, as node_exporter names them.
const RECEIVE: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "frame",
    "compressed",
    "multicast",
];
const TRANSMIT: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "colls",
    "carrier",
    "compressed",
];

/// The netdev collector.
pub struct Netdev {
    paths: HostPaths,
    devices: DeviceFilter,
}

impl Netdev {
    pub fn new(paths: HostPaths, devices: DeviceFilter) -> Self {
        Self { paths, devices }
    }
}

fn family(direction: &str, column: &str) -> MetricFamily {
    let help = format!("Network device statistic {direction}_{column}.");
    if column == "bytes" {
        MetricFamily::counter(format!("node_network_{direction}"), Some(Unit::Bytes), help)
    } else {
        MetricFamily::counter(format!("node_network_{direction}_{column}"), None, help)
    }
}

impl Collector for Netdev {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("net/dev");
        let text = crate::paths::read(path.clone())?;
        let mut families: Vec<MetricFamily> = RECEIVE
            .iter()
            .map(|c| family("receive", c))
            .chain(TRANSMIT.iter().map(|c| family("transmit", c)))
            .collect();
        for entry in parse(&text) {
            let (device, counters) = entry.map_err(|reason| Error::parse(path.clone(), reason))?;
            if !self.devices.keeps(device) {
                continue;
            }
            for (fam, v) in families.iter_mut().zip(counters) {
                fam.push([("device", device.to_string())], v);
            }
        }
        out.extend(families);
        Ok(())
    }
}

/// Splits `/proc/net/dev` into `(device, counters)`, the 8 receive columns then the 8 transmit
/// columns; an `Err` names the bad line. Shared with the per-container network counters, which
/// read the same file inside the container's network namespace.
pub(crate) fn parse(text: &str) -> impl Iterator<Item = Result<(&str, [u64; 16]), String>> {
    // Two header lines, then "  eth0: 1 2 3 ...".
    text.lines().skip(2).filter_map(|line| {
        let (device, rest) = line.split_once(':')?;
        let device = device.trim();
        let mut counters = [0u64; 16];
        let mut fields = rest.split_ascii_whitespace();
        for (i, c) in counters.iter_mut().enumerate() {
            let field = fields.next();
            match field.map(str::parse::<u64>) {
                Some(Ok(v)) => *c = v,
                _ => {
                    return Some(Err(format!(
                        "device {device}: column {} is {field:?}, not a number",
                        i + 1
                    )))
                }
            }
        }
        Some(Ok((device, counters)))
    })
}
