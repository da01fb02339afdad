//! The fallback source of container resources: Docker's stats API, asked once per container
//! (`stream=false&one-shot=true`, no two-second CPU sample) in the background, a bounded number
//! at a time. Used when the container's cgroup files are not on this machine (a remote engine)
//! or when the config asks for it. It cannot see open file descriptors, so that metric is absent.

use std::time::Duration;

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use bollard::Docker;
use futures_util::{stream, StreamExt};

use super::cgroup::{ignored_interface, working_set, Interface, Resources};

/// Converts one stats answer. (Its memory limit is not used: for an unlimited container the
/// stats API reports the host's memory; the collector takes the limit from inspect.)
pub fn resources(s: &ContainerStatsResponse) -> Resources {
    let cpu = s.cpu_stats.as_ref();
    let usage = cpu.and_then(|c| c.cpu_usage.as_ref());
    let throttling = cpu.and_then(|c| c.throttling_data.as_ref());
    let memory = s.memory_stats.as_ref();
    let stat = |keys: [&str; 2]| {
        memory
            .and_then(|m| m.stats.as_ref())
            .and_then(|st| keys.iter().find_map(|k| st.get(*k).copied()))
    };
    let ns = |v: Option<u64>| v.map(|ns| ns as f64 / 1e9);
    let mem_usage = memory.and_then(|m| m.usage);
    let mut interfaces: Vec<Interface> = s
        .networks
        .iter()
        .flatten()
        .filter(|(name, _)| !ignored_interface(name))
        .map(|(name, n)| Interface {
            name: name.clone(),
            receive_bytes: n.rx_bytes.unwrap_or(0),
            receive_packets: n.rx_packets.unwrap_or(0),
            receive_errors: n.rx_errors.unwrap_or(0),
            receive_dropped: n.rx_dropped.unwrap_or(0),
            transmit_bytes: n.tx_bytes.unwrap_or(0),
            transmit_packets: n.tx_packets.unwrap_or(0),
            transmit_errors: n.tx_errors.unwrap_or(0),
            transmit_dropped: n.tx_dropped.unwrap_or(0),
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    Resources {
        cpu_usage_seconds: ns(usage.and_then(|u| u.total_usage)),
        cpu_user_seconds: ns(usage.and_then(|u| u.usage_in_usermode)),
        cpu_system_seconds: ns(usage.and_then(|u| u.usage_in_kernelmode)),
        cfs_periods: throttling.and_then(|t| t.periods),
        cfs_throttled_periods: throttling.and_then(|t| t.throttled_periods),
        cfs_throttled_seconds: ns(throttling.and_then(|t| t.throttled_time)),
        cfs_burst_periods: None,
        threads_max: s.pids_stats.as_ref().and_then(|p| p.limit),
        memory_kernel_bytes: None,
        cfs_burst_seconds: None,
        pressure: [None, None, None],
        memory_usage_bytes: mem_usage,
        // v1 names first, then v2's.
        memory_working_set_bytes: mem_usage
            .map(|u| working_set(u, stat(["total_inactive_file", "inactive_file"]))),
        memory_rss_bytes: stat(["total_rss", "anon"]),
        oom_events: None,
        threads: s.pids_stats.as_ref().and_then(|p| p.current),
        file_descriptors: None,
        interfaces,
        memory_cache_bytes: stat(["total_cache", "file"]),
        memory_swap_bytes: stat(["total_swap", "swap"]),
        memory_max_usage_bytes: s.memory_stats.as_ref().and_then(|m| m.max_usage),
        memory_failcnt: s.memory_stats.as_ref().and_then(|m| m.failcnt),
        memory_mapped_file_bytes: stat(["total_mapped_file", "file_mapped"]),
        processes: None,
        sockets: None,
        task_states: None,
        memory_stat: crate::docker::cgroup::MemoryStat {
            active_file: stat(["total_active_file", "active_file"]),
            inactive_file: stat(["total_inactive_file", "inactive_file"]),
            pgfault: stat(["pgfault", "pgfault"]),
            pgmajfault: stat(["pgmajfault", "pgmajfault"]),
            file_dirty: stat(["file_dirty", "file_dirty"]),
            file_writeback: stat(["file_writeback", "file_writeback"]),
            pgscan: stat(["pgscan", "pgscan"]),
            pgsteal: stat(["pgsteal", "pgsteal"]),
            workingset_refault_file: stat(["workingset_refault_file", "workingset_refault_file"]),
            workingset_refault_anon: stat(["workingset_refault_anon", "workingset_refault_anon"]),
            events_high: None,
            events_max: None,
        },
        block_io: block_io(s),
    }
}

/// Block I/O per device from the stats API's `blkio_stats` (the v1 names; v2 engines fill the
/// same fields from `io.stat`).
fn block_io(s: &bollard::models::ContainerStatsResponse) -> Vec<crate::docker::cgroup::BlockIo> {
    use crate::docker::cgroup::BlockIo;
    let mut out: Vec<BlockIo> = Vec::new();
    let Some(blkio) = s.blkio_stats.as_ref() else {
        return out;
    };
    for (entries, is_bytes) in [
        (blkio.io_service_bytes_recursive.as_deref(), true),
        (blkio.io_serviced_recursive.as_deref(), false),
    ] {
        for e in entries.unwrap_or_default() {
            let (Some(major), Some(minor), Some(op), Some(v)) =
                (e.major, e.minor, e.op.as_deref(), e.value)
            else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (u32::try_from(major), u32::try_from(minor)) else {
                continue;
            };
            BlockIo::record(&mut out, major, minor, is_bytes, op, v);
        }
    }
    out
}

/// Asks the stats API for each container ID, at most `concurrency` at a time, each
/// within `timeout`. Containers whose request fails are left out (and logged at debug).
pub async fn fetch(
    docker: &Docker,
    containers: Vec<String>,
    concurrency: usize,
    timeout: Duration,
) -> Vec<(String, Resources)> {
    let options = StatsOptions {
        stream: false,
        one_shot: true,
    };
    stream::iter(containers)
        .map(|id| {
            let options = options.clone();
            async move {
                let mut answers = docker.stats(&id, Some(options));
                match tokio::time::timeout(timeout, answers.next()).await {
                    Ok(Some(Ok(s))) => Some((id, resources(&s))),
                    Ok(Some(Err(e))) => {
                        tracing::debug!(container = id, error = %e, "docker stats failed");
                        None
                    }
                    Ok(None) | Err(_) => {
                        tracing::debug!(container = id, "docker stats gave no answer in time");
                        None
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_a_v2_stats_answer() {
        // Shape of a real answer from Docker 24 on cgroup v2, trimmed.
        let json = r#"{
          "cpu_stats": {"cpu_usage": {"total_usage": 2500000000, "usage_in_usermode": 2000000000,
                        "usage_in_kernelmode": 500000000},
                        "throttling_data": {"periods": 10, "throttled_periods": 2, "throttled_time": 3000000000}},
          "memory_stats": {"usage": 1000, "limit": 16000000000,
                           "stats": {"anon": 600, "inactive_file": 300}},
          "pids_stats": {"current": 4},
          "networks": {"eth0": {"rx_bytes": 5, "rx_packets": 1, "rx_errors": 0, "rx_dropped": 0,
                                "tx_bytes": 7, "tx_packets": 2, "tx_errors": 0, "tx_dropped": 1}}
        }"#;
        let s: ContainerStatsResponse = serde_json::from_str(json).unwrap();
        let r = resources(&s);
        assert_eq!(r.cpu_usage_seconds, Some(2.5));
        assert_eq!(r.cpu_user_seconds, Some(2.0));
        assert_eq!(r.cpu_system_seconds, Some(0.5));
        assert_eq!(r.cfs_throttled_seconds, Some(3.0));
        assert_eq!(r.memory_working_set_bytes, Some(700));
        assert_eq!(r.memory_rss_bytes, Some(600));
        assert_eq!(r.threads, Some(4));
        assert_eq!(r.file_descriptors, None);
        assert_eq!(r.interfaces.len(), 1);
        assert_eq!(r.interfaces[0].transmit_dropped, 1);
    }
}
