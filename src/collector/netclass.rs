//! `netclass`: network interface properties from `/sys/class/net/<iface>/`, as node_exporter
//! 1.5's netclass collector in its default (sysfs) mode: `node_network_up` (operstate is
//! `up`), `node_network_info{device,address,broadcast,duplex,operstate,ifalias}`,
//! `node_network_carrier`, `node_network_speed_bytes` (the link speed: Mbit/s × 125000),
//! `node_network_mtu_bytes`, the carrier change counters and the other numeric attributes, all
//! by `device`.
//!
//! hale's one deliberate difference: `--collector.netclass.ignored-devices` defaults to
//! `^veth` (node_exporter's is `^$`), the same interfaces netdev leaves out. Every container
//! has a veth on the host, so without it a scrape reads two dozen sysfs files per container
//! and the series churn with every deploy. `--collector.netclass.ignored-devices='^$'` restores
//! node_exporter's behaviour.
//!
//! An attribute the kernel refuses to read (`speed` of a down link answers `EINVAL`) is left
//! out, as node_exporter does; a host without `/sys/class/net` gives no series.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// Interfaces left out by default: the host side of containers' veth pairs.
pub const DEFAULT_IGNORED_DEVICES: &str = "^veth";

/// The `netclass` collector's flags (node_exporter's names).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.netclass.flags")]
pub struct Flags {
    /// Regexp of net devices to ignore for netclass collector. Default: ^veth (node_exporter's
    /// is ^$).
    #[arg(
        id = "collector.netclass.ignored-devices",
        long = "collector.netclass.ignored-devices",
        value_name = "REGEX",
        default_value = DEFAULT_IGNORED_DEVICES
    )]
    ignored_devices: String,

    /// Ignore devices where the speed is invalid (-1, reported as -125000 otherwise, as
    /// node_exporter 1.x does).
    #[arg(
        id = "collector.netclass.ignore-invalid-speed",
        long = "collector.netclass.ignore-invalid-speed"
    )]
    ignore_invalid_speed: bool,
}

/// The `netclass` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "netclass",
    enabled_by_default: true,
    help: "Network interface properties from /sys/class/net (node_network_up, _speed_bytes, ...)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(Netclass {
            paths: c.paths.clone(),
            ignored: crate::collector::regex(
                "collector.netclass.ignored-devices",
                &flags.ignored_devices,
            )?,
            ignore_invalid_speed: flags.ignore_invalid_speed,
        }))
    },
};

/// The netclass collector.
pub struct Netclass {
    paths: HostPaths,
    ignored: Regex,
    ignore_invalid_speed: bool,
}

/// The numeric attributes, in node_exporter's order: (file, metric suffix, counter?).
const NUMERIC: &[(&str, &str, bool)] = &[
    ("addr_assign_type", "address_assign_type", false),
    ("carrier", "carrier", false),
    ("carrier_changes", "carrier_changes", true),
    ("carrier_up_count", "carrier_up_changes", true),
    ("carrier_down_count", "carrier_down_changes", true),
    ("dev_id", "device_id", false),
    ("dormant", "dormant", false),
    ("flags", "flags", false),
    ("ifindex", "iface_id", false),
    ("iflink", "iface_link", false),
    ("link_mode", "iface_link_mode", false),
    ("mtu", "mtu_bytes", false),
    ("name_assign_type", "name_assign_type", false),
    ("netdev_group", "net_dev_group", false),
    ("speed", "speed_bytes", false),
    ("tx_queue_len", "transmit_queue_length", false),
    ("type", "protocol_type", false),
];

/// Parses an integer as Go's `strconv.ParseInt(s, 0, 64)` does (`0x` hex, `0` octal).
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(digits.get(1..)?, 8).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// One attribute: `Ok(None)` when the kernel will not give it (absent, not permitted, not
/// supported for this device, or `EINVAL` for a link that is down).
fn attribute(path: std::path::PathBuf) -> Result<Option<String>, Error> {
    match crate::paths::read_bytes(&path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).trim().to_string())),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::EACCES | libc::EPERM | libc::EINVAL | libc::EOPNOTSUPP)
            ) || e.kind() == std::io::ErrorKind::IsADirectory =>
        {
            Ok(None)
        }
        Err(source) => Err(crate::paths::ReadError { path, source }.into()),
    }
}

impl Collector for Netclass {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/net");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut devices: Vec<String> = entries
            .filter_map(Result::ok)
            // Regular files (`bonding_masters`) are not interfaces.
            .filter(|e| e.file_type().map(|t| !t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|d| !self.ignored.is_match(d))
            .collect();
        devices.sort();

        let mut up = MetricFamily::gauge(
            "node_network_up",
            None,
            "Value is 1 if operstate is 'up', 0 otherwise.",
        );
        let mut info = MetricFamily::info(
            "node_network",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        );
        let mut numeric: Vec<MetricFamily> = NUMERIC
            .iter()
            .map(|(_, name, counter)| {
                let help = format!("Network device property: {name}");
                if *counter {
                    MetricFamily::counter(format!("node_network_{name}"), None, help)
                } else {
                    MetricFamily::gauge(format!("node_network_{name}"), None, help)
                }
            })
            .collect();
        for device in devices {
            let base = dir.join(&device);
            let text = |file: &str| -> Result<String, Error> {
                Ok(attribute(base.join(file))?.unwrap_or_default())
            };
            let operstate = text("operstate")?;
            up.push([("device", device.clone())], operstate == "up");
            info.push(
                [
                    ("device", device.clone()),
                    ("address", text("address")?),
                    ("broadcast", text("broadcast")?),
                    ("duplex", text("duplex")?),
                    ("operstate", operstate),
                    ("ifalias", text("ifalias")?),
                ],
                1u64,
            );
            for ((file, name, counter), family) in NUMERIC.iter().zip(numeric.iter_mut()) {
                let Some(v) = attribute(base.join(file))?.as_deref().and_then(parse_int) else {
                    continue;
                };
                let labels = [("device", device.clone())];
                if *name == "speed_bytes" {
                    if v < 0 && self.ignore_invalid_speed {
                        continue;
                    }
                    family.push(labels, v.saturating_mul(1_000_000) as f64 / 8.0);
                } else {
                    match u64::try_from(v) {
                        Ok(v) => family.push(labels, v),
                        // A counter never goes below 0.
                        Err(_) if *counter => family.push(labels, 0u64),
                        Err(_) => family.push(labels, v as f64),
                    }
                }
            }
        }
        out.push(up);
        out.push(info);
        out.extend(numeric);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn integers_parse_as_go_parses_them() {
        assert_eq!(parse_int("0x1003"), Some(0x1003));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("1500"), Some(1500));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("up"), None);
        assert_eq!(parse_int(""), None);
    }
}
