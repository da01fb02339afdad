//! TLS for hale's listener: a rustls server config built from `tls_server_config`, with the
//! exporter-toolkit's names for versions, cipher suites, curves and client-auth modes mapped to
//! rustls, and `client_allowed_sans` checked on the verified client certificate.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::{
    self,
    crypto::{ring as provider, CryptoProvider},
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig, SupportedCipherSuite,
};

use super::config::TlsServerConfig;

/// The TLS settings in force: the rustls config and the SANs a client certificate must carry.
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<ServerConfig>,
    pub allowed_sans: Vec<String>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("allowed_sans", &self.allowed_sans)
            .finish_non_exhaustive()
    }
}

fn version(name: &str) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match name {
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS10" | "TLS11" => Err(format!(
            "{name}: hale's TLS (rustls) supports TLS12 and TLS13 only"
        )),
        other => Err(format!("unknown TLS version {other:?} (TLS12, TLS13)")),
    }
}

/// Go's cipher suite names for the TLS 1.2 suites rustls has. (Go does not let TLS 1.3 suites
/// be chosen, and neither does exporter-toolkit.)
fn cipher_suite(name: &str) -> Result<SupportedCipherSuite, String> {
    use provider::cipher_suite as cs;
    Ok(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        other => {
            return Err(format!(
                "cipher suite {other:?} is not available in rustls (it has the ECDHE AES-GCM and CHACHA20-POLY1305 suites)"
            ))
        }
    })
}

fn curve(name: &str) -> Result<&'static dyn rustls::crypto::SupportedKxGroup, String> {
    match name {
        "X25519" => Ok(provider::kx_group::X25519),
        "CurveP256" => Ok(provider::kx_group::SECP256R1),
        "CurveP384" => Ok(provider::kx_group::SECP384R1),
        other => Err(format!(
            "curve {other:?} is not available (X25519, CurveP256, CurveP384)"
        )),
    }
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{what} {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{what} {}: no PEM certificate", path.display()));
    }
    Ok(certs)
}

impl Tls {
    /// Builds the TLS settings, reading the certificate, key and CA files.
    pub fn build(c: &TlsServerConfig) -> Result<Tls, String> {
        let (Some(cert_file), Some(key_file)) = (&c.cert_file, &c.key_file) else {
            return Err("tls_server_config needs cert_file and key_file".into());
        };
        let certs = read_certs(cert_file, "cert_file")?;
        let key = PrivateKeyDer::from_pem_file(key_file)
            .map_err(|e| format!("key_file {}: {e}", key_file.display()))?;

        let mut provider: CryptoProvider = provider::default_provider();
        if !c.cipher_suites.is_empty() {
            let mut suites = c
                .cipher_suites
                .iter()
                .map(|n| cipher_suite(n))
                .collect::<Result<Vec<_>, _>>()?;
            // TLS 1.3 suites are not configurable (as in Go); keep them.
            suites.extend(
                provider
                    .cipher_suites
                    .iter()
                    .filter(|s| s.version() == &rustls::version::TLS13)
                    .copied(),
            );
            provider.cipher_suites = suites;
        }
        if !c.curve_preferences.is_empty() {
            provider.kx_groups = c
                .curve_preferences
                .iter()
                .map(|n| curve(n))
                .collect::<Result<_, _>>()?;
        }
        let min = version(c.min_version.as_deref().unwrap_or("TLS12"))?;
        let max = version(c.max_version.as_deref().unwrap_or("TLS13"))?;
        let versions: Vec<&'static rustls::SupportedProtocolVersion> =
            [&rustls::version::TLS12, &rustls::version::TLS13]
                .into_iter()
                .filter(|v| {
                    let rank = |v: &rustls::SupportedProtocolVersion| u16::from(v.version);
                    rank(v) >= rank(min) && rank(v) <= rank(max)
                })
                .collect();
        if versions.is_empty() {
            return Err("min_version is above max_version".into());
        }
        let provider = Arc::new(provider);
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| format!("tls_server_config: {e}"))?;

        let mode = c.client_auth_type.as_deref().unwrap_or("NoClientCert");
        let verifier = match mode {
            "NoClientCert" => None,
            "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
                let ca_file = c.client_ca_file.as_ref().ok_or_else(|| {
                    format!("client_auth_type {mode} needs client_ca_file")
                })?;
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca_file, "client_ca_file")? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("client_ca_file {}: {e}", ca_file.display()))?;
                }
                let mut v = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                );
                if mode == "VerifyClientCertIfGiven" {
                    v = v.allow_unauthenticated();
                }
                Some(v.build().map_err(|e| format!("client_ca_file: {e}"))?)
            }
            "RequestClientCert" | "RequireAnyClientCert" => {
                return Err(format!(
                    "client_auth_type {mode} accepts certificates nobody verified; hale supports NoClientCert, VerifyClientCertIfGiven and RequireAndVerifyClientCert"
                ))
            }
            other => return Err(format!("unknown client_auth_type {other:?}")),
        };
        if c.client_ca_file.is_some() && verifier.is_none() {
            return Err("client_ca_file is set but client_auth_type is NoClientCert".into());
        }
        if !c.client_allowed_sans.is_empty() && verifier.is_none() {
            return Err(
                "client_allowed_sans needs a client_auth_type that verifies certificates".into(),
            );
        }
        let builder = match verifier {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("cert_file/key_file: {e}"))?;
        config.ignore_client_order = c.prefer_server_cipher_suites.unwrap_or(true);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            allowed_sans: c.client_allowed_sans.clone(),
        })
    }

    /// Whether the verified client certificate (the first of `peer`) carries one of
    /// `client_allowed_sans` (any certificate passes when none are configured).
    pub fn client_allowed(&self, peer: Option<&[CertificateDer<'_>]>) -> bool {
        if self.allowed_sans.is_empty() {
            return true;
        }
        let Some(cert) = peer.and_then(|p| p.first()) else {
            return false;
        };
        let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
            return false;
        };
        self.allowed_sans.iter().any(|san| {
            ServerName::try_from(san.as_str())
                .ok()
                .is_some_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
        })
    }
}
