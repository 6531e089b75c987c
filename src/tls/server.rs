//! TLS termination on a listener: the certificate chosen by SNI, and the
//! `rustls::ServerConfig` built from a `TlsServerCfg`.
//!
//! A certificate may carry an OCSP response to staple (`ocsp`), checked by
//! [`super::ocsp`] and never stapled once out of date.
//!
//! Certificates can be replaced on disk while the listener runs:
//! [`ServerTls::reload_if_changed`] swaps the resolver's certificate store
//! atomically (connections in progress keep the keys they already hold),
//! and a changed client CA file swaps in a whole new configuration (new
//! ticket keys and session cache: nothing the old CA verified resumes).
//! A configuration reload builds a new [`ServerTls`] from the previous one,
//! keeping its session-ticket keys so clients can still resume.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::SignatureScheme;
use rustls::server::{ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;

use super::certs::{FileStamps, dns_names, load_certified_key, load_roots};
use super::{TlsError, provider};
use crate::config::model::{CertCfg, ClientAuthCfg, HostMatch, TlsServerCfg, TlsVersion};

/// Sessions remembered for stateful resumption (TLS 1.2 session IDs, and
/// TLS 1.3 when tickets are off).
const SESSION_CACHE_SIZE: usize = 10_000;

/// The certificates that serve one name, in configuration order: several
/// when they differ in key type (an ECDSA and an RSA one, say), and the
/// handshake takes the first whose key can sign with a scheme the client
/// offers (as HAProxy's certificate bundles do).
type Candidates = Vec<Arc<CertifiedKey>>;

/// The certificates of a listener, indexed by the names they serve.
#[derive(Debug)]
struct CertStore {
    /// Lower-case name → certificates.
    exact: HashMap<String, Candidates>,
    /// `*.example.com` stored as `.example.com`: matches exactly one more
    /// label (RFC 6125 §6.4.3), so `a.example.com` but neither
    /// `a.b.example.com` nor `example.com`.
    wildcard: HashMap<String, Candidates>,
    /// For no SNI, or a name nothing else covers: the first certificate,
    /// with the others for its first name.
    default: Candidates,
    /// When the first stapled OCSP response goes out of date: the store is
    /// then loaded again, without it.
    staple_expires: Option<SystemTime>,
}

impl CertStore {
    /// Loads every certificate; the first error (naming its file) wins.
    /// OCSP responses out of date at `now` are not stapled.
    fn load(certificates: &[CertCfg], now: SystemTime) -> Result<CertStore, TlsError> {
        let mut exact: HashMap<String, Candidates> = HashMap::new();
        let mut wildcard: HashMap<String, Candidates> = HashMap::new();
        let mut first: Option<(Arc<CertifiedKey>, Option<Name>)> = None;
        let mut staple_expires: Option<SystemTime> = None;
        for cert_cfg in certificates {
            let mut key = load_certified_key(&cert_cfg.cert, &cert_cfg.key)?;
            if let Some(path) = &cert_cfg.ocsp
                && let Some((staple, expires)) = load_staple(path, &key, now)?
            {
                let mut stapled = (*key).clone();
                stapled.ocsp = Some(staple);
                key = Arc::new(stapled);
                if let Some(e) = expires {
                    staple_expires = Some(staple_expires.map_or(e, |s| s.min(e)));
                }
            }
            let names = names_of(cert_cfg, &key)?;
            if first.is_none() {
                first = Some((key.clone(), names.first().cloned()));
            }
            for name in names {
                // In order: earlier certificates come first for a name.
                match name {
                    Name::Exact(n) => exact.entry(n),
                    Name::Wildcard(suffix) => wildcard.entry(suffix),
                }
                .or_default()
                .push(key.clone());
            }
        }
        let (first, first_name) = first.ok_or(TlsError::NoCertificates)?;
        let default = match &first_name {
            Some(Name::Exact(n)) => exact.get(n),
            Some(Name::Wildcard(suffix)) => wildcard.get(suffix),
            None => None,
        }
        .cloned()
        .unwrap_or_else(|| vec![first]);
        Ok(CertStore {
            exact,
            wildcard,
            default,
            staple_expires,
        })
    }

    fn lookup(&self, sni: Option<&str>) -> &[Arc<CertifiedKey>] {
        let Some(sni) = sni else {
            return &self.default;
        };
        let name = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return key;
        }
        // One label for the `*`: the rest, dot included, is the wildcard key.
        if let Some(dot) = name.find('.').filter(|&i| i > 0)
            && let Some(key) = self.wildcard.get(&name[dot..])
        {
            return key;
        }
        &self.default
    }
}

