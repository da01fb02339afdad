//! A secret hale was given (a webhook token, a password, `/health`'s details token): its
//! `Debug` never shows it, it is compared in constant time, and one read from a file is trimmed
//! and must not be empty. The config loader reads every secret file once, so `check-config` and
//! serve see the same secrets.

use std::path::Path;

use subtle::ConstantTimeEq;

/// A secret's bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret in `path`, without surrounding whitespace; an unreadable or empty file is an
    /// error that names it.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v = text.trim();
        if v.is_empty() {
            return Err(format!("{}: the file is empty", path.display()));
        }
        Ok(Secret(v.as_bytes().to_vec()))
    }

    /// Whether `given` is the secret, in time that does not depend on where they differ.
    pub fn matches(&self, given: &[u8]) -> bool {
        given.ct_eq(&self.0).into()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown_trimmed_and_never_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  s3cret\n").unwrap();
        let s = Secret::from_file(&file).unwrap();
        assert!(s.matches(b"s3cret") && !s.matches(b"s3cre") && !s.matches(b"s3cret "));
        assert_eq!(format!("{s:?}"), "Secret(..)");
        std::fs::write(&file, " \n").unwrap();
        assert!(Secret::from_file(&file).unwrap_err().contains("empty"));
        assert!(Secret::from_file(&dir.path().join("none")).is_err());
    }
}
