//! The compiled, validated configuration model.
//!
//! This is the *internal* model: every value has been checked, parsed and
//! typed (addresses resolved, regexes compiled, pool names turned into
//! indices). Data paths never see the external TOML schema
//! (`config::file`), and nothing here knows about TOML or spans.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Method};
use regex::Regex;

use crate::balance::Algorithm;

/// A whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration was read from (`None` for embedded configs).
    pub source: Option<PathBuf>,
    pub global: Global,
    pub listeners: Vec<ListenerCfg>,
    pub pools: Vec<PoolCfg>,
    /// `[engine]`: present when the file has `[engine]` or any `[[vip]]`.
    pub engine: Option<super::model_vip::EngineCfg>,
    /// The packet engine's virtual IPs.
    pub vips: Vec<super::model_vip::VipCfg>,
}

/// Process-wide settings.
#[derive(Debug, Clone)]
pub struct Global {
    /// Worker threads (each runs its own event loop); already resolved, >= 1.
    pub workers: usize,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Default `tracing` filter, e.g. `info` (overridden by `RUST_LOG`).
    pub log_level: String,
    /// The admin socket, when configured.
    pub control_socket: Option<PathBuf>,
}

/// The protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 reverse proxy (L7).
    Http,
    /// TCP stream proxy (L4): one routing decision per connection.
    Tcp,
    /// UDP proxy (L4): one routing decision per client flow.
    Udp,
}

/// One listening socket and what it does with what it accepts.
#[derive(Debug, Clone)]
pub struct ListenerCfg {
    pub name: String,
    /// Where to listen. Port 0 asks the kernel for a free port (tests).
    pub address: SocketAddr,
    pub protocol: Protocol,
    pub backlog: u32,
    pub access_log: bool,
    /// Headers added to requests going upstream.
    pub forwarding: Forwarding,
    /// Routes see the normalised path (`http::router::normalize_path`).
    pub normalize_path: bool,
    pub limits: HttpLimits,
    pub timeouts: ListenerTimeouts,
    /// Routes in config order: the first that matches wins (HTTP).
    pub routes: Vec<RouteCfg>,
    /// Connection admission (TCP-based listeners).
    pub admission: Admission,
    /// Accepting the PROXY protocol from trusted peers (TCP-based listeners).
    pub proxy_in: Option<ProxyIn>,
    /// Stream-proxy settings (`protocol = "tcp"`).
    pub tcp: Option<TcpCfg>,
    /// Datagram-proxy settings (`protocol = "udp"`).
    pub udp: Option<UdpCfg>,
    /// TLS termination (HTTP listeners).
    pub tls: Option<TlsServerCfg>,
    /// HTTP/2 from clients: ALPN `h2` on TLS listeners, prior-knowledge
    /// h2c on plain ones.
    pub http2: bool,
    /// Safety limits on HTTP/2 client connections.
    pub h2: H2Limits,
    /// Answer every request with a redirect to `https://` on this port
    /// (an HTTP→HTTPS redirect listener) instead of proxying it.
    pub https_redirect: Option<u16>,
    /// Idle timeout of an upgraded (WebSocket) connection after `101`.
    pub tunnel_idle_timeout: Duration,
}

/// TLS termination on a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerCfg {
    /// Certificates chosen by SNI; the first is the default (no SNI, or a
    /// name no certificate covers).
    pub certificates: Vec<CertCfg>,
    /// Oldest protocol version offered (1.2 or 1.3; newer is always on).
    pub min_version: TlsVersion,
    /// Stateless session resumption (tickets, keys rotated every 6 hours).
    pub session_tickets: bool,
    /// Client certificates (mTLS).
    pub client_auth: Option<ClientAuthCfg>,
    /// `Strict-Transport-Security` value added to every response.
    pub hsts: Option<String>,
    /// Cipher suites offered, in order of preference; empty: Switchyard's
    /// default order (`tls::server`).
    pub cipher_suites: Vec<rustls::CipherSuite>,
}

/// One certificate of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertCfg {
    /// PEM file: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1; ECDSA, RSA, Ed25519).
    pub key: PathBuf,
    /// SNI names this certificate serves (exact or `*.example.com`); empty:
    /// the DNS names of the certificate's subjectAltName extension.
    pub server_names: Vec<HostMatch>,
    /// DER OCSP response to staple (RFC 6960), reloaded when it changes.
    pub ocsp: Option<PathBuf>,
}

