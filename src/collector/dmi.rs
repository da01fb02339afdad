//! `dmi`: the machine's firmware identity from `/sys/class/dmi/id/`, as node_exporter 1.5's
//! dmi collector: one `node_dmi_info` with a label per DMI field the kernel lets hale read
//! (`bios_*`, `board_*`, `chassis_*`, `product_*`, `system_vendor`; serials and the UUID only
//! as root). Read once, at the first scrape: DMI does not change while the machine runs. A
//! machine without DMI (most ARM boards) gives no series.

use std::sync::{Arc, OnceLock};

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The DMI fields node_exporter labels, in label order.
const FIELDS: &[&str] = &[
    "bios_date",
    "bios_release",
    "bios_vendor",
    "bios_version",
    "board_asset_tag",
    "board_name",
    "board_serial",
    "board_vendor",
    "board_version",
    "chassis_asset_tag",
    "chassis_serial",
    "chassis_vendor",
    "chassis_version",
    "product_family",
    "product_name",
    "product_serial",
    "product_sku",
    "product_uuid",
    "product_version",
    "system_vendor",
];

/// The dmi collector.
pub struct Dmi {
    paths: HostPaths,
    labels: OnceLock<Vec<(&'static str, String)>>,
}

/// Bytes as UTF-8, each run of invalid bytes one U+FFFD, as Go's `strings.ToValidUTF8`.
pub(crate) fn to_valid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() && !out.ends_with('\u{FFFD}') {
            out.push('\u{FFFD}');
        }
    }
    out
}

impl Dmi {
    fn read(&self) -> Vec<(&'static str, String)> {
        let dir = self.paths.sys("class/dmi/id");
        FIELDS
            .iter()
            .filter_map(|field| {
                // The kernel's file for `system_vendor` is `sys_vendor`.
                let file = if *field == "system_vendor" { "sys_vendor" } else { field };
                let bytes = crate::paths::read_bytes(dir.join(file)).ok()?;
                Some((*field, to_valid_utf8(bytes.trim_ascii())))
            })
            .collect()
    }
}

impl Collector for Dmi {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let labels = self.labels.get_or_init(|| self.read());
        if labels.is_empty() {
            return Ok(());
        }
        let mut f = MetricFamily::info(
            "node_dmi",
            "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, product_uuid, product_version, system_vendor if provided by DMI.",
        );
        f.push_labels(
            labels
                .iter()
                .map(|(k, v)| (std::borrow::Cow::Borrowed(*k), v.clone().into()))
                .collect(),
            1u64,
        );
        out.push(f);
        Ok(())
    }
}

/// The `dmi` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "dmi",
    enabled_by_default: true,
    help: "Firmware identity from DMI (node_dmi_info)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Dmi {
            paths: c.paths.clone(),
            labels: OnceLock::new(),
        }))
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn invalid_bytes_become_one_replacement_per_run() {
        assert_eq!(super::to_valid_utf8(b"\xb6\xb6[\xe2"), "\u{FFFD}[\u{FFFD}");
        assert_eq!(super::to_valid_utf8(b"Dell Inc."), "Dell Inc.");
    }
}
