//! `udp_queues`: bytes queued in UDP sockets, summed from `/proc/net/udp` and `/proc/net/udp6`,
//! as node_exporter 1.5's udp_queues collector: `node_udp_queues{queue=tx|rx,ip=v4|v6}`. A
//! protocol whose file is absent (no IPv6) is left out.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The udp_queues collector.
pub struct UdpQueues {
    paths: HostPaths,
}

/// (tx, rx) bytes summed over every socket line.
fn parse(text: &str) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 {
            return Err(format!(
                "cannot parse net socket line as it has less then 10 columns {line:?}"
            ));
        }
        let queues = fields.get(4).copied().unwrap_or("");
        let (t, r) = queues
            .split_once(':')
            .ok_or_else(|| format!("cannot parse tx/rx queues in {queues:?}"))?;
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| format!("{s:?} is not hexadecimal"));
        tx = tx.saturating_add(hex(t)?);
        rx = rx.saturating_add(hex(r)?);
    }
    Ok((tx, rx))
}

impl Collector for UdpQueues {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let mut family = MetricFamily::gauge(
            "node_udp_queues",
            None,
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        );
        for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
            let path = self.paths.proc(file);
            let Some(text) = crate::collector::read_optional_kept(path.clone())? else {
                continue;
            };
            let (tx, rx) = parse(&text).map_err(|reason| Error::parse(path, reason))?;
            family.push([("queue", "tx".into()), ("ip", ip.into())], tx);
            family.push([("queue", "rx".into()), ("ip", ip.into())], rx);
        }
        out.push(family);
        Ok(())
    }
}

/// The `udp_queues` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "udp_queues",
    enabled_by_default: true,
    help: "Bytes queued in UDP sockets (node_udp_queues)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(UdpQueues {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn sums_the_queues() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0016 00000000:0000 0A 00000015:00000001 00:00000000 00000000     0        0 2740 1\n\
   1: 00000000:0017 00000000:0000 0A 00000001:00000002 00:00000000 00000000     0        0 2741 1\n";
        assert_eq!(super::parse(text).unwrap(), (0x16, 3));
        assert!(super::parse("h\n 0: 1 2 3 xx 5 6 7 8 9\n").is_err());
    }
}