/// TLS protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

/// Verifying client certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthCfg {
    /// PEM file with the CA certificates client certificates must chain to.
    pub ca: PathBuf,
    /// Refuse the handshake without a client certificate (else optional).
    pub required: bool,
}

/// HTTP/2 server safety limits (per client connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Limits {
    /// Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// Streams reset by the client before the proxy caught up with them
    /// (Rapid Reset, CVE-2023-44487): on the own server, reset before
    /// their response ended and their work not dropped yet; on hyper's,
    /// reset before accepted. Beyond it the connection ends with GOAWAY
    /// ENHANCE_YOUR_CALM.
    pub max_pending_resets: usize,
    /// Serve HTTP/2 clients with hyper's server instead of the own one
    /// (`h2_server = "hyper"`, a fallback).
    pub hyper_server: bool,
    /// PING clients that went quiet (`h2_keepalive_interval`); off by default.
    pub keepalive: Option<H2Keepalive>,
}

/// HTTP/2 keepalive PINGs, to find peers that are gone without a word (a
/// host powered off, a middlebox that dropped the connection): after
/// `interval` with nothing received from the peer a PING is sent, and when
/// nothing arrives within `timeout` after it the connection is closed.
/// Envoy's `connection_keepalive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Keepalive {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            max_concurrent_streams: 100,
            max_pending_resets: 20,
            hyper_server: false,
            keepalive: None,
        }
    }
}

/// TLS from the proxy to a pool's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsClientCfg {
    /// PEM file of CA certificates to verify endpoints against; `None`: the
    /// system's trust roots.
    pub ca: Option<PathBuf>,
    /// The name sent as SNI and verified in the endpoint's certificate;
    /// `None`: the endpoint's host name (or its IP address, without SNI).
    pub server_name: Option<String>,
    /// Send SNI (default true).
    pub send_sni: bool,
    /// Client certificate and key (PEM) presented to endpoints (mTLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Accept any endpoint certificate (logged as a warning at every load).
    pub insecure_skip_verify: bool,
}

/// The HTTP version spoken to a pool's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamHttp {
    /// HTTP/1.1 (default).
    Http1,
    /// HTTP/2: over TLS by ALPN, or h2c with prior knowledge on plain TCP.
    Http2,
    /// Over TLS: whatever ALPN picks (h2 preferred); plain TCP: HTTP/1.1.
    Auto,
}

/// How many connections a listener takes, and what happens beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Open connections allowed on the listener (per process); 0 = no limit.
    pub max_connections: usize,
    /// What a connection beyond the limit gets.
    pub on_limit: OnLimit,
    /// TCP keep-alive probes on accepted connections after this idle time.
    pub tcp_keepalive: Option<Duration>,
    /// TCP_NODELAY on accepted connections (and, on TCP listeners, on the
    /// upstream side too): small writes leave at once.
    pub tcp_nodelay: bool,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            max_connections: 0,
            on_limit: OnLimit::Refuse,
            tcp_keepalive: None,
            tcp_nodelay: true,
        }
    }
}

/// What happens to a connection (or upstream connect) beyond a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimit {
    /// Close it at once.
    Refuse,
    /// Wait for a slot up to this long, then close it.
    Queue(Duration),
}

/// Which PROXY protocol versions a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersions {
    V1,
    V2,
    Any,
}

/// The PROXY protocol on an incoming connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyIn {
    pub versions: ProxyVersions,
    /// Peers allowed to send a PROXY header; connections from elsewhere are refused.
    pub trusted: Vec<IpNet>,
    /// How long to wait for the header.
    pub timeout: Duration,
}

/// An IP network (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A TCP (stream) listener: where connections go.
#[derive(Debug, Clone)]
pub struct TcpCfg {
    /// Pool for connections no SNI route takes (all of them without SNI routes).
    pub default_pool: Option<usize>,
    /// SNI routes (TLS passthrough), first match wins.
    pub sni: Vec<SniRouteCfg>,
    /// What a connection that does not start with a TLS ClientHello gets on
    /// a listener with SNI routes.
    pub non_tls: NonTls,
    /// How long to wait for a complete ClientHello.
    pub peek_timeout: Duration,
    /// Close a connection with no traffic either way for this long.
    pub idle_timeout: Duration,
}

