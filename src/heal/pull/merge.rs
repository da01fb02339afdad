//! Merging what the peers of one Alertmanager cluster say, and turning it into firings.
//!
//! Peers receive alerts from Prometheus independently and do not replicate them (only silences
//! and the notification log are gossiped), so every ready peer is asked, and:
//! - alerts are merged by fingerprint (computed by hale from the labels);
//! - an alert any ready peer mutes (silenced, inhibited, muted by a time interval, or not yet
//!   processed) is muted: a silence made on one peer acts at once, before gossip spreads it;
//! - one firing is one *episode*: the copies of one fingerprint on several peers, whose
//!   `startsAt` can differ when several Prometheus servers fire it, act once, under the
//!   earliest `startsAt` seen when the episode began. A copy that comes back after the alert
//!   was absent, starting after hale last saw it, is a new firing;
//! - an alert absent from every ready peer for `resolve_after` polls in a row has ended: that
//!   cancels its waiting retries and nothing else. Absence is never proof that an action
//!   worked, and never a reason to act.

use std::collections::{BTreeMap, HashMap};

use super::api::{fingerprint, ApiAlert};
use super::matcher::Matcher;

/// One ready peer's answer.
pub struct Answer<'a> {
    /// The peer's index in `heal.pull.alertmanagers`.
    pub peer: usize,
    pub alerts: &'a [ApiAlert],
}

/// One alert across the ready peers.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The first reporting peer's copy (peers in config order).
    pub alert: ApiAlert,
    pub starts: f64,
    /// The peers that report it, muted or not.
    pub peers: Vec<usize>,
    pub muted: bool,
}

/// The ready peers' answers, merged.
#[derive(Debug, Default)]
pub struct Merged {
    /// By fingerprint: the alerts this host's matchers select.
    pub alerts: BTreeMap<String, Seen>,
    /// Per answering peer: how many merged alerts it does not report (a peer that disagrees).
    pub missing: Vec<(usize, usize)>,
    /// Per answering peer: alerts it returned that the matchers do not select, dropped.
    pub foreign: Vec<(usize, usize)>,
}

/// Merges the answers of the ready peers.
pub fn merge(answers: &[Answer], matchers: &[Matcher]) -> Merged {
    let mut m = Merged::default();
    for a in answers {
        let mut foreign = 0;
        for alert in a.alerts {
            if !matchers.iter().all(|x| x.matches(&alert.labels)) {
                foreign += 1;
                continue;
            }
            let starts = alert.starts().unwrap_or(f64::MAX);
            let muted = alert.muted();
            let seen = m
                .alerts
                .entry(fingerprint(&alert.labels))
                .or_insert_with(|| Seen {
                    alert: alert.clone(),
                    starts,
                    peers: Vec::new(),
                    muted: false,
                });
            if starts < seen.starts {
                seen.starts = starts;
                seen.alert.starts_at.clone_from(&alert.starts_at);
            }
            seen.muted |= muted;
            if !seen.peers.contains(&a.peer) {
                seen.peers.push(a.peer);
            }
        }
        m.foreign.push((a.peer, foreign));
    }
    for a in answers {
        let missing = m
            .alerts
            .values()
            .filter(|s| !s.peers.contains(&a.peer))
            .count();
        m.missing.push((a.peer, missing));
    }
    m
}

#[derive(Debug)]
struct Episode {
    /// The `startsAt` the episode acts under (its idempotency key).
    starts_at: String,
    /// When a poll last saw it (Unix seconds).
    last_present: f64,
    /// Polls in a row with no ready peer reporting it.
    absent: u32,
    /// Handed to the healer (decided and recorded).
    submitted: bool,
}

/// A firing to hand to the healer: the alert under its episode's `startsAt`.
#[derive(Debug, Clone)]
pub struct Firing {
    pub fingerprint: String,
    pub alert: ApiAlert,
    pub peers: Vec<usize>,
}

/// What one poll changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// Unmuted firings not yet decided: new ones, and ones whose decision failed (503).
    pub firing: Vec<Firing>,
    /// Fingerprints whose episode ended: their waiting retries are cancelled.
    pub ended: Vec<String>,
}

/// The episodes hale is following.
#[derive(Debug)]
pub struct Episodes {
    live: HashMap<String, Episode>,
    resolve_after: u32,
}

impl Episodes {
    pub fn new(resolve_after: u32) -> Episodes {
        Episodes {
            live: HashMap::new(),
            resolve_after: resolve_after.max(1),
        }
    }

    /// Takes one poll's merged view at `now` (Unix seconds).
    pub fn update(&mut self, merged: &Merged, now: f64) -> Changes {
        let mut changes = Changes::default();
        for (fp, seen) in &merged.alerts {
            let refired = self
                .live
                .get(fp)
                .is_some_and(|e| e.absent > 0 && seen.starts > e.last_present);
            if refired && self.live.remove(fp).is_some_and(|e| e.submitted) {
                changes.ended.push(fp.clone());
            }
            let e = self.live.entry(fp.clone()).or_insert_with(|| Episode {
                starts_at: seen.alert.starts_at.clone(),
                last_present: now,
                absent: 0,
                submitted: false,
            });
            e.last_present = now;
            e.absent = 0;
            if !e.submitted && !seen.muted {
                let mut alert = seen.alert.clone();
                alert.starts_at.clone_from(&e.starts_at);
                changes.firing.push(Firing {
                    fingerprint: fp.clone(),
                    alert,
                    peers: seen.peers.clone(),
                });
            }
        }
        let resolve_after = self.resolve_after;
        self.live.retain(|fp, e| {
            if merged.alerts.contains_key(fp) {
                return true;
            }
            e.absent += 1;
            if e.absent < resolve_after {
                return true;
            }
            if e.submitted {
                changes.ended.push(fp.clone());
            }
            false
        });
        changes
    }