/// An OCSP response to staple, and when it goes out of date.
type Staple = (Vec<u8>, Option<SystemTime>);

/// The OCSP response in `path` for `key`'s certificate and when it goes
/// out of date; `None` (and a warning) when it already is: a stale
/// response is never stapled. A response that is unreadable, malformed,
/// about another certificate, or of unknown status is an error; a revoked
/// one is stapled with an error in the log.
fn load_staple(
    path: &Path,
    key: &CertifiedKey,
    now: SystemTime,
) -> Result<Option<Staple>, TlsError> {
    let der = std::fs::read(path).map_err(|e| super::read_error(path, &e))?;
    let leaf = key.end_entity_cert().map_err(|e| TlsError::Ocsp {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let status = super::ocsp::check(&der, leaf).map_err(|reason| TlsError::Ocsp {
        path: path.to_path_buf(),
        reason,
    })?;
    if !status.is_current(now) {
        tracing::warn!(file = %path.display(), "OCSP response out of date: not stapled");
        return Ok(None);
    }
    if status.revoked {
        // Only a file that changed while running gets here (the
        // configuration refuses a revoked response). It is what the CA
        // says now: stapled, as HAProxy does, rather than the earlier
        // "good" one kept on.
        tracing::error!(file = %path.display(), "OCSP response says the certificate is revoked: stapled, so clients that check refuse the certificate; replace it");
    }
    Ok(Some((der, status.next_update)))
}

#[derive(Clone)]
enum Name {
    Exact(String),
    /// The suffix with its leading dot.
    Wildcard(String),
}

/// The names a certificate serves: its configured `server_names`, else the
/// DNS names of its subjectAltName extension.
fn names_of(cert_cfg: &CertCfg, key: &CertifiedKey) -> Result<Vec<Name>, TlsError> {
    if !cert_cfg.server_names.is_empty() {
        return Ok(cert_cfg
            .server_names
            .iter()
            .map(|m| match m {
                HostMatch::Exact(n) => Name::Exact(n.to_ascii_lowercase()),
                HostMatch::Suffix(s) => {
                    let s = s.to_ascii_lowercase();
                    Name::Wildcard(if s.starts_with('.') {
                        s
                    } else {
                        format!(".{s}")
                    })
                }
            })
            .collect());
    }
    let leaf = key.end_entity_cert().map_err(|_| TlsError::NoCertificate {
        path: cert_cfg.cert.clone(),
    })?;
    let sans = dns_names(leaf).map_err(|e| TlsError::Certificate {
        path: cert_cfg.cert.clone(),
        reason: match e {
            TlsError::CertificateDer(reason) => reason,
            other => other.to_string(),
        },
    })?;
    if sans.is_empty() {
        return Err(TlsError::NoDnsNames {
            path: cert_cfg.cert.clone(),
        });
    }
    Ok(sans
        .into_iter()
        .map(|n| match n.strip_prefix('*') {
            Some(suffix) => Name::Wildcard(suffix.to_string()),
            None => Name::Exact(n),
        })
        .collect())
}

/// Picks a listener's certificate by SNI: exact name, then a wildcard for
/// the name minus its first label, then the default (first) certificate.
#[derive(Debug)]
pub struct SniResolver {
    store: ArcSwap<CertStore>,
    /// The listener's `cipher_suites` (empty: every suite of
    /// [`super::CIPHER_SUITES`]).
    suites: Vec<rustls::CipherSuite>,
}

impl SniResolver {
    /// The certificate served for this SNI (`None`: the client sent none)
    /// to a client offering the signature `schemes` and cipher `suites`:
    /// the first of the name's certificates whose key can sign with one of
    /// the schemes and that a suite both sides have can carry (a client
    /// with TLS 1.2 only and ECDHE_RSA suites only needs the RSA
    /// certificate, whatever schemes it lists, as HAProxy's certificate
    /// bundles decide); else the first (the handshake then fails as it
    /// must).
    pub fn lookup(
        &self,
        sni: Option<&str>,
        schemes: &[SignatureScheme],
        suites: &[rustls::CipherSuite],
    ) -> Option<Arc<CertifiedKey>> {
        let store = self.store.load();
        let candidates = store.lookup(sni);
        match candidates {
            [only] => Some(only.clone()),
            _ => candidates
                .iter()
                .find(|c| c.key.choose_scheme(schemes).is_some() && self.carried(c, suites))
                .or(candidates.first())
                .cloned(),
        }
    }

    /// Whether one of the client's `suites` that this listener offers can
    /// carry a handshake with `cert`'s key (any TLS 1.3 suite can).
    fn carried(&self, cert: &CertifiedKey, suites: &[rustls::CipherSuite]) -> bool {
        let key = cert.key.algorithm();
        let ours = |s: &rustls::CipherSuite| {
            if self.suites.is_empty() {
                super::CIPHER_SUITES.iter().any(|(_, c)| c == s)
            } else {
                self.suites.contains(s)
            }
        };
        suites
            .iter()
            .any(|s| ours(s) && super::suite_serves_key(*s, key))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.lookup(
            client_hello.server_name(),
            client_hello.signature_schemes(),
            client_hello.cipher_suites(),
        )
    }
}

/// A listener's TLS: the rustls configuration and what reloads need.
pub struct ServerTls {
    /// The configuration handshakes start with: replaced when the client
    /// CA file changes (certificate changes only swap the resolver's store).
    config: ArcSwap<rustls::ServerConfig>,
    resolver: Arc<SniResolver>,
    cfg: TlsServerCfg,
    alpn: Vec<Vec<u8>>,
    /// The files as last loaded successfully, and what a rebuild keeps or
    /// compares; the lock also serialises reloads.
    state: Mutex<State>,
}

struct State {
    /// Certificate, key and OCSP files.
    certs: FileStamps,
    /// The client CA file, when there is one.
    ca: Option<FileStamps>,
    /// Shared with the next `ServerTls` of a configuration reload.
    ticketer: Option<Arc<dyn ProducesTickets>>,
    /// The client-auth settings and the CA file's bytes: tickets are only
    /// carried over when these are unchanged (a resumed session skips
    /// client-certificate verification).
    client_auth: Option<(ClientAuthCfg, Vec<u8>)>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.cfg.certificates)
            .field("session_tickets", &self.cfg.session_tickets)
            .field("client_auth", &self.cfg.client_auth)
            .finish_non_exhaustive()
    }
}

