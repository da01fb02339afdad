//! The web security in force, built from `--web.config.file` and hale's `web:` section, and
//! kept current: the file is re-read when it changes (checked every two seconds) and on SIGHUP.
//! A file that fails to load or validate is logged as an error and the settings in force stay,
//! as with Prometheus' own config reloads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::config::{WebConfigError, WebConfigFile};
use super::limits::{Limiters, RateLimits};
use super::tls::Tls;
use super::users::{Roles, Users};

/// `web:` in hale's config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    #[serde(default)]
    pub roles: Roles,
    #[serde(default)]
    pub rate_limit: RateLimits,
}

/// One loaded web config.
#[derive(Debug, Default)]
pub struct Security {
    pub tls: Option<Tls>,
    /// `None` when the file has no `basic_auth_users`: no user authentication.
    pub users: Option<Users>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Security {
    pub fn build(file: &WebConfigFile, roles: &Roles) -> Result<Security, String> {
        let tls = file
            .tls_server_config
            .as_ref()
            .map(Tls::build)
            .transpose()?;
        let users = if file.basic_auth_users.is_empty() {
            if roles.metrics.is_some() || roles.events.is_some() || !roles.heal.is_empty() {
                return Err("web.roles in hale's config names users, but the web config has no basic_auth_users".into());
            }
            None
        } else {
            Some(Users::new(file.basic_auth_users.clone(), roles)?)
        };
        let mut headers = Vec::new();
        if let Some(http) = &file.http_server_config {
            if http.http2 == Some(true) {
                tracing::debug!("web config: http2 is ignored; hale serves HTTP/1.1");
            }
            for (k, v) in &http.headers {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| format!("http_server_config.headers.{k}: {e}"))?;
                let value = HeaderValue::from_str(v)
                    .map_err(|e| format!("http_server_config.headers.{k}: {e}"))?;
                headers.push((name, value));
            }
        }
        Ok(Security {
            tls,
            users,
            headers,
        })
    }
}

/// The web settings shared by the listener and the handlers.
pub struct Web {
    path: Option<PathBuf>,
    roles: Roles,
    current: RwLock<Arc<Security>>,
    pub limiters: Limiters,
    /// The file's modification time and length when last read.
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Web {
    /// Loads the web config file (if any) with the `web:` section of hale's config.
    pub fn load(path: Option<&Path>, section: &WebSection) -> Result<Web, WebConfigError> {
        let security = match path {
            None => Security::build(&WebConfigFile::default(), &section.roles),
            Some(p) => {
                let file = WebConfigFile::load(p)?;
                Security::build(&file, &section.roles)
            }
        }
        .map_err(|message| WebConfigError {
            path: path.map_or("(none)".into(), |p| p.display().to_string()),
            message,
        })?;
        Ok(Web {
            path: path.map(Path::to_path_buf),
            roles: section.roles.clone(),
            current: RwLock::new(Arc::new(security)),
            limiters: Limiters::new(&section.rate_limit),
            stamp: Mutex::new(path.and_then(stamp)),
        })
    }

    /// No web config file and default limits: plain HTTP, no users.
    pub fn open() -> Web {
        Web {
            path: None,
            roles: Roles::default(),
            current: RwLock::new(Arc::new(Security::default())),
            limiters: Limiters::new(&RateLimits::default()),
            stamp: Mutex::new(None),
        }
    }

    /// The settings in force.
    pub fn current(&self) -> Arc<Security> {
        Arc::clone(&self.current.read())
    }

    /// Whether the listener speaks TLS (fixed at start: a reload cannot turn it on or off).
    pub fn tls(&self) -> bool {
        self.current().tls.is_some()
    }

    /// Re-reads the file. On error the settings in force stay.
    pub fn reload(&self) -> Result<(), WebConfigError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        *self.stamp.lock() = stamp(path);
        let result = WebConfigFile::load(path).and_then(|file| {
            let err = |message: String| WebConfigError {
                path: path.display().to_string(),
                message,
            };
            let next = Security::build(&file, &self.roles).map_err(err)?;
            if next.tls.is_some() != self.tls() {
                return Err(err(
                    "a reload cannot turn TLS on or off; restart hale for that".into(),
                ));
            }
            Ok(next)
        });
        let next = result?;
        *self.current.write() = Arc::new(next);
        Ok(())
    }

    fn changed(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        stamp(path) != *self.stamp.lock()
    }

    /// Reloads on SIGHUP and when the file changes; prunes the rate limiters. Runs for ever.
    pub async fn watch(self: Arc<Self>) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "web config: no SIGHUP handler; reloading on change only");
                None
            }
        };
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut prune = tokio::time::interval(Duration::from_secs(60));
        loop {
            let reason = tokio::select! {
                Some(()) = async { match &mut hup { Some(h) => h.recv().await, None => None } } => "SIGHUP",
                _ = tick.tick() => {
                    if !self.changed() { continue; }
                    "the file changed"
                }
                _ = prune.tick() => {
                    self.limiters.prune();
                    continue;
                }
            };
            if self.path.is_none() {
                continue;
            }
            match self.reload() {
                Ok(()) => tracing::info!(reason, "web config reloaded"),
                Err(e) => {
                    tracing::error!(reason, error = %e, "web config reload failed; the previous settings stay")
                }
            }
        }
    }
}
