//! TLS clients: rustls client configurations (verifying, or accepting any
//! certificate to see which one a server picks), connecting, and what a
//! handshake negotiated.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, HandshakeKind, ProtocolVersion, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::certs::Issued;
use super::provider;

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

/// [`client_config`] offering only `suites`, in that order.
pub fn client_config_suites(
    roots: rustls::RootCertStore,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: &[rustls::CipherSuite],
) -> rustls::ClientConfig {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites = suites
        .iter()
        .map(|want| {
            *p.cipher_suites
                .iter()
                .find(|s| s.suite() == *want)
                .expect("a ring cipher suite")
        })
        .collect();
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(p))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
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
    pub suite: Option<rustls::CipherSuite>,
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
        suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
    }
}