/// What [`ServerTls::reload_if_changed`] found: for the certificates (with
/// their keys and OCSP responses) and for the client CA file, whether new
/// ones were swapped in (`Ok(false)`: nothing changed), or why the changed
/// files were not (the previous ones stay in use).
#[derive(Debug, PartialEq, Eq)]
pub struct Reload {
    pub certificates: Result<bool, TlsError>,
    pub client_ca: Result<bool, TlsError>,
}

impl ServerTls {
    /// Builds a listener's TLS from its configuration, offering `alpn` in
    /// order of preference (e.g. `[b"h2", b"http/1.1"]`). `previous` is the
    /// listener's TLS before a configuration reload, if any: its ticket keys
    /// are reused so resumption survives the reload.
    pub fn build(
        cfg: &TlsServerCfg,
        alpn: &[&[u8]],
        previous: Option<&ServerTls>,
    ) -> Result<ServerTls, TlsError> {
        // Stamps first: a file rewritten while it is being loaded will be
        // seen as changed by the next check.
        let certs = FileStamps::new(cert_files(&cfg.certificates));
        let ca = cfg.client_auth.as_ref().map(|a| FileStamps::new([&a.ca]));
        let resolver = Arc::new(SniResolver {
            store: ArcSwap::from_pointee(CertStore::load(&cfg.certificates, SystemTime::now())?),
            suites: cfg.cipher_suites.clone(),
        });
        let client_auth = read_client_auth(cfg)?;
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let ticketer = if cfg.session_tickets {
            let reusable = previous.and_then(|p| {
                let state = p.lock();
                (state.client_auth == client_auth)
                    .then(|| state.ticketer.clone())
                    .flatten()
            });
            Some(match reusable {
                Some(t) => t,
                None => new_ticketer()?,
            })
        } else {
            None
        };
        let config = server_config(
            cfg,
            &alpn,
            &resolver,
            client_auth.as_ref(),
            ticketer.clone(),
        )?;
        Ok(ServerTls {
            config: ArcSwap::from_pointee(config),
            resolver,
            cfg: cfg.clone(),
            alpn,
            state: Mutex::new(State {
                certs,
                ca,
                ticketer,
                client_auth,
            }),
        })
    }