/// An SNI route of a TCP listener.
#[derive(Debug, Clone)]
pub struct SniRouteCfg {
    pub name: String,
    /// Any of these server names (exact or `*.example.com`); empty = any.
    pub server_names: Vec<HostMatch>,
    /// Any of these ALPN protocols offered by the client; empty = any.
    pub alpn: Vec<String>,
    pub pool: usize,
}

/// What an SNI listener does with bytes that are not a TLS ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonTls {
    /// Send them to the default pool.
    DefaultPool,
    /// Close the connection.
    Refuse,
}

/// A UDP listener.
#[derive(Debug, Clone)]
pub struct UdpCfg {
    pub pool: usize,
    /// A flow with no datagram either way for this long is forgotten.
    pub session_timeout: Duration,
    /// Flows tracked at once; new flows beyond it are dropped.
    pub max_sessions: usize,
}

/// Which forwarding headers a listener adds to upstream requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarding {
    /// `X-Forwarded-For`: the client IP appended.
    pub xff: bool,
    /// `X-Forwarded-Proto`: the listener's scheme.
    pub proto: bool,
    /// `X-Forwarded-Host`: the request's host.
    pub host: bool,
    /// `X-Request-Id`: kept when valid, else generated.
    pub request_id: bool,
}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding {
            xff: true,
            proto: true,
            host: true,
            request_id: true,
        }
    }
}

/// Request size limits on an HTTP listener.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Request line + header block; larger requests get 431.
    pub max_header_bytes: usize,
    /// Number of header fields; more get 431.
    pub max_headers: usize,
    /// Request target (URI) length; longer get 414.
    pub max_uri_bytes: usize,
}

/// Client-side timeouts on an HTTP listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenerTimeouts {
    /// Time to receive a complete request head once its first byte arrived
    /// (slowloris defence).
    pub request_header: Duration,
    /// Time a keep-alive connection may sit idle between requests.
    pub idle: Duration,
    /// While a request body is being forwarded: the longest time with no
    /// part of it arriving from the client (408), or with none taken by
    /// the upstream (504).
    pub request_body: Duration,
    /// The longest a write to the client may wait for it to read.
    pub send: Duration,
    /// How long a client connection may live (±10 %) before it is asked to
    /// reconnect: `Connection: close` / GOAWAY; `None`: for ever.
    pub max_connection: Option<Duration>,
}

/// One routing rule: all conditions must hold.
#[derive(Debug, Clone)]
pub struct RouteCfg {
    pub name: String,
    pub matcher: MatchCfg,
    pub action: RouteAction,
}

/// The conditions of a route; empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct MatchCfg {
    /// Any of these hosts (lower case, no port).
    pub hosts: Vec<HostMatch>,
    pub path: Option<PathMatch>,
    /// Any of these methods.
    pub methods: Vec<Method>,
    /// All of these headers.
    pub headers: Vec<HeaderMatch>,
    /// All of these cookies.
    pub cookies: Vec<NamedMatch>,
    /// All of these query parameters.
    pub query: Vec<NamedMatch>,
}

impl MatchCfg {
    /// True when the route has no condition at all (a catch-all/default route).
    pub fn is_catch_all(&self) -> bool {
        self.hosts.is_empty()
            && self.path.is_none()
            && self.methods.is_empty()
            && self.headers.is_empty()
            && self.cookies.is_empty()
            && self.query.is_empty()
    }
}

/// How a request's host is matched. Hosts are compared in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// `example.com`
    Exact(String),
    /// `*.example.com`, stored as the suffix `.example.com`: matches any
    /// subdomain at any depth, not the bare domain.
    Suffix(String),
}

/// How a request's path (without query) is matched.
#[derive(Debug, Clone)]
pub enum PathMatch {
    Exact(String),
    /// Plain string prefix (`/api` matches `/api`, `/api/x` and `/apix`).
    Prefix(String),
    /// Unanchored search; use `^` and `$` to anchor.
    Regex(Regex),
}

