//! Test helpers for TLS: certificates made with rcgen at test time (written
//! into a temporary directory removed on drop), rustls/reqwest/hyper
//! clients, a TLS upstream (hyper over tokio-rustls) that records what each
//! handshake and request looked like, and `openssl`/`curl` runners.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, HandshakeKind, ProtocolVersion, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::Proxy;

/// The crypto provider of every configuration made here (ring, explicit).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed with everything in
/// it on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("switchyard-tls-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    /// `<dir>/<name>` (not created).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to `<dir>/<name>` and returns the path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.file(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A path as a TOML basic string, quotes included.
pub fn toml_path(p: &Path) -> String {
    let s = p.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// Key algorithms rcgen generates with ring (RSA keys come from openssl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    P256,
    P384,
    Ed25519,
}

impl Alg {
    fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Alg::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Alg::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Alg::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

/// What a leaf certificate says.
pub struct LeafSpec {
    pub cn: String,
    pub org: Option<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub uris: Vec<String>,
    pub alg: Alg,
    /// Extended key usage clientAuth (else serverAuth).
    pub client: bool,
    /// Use this key instead of generating one with `alg` (e.g. RSA).
    pub key: Option<KeyPair>,
}

impl LeafSpec {
    /// A server certificate with DNS (or IP, when they parse) SANs.
    pub fn server(cn: &str, names: &[&str]) -> LeafSpec {
        let mut spec = LeafSpec {
            cn: cn.to_owned(),
            org: None,
            dns: Vec::new(),
            ips: Vec::new(),
            uris: Vec::new(),
            alg: Alg::P256,
            client: false,
            key: None,
        };
        for n in names {
            match n.parse::<IpAddr>() {
                Ok(ip) => spec.ips.push(ip),
                Err(_) => spec.dns.push((*n).to_owned()),
            }
        }
        spec
    }

    /// A client certificate `CN=cn` without SANs.
    pub fn client(cn: &str) -> LeafSpec {
        LeafSpec {
            client: true,
            ..LeafSpec::server(cn, &[])
        }
    }

    pub fn org(mut self, org: &str) -> LeafSpec {
        self.org = Some(org.to_owned());
        self
    }

    pub fn dns(mut self, name: &str) -> LeafSpec {
        self.dns.push(name.to_owned());
        self
    }

    pub fn uri(mut self, uri: &str) -> LeafSpec {
        self.uris.push(uri.to_owned());
        self
    }

    pub fn alg(mut self, alg: Alg) -> LeafSpec {
        self.alg = alg;
        self
    }

    pub fn key(mut self, key: KeyPair) -> LeafSpec {
        self.key = Some(key);
        self
    }
}

/// An issued certificate and its private key.
pub struct Issued {
    pub der: CertificateDer<'static>,
    pub cert_pem: String,
    /// PKCS#8 PEM (`PRIVATE KEY`).
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

/// Where a certificate and its key were written.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Issued {
    /// Writes `<stem>.pem` and `<stem>.key` into `dir`.
    pub fn write(&self, dir: &TempDir, stem: &str) -> CertFiles {
        CertFiles {
            cert: dir.write(&format!("{stem}.pem"), &self.cert_pem),
            key: dir.write(&format!("{stem}.key"), &self.key_pem),
        }
    }

    /// Overwrites existing files in place (same inode).
    pub fn overwrite(&self, files: &CertFiles) {
        std::fs::write(&files.cert, &self.cert_pem).unwrap();
        std::fs::write(&files.key, &self.key_pem).unwrap();
    }

    /// The private key for rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Lower-case hex SHA-256 of the certificate's DER.
    pub fn sha256_hex(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, self.der.as_ref());
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A test certificate authority (ECDSA P-256).
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub der: CertificateDer<'static>,
    pub pem: String,
}

impl Ca {
    pub fn new(cn: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            der: cert.der().clone(),
            pem: cert.pem(),
            params,
            key,
        }
    }

    /// Writes the CA certificate to `<dir>/<name>`.
    pub fn write(&self, dir: &TempDir, name: &str) -> PathBuf {
        dir.write(name, &self.pem)
    }