    /// The configuration a new handshake uses (hand to
    /// `tokio_rustls::TlsAcceptor::from`).
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.config.load_full()
    }

    /// Reloads what changed on disk since the last successful load and
    /// swaps it in; new handshakes use it, connections in progress keep
    /// what they have. Certificates (with keys and OCSP responses) are
    /// reloaded all together when any of their files changed or a stapled
    /// response went out of date. A client CA file whose contents changed
    /// gives a new configuration with new session-ticket keys and an empty
    /// session cache: no session verified by the old CA resumes. On error
    /// the previous files stay in use, and the next call tries again.
    pub fn reload_if_changed(&self) -> Reload {
        self.reload_at(SystemTime::now())
    }

    /// [`ServerTls::reload_if_changed`] with the clock at `now`.
    pub(crate) fn reload_at(&self, now: SystemTime) -> Reload {
        let mut state = self.lock();
        Reload {
            certificates: self.reload_certificates(&mut state, now),
            client_ca: self.reload_client_ca(&mut state),
        }
    }

    fn reload_certificates(&self, state: &mut State, now: SystemTime) -> Result<bool, TlsError> {
        let stale = self
            .resolver
            .store
            .load()
            .staple_expires
            .is_some_and(|e| e <= now);
        if !state.certs.changed() && !stale {
            return Ok(false);
        }
        let fresh = FileStamps::new(self.files());
        let store = match CertStore::load(&self.cfg.certificates, now) {
            Ok(store) => store,
            Err(e) => {
                // Said once: tried again when a file changes again.
                state.certs.mark_failed();
                return Err(e);
            }
        };
        self.resolver.store.store(Arc::new(store));
        state.certs = fresh;
        // Swapped in all the same (it may be all there is), but a renewal
        // that put an expired or future certificate in place is news.
        for c in &self.cfg.certificates {
            if let Ok(chain) = super::certs::load_chain(&c.cert)
                && let Some(leaf) = chain.first()
                && let Some(problem) = super::certs::validity_problem(leaf, now)
            {
                tracing::warn!(file = %c.cert.display(), "{problem}: clients refuse it");
            }
        }
        Ok(true)
    }

    fn reload_client_ca(&self, state: &mut State) -> Result<bool, TlsError> {
        let Some(stamps) = &state.ca else {
            return Ok(false);
        };
        if !stamps.changed() {
            return Ok(false);
        }
        let fresh = FileStamps::new(stamps.paths());
        let client_auth = match read_client_auth(&self.cfg) {
            Ok(c) => c,
            Err(e) => {
                if let Some(s) = &mut state.ca {
                    s.mark_failed();
                }
                return Err(e);
            }
        };
        if client_auth == state.client_auth {
            // Touched, or rewritten with the same certificates.
            state.ca = Some(fresh);
            return Ok(false);
        }
        let ticketer = match self.cfg.session_tickets {
            true => Some(new_ticketer()?),
            false => None,
        };
        let config = server_config(
            &self.cfg,
            &self.alpn,
            &self.resolver,
            client_auth.as_ref(),
            ticketer.clone(),
        )?;
        self.config.store(Arc::new(config));
        state.ca = Some(fresh);
        state.ticketer = ticketer;
        state.client_auth = client_auth;
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The certificate, key and OCSP files, in configuration order.
    pub fn files(&self) -> Vec<PathBuf> {
        cert_files(&self.cfg.certificates)
    }

    /// The SNI resolver (shared with the configuration).
    pub fn resolver(&self) -> &Arc<SniResolver> {
        &self.resolver
    }
}

