//! `netdev`: per-interface counters from `/proc/net/dev`, as node_exporter's netdev collector
//! (`node_network_{receive,transmit}_*_total{device}`), plus `receive_nohandler`, which
//! node_exporter's default (netlink) reports and `/proc/net/dev` lacks, from sysfs. Container veth
//! interfaces are excluded by default (see [`DEFAULT_NETDEV_EXCLUDE`]).

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

/// hale's default `--collector.netdev.device-exclude`: the host ends of container veth pairs, one
/// per container, which would make the interface label unbounded on a busy Docker host. Bridges
/// (`docker0`, `br-*`) stay: they carry the containers' traffic as the host sees it.
pub const DEFAULT_NETDEV_EXCLUDE: &str = r"^veth";

/// The `netdev` collector's flags (node_exporter's names).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.netdev.flags")]
pub struct Flags {
    /// Regexp of net devices to exclude (mutually exclusive with device-include).
    /// Default: ^veth (the host side of container interfaces).
    #[arg(id = "collector.netdev.device-exclude", long = "collector.netdev.device-exclude", value_name = "REGEX")]
    device_exclude: Option<String>,

    /// Regexp of net devices to include (mutually exclusive with device-exclude).
    #[arg(
        id = "collector.netdev.device-include",
        long = "collector.netdev.device-include",
        value_name = "REGEX",
        conflicts_with = "collector.netdev.device-exclude"
    )]
    device_include: Option<String>,
}

/// The `netdev` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "netdev",
    enabled_by_default: true,
    help: "Network interface counters (node_network_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        let devices = crate::collector::device_filter(
            ("collector.netdev.device-include", flags.device_include.as_deref()),
            ("collector.netdev.device-exclude", flags.device_exclude.as_deref()),
            DEFAULT_NETDEV_EXCLUDE,
        )?;
        Ok(std::sync::Arc::new(Netdev::new(c.paths.clone(), devices)))
    },
};

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
        let text = crate::paths::read_kept(path.clone())?;
        let mut families: Vec<MetricFamily> = RECEIVE
            .iter()
            .map(|c| family("receive", c))
            .chain(TRANSMIT.iter().map(|c| family("transmit", c)))
            .collect();
        let mut no_handler = family("receive", "nohandler");
        for entry in crate::proc_files::parse_net_dev(&text) {
            let (device, counters) = entry.map_err(|reason| Error::parse(path.clone(), reason))?;
            if !self.devices.keeps(device) {
                continue;
            }
            for (fam, v) in families.iter_mut().zip(counters) {
                fam.push([("device", device.to_string())], v);
            }
            // Not in /proc/net/dev; node_exporter's default (netlink) reads it from the kernel's
            // link statistics, which sysfs shows per device. Absent on old kernels.
            let nohandler = self
                .paths
                .sys(format!("class/net/{device}/statistics/rx_nohandler"));
            if let Ok(text) = crate::paths::read_text(nohandler) {
                if let Ok(v) = text.trim().parse::<u64>() {
                    no_handler.push([("device", device.to_string())], v);
                }
            }
        }
        out.extend(families);
        out.push(no_handler);
        Ok(())
    }
}