    /// A root store trusting only this CA.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        roots
    }

    /// Issues a leaf certificate signed by this CA.
    pub fn issue(&self, spec: LeafSpec) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, spec.cn);
        if let Some(org) = spec.org {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        for d in spec.dns {
            params
                .subject_alt_names
                .push(SanType::DnsName(d.try_into().unwrap()));
        }
        for ip in spec.ips {
            params.subject_alt_names.push(SanType::IpAddress(ip));
        }
        for u in spec.uris {
            params
                .subject_alt_names
                .push(SanType::URI(u.try_into().unwrap()));
        }
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if spec.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = match spec.key {
            Some(k) => k,
            None => KeyPair::generate_for(spec.alg.rcgen()).unwrap(),
        };
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Issued {
            der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

// ---------------------------------------------------------------------------
// External tools
// ---------------------------------------------------------------------------

/// Whether `tool` runs (`tool version`/`--version`); prints why a test part
/// is skipped when it does not.
pub fn have_tool(tool: &str, why: &str) -> bool {
    let arg = if tool == "openssl" {
        "version"
    } else {
        "--version"
    };
    let ok = std::process::Command::new(tool)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED ({why}): `{tool}` is not installed or does not run");
    }
    ok
}

/// Runs `program args...` with stdin closed, killed after 30 s; returns
/// (exit success, stdout, stderr).
pub async fn run_tool(program: &str, args: &[&str]) -> (bool, String, String) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in 30 s"))
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A 2048-bit RSA key made by `openssl genpkey` (rcgen with ring cannot
/// generate RSA keys), loaded for signing with RSA PKCS#1 SHA-256.
pub async fn openssl_rsa_key() -> Result<KeyPair, String> {
    let (ok, pem, err) = run_tool(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
    )
    .await;
    if !ok {
        return Err(format!("openssl genpkey failed: {err}"));
    }
    KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())
}

/// `openssl pkey -traditional`: a PKCS#8 key rewritten as PKCS#1 (`RSA
/// PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
pub async fn openssl_traditional(dir: &TempDir, pkcs8_pem: &str, name: &str) -> PathBuf {
    let input = dir.write(&format!("{name}.pkcs8"), pkcs8_pem);
    let out = dir.file(name);
    let (ok, _, err) = run_tool(
        "openssl",
        &[
            "pkey",
            "-in",
            input.to_str().unwrap(),
            "-traditional",
            "-out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "openssl pkey -traditional: {err}");
    out
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// A rustls client configuration trusting `roots`, speaking `versions`,
/// offering `alpn`, presenting `identity` when given.
pub fn client_config(
    roots: rustls::RootCertStore,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
    identity: Option<&Issued>,
) -> rustls::ClientConfig {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.der.clone()], id.private_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// TLS 1.2 and 1.3.
pub const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
pub const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
pub const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Accepts any certificate chain and name, but still checks handshake
/// signatures: for looking at which certificate a server picks.
#[derive(Debug)]
struct AcceptAny(rustls::crypto::WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A client configuration that accepts any server certificate (signatures
/// still checked), `alpn` offered, SNI sent.
pub fn accept_any_config(alpn: &[&[u8]]) -> rustls::ClientConfig {
    let p = provider();
    let mut config = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(p.signature_verification_algorithms)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

pub type ClientTls = tokio_rustls::client::TlsStream<TcpStream>;

/// TCP connect plus TLS handshake to `addr`, verifying (and, for DNS names,
/// sending as SNI) `name`.
pub async fn tls_connect(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    name: &str,
) -> std::io::Result<ClientTls> {
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_owned()).expect("valid server name");
    tokio::time::timeout(
        Duration::from_secs(20),
        TlsConnector::from(config.clone()).connect(server_name, tcp),
    )
    .await
    .unwrap_or_else(|_| Err(std::io::Error::other("TLS handshake timed out after 20 s")))
}

/// What a client learned from its handshake.
#[derive(Debug, Clone)]
pub struct Negotiated {
    pub leaf: CertificateDer<'static>,
    pub alpn: Option<Vec<u8>>,
    pub version: Option<ProtocolVersion>,
    pub kind: Option<HandshakeKind>,
}

pub fn negotiated(s: &ClientTls) -> Negotiated {
    let conn = s.get_ref().1;
    Negotiated {
        leaf: conn
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned()
            .expect("server sent a certificate"),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        version: conn.protocol_version(),
        kind: conn.handshake_kind(),
    }
}

/// One response read by [`H1`].
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// A hyper HTTP/1.1 client connection over any stream (e.g. a TLS stream
/// the test holds across a certificate swap).
pub struct H1 {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    /// The connection task; its error (e.g. a TLS alert) explains a failed
    /// request better than hyper's "channel closed".
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl H1 {
    pub async fn over<S>(io: S) -> H1
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("HTTP/1.1 client handshake");
        let task = tokio::spawn(async move { conn.await.map_err(|e| error_chain(&e)) });
        H1 {
            send,
            task: Some(task),
        }
    }

    /// GET `path` with `Host: host` and `headers`; the error is the
    /// connection's (e.g. a TLS alert) as text.
    pub async fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let mut req = Request::get(path).header(http::header::HOST, host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::new()).unwrap();
        let work = async {
            self.send.ready().await.map_err(|e| error_chain(&e))?;
            let resp = self
                .send
                .send_request(req)
                .await
                .map_err(|e| error_chain(&e))?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| error_chain(&e))?;
            Ok(Reply {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                body: String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            })
        };
        let result: Result<Reply, String> = tokio::time::timeout(Duration::from_secs(20), work)
            .await
            .unwrap_or_else(|_| Err("no response within 20 s".into()));
        match result {
            Ok(reply) => Ok(reply),
            Err(e) => Err(format!(
                "{e}; connection: {}",
                self.connection_error().await
            )),
        }
    }

    /// Why the connection ended (waits up to 5 s for it to end).
    async fn connection_error(&mut self) -> String {
        let Some(task) = self.task.take() else {
            return "already reported".into();
        };
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Err(e))) => e,
            Ok(Ok(Ok(()))) => "closed cleanly".into(),
            Ok(Err(join)) => join.to_string(),
            Err(_) => "still open".into(),
        }
    }
}

impl Drop for H1 {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl H1 {
    /// Waits up to `limit` for the server to close the connection; whether it did.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        match self.task.as_mut() {
            None => true,
            Some(task) => tokio::time::timeout(limit, task).await.is_ok(),
        }
    }
}

