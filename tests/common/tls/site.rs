//! Fixtures of the TLS listener tests (`tests/tls_*.rs`): a CA and a server
//! certificate for [`SITE`], the `[listener.tls]` text that serves it, a
//! proxy with one TLS listener in front of a demo backend, and which
//! certificate a handshake got.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use switchyard::demo::BackendHandle;

use super::{BOTH, Ca, CertFiles, Issued, LeafSpec, TempDir};
use super::{client_config, error_chain, negotiated, tls_connect, toml_path};
use crate::common::{Proxy, backend, listener, pool, proxy_config};

/// The name the site certificate is for.
pub const SITE: &str = "site.example.com";
/// ALPN offering HTTP/2 and HTTP/1.1.
pub const H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN offering HTTP/1.1 only.
pub const H1_ONLY: &[&[u8]] = &[b"http/1.1"];

/// `{ cert = "...", key = "..." }`.
pub fn cert(f: &CertFiles) -> String {
    format!(
        "{{ cert = {}, key = {} }}",
        toml_path(&f.cert),
        toml_path(&f.key)
    )
}

/// `{ cert = "...", key = "...", server_names = [...] }`.
pub fn cert_named(f: &CertFiles, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "{{ cert = {}, key = {}, server_names = [{}] }}",
        toml_path(&f.cert),
        toml_path(&f.key),
        names.join(", ")
    )
}

/// `certificates = [ entries... ]`.
pub fn certificates(entries: &[String]) -> String {
    format!("certificates = [\n    {},\n  ]", entries.join(",\n    "))
}

/// Config text: listener "web" with `extra` keys and `[listener.tls]`
/// holding `tls`, routing everything to pool "p" over `backend`.
pub fn web_config(extra: &str, tls: &str, backend: SocketAddr) -> String {
    proxy_config(
        2,
        &[listener("web", extra, tls, "p"), pool("p", &[backend], "")],
    )
}

/// A demo backend "be" and a proxy started from [`web_config`] in front
/// of it.
pub fn web_proxy(extra: &str, tls: &str) -> (BackendHandle, Proxy) {
    let be = backend("be");
    let proxy = Proxy::start(&web_config(extra, tls, be.addr));
    (be, proxy)
}

/// A temp directory, a CA and a server certificate for [`SITE`].
pub struct Site {
    pub dir: TempDir,
    pub ca: Ca,
    pub ca_file: PathBuf,
    pub leaf: Issued,
    pub files: CertFiles,
}

impl Site {
    pub fn new() -> Site {
        let dir = TempDir::new();
        let ca = Ca::new("Test Server CA");
        let ca_file = ca.write(&dir, "ca.pem");
        let leaf = ca.issue(LeafSpec::server("site", &[SITE]));
        let files = leaf.write(&dir, "site");
        Site {
            dir,
            ca,
            ca_file,
            leaf,
            files,
        }
    }

    /// `certificates = [ site ]`.
    pub fn tls(&self) -> String {
        certificates(&[cert(&self.files)])
    }

    /// A verifying client for this site's CA.
    pub fn client(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        Arc::new(client_config(self.ca.roots(), versions, alpn, None))
    }
}

/// A verifying client without session resumption: every handshake is a
/// full one, so the certificate it reports is the one served right now.
pub fn fresh_client(ca: &Ca) -> Arc<rustls::ClientConfig> {
    let mut c = client_config(ca.roots(), BOTH, H1_ONLY, None);
    c.resumption = rustls::client::Resumption::disabled();
    Arc::new(c)
}

/// The leaf a new full handshake for `name` gets.
pub async fn served_leaf(addr: SocketAddr, ca: &Ca, name: &str) -> CertificateDer<'static> {
    let tls = tls_connect(addr, &fresh_client(ca), name)
        .await
        .unwrap_or_else(|e| panic!("handshake for {name}: {}", error_chain(&e)));
    negotiated(&tls).leaf
}

/// Which of `certs` `leaf` is (by DER), for readable assertions.
pub fn which<'a>(leaf: &CertificateDer<'_>, certs: &[(&'a str, &Issued)]) -> &'a str {
    certs
        .iter()
        .find(|(_, c)| c.der == *leaf)
        .map_or("<unknown certificate>", |(n, _)| n)
}
