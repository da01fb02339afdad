//! Who may post webhooks and read the audit log: a bearer token and/or basic auth, exactly as
//! Alertmanager's `http_config` sends them (`authorization: {credentials_file}` or
//! `basic_auth: {username, password_file}`), with the secrets inline or, better, in files.
//! Comparisons are constant-time. Turning authentication off takes an explicit
//! `disabled: true`: an endpoint that restarts containers is never open by accident.

use std::path::PathBuf;

use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The `heal.auth` section. (Its `Debug` leaves the secrets out.)
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The token Alertmanager sends as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// A file holding that token (surrounding whitespace ignored).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// Accept requests without credentials. Only for a listener nobody else can reach.
    #[serde(default)]
    pub disabled: bool,
    /// With `disabled`, listening beyond loopback also needs this set to
    /// [`UNAUTHENTICATED_CONSENT`], word for word.
    #[serde(default)]
    pub allow_unauthenticated_from_network: Option<String>,
}

/// Basic auth credentials hale expects. (Its `Debug` leaves the password out.)
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<secret>"),
            )
            .field("bearer_token_file", &self.bearer_token_file)
            .field("basic_auth", &self.basic_auth)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for BasicAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthConfig")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// The sentence `heal.auth.allow_unauthenticated_from_network` must hold for hale to heal
/// without credentials on an address other hosts can reach.
pub const UNAUTHENTICATED_CONSENT: &str = "anyone who can reach hale may trigger healing actions";

/// Credentials resolved from the config and its files, ready to check requests against.
#[derive(Clone)]
pub struct Credentials {
    bearer: Option<Vec<u8>>,
    basic: Option<(Vec<u8>, Vec<u8>)>,
    open: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("Credentials")
            .field("bearer", &self.bearer.is_some())
            .field("basic", &self.basic.is_some())
            .field("open", &self.open)
            .finish()
    }
}

pub(super) fn secret(
    inline: &Option<String>,
    file: &Option<PathBuf>,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("{what}: set the value or the file, not both")),
        (Some(v), None) if v.is_empty() => Err(format!("{what} is empty")),
        (Some(v), None) => Ok(Some(v.as_bytes().to_vec())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{what} file {}: {e}", path.display()))?;
            let v = text.trim();
            if v.is_empty() {
                return Err(format!("{what} file {} is empty", path.display()));
            }
            Ok(Some(v.as_bytes().to_vec()))
        }
        (None, None) => Ok(None),
    }
}

impl AuthConfig {
    /// Whether any credential (or `disabled`) is set.
    pub fn configured(&self) -> bool {
        self.bearer_token.is_some()
            || self.bearer_token_file.is_some()
            || self.basic_auth.is_some()
            || self.disabled
    }

    /// Reads the secrets. An error names the field or file; no configured credentials without
    /// `disabled: true` is an error too.
    pub fn resolve(&self) -> Result<Credentials, String> {
        let bearer = secret(
            &self.bearer_token,
            &self.bearer_token_file,
            "heal.auth.bearer_token",
        )?;
        let basic = match &self.basic_auth {
            None => None,
            Some(b) => {
                if b.username.is_empty() {
                    return Err("heal.auth.basic_auth.username is empty".into());
                }
                let password = secret(
                    &b.password,
                    &b.password_file,
                    "heal.auth.basic_auth.password",
                )?
                .ok_or("heal.auth.basic_auth needs password or password_file")?;
                Some((b.username.as_bytes().to_vec(), password))
            }
        };
        let configured = bearer.is_some() || basic.is_some();
        if configured && self.disabled {
            return Err("heal.auth: credentials and `disabled: true` contradict each other".into());
        }
        if !configured && !self.disabled {
            return Err(
                "heal.auth: healing needs credentials (bearer_token_file or basic_auth), \
                        or `disabled: true` to accept unauthenticated requests"
                    .into(),
            );
        }
        Ok(Credentials {
            bearer,
            basic,
            open: self.disabled,
        })
    }
}

impl Credentials {
    /// Credentials nothing matches: only web users with the right role get in.
    pub fn nobody() -> Credentials {
        Credentials {
            bearer: None,
            basic: None,
            open: false,
        }
    }

    /// Whether a request with this `Authorization` header value may proceed.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        if self.open {
            return true;
        }
        let Some(value) = authorization else {
            return false;
        };
        let mut parts = value.splitn(2, |&b| b == b' ');
        let (Some(scheme), Some(rest)) = (parts.next(), parts.next()) else {
            return false;
        };
        let rest = rest.trim_ascii();
        if scheme.eq_ignore_ascii_case(b"bearer") {
            return self
                .bearer
                .as_ref()
                .is_some_and(|t| bool::from(t.as_slice().ct_eq(rest)));
        }
        let (Some((user, pass)), Some((given_user, given_pass))) =
            (&self.basic, crate::web::users::basic_credentials(value))
        else {
            return false;
        };
        // Both halves are compared, whatever the first gives, so timing says nothing.
        let user_ok = user.as_slice().ct_eq(given_user.as_bytes());
        let pass_ok = pass.as_slice().ct_eq(given_pass.as_bytes());
        bool::from(user_ok & pass_ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(yaml: &str) -> Result<Credentials, String> {
        serde_saphyr::from_str::<AuthConfig>(yaml)
            .map_err(|e| e.to_string())?
            .resolve()
    }

    #[test]
    fn bearer_and_basic_as_alertmanager_sends_them() {
        let c = creds("bearer_token: s3cret\nbasic_auth: {username: am, password: pw}\n").unwrap();
        assert!(c.allows(Some(b"Bearer s3cret")));
        assert!(
            c.allows(Some(b"bearer s3cret")),
            "the scheme is case-insensitive"
        );
        assert!(!c.allows(Some(b"Bearer s3cre")));
        assert!(!c.allows(Some(b"Bearer s3cretx")));
        assert!(!c.allows(None));
        assert!(!c.allows(Some(b"s3cret")));
        // base64("am:pw") = YW06cHc=
        assert!(c.allows(Some(b"Basic YW06cHc=")));
        // base64("am:px") = YW06cHg=
        assert!(!c.allows(Some(b"Basic YW06cHg=")));
        assert!(!c.allows(Some(b"Basic !!!")));
        // base64("ampw"), no colon
        assert!(!c.allows(Some(b"Basic YW1wdw==")));
    }

    #[test]
    fn secrets_from_files_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "from-file\n").unwrap();
        let c = creds(&format!("bearer_token_file: {}\n", token.display())).unwrap();
        assert!(
            c.allows(Some(b"Bearer from-file")),
            "the newline is not part of it"
        );

        let err = creds("{}").err().unwrap();
        assert!(err.contains("disabled: true"), "{err}");
        let open = creds("disabled: true\n").unwrap();
        assert!(open.allows(None));
        let err = creds("bearer_token_file: /nonexistent/token\n")
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent/token"), "{err}");
        let err = creds("bearer_token: x\ndisabled: true\n").err().unwrap();
        assert!(err.contains("contradict"), "{err}");
        let err = creds("basic_auth: {username: am}\n").err().unwrap();
        assert!(err.contains("password"), "{err}");
        assert!(
            !format!("{c:?}").contains("from-file"),
            "Debug hides secrets"
        );
    }
}
