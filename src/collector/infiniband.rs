//! `infiniband`: InfiniBand HCAs and ports from `/sys/class/infiniband/`, as node_exporter 1.5's
//! infiniband collector: `node_infiniband_info{device,board_id,firmware_version,hca_type}`,
//! and per `{device,port}` the state, physical state and rate, and every port counter the
//! driver gives (data in bytes: the kernel counts 4-byte words). A counter the port does not
//! have (`N/A (no PMA)`) is left out. A host without InfiniBand gives no series.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The infiniband collector.
pub struct Infiniband {
    paths: HostPaths,
}

/// (directory, file, metric without `node_infiniband_` and `_total`, ×4?, help)
const COUNTERS: &[(&str, &str, &str, bool, &str)] = &[
    ("counters_ext", "port_multicast_rcv_packets", "legacy_multicast_packets_received", false, "Number of multicast packets received"),
    ("counters_ext", "port_multicast_xmit_packets", "legacy_multicast_packets_transmitted", false, "Number of multicast packets transmitted"),
    ("counters_ext", "port_rcv_data_64", "legacy_data_received_bytes", true, "Number of data octets received on all links"),
    ("counters_ext", "port_rcv_packets_64", "legacy_packets_received", false, "Number of data packets received on all links"),
    ("counters_ext", "port_unicast_rcv_packets", "legacy_unicast_packets_received", false, "Number of unicast packets received"),
    ("counters_ext", "port_unicast_xmit_packets", "legacy_unicast_packets_transmitted", false, "Number of unicast packets transmitted"),
    ("counters_ext", "port_xmit_data_64", "legacy_data_transmitted_bytes", true, "Number of data octets transmitted on all links"),
    ("counters_ext", "port_xmit_packets_64", "legacy_packets_transmitted", false, "Number of data packets received on all links"),
    ("counters", "excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors", false, "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error."),
    ("counters", "link_downed", "link_downed", false, "Number of times the link failed to recover from an error state and went down"),
    ("counters", "link_error_recovery", "link_error_recovery", false, "Number of times the link successfully recovered from an error state"),
    ("counters", "local_link_integrity_errors", "local_link_integrity_errors", false, "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors."),
    ("counters", "multicast_rcv_packets", "multicast_packets_received", false, "Number of multicast packets received (including errors)"),
    ("counters", "multicast_xmit_packets", "multicast_packets_transmitted", false, "Number of multicast packets transmitted (including errors)"),
    ("counters", "port_rcv_constraint_errors", "port_constraint_errors_received", false, "Number of packets received on the switch physical port that are discarded"),
    ("counters", "port_xmit_constraint_errors", "port_constraint_errors_transmitted", false, "Number of packets not transmitted from the switch physical port"),
    ("counters", "port_rcv_data", "port_data_received_bytes", true, "Number of data octets received on all links"),
    ("counters", "port_xmit_data", "port_data_transmitted_bytes", true, "Number of data octets transmitted on all links"),
    ("counters", "port_rcv_discards", "port_discards_received", false, "Number of inbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_xmit_discards", "port_discards_transmitted", false, "Number of outbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_rcv_errors", "port_errors_received", false, "Number of packets containing an error that were received on this port"),
    ("counters", "port_rcv_packets", "port_packets_received", false, "Number of packets received on all VLs by this port (including errors)"),
    ("counters", "port_xmit_packets", "port_packets_transmitted", false, "Number of packets transmitted on all VLs from this port (including errors)"),
    ("counters", "port_xmit_wait", "port_transmit_wait", false, "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"),
    ("counters", "unicast_rcv_packets", "unicast_packets_received", false, "Number of unicast packets received (including errors)"),
    ("counters", "unicast_xmit_packets", "unicast_packets_transmitted", false, "Number of unicast packets transmitted (including errors)"),
    ("counters", "port_rcv_remote_physical_errors", "port_receive_remote_physical_errors", false, "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."),
    ("counters", "port_rcv_switch_relay_errors", "port_receive_switch_relay_errors", false, "Number of packets that could not be forwarded by the switch."),
    ("counters", "symbol_error", "symbol_error", false, "Number of minor link errors detected on one or more physical lanes."),
    ("counters", "VL15_dropped", "vl15_dropped", false, "Number of incoming VL15 packets dropped due to resource limitations."),
];

/// `4: ACTIVE` to 4.
fn state_id(text: &str) -> Option<u64> {
    text.split_once(':')?.0.trim().parse().ok()
}

/// `40 Gb/sec (4X QDR)` to bytes a second.
fn rate(text: &str) -> Option<u64> {
    let gbit: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some((gbit * 125_000_000.0) as u64)
}

fn parse_counter(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn sorted_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl Collector for Infiniband {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/infiniband");
        if !dir.is_dir() {
            return Ok(());
        }
        let read = |p: std::path::PathBuf| -> Result<String, Error> {
            Ok(crate::paths::read(p)?.trim().to_string())
        };
        let mut info = MetricFamily::info(
            "node_infiniband",
            "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
        );
        let gauge = |name: &str, help: &str| {
            MetricFamily::gauge(format!("node_infiniband_{name}"), None, help.to_string())
        };
        let mut state = gauge("state_id", "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)");
        let mut phys = gauge("physical_state_id", "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)");
        let mut rate_f = gauge("rate_bytes_per_second", "Maximum signal transfer rate");
        let mut counters: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(_, _, name, _, help)| {
                MetricFamily::counter(format!("node_infiniband_{name}"), None, *help)
            })
            .collect();
        for device in sorted_entries(&dir) {
            let base = dir.join(&device);
            let hca = match crate::paths::read_text(base.join("hca_type")) {
                Ok(v) => v.trim().to_string(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(source) => {
                    return Err(crate::paths::ReadError { path: base.join("hca_type"), source }.into())
                }
            };
            info.push(
                [
                    ("device", device.clone()),
                    ("board_id", read(base.join("board_id"))?),
                    ("firmware_version", read(base.join("fw_ver"))?),
                    ("hca_type", hca),
                ],
                1u64,
            );
            for port in sorted_entries(&base.join("ports")) {
                let pdir = base.join("ports").join(&port);
                let labels = || [("device", device.clone()), ("port", port.clone())];
                let parse = |file: &str, f: fn(&str) -> Option<u64>| -> Result<u64, Error> {
                    let text = read(pdir.join(file))?;
                    f(&text).ok_or_else(|| Error::parse(pdir.join(file), format!("{text:?}")))
                };
                state.push(labels(), parse("state", state_id)?);
                phys.push(labels(), parse("phys_state", state_id)?);
                rate_f.push(labels(), parse("rate", rate)?);
                for ((sub, file, _, words, _), family) in COUNTERS.iter().zip(counters.iter_mut()) {
                    let Ok(text) = crate::paths::read_text(pdir.join(sub).join(file)) else {
                        continue;
                    };
                    let text = text.trim();
                    let Some(v) = parse_counter(text) else {
                        if text.contains("N/A (no PMA)") {
                            continue;
                        }
                        return Err(Error::parse(pdir.join(sub).join(file), format!("{text:?}")));
                    };
                    family.push(labels(), if *words { v.saturating_mul(4) } else { v });
                }
            }
        }
        out.extend([info, state, phys, rate_f]);
        out.extend(counters);
        Ok(())
    }
}

/// The `infiniband` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "infiniband",
    enabled_by_default: true,
    help: "InfiniBand HCAs' port state, rate and counters (node_infiniband_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Infiniband {
            paths: c.paths.clone(),
        }))
    },
};