/// A hyper HTTP/2 client connection over a stream that negotiated `h2`.
pub struct H2 {
    send: hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl H2 {
    pub async fn over<S>(io: S) -> H2
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .expect("HTTP/2 client handshake");
        let task = tokio::spawn(async move { conn.await.map_err(|e| error_chain(&e)) });
        H2 { send, task }
    }

    /// GET `https://{authority}{path}`.
    pub async fn get(&mut self, authority: &str, path: &str) -> Result<Reply, String> {
        let req = Request::get(format!("https://{authority}{path}"))
            .version(Version::HTTP_2)
            .body(Empty::new())
            .unwrap();
        let work = async {
            self.send.ready().await.map_err(|e| error_chain(&e))?;
            let resp = self
                .send
                .send_request(req)
                .await
                .map_err(|e| error_chain(&e))?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| error_chain(&e))?;
            Ok(Reply {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                body: String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            })
        };
        tokio::time::timeout(Duration::from_secs(20), work)
            .await
            .unwrap_or_else(|_| Err("no response within 20 s".into()))
    }

    /// Waits up to `limit` for the server to end the connection; whether it did.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, &mut self.task).await.is_ok()
    }
}

impl Drop for H2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An error and all its sources, `: `-joined.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Connect, handshake, GET one `path` over HTTP/1.1: the handshake result
/// and the reply (any failure, at any step, as text).
pub async fn https_get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    name: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Negotiated, Reply), String> {
    let tls = tls_connect(addr, config, name)
        .await
        .map_err(|e| format!("handshake: {}", error_chain(&e)))?;
    let n = negotiated(&tls);
    let mut h1 = H1::over(tls).await;
    let reply = h1.get(name, path, headers).await?;
    Ok((n, reply))
}

/// A reqwest client with a preconfigured rustls configuration, `names`
/// resolved to `addr` (the port comes from the URL), and the peer's
/// certificate in each response's `reqwest::tls::TlsInfo` extension.
pub fn https_client(
    config: rustls::ClientConfig,
    names: &[&str],
    addr: SocketAddr,
) -> reqwest::Client {
    super::install_crypto();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_info(true)
        .tls_backend_preconfigured(config);
    for n in names {
        b = b.resolve(n, addr);
    }
    b.build().unwrap()
}

