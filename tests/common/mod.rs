//! Test harness: in-process proxies started from a config string, demo
//! backends on ephemeral ports, a real HTTP client and raw-socket helpers.
//!
//! Ports are never fixed: backends bind 127.0.0.1:0, and proxy listeners are
//! written `127.0.0.1:0` in test configs; the kernel picks a free port and
//! the harness asks the running server which one (no allocator races).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use switchyard::config;
use switchyard::demo::{Backend, BackendHandle};
use switchyard::server::{ReloadSummary, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A demo backend named `name` on an ephemeral port of 127.0.0.1
/// (serving on the current tokio runtime until dropped).
pub fn backend(name: &str) -> BackendHandle {
    Backend::bind(name, "127.0.0.1:0".parse().unwrap())
        .and_then(Backend::spawn)
        .expect("backend starts")
}

/// An address where nothing listens (connections are refused).
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Replaces `{name}` placeholders in a config template.
pub fn fill(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

/// A Switchyard running in this process.
pub struct Proxy {
    server: Option<Server>,
}

impl Proxy {
    /// Starts a proxy from config text; panics with every diagnostic if invalid.
    pub fn start(toml: &str) -> Proxy {
        let loaded = config::load_str("test.toml", toml)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        Proxy {
            server: Some(Server::start(loaded.config).expect("server starts")),
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    /// The bound address of listener `name`.
    pub fn addr_of(&self, name: &str) -> SocketAddr {
        self.server()
            .local_addr(name)
            .unwrap_or_else(|| panic!("no listener {name}"))
    }

    /// The address of the first listener in the config.
    pub fn addr(&self) -> SocketAddr {
        let rt = self.server().runtime();
        let name = rt.config.listeners[0].name.clone();
        self.addr_of(&name)
    }

    /// `http://ADDR{path}` on the first listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Connect failures recorded for the endpoint configured as `label`.
    pub fn endpoint_connect_failures(&self, label: &str) -> u64 {
        let rt = self.server().runtime();
        rt.pools
            .iter()
            .flat_map(|p| p.endpoints.iter())
            .filter(|e| e.label == label)
            .map(|e| e.state.connect_failures())
            .sum()
    }

    /// Reloads from config text.
    pub fn reload(&mut self, toml: &str) -> Result<ReloadSummary, String> {
        let loaded = config::load_str("test.toml", toml).map_err(|e| e.to_string())?;
        self.server
            .as_mut()
            .expect("running")
            .reload(loaded.config)
            .map_err(|e| e.to_string())
    }

    /// Graceful shutdown with `timeout` (blocks until workers exit).
    pub fn shutdown(mut self, timeout: Duration) {
        if let Some(s) = self.server.take() {
            s.shutdown(timeout);
        }
    }
}

/// A plain HTTP/1.1 client (no system proxy).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .build()
        .unwrap()
}

/// GETs `url` and returns (status, x-backend, body).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = client.get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let be = r
        .headers()
        .get("x-backend")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, be, r.text().await.unwrap())
}

/// Sends raw bytes, half-closes nothing, and reads until the server closes
/// the connection. Returns what the server sent.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `raw` output (0 if none).
pub fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A minimal pool/listener config: one listener on 127.0.0.1:0 routing
/// everything to pool "p" with `algorithm` over `endpoints`.
pub fn simple_config(algorithm: &str, endpoints: &[SocketAddr], extra_pool: &str) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        r#"
[global]
workers = 2

[[listener]]
name = "web"
address = "127.0.0.1:0"
access_log = false

  [[listener.route]]
  name = "all"
  pool = "p"

[[pool]]
name = "p"
algorithm = "{algorithm}"
endpoints = [{}]
{extra_pool}
"#,
        eps.join(", ")
    )
}
