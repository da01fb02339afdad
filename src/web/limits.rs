//! Per-client rate limits (`web.rate_limit` in hale's config), keyed by the peer's IP address:
//! webhook requests per second, and failed authentications per minute, after which the client
//! gets 429 without its credentials being checked until its quota refills.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

/// `web.rate_limit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Webhook requests per second per client (0: no limit), with a burst.
    pub webhook: PerSecond,
    /// Failed authentications per minute per client (0: no limit), with a burst.
    pub failed_auth: PerMinute,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerSecond {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerMinute {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        // An Alertmanager HA pair sends a few requests per alert group and interval; 20/s with
        // a burst of 100 is far above that and far below what hale's audit log can take.
        RateLimits {
            webhook: PerSecond {
                per_second: 20,
                burst: 100,
            },
            failed_auth: PerMinute {
                per_minute: 10,
                burst: 10,
            },
        }
    }
}

/// The limiters in force.
pub struct Limiters {
    webhook: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Clients over their failure quota, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

fn quota(rate: u32, per: Duration, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(1))?;
    Quota::with_period(per / rate.get()).map(|q| q.allow_burst(burst))
}

impl Limiters {
    pub fn new(c: &RateLimits) -> Limiters {
        Limiters {
            webhook: quota(
                c.webhook.per_second,
                Duration::from_secs(1),
                c.webhook.burst,
            )
            .map(RateLimiter::keyed),
            failures: quota(
                c.failed_auth.per_minute,
                Duration::from_secs(60),
                c.failed_auth.burst,
            )
            .map(RateLimiter::keyed),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one webhook request from the client's quota; `Err` holds when to retry.
    pub fn webhook(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(l) = &self.webhook else {
            return Ok(());
        };
        l.check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Whether the client is blocked for failing authentication too often; `Some` holds when
    /// to retry.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let until = *blocked.get(&ip)?;
        let now = Instant::now();
        if now < until {
            Some(until - now)
        } else {
            blocked.remove(&ip);
            None
        }
    }

    /// Counts a failed authentication; past the quota the client is blocked.
    pub fn failed(&self, ip: IpAddr) {
        let Some(l) = &self.failures else { return };
        if let Err(not_until) = l.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.blocked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(ip, Instant::now() + wait);
        }
    }

    /// Forgets clients whose quotas are full again, so the maps stay small.
    pub fn prune(&self) {
        for l in [&self.webhook, &self.failures].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_per_client_and_zero_disables() {
        let limits = Limiters::new(&RateLimits {
            webhook: PerSecond {
                per_second: 1,
                burst: 2,
            },
            failed_auth: PerMinute {
                per_minute: 1,
                burst: 3,
            },
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limits.webhook(a).is_ok() && limits.webhook(a).is_ok());
        assert!(limits.webhook(a).is_err(), "burst of 2 spent");
        assert!(
            limits.webhook(b).is_ok(),
            "another client has its own quota"
        );
        for _ in 0..3 {
            limits.failed(a);
        }
        assert_eq!(limits.blocked(a), None, "three failures are the burst");
        limits.failed(a);
        assert!(limits.blocked(a).is_some_and(|d| d > Duration::ZERO));
        assert_eq!(limits.blocked(b), None);
        let off = Limiters::new(&RateLimits {
            webhook: PerSecond {
                per_second: 0,
                burst: 0,
            },
            failed_auth: PerMinute {
                per_minute: 0,
                burst: 0,
            },
        });
        for _ in 0..1000 {
            assert!(off.webhook(a).is_ok());
            off.failed(a);
        }
        assert_eq!(off.blocked(a), None);
    }
}
