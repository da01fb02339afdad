//! `fibrechannel`: Fibre Channel host adapters from `/sys/class/fc_host/`, as node_exporter
//! 1.5's fibrechannel collector: `node_fibrechannel_info{fc_host,speed,port_state,...}` and
//! the port counters (`node_fibrechannel_{rx,tx}_{frames,words}_total`, `_error_frames_total`,
//! `_link_failure_total`, `_loss_of_sync_total`, ...) by `fc_host`. A counter the HBA firmware
//! does not implement (all ones) is left out, as node_exporter does. A host without FC HBAs
//! gives no series.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The fibrechannel collector.
pub struct Fibrechannel {
    paths: HostPaths,
}

/// (statistics file, metric suffix without `_total`, help), in node_exporter's order.
const COUNTERS: &[(&str, &str, &str)] = &[
    ("dumped_frames", "dumped_frames", "Number of dumped frames"),
    ("error_frames", "error_frames", "Number of errors in frames"),
    ("invalid_crc_count", "invalid_crc", "Invalid Cyclic Redundancy Check count"),
    ("rx_frames", "rx_frames", "Number of frames received"),
    ("rx_words", "rx_words", "Number of words received by host port"),
    ("tx_frames", "tx_frames", "Number of frames transmitted by host port"),
    ("tx_words", "tx_words", "Number of words transmitted by host port"),
    ("seconds_since_last_reset", "seconds_since_last_reset", "Number of seconds since last host port reset"),
    ("invalid_tx_word_count", "invalid_tx_words", "Number of invalid words transmitted by host port"),
    ("link_failure_count", "link_failure", "Number of times the host port link has failed"),
    ("loss_of_sync_count", "loss_of_sync", "Number of failures on either bit or transmission word boundaries"),
    ("loss_of_signal_count", "loss_of_signal", "Number of times signal has been lost"),
    ("nos_count", "nos", "Number Not_Operational Primitive Sequence received by host port"),
    ("fcp_packet_aborts", "fcp_packet_aborts", "Number of aborted packets"),
];

/// A sysfs attribute as procfs reads it: trimmed.
fn attr(path: std::path::PathBuf) -> Result<String, Error> {
    Ok(crate::paths::read(path)?.trim().to_string())
}

/// A hexadecimal (`0x1f`) or decimal counter, as Go's `ParseUint(s, 0, 64)`.
fn parse_counter(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Collector for Fibrechannel {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/fc_host");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut hosts: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        hosts.sort();
        let mut info = MetricFamily::info(
            "node_fibrechannel",
            "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
        );
        let mut counters: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(_, name, help)| {
                MetricFamily::counter(format!("node_fibrechannel_{name}"), None, *help)
            })
            .collect();
        for host in hosts {
            let base = dir.join(&host);
            // Hex identifiers lose their 0x, as procfs gives them.
            let hex = |f: &str| -> Result<String, Error> {
                let v = attr(base.join(f))?;
                Ok(if v.len() > 2 { v.get(2..).unwrap_or("").to_string() } else { v })
            };
            info.push(
                [
                    ("fc_host", host.clone()),
                    ("speed", attr(base.join("speed"))?),
                    ("port_state", attr(base.join("port_state"))?),
                    ("port_type", attr(base.join("port_type"))?),
                    ("port_id", hex("port_id")?),
                    ("port_name", hex("port_name")?),
                    ("fabric_name", hex("fabric_name")?),
                    ("symbolic_name", attr(base.join("symbolic_name"))?),
                    ("supported_classes", attr(base.join("supported_classes"))?),
                    ("supported_speeds", attr(base.join("supported_speeds"))?),
                    ("dev_loss_tmo", attr(base.join("dev_loss_tmo"))?),
                ],
                1u64,
            );
            let stats = base.join("statistics");
            for ((file, _, _), family) in COUNTERS.iter().zip(counters.iter_mut()) {
                // A missing counter reads 0, as procfs leaves it.
                let v = match crate::paths::read_text(stats.join(file)) {
                    Ok(text) => parse_counter(text.trim()).ok_or_else(|| {
                        Error::parse(stats.join(file), format!("{:?} is not a counter", text.trim()))
                    })?,
                    Err(_) => 0,
                };
                if v != u64::MAX {
                    family.push([("fc_host", host.clone())], v);
                }
            }
        }
        out.push(info);
        out.extend(counters);
        Ok(())
    }
}

/// The `fibrechannel` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "fibrechannel",
    enabled_by_default: true,
    help: "Fibre Channel HBAs' state and port counters (node_fibrechannel_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Fibrechannel {
            paths: c.paths.clone(),
        }))
    },
};
