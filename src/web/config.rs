//! `--web.config.file`: the Prometheus exporter-toolkit's web configuration format, so the file
//! an operator already uses for node_exporter works for hale unchanged:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/hale/tls.crt
//!   key_file: /etc/hale/tls.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: /etc/hale/ca.crt
//!   client_allowed_sans: [prometheus.example.com]
//!   min_version: TLS12
//!   cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
//! http_server_config:
//!   headers: {Strict-Transport-Security: max-age=31536000}
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt
//! ```
//!
//! Unknown fields are errors, as in exporter-toolkit. Where rustls cannot do what Go's TLS does
//! (TLS 1.0 and 1.1, CBC cipher suites, the client-auth modes that accept unverified
//! certificates, P-521) the error says so instead of silently doing something else. Relative
//! paths are relative to the file's directory, as in exporter-toolkit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// User name to bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth_type: Option<String>,
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub client_allowed_sans: Vec<String>,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    /// exporter-toolkit takes inline PEM too (`cert`, `key`, `client_ca`); hale reads files.
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub client_ca: Option<String>,
}

/// `http_server_config`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// hale serves HTTP/1.1 only; `http2: true` (the toolkit's default) is accepted and logged.
    #[serde(default)]
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The response headers exporter-toolkit lets a config set.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// A bad web config file: what and where, never a secret.
#[derive(Debug, thiserror::Error)]
#[error("web config {path}: {message}")]
pub struct WebConfigError {
    pub path: String,
    pub message: String,
}

impl WebConfigFile {
    /// Reads and parses the file; relative paths in it become relative to its directory.
    pub fn load(path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let err = |message: String| WebConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut file = WebConfigFile::parse(&text).map_err(err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(tls) = &mut file.tls_server_config {
            for p in [
                &mut tls.cert_file,
                &mut tls.key_file,
                &mut tls.client_ca_file,
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        Ok(file)
    }

    /// Parses the YAML text (an empty file is an empty config, as in exporter-toolkit).
    pub fn parse(text: &str) -> Result<WebConfigFile, String> {
        if text.trim().is_empty() {
            return Ok(WebConfigFile::default());
        }
        let file: WebConfigFile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        if let Some(tls) = &file.tls_server_config {
            if tls.cert.is_some() || tls.key.is_some() || tls.client_ca.is_some() {
                return Err(
                    "tls_server_config: inline cert, key and client_ca are not supported; use cert_file, key_file and client_ca_file"
                        .into(),
                );
            }
        }
        if let Some(http) = &file.http_server_config {
            for name in http.headers.keys() {
                if !ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                    return Err(format!(
                        "http_server_config.headers: {name:?} cannot be set (allowed: {})",
                        ALLOWED_HEADERS.join(", ")
                    ));
                }
            }
        }
        for (user, hash) in &file.basic_auth_users {
            if user.is_empty() || user.contains(':') {
                return Err(format!(
                    "basic_auth_users: user name {user:?} is empty or has a ':'"
                ));
            }
            if bcrypt_cost(hash).is_none() {
                // Never echo the hash: it is a secret too.
                return Err(format!(
                    "basic_auth_users.{user}: not a bcrypt hash (make one with `htpasswd -nBC 10 {user}`)"
                ));
            }
        }
        Ok(file)
    }
}

/// The cost of a `$2a$`/`$2b$`/`$2y$` bcrypt hash, `None` when it is not one.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$2a$")
        .or_else(|| hash.strip_prefix("$2b$"))
        .or_else(|| hash.strip_prefix("$2y$"))?;
    let (cost, tail) = rest.split_once('$')?;
    (tail.len() == 53)
        .then(|| cost.parse::<u32>().ok())
        .flatten()
        .filter(|c| (4..=31).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_toolkit_files_parse_and_mistakes_are_named() {
        let ok = WebConfigFile::parse(
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS12\nhttp_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  prometheus: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n",
        )
        .unwrap();
        assert_eq!(ok.basic_auth_users.len(), 1);
        assert!(WebConfigFile::parse("")
            .unwrap()
            .tls_server_config
            .is_none());
        for (text, says) in [
            ("tls_server_config:\n  cert_fil: a\n", "cert_fil"),
            ("basic_auth_users:\n  bob: hunter2\n", "not a bcrypt hash"),
            (
                "http_server_config:\n  headers:\n    Server: x\n",
                "cannot be set",
            ),
            ("tls_server_config:\n  cert: '-----BEGIN'\n", "inline"),
            ("basic_auth_users: [a]\n", ""),
        ] {
            let e = WebConfigFile::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
            assert!(!e.contains("hunter2"), "a secret in an error: {e}");
        }
    }
}
