//! `mdadm`: Linux software RAID from `/proc/mdstat`, as node_exporter 1.5's mdadm collector
//! (and the procfs parser it uses): `node_md_state{device,state}` over active, inactive,
//! recovering, resync and check, `node_md_disks{device,state}` (active, failed, spare),
//! `node_md_disks_required`, `node_md_blocks` and `node_md_blocks_synced`. node-mixin's
//! `NodeRAIDDegraded` and `NodeRAIDDiskFailure` read these. A host without md (no
//! `/proc/mdstat`) gives no series.
//!
//! Values follow node_exporter's parser exactly, quirks included (an array shown as
//! `active (auto-read-only)` has no state set to 1), so a dashboard reads the same numbers.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// One array, as node_exporter sees it.
#[derive(Debug, Default, PartialEq)]
struct Array {
    name: String,
    state: String,
    active: i64,
    total: i64,
    failed: i64,
    spare: i64,
    blocks: i64,
    synced: i64,
}

struct Patterns {
    status: Regex,
    recovery_blocks: Regex,
}

fn patterns() -> &'static Patterns {
    static P: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
    P.get_or_init(|| Patterns {
        #[allow(clippy::unwrap_used)] // constant patterns
        status: Regex::new(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]").unwrap(),
        #[allow(clippy::unwrap_used)]
        recovery_blocks: Regex::new(r"\((\d+)/\d+\)").unwrap(),
    })
}

fn int(s: &str, line: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("unexpected status line {line:?}"))
}

/// (active, total, size) from the device line and the status line under it.
fn status(device_line: &str, status_line: &str) -> Result<(i64, i64, i64), String> {
    let size = status_line
        .split_whitespace()
        .next()
        .ok_or_else(|| format!("unexpected status line {status_line:?}"))?;
    let size = int(size, status_line)?;
    if device_line.contains("raid0") || device_line.contains("linear") {
        let total = device_line.matches('[').count() as i64;
        return Ok((total, total, size));
    }
    if device_line.contains("inactive") {
        return Ok((0, 0, size));
    }
    let caps = patterns()
        .status
        .captures(status_line)
        .ok_or_else(|| format!("couldn't find all the substring matches: {status_line}"))?;
    let group = |i| caps.get(i).map_or("", |m| m.as_str());
    Ok((int(group(3), status_line)?, int(group(2), status_line)?, size))
}

fn parse(text: &str) -> Result<Vec<Array>, String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut arrays = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(state)) = (fields.first(), fields.get(2)) else {
            return Err(format!(
                "not enough fields in mdline (expected at least 3): {line}"
            ));
        };
        if lines.len() <= i + 3 {
            return Err(format!("too few lines for md device {name:?}"));
        }
        let next = |k: usize| lines.get(i + k).copied().unwrap_or("");
        let (active, total, size) = status(line, next(1))?;
        let sync_line = if next(2).contains("bitmap") {
            next(3)
        } else {
            next(2)
        };
        let mut state = state.to_string();
        let mut synced = size;
        let recovering = sync_line.contains("recovery");
        let resyncing = sync_line.contains("resync");
        let checking = sync_line.contains("check");
        if recovering || resyncing || checking {
            state = if recovering {
                "recovering"
            } else if checking {
                "checking"
            } else {
                "resyncing"
            }
            .into();
            if sync_line.contains("PENDING") || sync_line.contains("DELAYED") {
                synced = 0;
            } else {
                let caps = patterns()
                    .recovery_blocks
                    .captures(sync_line)
                    .ok_or_else(|| format!("unexpected recoveryLine: {sync_line}"))?;
                synced = int(caps.get(1).map_or("", |m| m.as_str()), sync_line)?;
            }
        }
        arrays.push(Array {
            name: name.to_string(),
            state,
            active,
            total,
            failed: line.matches("(F)").count() as i64,
            spare: line.matches("(S)").count() as i64,
            blocks: size,
            synced,
        });
    }
    Ok(arrays)
}

/// The mdadm collector.
pub struct Mdadm {
    paths: HostPaths,
}

impl Collector for Mdadm {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let path = self.paths.proc("mdstat");
        let Some(text) = crate::collector::read_optional_kept(path.clone())? else {
            return Ok(());
        };
        let arrays = parse(&text).map_err(|reason| Error::parse(path, reason))?;
        let gauge = |name: &'static str, help: &'static str| MetricFamily::gauge(name, None, help);
        let mut required = gauge("node_md_disks_required", "Total number of disks of device.");
        let mut disks = gauge(
            "node_md_disks",
            "Number of active/failed/spare disks of device.",
        );
        let mut state = gauge("node_md_state", "Indicates the state of md-device.");
        let mut blocks = gauge("node_md_blocks", "Total number of blocks on device.");
        let mut synced = gauge("node_md_blocks_synced", "Number of blocks synced on device.");
        let num = |v: i64| v as f64;
        for a in &arrays {
            let device = || ("device", a.name.clone());
            required.push([device()], num(a.total));
            for (s, v) in [("active", a.active), ("failed", a.failed), ("spare", a.spare)] {
                disks.push([device(), ("state", s.into())], num(v));
            }
            for (label, parsed) in [
                ("active", "active"),
                ("inactive", "inactive"),
                ("recovering", "recovering"),
                ("resync", "resyncing"),
                ("check", "checking"),
            ] {
                state.push([device(), ("state", label.into())], a.state == parsed);
            }
            blocks.push([device()], num(a.blocks));
            synced.push([device()], num(a.synced));
        }
        out.extend([required, disks, state, blocks, synced]);
        Ok(())
    }
}

/// The `mdadm` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "mdadm",
    enabled_by_default: true,
    help: "Software RAID state from /proc/mdstat (node_md_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Mdadm {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_degraded_array_recovering() {
        let text = "Personalities : [raid1]\nmd6 : active raid1 sdb2[2](F) sdc[1](S) sda2[0]\n      195310144 blocks [2/1] [U_]\n      [=>...]  recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec\n\nunused devices: <none>\n";
        let a = parse(text).unwrap();
        assert_eq!(
            a,
            vec![Array {
                name: "md6".into(),
                state: "recovering".into(),
                active: 1,
                total: 2,
                failed: 1,
                spare: 1,
                blocks: 195310144,
                synced: 16775552,
            }]
        );
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        assert!(parse("md0 : active raid1 sda[0]\n").is_err());
        assert!(parse("md0 :\n").is_err());
        assert!(parse("md0 : active raid1 sda[0]\n  x blocks\n\n\n").is_err());
    }
}
