//! Per-client rate limits (`web.rate_limit` in hale's config), keyed by the peer's IP address:
//! webhook requests per second, and failed authentications per minute, after which the client
//! gets 429 without its credentials being checked until its quota refills.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
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

/// The client a limit counts: an IPv4 address as it is, an IPv6 address by its /64 (one
/// subscriber's network: anyone holding one IPv6 address usually holds the 2^64 addresses
/// around it, so a per-address limit would be no limit), and an IPv4-mapped IPv6 address as
/// its IPv4 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
    }
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
        l.check_key(&client_key(ip))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Whether the client is blocked for failing authentication too often; `Some` holds when
    /// to retry.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let ip = client_key(ip);
        let mut blocked = self.blocked.lock();
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
        let ip = client_key(ip);
        if let Err(not_until) = l.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.blocked.lock().insert(ip, Instant::now() + wait);
        }
    }

    /// Forgets clients whose quotas are full again, so the maps stay small.
    pub fn prune(&self) {
        for l in [&self.webhook, &self.failures].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked.lock().retain(|_, until| *until > now);
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

    /// Issue 13.13: limits per exact address gave an IPv6 /64 unlimited tries.
    #[test]
    fn ipv6_clients_are_limited_per_slash_64() {
        let limits = Limiters::new(&RateLimits {
            webhook: PerSecond {
                per_second: 1,
                burst: 1,
            },
            failed_auth: PerMinute {
                per_minute: 1,
                burst: 2,
            },
        });
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        limits.failed(ip("2001:db8:1:2::1"));
        limits.failed(ip("2001:db8:1:2::2"));
        limits.failed(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert!(
            limits.blocked(ip("2001:db8:1:2::99")).is_some(),
            "the whole /64 is one client"
        );
        assert_eq!(
            limits.blocked(ip("2001:db8:1:3::1")),
            None,
            "the next /64 is another"
        );
        assert!(limits.webhook(ip("2001:db8:1:3::1")).is_ok());
        assert!(limits.webhook(ip("2001:db8:1:3::2")).is_err());
        // IPv4 and IPv4-mapped IPv6 are the same client.
        assert!(limits.webhook(ip("192.0.2.7")).is_ok());
        assert!(limits.webhook(ip("::ffff:192.0.2.7")).is_err());
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
    }
}