    /// Notes that a firing was decided and recorded: it is not handed over again.
    pub fn submitted(&mut self, fingerprint: &str) {
        if let Some(e) = self.live.get_mut(fingerprint) {
            e.submitted = true;
        }
    }

    /// How many episodes are followed.
    #[cfg(test)]
    fn followed(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::pull::api::AlertStatus;

    fn alert(host: &str, starts_at: &str, muted: bool) -> ApiAlert {
        ApiAlert {
            labels: BTreeMap::from([
                ("alertname".to_string(), "ContainerUnhealthy".to_string()),
                ("hale_host".to_string(), host.to_string()),
            ]),
            annotations: BTreeMap::new(),
            starts_at: starts_at.to_string(),
            ends_at: String::new(),
            generator_url: String::new(),
            status: AlertStatus {
                state: if muted { "suppressed" } else { "active" }.into(),
                silenced_by: if muted { vec!["s".into()] } else { Vec::new() },
                inhibited_by: Vec::new(),
                muted_by: Vec::new(),
            },
        }
    }

    fn host(h: &str) -> Vec<Matcher> {
        vec![Matcher::equal("hale_host", h)]
    }

    const T0: &str = "2026-12-01T00:00:00Z";
    const T0_LATER: &str = "2026-12-01T00:00:07Z";

    #[test]
    fn two_peers_copies_of_one_firing_fire_once_under_the_earliest_start() {
        let a = [alert("h1", T0_LATER, false)];
        let b = [alert("h1", T0, false), alert("h2", T0, false)];
        let answers = [
            Answer {
                peer: 0,
                alerts: &a,
            },
            Answer {
                peer: 1,
                alerts: &b,
            },
        ];
        let merged = merge(&answers, &host("h1"));
        assert_eq!(merged.alerts.len(), 1);
        assert_eq!(merged.foreign, [(0, 0), (1, 1)]);
        assert_eq!(merged.missing, [(0, 0), (1, 0)]);
        let mut episodes = Episodes::new(3);
        let c = episodes.update(&merged, 100.0);
        assert_eq!(c.firing.len(), 1);
        assert_eq!(c.firing[0].alert.starts_at, T0);
        assert_eq!(c.firing[0].peers, [0, 1]);
        episodes.submitted(&c.firing[0].fingerprint);
        // The next polls: nothing new to decide.
        assert!(episodes.update(&merged, 130.0).firing.is_empty());
    }

    #[test]
    fn a_peer_that_mutes_it_mutes_it_and_a_failed_decision_is_retried() {
        let a = [alert("h1", T0, false)];
        let b = [alert("h1", T0, true)];
        let both = [
            Answer {
                peer: 0,
                alerts: &a,
            },
            Answer {
                peer: 1,
                alerts: &b,
            },
        ];
        let mut episodes = Episodes::new(3);
        assert!(episodes
            .update(&merge(&both, &host("h1")), 100.0)
            .firing
            .is_empty());
        // The silence expires: it fires, and until it is recorded it is handed over each poll.
        let unmuted = [
            Answer {
                peer: 0,
                alerts: &a,
            },
            Answer {
                peer: 1,
                alerts: &a,
            },
        ];
        let merged = merge(&unmuted, &host("h1"));
        assert_eq!(episodes.update(&merged, 130.0).firing.len(), 1);
        assert_eq!(episodes.update(&merged, 160.0).firing.len(), 1);
    }

    #[test]
    fn absence_ends_an_episode_only_after_n_polls_and_a_later_start_is_a_new_firing() {
        let a = [alert("h1", T0, false)];
        let present = merge(
            &[Answer {
                peer: 0,
                alerts: &a,
            }],
            &host("h1"),
        );
        let gone = merge(
            &[Answer {
                peer: 0,
                alerts: &[],
            }],
            &host("h1"),
        );
        assert_eq!(gone.missing, [(0, 0)]);
        let mut episodes = Episodes::new(3);
        let c = episodes.update(&present, 1_796_083_210.0);
        episodes.submitted(&c.firing[0].fingerprint);
        assert!(episodes.update(&gone, 1_796_083_240.0).ended.is_empty());
        // Back with the same start (a peer that restarted and got it again): same episode.
        assert!(episodes.update(&present, 1_796_083_270.0).firing.is_empty());
        for t in [300.0, 330.0] {
            assert!(episodes.update(&gone, 1_796_083_000.0 + t).ended.is_empty());
        }
        assert_eq!(episodes.update(&gone, 1_796_083_360.0).ended.len(), 1);
        assert_eq!(episodes.followed(), 0);

        // Present, absent once, then back starting after it was last seen: a new firing.
        let c = episodes.update(&present, 1_796_083_210.0);
        episodes.submitted(&c.firing[0].fingerprint);
        episodes.update(&gone, 1_796_083_240.0);
        let later = [alert("h1", "2026-12-01T00:04:00Z", false)];
        let c = episodes.update(
            &merge(
                &[Answer {
                    peer: 0,
                    alerts: &later,
                }],
                &host("h1"),
            ),
            1_796_083_250.0,
        );
        assert_eq!(c.ended.len(), 1);
        assert_eq!(c.firing.len(), 1);
        assert_eq!(c.firing[0].alert.starts_at, "2026-12-01T00:04:00Z");
    }
}