/// How one value (header, cookie, query parameter) is matched.
#[derive(Debug, Clone)]
pub enum ValueMatch {
    Exact(String),
    /// Unanchored search; use `^` and `$` to anchor.
    Regex(Regex),
    Present,
    Absent,
}

#[derive(Debug, Clone)]
pub struct HeaderMatch {
    pub name: HeaderName,
    pub value: ValueMatch,
}

/// A cookie or query parameter condition.
#[derive(Debug, Clone)]
pub struct NamedMatch {
    pub name: String,
    pub value: ValueMatch,
}

/// Where a matched request goes.
#[derive(Debug, Clone)]
pub enum RouteAction {
    /// Index into `Config::pools`.
    Pool(usize),
    /// Weighted split across pools (canary): (pool index, weight >= 1).
    Split(Vec<(usize, u32)>),
}

/// Which request attribute a hashing balancer hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    ClientIp,
    /// Client IP and port (L4: spreads one client's connections or flows).
    ClientIpPort,
    Path,
    Header(HeaderName),
    Cookie(String),
}

/// A pool of interchangeable endpoints and how to balance over them.
#[derive(Debug, Clone)]
pub struct PoolCfg {
    pub name: String,
    pub algorithm: Algorithm,
    /// Set for hashing algorithms (`ring_hash`, `maglev`); defaults to client IP.
    pub hash_key: Option<HashKey>,
    pub endpoints: Vec<EndpointCfg>,
    pub connect_timeout: Duration,
    /// Time from the end of the request to the response head → 504.
    pub response_timeout: Duration,
    /// The longest wait for more of a response body once it streams.
    pub response_body_timeout: Duration,
    /// PING HTTP/2 endpoint connections that went quiet; off by default.
    pub h2_keepalive: Option<H2Keepalive>,
    /// How long an idle upstream keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// Idle upstream connections kept per endpoint per worker.
    pub max_idle_per_endpoint: usize,
    /// After `max_fails` failures in a row, skip the endpoint for this
    /// long (0 = never skip).
    pub fail_timeout: Duration,
    /// Failures in a row (connects, response heads) that mark it down.
    pub max_fails: u32,
    /// Response statuses that count as failures too.
    pub fail_statuses: StatusSet,
    /// Send a PROXY protocol header on every new upstream connection.
    pub send_proxy: Option<ProxyVersion>,
    /// Forward the TLVs of an accepted PROXY v2 header (else drop them).
    pub forward_proxy_tlvs: bool,
    /// Connections allowed per endpoint (per process, L4); 0 = no limit.
    pub max_connections_per_endpoint: usize,
    /// What a connection gets when every endpoint is at its limit.
    pub on_limit: OnLimit,
    /// How long connections to a removed or disabled endpoint may live on.
    pub drain_timeout: Duration,
    /// TLS to the endpoints.
    pub tls: Option<TlsClientCfg>,
    /// The HTTP version spoken to the endpoints.
    pub http_version: UpstreamHttp,
}

/// A PROXY protocol version to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// One upstream endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointCfg {
    /// The address as written (`10.0.0.1:80`, `[::1]:80`, `api.internal:8080`);
    /// also the endpoint's identity for consistent hashing.
    pub address: String,
    /// What `address` resolved to at load time.
    pub resolved: SocketAddr,
    pub weight: u32,
}

/// A set of error statuses (400..=599) as a bit set: the per-response
/// check is a shift and a mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusSet([u64; 4]);

impl StatusSet {
    /// Adds `code`; codes outside 400..=599 are ignored.
    pub fn insert(&mut self, code: u16) {
        if let Some(i) = code.checked_sub(400).filter(|i| *i < 200) {
            self.0[usize::from(i / 64)] |= 1 << (i % 64);
        }
    }

    pub fn contains(&self, code: u16) -> bool {
        code.checked_sub(400)
            .filter(|i| *i < 200)
            .is_some_and(|i| self.0[usize::from(i / 64)] & (1 << (i % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    /// The codes, in order.
    pub fn codes(&self) -> impl Iterator<Item = u16> + '_ {
        (400..600).filter(|c| self.contains(*c))
    }
}
