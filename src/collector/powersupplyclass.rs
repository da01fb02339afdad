//! `powersupplyclass`: batteries, mains and UPS power supplies from `/sys/class/power_supply/`,
//! as node_exporter 1.5's powersupplyclass collector: `node_power_supply_<field>{power_supply}`
//! (capacity, online, present, voltages in volts, energies in watt-hours, currents in amperes,
//! temperatures in Celsius) and `node_power_supply_info{power_supply,type,status,...}`.
//! `--collector.powersupply.ignored-supplies` leaves supplies out. A host without power
//! supplies (servers and VMs mostly) gives no series.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The `powersupplyclass` collector's flags (node_exporter's name).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "collector.powersupplyclass.flags")]
pub struct Flags {
    /// Regexp of power supplies to ignore for powersupplyclass collector.
    #[arg(
        id = "collector.powersupply.ignored-supplies",
        long = "collector.powersupply.ignored-supplies",
        value_name = "REGEX",
        default_value = "^$"
    )]
    ignored: String,
}

/// The `powersupplyclass` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "powersupplyclass",
    enabled_by_default: true,
    help: "Batteries and power supplies from /sys/class/power_supply (node_power_supply_*)",
    flags: <Flags as clap::Args>::augment_args,
    build: |c| {
        use clap::FromArgMatches as _;
        let flags = Flags::from_arg_matches(c.matches)?;
        Ok(Arc::new(PowerSupplyClass {
            paths: c.paths.clone(),
            ignored: crate::collector::regex(
                "collector.powersupply.ignored-supplies",
                &flags.ignored,
            )?,
        }))
    },
};

/// The powersupplyclass collector.
pub struct PowerSupplyClass {
    paths: HostPaths,
    ignored: Regex,
}

/// Numeric files: (sysfs file, metric suffix, divisor).
const NUMERIC: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    ("constant_charge_current_max", "constant_charge_current_max", 1e6),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    ("constant_charge_voltage_max", "constant_charge_voltage_max", 1e6),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text files that become `node_power_supply_info` labels (label, sysfs file).
const TEXT: &[(&str, &str)] = &[
    ("capacity_level", "capacity_level"),
    ("charge_type", "charge_type"),
    ("health", "health"),
    ("manufacturer", "manufacturer"),
    ("model_name", "model_name"),
    ("serial_number", "serial_number"),
    ("status", "status"),
    ("technology", "technology"),
    ("type", "type"),
    ("usb_type", "usb_type"),
    ("scope", "scope"),
];

/// A file's bytes as node_exporter's sysfs reader gives them: trimmed, `None` when the kernel
/// will not give the attribute.
fn read(path: std::path::PathBuf) -> Result<Option<Vec<u8>>, Error> {
    match crate::paths::read_bytes(&path) {
        Ok(bytes) => Ok(Some(bytes.trim_ascii().to_vec())),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENODATA)) =>
        {
            Ok(None)
        }
        Err(source) => Err(crate::paths::ReadError { path, source }.into()),
    }
}

impl Collector for PowerSupplyClass {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let dir = self.paths.sys("class/power_supply");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut supplies: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !self.ignored.is_match(n))
            .collect();
        supplies.sort();
        let mut numeric: Vec<MetricFamily> = NUMERIC
            .iter()
            .map(|(_, name, _)| {
                MetricFamily::gauge(
                    format!("node_power_supply_{name}"),
                    None,
                    format!("{name} value of /sys/class/power_supply/<power_supply>."),
                )
            })
            .collect();
        let mut info = MetricFamily::info(
            "node_power_supply",
            "info of /sys/class/power_supply/<power_supply>.",
        );
        for supply in supplies {
            let base = dir.join(&supply);
            for ((file, _, divisor), family) in NUMERIC.iter().zip(numeric.iter_mut()) {
                let Some(bytes) = read(base.join(file))? else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                let v: i64 = text.parse().map_err(|_| {
                    Error::parse(base.join(file), format!("{text:?} is not an integer"))
                })?;
                family.push([("power_supply", supply.clone())], v as f64 / divisor);
            }
            let mut labels: Vec<crate::metric::Label> =
                vec![(std::borrow::Cow::Borrowed("power_supply"), supply.clone().into())];
            for (label, file) in TEXT {
                if let Some(bytes) = read(base.join(file))? {
                    if !bytes.is_empty() {
                        labels.push((
                            std::borrow::Cow::Borrowed(*label),
                            crate::collector::dmi::to_valid_utf8(&bytes).into(),
                        ));
                    }
                }
            }
            info.push_labels(labels, 1u64);
        }
        out.extend(numeric);
        out.push(info);
        Ok(())
    }
}
