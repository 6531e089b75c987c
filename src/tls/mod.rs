//! TLS: turns the validated configuration's certificate, key and CA settings
//! (`config::model::{TlsServerCfg, TlsClientCfg}`) into rustls
//! configurations, so that listeners and upstream pools never touch PEM
//! files or rustls builders themselves.
//!
//! - [`certs`]: PEM loading (chains, keys, trust roots), key/certificate
//!   matching, certificate DNS names, and file change detection.
//! - [`server`]: TLS termination: the SNI certificate resolver and the
//!   `rustls::ServerConfig` of a listener, with certificate hot reload.
//! - [`client`]: TLS to upstream endpoints: the `rustls::ClientConfig` of a
//!   pool (trust roots, client certificate, SNI, optional no-verify mode).
//! - [`ocsp`]: checks of the OCSP responses stapled with certificates.
//! - [`identity`](mod@identity): what routing and upstream headers learn about a verified
//!   client certificate (subject, SANs, fingerprint).
//!
//! The crypto provider is always `rustls::crypto::ring::default_provider()`,
//! passed explicitly: nothing here depends on a process-wide default.
//! Every error names the file it is about, in a sentence an operator can act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod certs;
pub mod client;
mod der;
pub mod identity;
pub mod ocsp;
pub mod server;

#[cfg(test)]
mod tests;

pub use certs::{FileStamps, dns_names, load_certified_key, load_chain, load_key, load_roots};
pub use client::ClientTls;
pub use identity::{ClientIdentity, identity};
pub use server::{ServerTls, SniResolver};

/// Why a TLS configuration could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read at all.
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// A file is not well-formed PEM.
    #[error("invalid PEM in {}: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    /// A private key file could not be read (same message as `Read`).
    #[error("cannot read {}: {reason}", path.display())]
    KeyRead { path: PathBuf, reason: String },
    /// A private key file is not well-formed PEM (same message as `Pem`).
    #[error("invalid PEM in {}: {reason}", path.display())]
    KeyPem { path: PathBuf, reason: String },
    /// A certificate file holds no `CERTIFICATE` section.
    #[error("{} contains no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    /// A key file holds no usable private key section.
    #[error(
        "{} contains no private key (expected PKCS#8, PKCS#1 or SEC1 PEM)",
        path.display()
    )]
    NoPrivateKey { path: PathBuf },
    /// The key could not be loaded by the crypto provider (or is encrypted).
    #[error("unsupported key type in {}: {reason}", path.display())]
    UnsupportedKey { path: PathBuf, reason: String },
    /// The key is not the one the leaf certificate was issued for.
    #[error(
        "the private key in {} does not match the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// The leaf certificate of a file cannot be parsed as X.509.
    #[error("invalid certificate in {}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    /// A certificate (not from a file) cannot be parsed as X.509.
    #[error("invalid certificate: {0}")]
    CertificateDer(String),
    /// A certificate without `server_names` and without DNS SANs: no SNI
    /// name would ever select it.
    #[error(
        "{}: certificate has no DNS names in subjectAltName; set server_names",
        path.display()
    )]
    NoDnsNames { path: PathBuf },
    /// An OCSP response file that cannot be stapled with its certificate.
    #[error("OCSP response {}: {reason}", path.display())]
    Ocsp { path: PathBuf, reason: String },
    /// A CA file that yields no usable trust anchor.
    #[error("invalid CA file {}: {reason}", path.display())]
    Ca { path: PathBuf, reason: String },
    /// No trust roots at all (system store empty or unreadable).
    #[error("no trusted CA certificates: {0}")]
    NoRoots(String),
    /// A TLS listener without certificates.
    #[error("no certificates configured for TLS")]
    NoCertificates,
    /// An upstream name that is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {name:?}: {reason}")]
    ServerName { name: String, reason: String },
    /// Anything else rustls refused.
    #[error("TLS configuration error: {0}")]
    Rustls(String),
}

impl TlsError {
    /// Whether the error is about a private key file (unreadable, no key,
    /// unsupported or encrypted key, or not the certificate's key) rather
    /// than a certificate or CA file: where a config diagnostic points.
    pub fn is_key_error(&self) -> bool {
        matches!(
            self,
            TlsError::KeyRead { .. }
                | TlsError::KeyPem { .. }
                | TlsError::NoPrivateKey { .. }
                | TlsError::UnsupportedKey { .. }
                | TlsError::KeyMismatch { .. }
        )
    }
}

/// The cipher suites a listener can offer, by their IANA names (what
/// `cipher_suites` takes): every AEAD suite of the ring provider.
pub const CIPHER_SUITES: &[(&str, rustls::CipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Whether `suite` is a TLS 1.3 suite (the others in [`CIPHER_SUITES`]
/// are TLS 1.2's).
pub fn is_tls13(suite: rustls::CipherSuite) -> bool {
    matches!(
        suite,
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
            | rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
            | rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    )
}

/// Whether `suite` can carry a handshake with a certificate whose key is
/// `key`. TLS 1.2's ECDHE_ECDSA suites serve ECDSA and Ed25519 keys (RFC
/// 8422), its ECDHE_RSA suites RSA keys; TLS 1.3 suites serve every key.
pub fn suite_serves_key(suite: rustls::CipherSuite, key: rustls::SignatureAlgorithm) -> bool {
    use rustls::CipherSuite as S;
    use rustls::SignatureAlgorithm as K;
    match suite {
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => matches!(key, K::ECDSA | K::ED25519),
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        | S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => key == K::RSA,
        other => is_tls13(other),
    }
}

/// The crypto provider of every configuration built here.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn read_error(path: &Path, err: &std::io::Error) -> TlsError {
    TlsError::Read {
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}
