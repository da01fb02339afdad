//! A throwaway certificate authority for TLS tests: a CA and the certificates it signs, as PEM
//! files in a directory.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A CA, and certificates it signs, written as PEM files under `dir`.
pub struct Pki<'a> {
    ca: CertifiedIssuer<'a, KeyPair>,
    dir: &'a Path,
}

impl<'a> Pki<'a> {
    pub fn new(dir: &'a Path, name: &str) -> Pki<'a> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), ca.pem()).unwrap();
        Pki { ca, dir }
    }

    /// Writes `<file>.crt` and `<file>.key` for the SANs.
    pub fn issue(&self, file: &str, sans: &[&str]) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        std::fs::write(self.dir.join(format!("{file}.crt")), cert.pem()).unwrap();
        std::fs::write(self.dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
    }
}
