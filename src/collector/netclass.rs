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
//!
//! Unlike node_exporter, hale keeps each interface's attribute files open between scrapes and
//! reads them again from the start ([`crate::paths::KeptDir`]): opening and closing sysfs files
//! cost several times what reading them does. An interface whose name now belongs to another
//! directory (deleted and made again, renamed) is opened afresh; one gone is let go.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::{HostPaths, KeptDir};

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
            kept: Default::default(),
        }))
    },
};

/// The netclass collector.
pub struct Netclass {
    paths: HostPaths,
    ignored: Regex,
    ignore_invalid_speed: bool,
    /// Interfaces' directories with their attribute files kept open between scrapes, by name:
    /// opening and closing two dozen sysfs files per interface was most of this collector's
    /// cost. Holds the interfaces of the last scrape, at most [`KEPT_DEVICES`] of them.
    kept: parking_lot::Mutex<std::collections::HashMap<String, KeptDir>>,
}

/// How many interfaces keep their attribute files open (about two dozen descriptors each); the
/// rest are opened and closed at each scrape, as before. A Docker host's interfaces other than
/// veths (loopback, a few NICs, docker0, a bridge per Compose network) mostly fit.
const KEPT_DEVICES: usize = 16;

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
fn attribute(dir: &mut KeptDir, file: &'static str) -> Result<Option<String>, Error> {
    match dir.read_bytes(file) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).trim().to_string())),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::EACCES | libc::EPERM | libc::EINVAL | libc::EOPNOTSUPP)
            ) || e.kind() == std::io::ErrorKind::IsADirectory =>
        {
            Ok(None)
        }
        Err(source) => Err(crate::paths::ReadError {
            path: dir.path().join(file),
            source,
        }
        .into()),
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
        // Taken for the scrape, and left holding this scrape's interfaces: gone ones are closed.
        // A scrape that overlaps one stuck here opens its own.
        let mut last = std::mem::take(&mut *self.kept.lock());
        let mut kept = std::collections::HashMap::new();
        for device in devices {
            let path = dir.join(&device);
            let reuse = last.remove(&device).filter(|d| d.is_at(&path));
            // An interface gone since the listing has no series.
            let Some(mut base) = reuse.or_else(|| KeptDir::open(&path).ok()) else {
                continue;
            };
            let mut text = |file: &'static str| -> Result<String, Error> {
                Ok(attribute(&mut base, file)?.unwrap_or_default())
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
                let Some(v) = attribute(&mut base, file)?.as_deref().and_then(parse_int) else {
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
            if kept.len() < KEPT_DEVICES {
                kept.insert(device, base);
            }
        }
        *self.kept.lock() = kept;
        out.push(up);
        out.push(info);
        out.extend(numeric);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mtu(collector: &Netclass) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        let family = out
            .iter()
            .find(|f| f.name == "node_network_mtu_bytes")
            .unwrap();
        family
            .samples
            .iter()
            .map(|s| (s.labels[0].1.to_string(), s.value.as_f64()))
            .collect()
    }

    #[test]
    fn an_interface_made_again_under_its_name_is_read_afresh() {
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("sys/class/net");
        let make = |name: &str, mtu: &str| {
            let dir = net.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("operstate"), "up\n").unwrap();
            std::fs::write(dir.join("mtu"), mtu).unwrap();
        };
        make("eth0", "1500\n");
        for dir in ["proc", "rootfs"] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
        }
        let collector = Netclass {
            paths: HostPaths::new(
                root.path().join("proc"),
                root.path().join("sys"),
                root.path().join("rootfs"),
            )
            .unwrap(),
            ignored: Regex::new(DEFAULT_IGNORED_DEVICES).unwrap(),
            ignore_invalid_speed: false,
            kept: Default::default(),
        };
        assert_eq!(mtu(&collector), [("eth0".to_string(), 1500.0)]);
        assert_eq!(collector.kept.lock().len(), 1);
        // eth0 renamed, and a new eth0 made: the kept directory is the old one, not eth0's now.
        std::fs::rename(net.join("eth0"), net.join("eth1")).unwrap();
        make("eth0", "9000\n");
        assert_eq!(
            mtu(&collector),
            [("eth0".to_string(), 9000.0), ("eth1".to_string(), 1500.0)]
        );
        // Gone interfaces are let go.
        std::fs::remove_dir_all(net.join("eth1")).unwrap();
        assert_eq!(mtu(&collector), [("eth0".to_string(), 9000.0)]);
        assert_eq!(collector.kept.lock().len(), 1);
        // Past KEPT_DEVICES interfaces, the rest are read as before, scrape after scrape.
        let mut want = vec![("eth0".to_string(), 9000.0)];
        for i in 0..KEPT_DEVICES + 4 {
            let name = format!("vlan{i:02}");
            make(&name, &format!("{}\n", 1000 + i));
            want.push((name, (1000 + i) as f64));
        }
        for _ in 0..2 {
            assert_eq!(mtu(&collector), want);
            assert_eq!(collector.kept.lock().len(), KEPT_DEVICES);
        }
    }

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
