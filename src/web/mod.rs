//! hale's HTTP surface, hardened: `--web.config.file` in exporter-toolkit's format (TLS, response
//! headers, bcrypt basic-auth users) re-read on change and on SIGHUP, roles on top of it (who may
//! read metrics, who may read the audit log, who may trigger healing), per-client rate limits,
//! and the listener that enforces connection, header and request limits.

pub mod config;
pub mod error;
pub mod guard;
pub mod limits;
pub mod listener;
pub mod security;
pub mod tls;
pub mod users;
