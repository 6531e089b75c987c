//! Loading certificates, private keys and trust roots from PEM files, and
//! noticing when those files change (for hot reload).
//!
//! Files are read whole with `std::fs` (so an unreadable file reports the OS
//! error) and parsed with `rustls::pki_types::pem::PemObject`. Sections of
//! other kinds in the same file are skipped: a certificate file may also
//! hold its key, and `openssl ecparam -genkey` output starts with an
//! `EC PARAMETERS` section.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::sign::CertifiedKey;

use super::{TlsError, provider, read_error};

/// All certificates in a PEM file, in file order (leaf first for a chain).
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| read_error(path, &e))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            reason: pem_reason(&e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::KeyRead {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        let (kind, der) = section.map_err(|e| TlsError::KeyPem {
            path: path.to_path_buf(),
            reason: pem_reason(&e),
        })?;
        match kind {
            SectionKind::PrivateKey => return Ok(PrivatePkcs8KeyDer::from(der).into()),
            SectionKind::RsaPrivateKey => return Ok(PrivatePkcs1KeyDer::from(der).into()),
            SectionKind::EcPrivateKey => return Ok(PrivateSec1KeyDer::from(der).into()),
            _ => {}
        }
    }
    // Encrypted keys parse as unknown sections; say what is wrong with them.
    if contains(&bytes, b"ENCRYPTED PRIVATE KEY") || contains(&bytes, b"Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::UnsupportedKey {
            path: path.to_path_buf(),
            reason: "the key is encrypted; provide it without a passphrase".into(),
        });
    }
    Err(TlsError::NoPrivateKey {
        path: path.to_path_buf(),
    })
}

/// The certificate chain of `cert` with the key of `key`, checked to belong
/// together. ECDSA (P-256, P-384), RSA and Ed25519 keys are supported.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = load_chain(cert)?;
    let key_der = load_key(key)?;
    let signing_key = provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::UnsupportedKey {
            path: key.to_path_buf(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        // The provider cannot tell the public key (not the case for ring's
        // key types): nothing to compare, as rustls itself does.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
        Err(e) => Err(TlsError::Certificate {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// The DNS names of a certificate's subjectAltName extension, lower-cased,
/// wildcards (`*.example.com`) included as written.
pub fn dns_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, TlsError> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| TlsError::CertificateDer(format!("{e:?}")))?;
    Ok(parsed
        .valid_dns_names()
        .map(|n| n.to_ascii_lowercase())
        .collect())
}

/// The CA certificates of a PEM file as trust roots. Certificates that are
/// not usable as trust anchors are skipped with a warning; a file that
/// yields none is an error.
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let certs = match load_chain(path) {
        Ok(certs) => certs,
        Err(TlsError::NoCertificate { .. }) => {
            return Err(TlsError::Ca {
                path: path.to_path_buf(),
                reason: "it contains no PEM certificate".into(),
            });
        }
        Err(TlsError::Pem { reason, .. }) => {
            return Err(TlsError::Ca {
                path: path.to_path_buf(),
                reason,
            });
        }
        Err(e) => return Err(e),
    };
    let total = certs.len();
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::Ca {
            path: path.to_path_buf(),
            reason: format!("none of its {total} certificates can be parsed as a CA certificate"),
        });
    }
    if ignored > 0 {
        tracing::warn!(
            file = %path.display(),
            ignored,
            "CA file: certificates that cannot be parsed were skipped"
        );
    }
    Ok(roots)
}

/// What a file looked like when it was last loaded: enough to notice that
/// it was rewritten, replaced or removed, without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    /// Inode and device (Unix): a file replaced by rename with the same
    /// size and a preserved mtime (`cp -p`, `mv`) still counts as changed.
    id: (u64, u64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let id = (0, 0);
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            id,
        })
    }
}

/// Modification times and sizes of a set of files (symlinks followed).
#[derive(Debug, Clone)]
pub struct FileStamps {
    files: Vec<(PathBuf, Option<Stamp>)>,
    /// The files as they were when loading them last failed: until they
    /// change again, there is nothing new to try (nor to log).
    failed: Option<Vec<Option<Stamp>>>,
}