/// Every value of header `name` in a demo backend's `/echo` body.
pub fn echoed(body: &str, name: &str) -> Vec<String> {
    body.lines()
        .skip(2)
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------

impl Proxy {
    /// What the binary does every 2 s: re-read changed certificate files.
    pub fn check_certificates(&self) {
        self.server().check_certificates();
    }

    /// Like `start`, with endpoint host names in `names` resolved to the
    /// given IP (the port is the one written), no DNS needed.
    pub fn start_resolving(toml: &str, names: &[(&str, IpAddr)]) -> Proxy {
        let names: Vec<(String, IpAddr)> =
            names.iter().map(|(n, ip)| ((*n).to_owned(), *ip)).collect();
        let resolve = move |host_port: &str| -> std::io::Result<Vec<SocketAddr>> {
            let (host, port) = host_port
                .rsplit_once(':')
                .ok_or_else(|| std::io::Error::other("no port"))?;
            let port: u16 = port.parse().map_err(std::io::Error::other)?;
            names
                .iter()
                .find(|(n, _)| n == host)
                .map(|(_, ip)| vec![SocketAddr::new(*ip, port)])
                .ok_or_else(|| std::io::Error::other(format!("unknown test host {host}")))
        };
        let loaded = switchyard::config::load_str_with_resolver("test.toml", toml, &resolve)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        Proxy {
            server: Some(switchyard::server::Server::start(loaded.config).expect("server starts")),
        }
    }

    /// `https://HOST:PORT{path}` for listener `listener`.
    pub fn https_url(&self, listener: &str, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr_of(listener).port())
    }
}

// ---------------------------------------------------------------------------
// A TLS upstream
// ---------------------------------------------------------------------------

/// One TLS handshake as an upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub sni: Option<String>,
    pub alpn: Option<Vec<u8>>,
    pub client_cert: Option<CertificateDer<'static>>,
    pub kind: Option<HandshakeKind>,
}

/// A TLS server in front of hyper (HTTP/2 when ALPN says `h2`, else
/// HTTP/1.1). Every response carries `x-backend: NAME` and
/// `x-upstream-version`; its body is the request line and headers, or
/// N pattern bytes for `.../bytes?n=N`.
/// Handshakes (successful or not) and requests are recorded.
pub struct TlsUpstream {
    pub name: String,
    pub addr: SocketAddr,
    pub handshakes: Arc<Mutex<Vec<Seen>>>,
    pub failed_handshakes: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    _tasks: JoinSet<()>,
}

/// An upstream's server configuration: `leaf`, `alpn` offered, client
/// certificates required (signed by `client_ca`) when given.
pub fn upstream_config(
    leaf: &Issued,
    alpn: &[&[u8]],
    client_ca: Option<&Ca>,
) -> rustls::ServerConfig {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca.roots()),
                provider(),
            )
            .build()
            .unwrap(),
        ),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(vec![leaf.der.clone()], leaf.private_key())
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

impl TlsUpstream {
    pub async fn start(name: &str, config: rustls::ServerConfig) -> TlsUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (seen, failed, count) = (
            handshakes.clone(),
            failed_handshakes.clone(),
            requests.clone(),
        );
        let own_name = name.to_owned();
        let name: Arc<str> = name.into();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            // Owned by the accept task: aborted with it.
            let mut conns = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, seen, failed, count, name) =
                    (acceptor.clone(), seen.clone(), failed.clone(), count.clone(), name.clone());
                conns.spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    let conn = tls.get_ref().1;
                    let hs = Seen {
                        sni: conn.server_name().map(str::to_owned),
                        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                        client_cert: conn.peer_certificates().and_then(|c| c.first()).cloned(),
                        kind: conn.handshake_kind(),
                    };
                    let h2 = hs.alpn.as_deref() == Some(b"h2");
                    seen.lock().unwrap().push(hs);
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        count.fetch_add(1, Ordering::SeqCst);
                        let name = name.clone();
                        async move { Ok::<_, std::convert::Infallible>(upstream_reply(&name, &req)) }
                    });
                    let io = TokioIo::new(tls);
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, svc)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    }
                });
            }
        });
        TlsUpstream {
            name: own_name,
            addr,
            handshakes,
            failed_handshakes,
            requests,
            _tasks: tasks,
        }
    }

    /// The handshakes completed so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.handshakes.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// `.../bytes?n=N`: N bytes of the demo backends' pattern; anything else:
/// the request line and headers.
fn upstream_reply(name: &str, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let n = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("n="))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|_| req.uri().path().ends_with("/bytes"));
    let body = match n {
        Some(n) => Bytes::from(
            (0..n)
                .map(switchyard::demo::backend::pattern_byte)
                .collect::<Vec<u8>>(),
        ),
        None => {
            let mut text = format!(
                "{name}\n{} {} {:?}\n",
                req.method(),
                req.uri(),
                req.version()
            );
            for (k, v) in req.headers() {
                text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
            }
            Bytes::from(text)
        }
    };
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut()
        .insert("x-backend", http::HeaderValue::from_str(name).unwrap());
    resp.headers_mut().insert(
        "x-upstream-version",
        http::HeaderValue::from_str(&format!("{:?}", req.version())).unwrap(),
    );
    resp
}
