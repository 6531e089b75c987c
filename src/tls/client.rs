//! TLS from the proxy to a pool's endpoints: the `rustls::ClientConfig`
//! built from a `TlsClientCfg` (rebuilt when its CA or client-certificate
//! files change on disk), and the server name each connection verifies
//! (and sends as SNI).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::SingleCertAndKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::certs::{FileStamps, load_certified_key, load_roots};
use super::{TlsError, provider};
use crate::config::model::TlsClientCfg;

/// The next [`ClientTls::key`]: a process-wide count, so no two
/// configurations (not even one dropped and one built later at the same
/// address) ever share a key.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A pool's upstream TLS. The CA file and the client certificate and key
/// are watched: [`ClientTls::reload_if_changed`] rebuilds the configuration
/// new connections use. Connections already open keep theirs for the
/// exchange under way; idle connections are keyed by [`ClientTls::key`],
/// which changes with the configuration, so none made under the old one
/// is reused.
pub struct ClientTls {
    config: ArcSwap<rustls::ClientConfig>,
    /// The current configuration's [`key`](Self::key).
    key: AtomicU64,
    /// The configured name to verify (and send as SNI) instead of the
    /// endpoint's host.
    pub server_name: Option<String>,
    /// Whether SNI is sent (also set in the configuration's `enable_sni`).
    pub send_sni: bool,
    cfg: TlsClientCfg,
    alpn: Vec<Vec<u8>>,
    /// The files as last loaded successfully; the lock serialises reloads.
    stamps: Mutex<FileStamps>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Builds a pool's upstream TLS, offering `alpn` in order of preference.
    /// Trust roots come from `cfg.ca`, else from the system store.
    pub fn build(cfg: &TlsClientCfg, alpn: &[&[u8]]) -> Result<ClientTls, TlsError> {
        // Stamps first: a file rewritten while it is being loaded will be
        // seen as changed by the next check.
        let stamps = FileStamps::new(watched_files(cfg));
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let config = client_config(cfg, &alpn)?;
        Ok(ClientTls {
            config: ArcSwap::from_pointee(config),
            key: AtomicU64::new(NEXT_KEY.fetch_add(1, Ordering::Relaxed)),
            server_name: cfg.server_name.clone(),
            send_sni: cfg.send_sni,
            cfg: cfg.clone(),
            alpn,
            stamps: Mutex::new(stamps),
        })
    }

    /// The configuration a new connection uses (hand to
    /// `tokio_rustls::TlsConnector::from`).
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.load_full()
    }

    /// Identifies the configuration new connections get, for the caches of
    /// idle upstream connections: unique in the process (never 0) and
    /// changed by every rebuild, so a connection is reused only by the
    /// configuration it was made with. A key read before
    /// [`config`](Self::config) never names an older configuration than
    /// the one `config` then returns.
    pub fn key(&self) -> u64 {
        self.key.load(Ordering::Acquire)
    }

    /// Rebuilds the configuration if the CA file or the client certificate
    /// or key changed since the last successful load: `Ok(true)` when
    /// swapped, `Ok(false)` when nothing changed. On error the previous
    /// configuration stays, and the files are tried again once they change
    /// again. The system's
    /// trust roots are not watched.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let mut stamps = self
            .stamps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !stamps.changed() {
            return Ok(false);
        }
        let fresh = FileStamps::new(watched_files(&self.cfg));
        let config = match client_config(&self.cfg, &self.alpn) {
            Ok(c) => c,
            Err(e) => {
                // Said once: tried again when a file changes again.
                stamps.mark_failed();
                return Err(e);
            }
        };
        self.config.store(Arc::new(config));
        // After the store: whoever sees the new key gets the new config.
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        self.key.store(key, Ordering::Release);
        *stamps = fresh;
        Ok(true)
    }

    /// Whether a config reload may keep this configuration (and the idle
    /// connections made with it) for a pool with `cfg` offering `alpn`:
    /// the same settings, and trust from a CA file, whose changes
    /// [`reload_if_changed`](Self::reload_if_changed) picks up. Pools on
    /// the system's trust roots (read at every load) and pools that verify
    /// nothing (warned about at every load) are built afresh.
    pub fn reusable_for(&self, cfg: &TlsClientCfg, alpn: &[&[u8]]) -> bool {
        ClientTls::may_outlive_a_reload(cfg)
            && self.cfg == *cfg
            && self.alpn.iter().map(Vec::as_slice).eq(alpn.iter().copied())
    }

    /// Whether settings `cfg` can be kept across a config reload at all
    /// (see [`reusable_for`](Self::reusable_for)): they trust a CA file.
    pub fn may_outlive_a_reload(cfg: &TlsClientCfg) -> bool {
        cfg.ca.is_some() && !cfg.insecure_skip_verify
    }

    /// Whether any file is watched (a CA file or a client certificate).
    pub fn watches_files(&self) -> bool {
        !watched_files(&self.cfg).is_empty()
    }

    /// The name a connection to `endpoint_host` verifies: the configured
    /// `server_name` if any, else the endpoint's host name or IP address
    /// (`[::1]` brackets stripped). rustls sends no SNI for IP addresses.
    pub fn server_name_for(&self, endpoint_host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(endpoint_host);
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        ServerName::try_from(bare.to_string()).map_err(|e| TlsError::ServerName {
            name: name.to_string(),
            reason: e.to_string(),
        })
    }
}

/// The files a pool's TLS is built from: the CA file (unless verification
/// is off) and the client certificate and key.
fn watched_files(cfg: &TlsClientCfg) -> Vec<PathBuf> {
    let ca = cfg.ca.iter().filter(|_| !cfg.insecure_skip_verify);
    let client = cfg.client_cert.iter().flat_map(|(c, k)| [c, k]);
    ca.chain(client).cloned().collect()
}

/// The rustls configuration of a pool: trust roots (or none checked),
/// client certificate, SNI and ALPN.
fn client_config(cfg: &TlsClientCfg, alpn: &[Vec<u8>]) -> Result<rustls::ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;

    // Warned about (naming the pool) at every load: `runtime::compile`.
    let builder = if cfg.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        let roots = match &cfg.ca {
            Some(ca) => load_roots(ca)?,
            None => system_roots()?,
        };
        builder.with_root_certificates(roots)
    };

    let mut config = match &cfg.client_cert {
        // What `with_client_auth_cert` does, with errors naming the files.
        Some((cert, key)) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(
            load_certified_key(cert, key)?,
        ))),
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = cfg.send_sni;
    config.alpn_protocols = alpn.to_vec();
    // Resumption: rustls's default in-memory session cache.
    Ok(config)
}

/// The system's trust roots; certificates that fail to load are skipped
/// with a warning, none at all is an error.
fn system_roots() -> Result<rustls::RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::warn!(error = %err, "cannot load some system CA certificates");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (_added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!(
            ignored,
            "system CA certificates that cannot be parsed were skipped"
        );
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots(
            "the system trust store is empty or unreadable; set the pool's TLS `ca`".into(),
        ));
    }
    Ok(roots)
}

/// `insecure_skip_verify`: any certificate chain and name is accepted, but
/// the handshake signatures are still checked, so the peer must hold the key
/// of the certificate it presents.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
