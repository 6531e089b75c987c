//! Test helpers for TLS, one submodule each, all re-exported here so tests
//! `use common::tls::*`:
//!
//! - [`certs`]: certificates made with rcgen at test time (written into a
//!   [`TempDir`] removed on drop);
//! - [`client`] and [`requests`]: rustls clients, and hyper/reqwest HTTP
//!   over them;
//! - [`upstream`]: a TLS upstream (hyper over tokio-rustls) that records
//!   what each handshake and request looked like;
//! - [`tools`]: `openssl`/`curl` runners;
//! - [`site`]: the fixtures of the TLS listener tests (a site certificate,
//!   config text, proxies in front of a demo backend).
//!
//! This file holds the crypto provider they share and the proxy's
//! TLS-only controls.

// Each test crate uses a different part.
#![allow(dead_code, unused_imports)]

mod certs;
mod client;
mod requests;
mod site;
mod tools;
mod upstream;

pub use super::TempDir;
pub use certs::*;
pub use client::*;
pub use requests::*;
pub use site::*;
pub use tools::*;
pub use upstream::*;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use super::Proxy;

/// The crypto provider of every configuration made here (ring, explicit).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A path as a TOML basic string, quotes included.
pub fn toml_path(p: &Path) -> String {
    let s = p.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

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