impl FileStamps {
    /// Records the current state of `paths` (a missing file is recorded as
    /// such, and will always count as changed).
    pub fn new<I, P>(paths: I) -> FileStamps
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        let files = paths
            .into_iter()
            .map(|p| {
                let path = p.into();
                let stamp = Stamp::of(&path);
                (path, stamp)
            })
            .collect();
        FileStamps {
            files,
            failed: None,
        }
    }

    /// Notes that loading the files as they are now failed: [`changed`]
    /// says no until one of them changes again.
    ///
    /// [`changed`]: Self::changed
    pub fn mark_failed(&mut self) {
        self.failed = Some(self.files.iter().map(|(p, _)| Stamp::of(p)).collect());
    }

    /// Whether any file's modification time, size or identity differs from
    /// what was recorded, or it is (or was) unreadable: then a reload should
    /// be attempted, and will report the error if the files are bad.
    /// Files that failed to load (see [`mark_failed`](Self::mark_failed))
    /// count as unchanged until they change again.
    pub fn changed(&self) -> bool {
        let now: Vec<Option<Stamp>> = self.files.iter().map(|(p, _)| Stamp::of(p)).collect();
        if self.failed.as_ref() == Some(&now) {
            return false;
        }
        self.files
            .iter()
            .zip(&now)
            .any(|((_, old), now)| match (old, now) {
                (Some(old), Some(now)) => old != now,
                _ => true,
            })
    }

    /// The files watched, in the order given.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }
}

/// A certificate's validity period (RFC 5280 §4.1.2.5): notBefore and
/// notAfter; `None` when the DER does not parse.
pub fn validity(cert: &[u8]) -> Option<(SystemTime, SystemTime)> {
    use super::der::read_tlv;
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = read_tlv(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = read_tlv(certificate)? else {
        return None;
    };
    // [0] version (optional), serialNumber, signature, issuer, validity.
    let (tag, _, mut rest) = read_tlv(tbs)?;
    if tag == 0xa0 {
        rest = read_tlv(rest)?.2; // the serial number
    }
    rest = read_tlv(rest)?.2; // signature algorithm
    rest = read_tlv(rest)?.2; // issuer
    let (SEQUENCE, validity, _) = read_tlv(rest)? else {
        return None;
    };
    let time = |tag: u8, t: &[u8]| match tag {
        0x17 => super::ocsp::utc_time(t).ok(),
        0x18 => super::ocsp::time(t).ok(),
        _ => None,
    };
    let (t1, not_before, rest) = read_tlv(validity)?;
    let (t2, not_after, _) = read_tlv(rest)?;
    Some((time(t1, not_before)?, time(t2, not_after)?))
}

/// What is wrong with `cert`'s validity period at `now`, if anything:
/// expired, or not valid yet. Clients refuse such a certificate.
pub fn validity_problem(cert: &[u8], now: SystemTime) -> Option<String> {
    let (not_before, not_after) = validity(cert)?;
    let days = |d: std::time::Duration| d.as_secs() / 86_400;
    if let Ok(ago) = now.duration_since(not_after) {
        return Some(format!("the certificate expired {} days ago", days(ago)));
    }
    if let Ok(ahead) = not_before.duration_since(now) {
        return Some(format!(
            "the certificate is not valid for {} more days (notBefore is in the future)",
            days(ahead)
        ));
    }
    None
}

/// Why a PEM file does not parse, without echoing its contents (a key
/// file's lines are secret).
fn pem_reason(err: &pem::Error) -> String {
    match err {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_string(),
        pem::Error::IllegalSectionStart { .. } => "malformed PEM BEGIN line".to_string(),
        pem::Error::Base64Decode(_) => "invalid base64 in a PEM section".to_string(),
        pem::Error::SectionTooLarge => "a PEM section is too large".to_string(),
        pem::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
