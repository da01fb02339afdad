//! `hwmon`: hardware sensors from `/sys/class/hwmon/`, as node_exporter 1.5's hwmon collector:
//! temperatures (`node_hwmon_temp_celsius`, `_crit_celsius`, `_max_celsius`, ...), fans
//! (`node_hwmon_fan_rpm`, ...), voltages (`node_hwmon_in_volts`), currents, power, energy,
//! humidity, alarms and faults, all by `{chip,sensor}`, with `node_hwmon_chip_names{chip,chip_name}`
//! and `node_hwmon_sensor_label{chip,sensor,label}` to name them. Chip names, sensor keys, metric
//! names, units and help follow node_exporter's rules exactly (Node Exporter Full's hardware
//! panels key on them). A host without hwmon (most VMs) gives no series.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, Error};
use crate::metric::MetricFamily;
use crate::paths::HostPaths;

/// The sensor types node_exporter reads; other files are not sensors.
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

fn filename_format() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    #[allow(clippy::unwrap_used)] // a constant pattern
    RE.get_or_init(|| Regex::new(r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$").unwrap())
}

/// node_exporter's `cleanMetricName`: lower case, `[^a-z0-9:_]` to `_`, `_` trimmed.
fn clean(name: &str) -> String {
    let replaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// (type, number, property) of a sensor file name such as `temp1_input`.
fn explode(filename: &str) -> Option<(String, u64, String)> {
    let caps = filename_format().captures(filename)?;
    let kind = caps.name("type").map_or("", |m| m.as_str()).to_string();
    let num = match caps.name("id").map_or("", |m| m.as_str()) {
        "" => 0,
        id => id.parse::<u64>().ok()?,
    };
    let property = caps.name("property").map_or("", |m| m.as_str()).to_string();
    Some((kind, num, property))
}

/// Sensor key (`temp1`) to property (`input`, `crit`, `label`, `""`) to raw value.
type Sensors = BTreeMap<String, BTreeMap<String, String>>;

/// Reads a sysfs file as node_exporter's hwmon does: one read of at most 128 bytes, newlines
/// trimmed.
fn read_value(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 128];
    let n = f.read(&mut buf).ok()?;
    let bytes = buf.get(..n)?;
    Some(String::from_utf8_lossy(bytes).trim_matches('\n').to_string())
}

fn collect_sensor_data(dir: &Path, data: &mut Sensors) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let Ok(filename) = entry.file_name().into_string() else {
            continue;
        };
        let Some((kind, num, property)) = explode(&filename) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind.as_str()) {
            continue;
        }
        if let Some(value) = read_value(&dir.join(&filename)) {
            data.entry(format!("{kind}{num}"))
                .or_default()
                .insert(property, value);
        }
    }
    Ok(())
}

/// The chip's name as node_exporter derives it: `<bus>_<device>` from the `device` link, else
/// the `name` file, else the directory's own name.
fn chip_name(dir: &Path) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let dev_name = device.file_name().map(|n| clean(&n.to_string_lossy()));
        let dev_type = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean(&n.to_string_lossy()));
        match (dev_type, dev_name) {
            (Some(t), Some(n)) if !t.is_empty() && !n.is_empty() => return Some(format!("{t}_{n}")),
            (_, Some(n)) if !n.is_empty() => return Some(n),
            _ => {}
        }
    }
    if let Ok(raw) = crate::paths::read_text(dir.join("name")) {
        let name = clean(&raw);
        if !name.is_empty() {
            return Some(name);
        }
    }
    let real = std::fs::canonicalize(dir).ok()?;
    let name = clean(&real.file_name()?.to_string_lossy());
    (!name.is_empty()).then_some(name)
}

/// Families by name, in first-seen order.
#[derive(Default)]
struct Out {
    families: Vec<MetricFamily>,
}

