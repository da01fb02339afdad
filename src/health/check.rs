//! A check: one object of `/health`'s `checks`, its status, and how the checks make the
//! service's overall status.

/// A check's or the service's status, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pass, Status::Warn, Status::Fail];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One object of a `checks` array, before debouncing.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub key: String,
    pub component_id: String,
    pub component_type: &'static str,
    pub value: f64,
    pub unit: &'static str,
    pub status: Status,
    pub output: Option<String>,
    pub critical: bool,
    pub affected: Vec<String>,
}

/// The worst critical status; non-critical checks count as warn at most.
pub fn overall(checks: &[Check]) -> Status {
    checks
        .iter()
        .map(|c| {
            if c.critical {
                c.status
            } else {
                c.status.min(Status::Warn)
            }
        })
        .max()
        .unwrap_or(Status::Pass)
}

pub(super) fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status, critical: bool) -> Check {
        Check {
            key: "k".into(),
            component_id: "c".into(),
            component_type: "system",
            value: 0.0,
            unit: "percent",
            status,
            output: None,
            critical,
            affected: vec![],
        }
    }

    #[test]
    fn non_critical_checks_warn_at_most() {
        assert_eq!(overall(&[check(Status::Fail, false)]), Status::Warn);
        assert_eq!(overall(&[check(Status::Fail, true)]), Status::Fail);
        assert_eq!(overall(&[]), Status::Pass);
    }
}
