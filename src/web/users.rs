//! Basic-auth users from `basic_auth_users` (bcrypt hashes) and the roles hale puts on top:
//! `metrics` (`/`, `/metrics`, `/health` details), `events` (`/heal/events`) and `heal` (may post
//! the webhook, besides `heal.auth`'s credentials, which stay separate from human users).
//!
//! bcrypt is slow on purpose, so a verified (user, password) is cached under its SHA-256 for
//! later requests, as exporter-toolkit does; an unknown user is checked against a dummy hash of
//! the same cost so that the answer takes as long as for a known user with a wrong password.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use parking_lot::Mutex;

use base64::Engine;
use serde::Deserialize;

/// `web.roles` in hale's config: which `basic_auth_users` hold each role. Unset `metrics` and
/// `events` mean every user; unset `heal` means none (actions need the webhook's credentials).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    #[serde(default)]
    pub metrics: Option<Vec<String>>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub heal: Vec<String>,
}

/// What a request may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Metrics,
    Events,
    Heal,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Metrics => "metrics",
            Role::Events => "events",
            Role::Heal => "heal",
        }
    }
}

/// The outcome of checking an `Authorization` header against the users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No `Basic` credentials.
    Anonymous,
    /// A user whose password matched, with the roles they hold.
    User(String, BTreeSet<Role>),
    /// `Basic` credentials that do not match any user.
    Invalid,
}

impl Identity {
    pub fn has(&self, role: Role) -> bool {
        matches!(self, Identity::User(_, roles) if roles.contains(&role))
    }
}

/// Verified (user, password) digests kept at most; the cache is cleared when full.
const CACHE_LIMIT: usize = 1024;

/// The users of one web config, with their roles resolved.
pub struct Users {
    hashes: BTreeMap<String, String>,
    roles: BTreeMap<String, BTreeSet<Role>>,
    verified: Mutex<HashSet<[u8; 32]>>,
    dummy: OnceLock<String>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes.
        f.debug_struct("Users")
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Resolves `roles` against the users; a role naming an unknown user is an error.
    pub fn new(hashes: BTreeMap<String, String>, roles: &Roles) -> Result<Users, String> {
        let everyone: Vec<String> = hashes.keys().cloned().collect();
        let mut resolved: BTreeMap<String, BTreeSet<Role>> = BTreeMap::new();
        for (role, names) in [
            (Role::Metrics, roles.metrics.as_ref().unwrap_or(&everyone)),
            (Role::Events, roles.events.as_ref().unwrap_or(&everyone)),
            (Role::Heal, &roles.heal),
        ] {
            for name in names {
                if !hashes.contains_key(name) {
                    return Err(format!(
                        "web.roles.{}: {name:?} is not in the web config's basic_auth_users",
                        role.as_str()
                    ));
                }
                resolved.entry(name.clone()).or_default().insert(role);
            }
        }
        Ok(Users {
            hashes,
            roles: resolved,
            verified: Mutex::new(HashSet::new()),
            dummy: OnceLock::new(),
        })
    }

    /// What can be decided without bcrypt: `Anonymous` without `Basic` credentials, the user
    /// when this (user, password) was verified before; `None` when bcrypt must run
    /// ([`Users::identify`]). Cheap enough for the async worker.
    pub fn identify_cached(&self, authorization: Option<&[u8]>) -> Option<Identity> {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return Some(Identity::Anonymous);
        };
        let key = self.key(&user, &password);
        self.verified.lock().contains(&key).then(|| self.user(user))
    }

    /// Checks a request's `Authorization` header. Blocking: bcrypt runs here on a cache miss.
    pub fn identify(&self, authorization: Option<&[u8]>) -> Identity {
        if let Some(known) = self.identify_cached(authorization) {
            return known;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return Identity::Anonymous;
        };
        let hash = self.hashes.get(&user);
        // The dummy never matches, but costs what a real check costs.
        let target = hash.map_or_else(|| self.dummy(), String::as_str);
        if !(bcrypt::verify(&password, target).unwrap_or(false) && hash.is_some()) {
            return Identity::Invalid;
        }
        let mut cache = self.verified.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(self.key(&user, &password));
        drop(cache);
        self.user(user)
    }

    fn key(&self, user: &str, password: &str) -> [u8; 32] {
        digest(
            user,
            password,
            self.hashes.get(user).map_or("", String::as_str),
        )
    }

    fn user(&self, name: String) -> Identity {
        let roles = self.roles.get(&name).cloned().unwrap_or_default();
        Identity::User(name, roles)
    }

    /// A hash of the highest cost among the users, for unknown names.
    fn dummy(&self) -> &str {
        self.dummy.get_or_init(|| {
            let cost = self
                .hashes
                .values()
                .filter_map(|h| super::config::bcrypt_cost(h))
                .max()
                .unwrap_or(bcrypt::DEFAULT_COST);
            bcrypt::hash("hale: no such user", cost).unwrap_or_default()
        })
    }
}

fn digest(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, "\0", password, "\0", hash] {
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `Basic base64(user:password)` to its parts.
pub fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let (scheme, rest) = header.split_at(header.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_ascii())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
        .into_bytes()
    }

    #[test]
    fn users_roles_and_wrong_credentials() {
        let hashes = BTreeMap::from([
            ("alice".to_string(), bcrypt::hash("a-pass", 4).unwrap()),
            ("prom".to_string(), bcrypt::hash("p-pass", 4).unwrap()),
        ]);
        let roles = Roles {
            metrics: None,
            events: Some(vec!["alice".into()]),
            heal: vec!["alice".into()],
        };
        let users = Users::new(hashes.clone(), &roles).unwrap();
        let alice = users.identify(Some(&header("alice", "a-pass")));
        assert!(alice.has(Role::Metrics) && alice.has(Role::Events) && alice.has(Role::Heal));
        // Twice: the second answer comes from the cache and must agree.
        let prom = users.identify(Some(&header("prom", "p-pass")));
        assert_eq!(prom, users.identify(Some(&header("prom", "p-pass"))));
        assert!(prom.has(Role::Metrics) && !prom.has(Role::Events) && !prom.has(Role::Heal));
        assert_eq!(
            users.identify(Some(&header("prom", "a-pass"))),
            Identity::Invalid
        );
        assert_eq!(
            users.identify(Some(&header("mallory", "x"))),
            Identity::Invalid
        );
        assert_eq!(users.identify(None), Identity::Anonymous);
        assert_eq!(users.identify(Some(b"Bearer abc")), Identity::Anonymous);
        assert_eq!(users.identify(Some(b"Basic !!!")), Identity::Anonymous);
        let bad = Roles {
            heal: vec!["bob".into()],
            ..Roles::default()
        };
        assert!(Users::new(hashes, &bad).unwrap_err().contains("bob"));
        assert!(!format!("{users:?}").contains("$2"), "no hash in Debug");
    }
}