impl Out {
    fn push(&mut self, name: String, help: String, counter: bool, labels: [(&'static str, String); 2], v: f64) {
        let family = match self.families.iter().position(|f| {
            let full = if counter { format!("{}_total", f.name) } else { f.name.to_string() };
            full == name
        }) {
            Some(i) => self.families.get_mut(i),
            None => {
                let family = if counter {
                    let base = name.strip_suffix("_total").unwrap_or(&name).to_string();
                    MetricFamily::counter(base, None, help)
                } else {
                    MetricFamily::gauge(name, None, help)
                };
                self.families.push(family);
                self.families.last_mut()
            }
        };
        if let Some(family) = family {
            family.push(labels, v);
        }
    }
}

fn update_chip(dir: &Path, out: &mut Out, chip_names: &mut MetricFamily, labels_f: &mut MetricFamily) -> Result<(), String> {
    let chip = chip_name(dir).ok_or_else(|| format!("could not derive a monitoring name for {}", dir.display()))?;
    let mut data = Sensors::new();
    collect_sensor_data(dir, &mut data).map_err(|e| e.to_string())?;
    if dir.join("device").exists() {
        collect_sensor_data(&dir.join("device"), &mut data).map_err(|e| e.to_string())?;
    }
    if let Ok(raw) = crate::paths::read_text(dir.join("name")) {
        let name = clean(&raw);
        if !name.is_empty() {
            chip_names.push([("chip", chip.clone()), ("chip_name", name)], 1u64);
        }
    }
    for (sensor, props) in &data {
        let Some((kind, _, _)) = explode(sensor) else {
            continue;
        };
        let labels = || [("chip", chip.clone()), ("sensor", sensor.clone())];
        if let Some(label) = props.get("label") {
            labels_f.push(
                [
                    ("chip", chip.clone()),
                    ("sensor", sensor.clone()),
                    ("label", crate::collector::dmi::to_valid_utf8(label.as_bytes())),
                ],
                1u64,
            );
        }
        let whole = props.get("").map(String::as_str);
        match kind.as_str() {
            "beep_enable" => {
                out.push("node_hwmon_beep_enabled".into(), "Hardware beep enabled".into(), false, labels(), if whole == Some("1") { 1.0 } else { 0.0 });
                continue;
            }
            "vrm" => {
                if let Some(v) = whole.and_then(|v| v.parse::<f64>().ok()) {
                    out.push("node_hwmon_voltage_regulator_version".into(), "Hardware voltage regulator".into(), false, labels(), v);
                }
                continue;
            }
            "update_interval" => {
                if let Some(v) = whole.and_then(|v| v.parse::<f64>().ok()) {
                    out.push("node_hwmon_update_interval_seconds".into(), "Hardware monitor update interval".into(), false, labels(), v * 0.001);
                }
                continue;
            }
            _ => {}
        }
        let prefix = format!("node_hwmon_{kind}");
        for (element, value) in props {
            if element == "label" {
                continue;
            }
            let mut name = prefix.clone();
            if element == "input" {
                if whole.is_some() {
                    name.push_str("_input");
                }
            } else if !element.is_empty() {
                name.push('_');
                name.push_str(&clean(element));
            }
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let e = element.as_str();
            let (name, help, counter, v) = match (kind.as_str(), e) {
                (_, "fault" | "alarm") => (name, format!("Hardware sensor {e} status ({kind})"), false, v),
                (_, "beep") => (format!("{name}_enabled"), "Hardware monitor sensor has beeping enabled".into(), false, v),
                ("in" | "cpu", _) => (format!("{name}_volts"), format!("Hardware monitor for voltage ({e})"), false, v * 0.001),
                ("temp", e) if e != "type" => {
                    let shown = if e.is_empty() { "input" } else { e };
                    (format!("{name}_celsius"), format!("Hardware monitor for temperature ({shown})"), false, v * 0.001)
                }
                ("curr", _) => (format!("{name}_amps"), format!("Hardware monitor for current ({e})"), false, v * 0.001),
                ("energy", _) => (format!("{name}_joule_total"), format!("Hardware monitor for joules used so far ({e})"), true, v / 1e6),
                ("power", "accuracy") => (name, "Hardware monitor power meter accuracy, as a ratio".into(), false, v / 1e6),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => {
                    (format!("{name}_seconds"), format!("Hardware monitor power usage update interval ({e})"), false, v * 0.001)
                }
                ("power", _) => (format!("{name}_watt"), format!("Hardware monitor for power usage in watts ({e})"), false, v / 1e6),
                ("humidity", _) => (
                    name,
                    format!("Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({e})"),
                    false,
                    v / 1e6,
                ),
                ("fan", "input" | "min" | "max" | "target") => {
                    (format!("{name}_rpm"), format!("Hardware monitor for fan revolutions per minute ({e})"), false, v)
                }
                _ => (name, format!("Hardware monitor {kind} element {e}"), false, v),
            };
            out.push(name, help, counter, labels(), v);
        }
    }
    Ok(())
}

/// The hwmon collector.
pub struct Hwmon {
    paths: HostPaths,
}

impl Collector for Hwmon {
    fn collect(&self, out: &mut Vec<MetricFamily>) -> Result<(), Error> {
        let root = self.paths.sys("class/hwmon");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Ok(());
        };
        let mut chips: Vec<std::path::PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        chips.sort();
        let mut families = Out::default();
        let mut chip_names = MetricFamily::gauge("node_hwmon_chip_names", None, "Annotation metric for human-readable chip names");
        let mut labels = MetricFamily::gauge("node_hwmon_sensor_label", None, "Label for given chip and sensor");
        let mut last_error = None;
        for dir in chips {
            if let Err(e) = update_chip(&dir, &mut families, &mut chip_names, &mut labels) {
                last_error = Some(e);
            }
        }
        out.push(chip_names);
        out.push(labels);
        out.extend(families.families);
        match last_error {
            Some(e) => Err(Error::Source(e)),
            None => Ok(()),
        }
    }
}

/// The `hwmon` collector's registration.
pub const SPEC: crate::collector::Spec = crate::collector::Spec {
    name: "hwmon",
    enabled_by_default: true,
    help: "Hardware sensors: temperatures, fans, voltages, power (node_hwmon_*)",
    flags: crate::collector::no_flags,
    build: |c| {
        Ok(Arc::new(Hwmon {
            paths: c.paths.clone(),
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_as_node_exporter_splits_them() {
        assert_eq!(explode("temp1_input"), Some(("temp".into(), 1, "input".into())));
        assert_eq!(explode("update_interval"), Some(("update_interval".into(), 0, "".into())));
        assert_eq!(explode("power1_average_interval"), Some(("power".into(), 1, "average_interval".into())));
        assert_eq!(clean("coretemp\n"), "coretemp");
        assert_eq!(clean("Core 0"), "core_0");
    }
}
