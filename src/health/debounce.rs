//! Debouncing: a check's new status is reported only once it has held for `consecutive`
//! samples, both ways, so `/health` does not flap; a component seen for the first time
//! reports its raw status, and one that disappears is forgotten.

use std::collections::HashMap;

use super::check::{Check, Status};

/// The reported status of every check, by (key, component).
#[derive(Default)]
pub struct Debouncer {
    reported: HashMap<(String, String), Debounce>,
}

/// A check's reported status, and a different one waiting to be confirmed.
#[derive(Debug, Clone, Copy)]
struct Debounce {
    current: Status,
    candidate: Status,
    count: u32,
}

impl Debounce {
    fn observe(&mut self, raw: Status, needed: u32) -> Status {
        if raw == self.current {
            self.candidate = raw;
            self.count = 0;
        } else {
            if raw == self.candidate {
                self.count += 1;
            } else {
                self.candidate = raw;
                self.count = 1;
            }
            if self.count >= needed {
                self.current = raw;
                self.count = 0;
            }
        }
        self.current
    }
}

impl Debouncer {
    /// Applies debouncing: a component seen for the first time reports its raw status.
    pub fn debounce(&mut self, raw: Vec<Check>, needed: u32) -> Vec<Check> {
        let mut seen = HashMap::new();
        let out = raw
            .into_iter()
            .map(|mut c| {
                let key = (c.key.clone(), c.component_id.clone());
                let d = self.reported.remove(&key).map_or_else(
                    || Debounce {
                        current: c.status,
                        candidate: c.status,
                        count: 0,
                    },
                    |mut d| {
                        d.observe(c.status, needed);
                        d
                    },
                );
                if d.current != c.status {
                    c.output = Some(format!(
                        "{} (now {}, reported {} until it holds for {} samples)",
                        c.output.as_deref().unwrap_or("changing"),
                        c.status.as_str(),
                        d.current.as_str(),
                        needed
                    ));
                }
                c.status = d.current;
                seen.insert(key, d);
                c
            })
            .collect();
        // Components that disappeared (an unmounted disk, a removed container) are forgotten.
        self.reported = seen;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_needs_consecutive_samples_both_ways() {
        let mut d = Debounce {
            current: Status::Pass,
            candidate: Status::Pass,
            count: 0,
        };
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        // An interruption starts the count again.
        assert_eq!(d.observe(Status::Pass, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Pass);
        assert_eq!(d.observe(Status::Fail, 3), Status::Fail);
        assert_eq!(d.observe(Status::Pass, 3), Status::Fail);
        assert_eq!(d.observe(Status::Pass, 3), Status::Fail);
        assert_eq!(d.observe(Status::Pass, 3), Status::Pass);
    }
}