/// The client-auth settings with the CA file's bytes (what decides whether
/// sessions may carry over), after checking that the file gives roots.
fn read_client_auth(cfg: &TlsServerCfg) -> Result<Option<(ClientAuthCfg, Vec<u8>)>, TlsError> {
    let Some(auth) = &cfg.client_auth else {
        return Ok(None);
    };
    let bytes = std::fs::read(&auth.ca).map_err(|e| super::read_error(&auth.ca, &e))?;
    Ok(Some((auth.clone(), bytes)))
}

/// Session-ticket keys: random, rotated every 6 hours.
fn new_ticketer() -> Result<Arc<dyn ProducesTickets>, TlsError> {
    rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Rustls(e.to_string()))
}

/// The rustls configuration of a listener: protocol versions, client
/// verification against `client_auth`'s CA, the shared certificate
/// resolver, ALPN, session cache and tickets.
fn server_config(
    cfg: &TlsServerCfg,
    alpn: &[Vec<u8>],
    resolver: &Arc<SniResolver>,
    client_auth: Option<&(ClientAuthCfg, Vec<u8>)>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = server_provider(&cfg.cipher_suites);
    // Cipher suites: the ring provider's, all AEAD (AES-GCM and
    // ChaCha20-Poly1305; TLS 1.2 only with ECDHE): no CBC, no RSA key
    // exchange; in the order of `server_provider`.
    let versions: &[&'static rustls::SupportedProtocolVersion] = match cfg.min_version {
        TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match client_auth {
        Some((auth, _)) => {
            let roots = Arc::new(load_roots(&auth.ca)?);
            let mut verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider);
            if !auth.required {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| TlsError::Ca {
                path: auth.ca.clone(),
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver.clone());
    config.alpn_protocols = alpn.to_vec();
    // Server preference for cipher suites (and ALPN order is ours too).
    config.ignore_client_order = true;
    // No 0-RTT: early data is replayable.
    config.max_early_data_size = 0;
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    if let Some(t) = ticketer {
        config.ticketer = t;
    }
    Ok(config)
}

/// The server's default cipher suite preference: Mozilla's
/// "intermediate" order, AES-128-GCM first, which is the order of
/// [`super::CIPHER_SUITES`]. 128-bit AES is the suite TLS 1.3 requires of
/// every implementation and is not the weak link of any of these
/// handshakes (P-256 and X25519 are 128-bit-strong too); it encrypts
/// faster than AES-256, and its SHA-256 key schedule costs less than
/// SHA-384's. rustls's own default puts AES-256 first.
///
/// The provider of a listener: the shared one with its cipher suites in
/// that order, or only those of `chosen` in its order when given (the
/// configuration checked that they exist).
fn server_provider(chosen: &[rustls::CipherSuite]) -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = Arc::unwrap_or_clone(provider());
    let order: Vec<rustls::CipherSuite> = if chosen.is_empty() {
        super::CIPHER_SUITES.iter().map(|(_, s)| *s).collect()
    } else {
        p.cipher_suites.retain(|s| chosen.contains(&s.suite()));
        chosen.to_vec()
    };
    p.cipher_suites.sort_by_key(|s| {
        order
            .iter()
            .position(|c| *c == s.suite())
            .unwrap_or(order.len())
    });
    Arc::new(p)
}

fn cert_files(certificates: &[CertCfg]) -> Vec<PathBuf> {
    certificates
        .iter()
        .flat_map(|c| [Some(c.cert.clone()), Some(c.key.clone()), c.ocsp.clone()])
        .flatten()
        .collect()
}
