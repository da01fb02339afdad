//! `nvme`: NVMe controllers from `/sys/class/nvme/`, as node_exporter 1.5's nvme collector:
//! `node_nvme_info{device,firmware_revision,model,serial,state}` (a controller that is not
//! `live` is worth an alert). A host without NVMe gives no series.

use std::sync::Arc;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The nvme collector.
pub struct Nvme {
    paths: HostPaths,
}

impl Collector for Nvme {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/nvme");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut devices: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        devices.sort();
        let mut f = MetricFamily::info(
            "node_nvme",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
        );
        for device in devices {
            let read = |file: &str| -> Result<String, Error> {
                Ok(crate::paths::read(dir.join(&device).join(file))?
                    .trim()
                    .to_string())
            };
            f.push(
                [
                    ("device", device.clone()),
                    ("firmware_revision", read("firmware_rev")?),
                    ("model", read("model")?),
                    ("serial", read("serial")?),
                    ("state", read("state")?),
                ],
                1u64,
            );
        }
        out.push(f);
        Ok(())
    }
}

/// The `nvme` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "nvme",
    enabled_by_default: true,
    help: "NVMe controllers' model, firmware and state (node_nvme_info)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Nvme {
            paths: c.paths.clone(),
        }))
    },
};
