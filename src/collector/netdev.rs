//! `netdev`: per-interface counters from `/proc/net/dev`, as node_exporter's netdev collector
//! (`node_network_{receive,transmit}_*_total{device}`). Container veth interfaces are excluded
//! by default (see [`super::DEFAULT_NETDEV_EXCLUDE`]).

use crate::collector::{parse_u64, Collector, DeviceFilter, Error};
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
        // Two header lines, then "  eth0: 1 2 3 ...".
        for line in text.lines().skip(2) {
            let Some((device, counters)) = line.split_once(':') else {
                continue;
            };
            let device = device.trim();
            if !self.devices.keeps(device) {
                continue;
            }
            let mut fields = counters.split_ascii_whitespace();
            for fam in families.iter_mut() {
                let v = parse_u64(fields.next(), &path, device)?;
                fam.push([("device", device.to_string())], v);
            }
        }
        out.extend(families);
        Ok(())
    }
}
