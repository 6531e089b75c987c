//! The external schema: what a config file may contain, exactly as written.
//!
//! These types mirror the TOML file one to one (Sōzu's `FileConfig`): every
//! key is optional at this level and keeps its source span, so the
//! validator (`validate`) can say *where* a value is wrong, and a missing
//! key is reported by the validator with a precise message rather than by
//! serde. Unknown keys are rejected (`deny_unknown_fields`). Integers are
//! read as `i64` so range errors name the real limits; durations are strings
//! (`"250ms"`, `"5s"`, `"1m30s"`, `"2h"`).
//!
//! A complete file:
//!
//! ```toml
//! [global]
//! workers = 0
//! shutdown_timeout = "30s"
//! log_level = "info"
//!
//! [[listener]]
//! name = "web"
//! address = "127.0.0.1:8080"
//!
//!   [[listener.route]]
//!   name = "api"
//!   host = "api.example.com"
//!   path_prefix = "/api/"
//!   methods = ["GET", "POST"]
//!   headers = [ { name = "x-canary", exact = "1" } ]
//!   pool = "api"
//!
//! [[pool]]
//! name = "api"
//! algorithm = "round_robin"
//! endpoints = [ { address = "127.0.0.1:9001", weight = 1 } ]
//! ```

use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use toml::Spanned;

/// A whole file: the top level is walked by hand (see `parse`), each
/// section element is deserialized on its own.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    /// `[global]` (optional).
    pub global: Option<Spanned<FileGlobal>>,
    /// `[[listener]]`, in file order.
    pub listeners: Vec<Spanned<FileListener>>,
    /// `[[pool]]`, in file order.
    pub pools: Vec<Spanned<FilePool>>,
    /// `[engine]` (optional): the packet engine's settings.
    pub engine: Option<Spanned<super::vip_file::FileEngine>>,
    /// `[[vip]]`, in file order: the packet engine's virtual IPs.
    pub vips: Vec<Spanned<super::vip_file::FileVip>>,
}

/// `[global]`: process-wide settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGlobal {
    /// Worker threads, 0..=1024; 0 (default) = one per CPU.
    pub workers: Option<Spanned<i64>>,
    /// How long in-flight requests may finish after SIGTERM; default `"30s"`.
    pub shutdown_timeout: Option<Spanned<String>>,
    /// `tracing` filter (e.g. `"info"`, `"switchyard=debug"`); default `"info"`.
    pub log_level: Option<Spanned<String>>,
    /// Path of the admin socket (`switchyard pool`, `switchyard vip`); off
    /// when absent.
    pub control_socket: Option<Spanned<String>>,
}

/// `[[listener]]`: one listening socket.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileListener {
    /// Required, unique among listeners.
    pub name: Option<Spanned<String>>,
    /// Required: `IP:port`, IPv6 as `"[::1]:8080"`; port 0 = any free port.
    pub address: Option<Spanned<String>>,
    /// `"http"` (default; the only protocol so far).
    pub protocol: Option<Spanned<String>>,
    /// Listen backlog, 1..=65535; default 1024.
    pub backlog: Option<Spanned<i64>>,
    /// Log every request; default true.
    pub access_log: Option<Spanned<bool>>,
    /// Which `X-Forwarded-*` headers to set upstream: any of `"for"`,
    /// `"proto"`, `"host"`; default all three.
    pub forwarded: Option<Spanned<Vec<Spanned<String>>>>,
    /// Keep or generate `X-Request-Id`; default true.
    pub request_id: Option<Spanned<bool>>,
    /// Routes match the normalised path (decoded unreserved characters, no
    /// dot segments, merged slashes); default true.
    pub normalize_path: Option<Spanned<bool>>,
    /// Request line + headers, 1024..=1048576 bytes; default 65536 (else 431).
    pub max_header_bytes: Option<Spanned<i64>>,
    /// Header count, 1..=1000; default 100 (else 431).
    pub max_headers: Option<Spanned<i64>>,
    /// URI length, 256..=`max_header_bytes`; default 8192 (else 414).
    pub max_uri_bytes: Option<Spanned<i64>>,
    /// Time to receive the request head, > 0; default `"10s"`.
    pub request_header_timeout: Option<Spanned<String>>,
    /// Keep-alive idle time between requests, > 0; default `"60s"`.
    pub idle_timeout: Option<Spanned<String>>,
    /// Longest pause in a request body being forwarded, > 0; default
    /// `"60s"`.
    pub request_body_timeout: Option<Spanned<String>>,
    /// Longest wait for the client to read what is written to it, > 0;
    /// default `"60s"`.
    pub send_timeout: Option<Spanned<String>>,
    /// HTTP: how long a client connection may live before it is asked to
    /// reconnect, > 0; default off.
    pub max_connection_duration: Option<Spanned<String>>,
    /// `[[listener.route]]`, first match wins.
    #[serde(default)]
    pub route: Vec<Spanned<FileRoute>>,
    /// TCP/UDP: the pool connections (flows) go to; on TCP listeners with
    /// SNI routes, the pool for connections no route takes.
    pub pool: Option<Spanned<String>>,
    /// TCP: `[[listener.sni]]` routes for TLS passthrough, first match wins.
    #[serde(default)]
    pub sni: Vec<Spanned<FileSni>>,
    /// TCP with SNI routes: `"default"` (send non-TLS connections to `pool`)
    /// or `"refuse"`; default: `"default"` when `pool` is set, else `"refuse"`.
    pub non_tls: Option<Spanned<String>>,
    /// TCP with SNI routes: time to receive the ClientHello; default `"5s"`.
    pub peek_timeout: Option<Spanned<String>>,
    /// Open connections allowed (per process); 0 (default) = no limit.
    pub max_connections: Option<Spanned<i64>>,
    /// Beyond `max_connections`: `"refuse"` (default) or `"queue"`.
    pub on_limit: Option<Spanned<String>>,
    /// With `on_limit = "queue"`: how long a connection may wait; default `"5s"`.
    pub queue_timeout: Option<Spanned<String>>,
    /// TCP keep-alive probes after this idle time; default `"0s"` (off).
    pub tcp_keepalive: Option<Spanned<String>>,
    /// TCP_NODELAY on both sides; default true.
    pub tcp_nodelay: Option<Spanned<bool>>,
    /// Accept a PROXY protocol header: `"v1"`, `"v2"` or `"any"`.
    pub proxy_protocol: Option<Spanned<String>>,
    /// Peers allowed to send a PROXY header (`"10.0.0.0/8"`, `"::1"`);
    /// required with `proxy_protocol`.
    pub trusted_proxies: Option<Spanned<Vec<Spanned<String>>>>,
    /// UDP: flows tracked at once, 1..=10000000; default 65536.
    pub max_sessions: Option<Spanned<i64>>,
    /// HTTP: `[listener.tls]`, TLS termination.
    pub tls: Option<Spanned<FileListenerTls>>,
    /// HTTP: accept HTTP/2 (ALPN `h2` with TLS, prior-knowledge h2c
    /// without); default true with `tls`, false without.
    pub http2: Option<Spanned<bool>>,
    /// HTTP/2: streams open at once per client connection, 1..=10000;
    /// default 100.
    pub h2_max_concurrent_streams: Option<Spanned<i64>>,
    /// HTTP/2: streams a client may reset before the proxy has caught up
    /// with them (Rapid Reset defence), 1..=10000; default 20.
    pub h2_max_pending_resets: Option<Spanned<i64>>,
    /// HTTP/2: which server implementation serves clients, `"own"`
    /// (default) or `"hyper"` (the fallback).
    pub h2_server: Option<Spanned<String>>,
    /// HTTP/2: PING a client heard nothing from for this long; default off.
    pub h2_keepalive_interval: Option<Spanned<String>>,
    /// HTTP/2: close a connection whose keepalive PING goes unanswered this
    /// long; default `"20s"`.
    pub h2_keepalive_timeout: Option<Spanned<String>>,
    /// HTTP: redirect every request to `https://` on this port, 1..=65535.
    pub https_redirect: Option<Spanned<i64>>,
    /// HTTP: idle timeout of an upgraded (WebSocket) connection; default `"1h"`.
    pub tunnel_idle_timeout: Option<Spanned<String>>,
}

/// `[listener.tls]`: TLS termination on an HTTP listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileListenerTls {
    /// Required: `[{ cert = "a.pem", key = "a.key" }, ...]`; the first is
    /// the default certificate.
    pub certificates: Option<Spanned<Vec<Spanned<FileCert>>>>,
    /// `"1.2"` (default) or `"1.3"`.
    pub min_version: Option<Spanned<String>>,
    /// Stateless session resumption; default true.
    pub session_tickets: Option<Spanned<bool>>,
    /// PEM CA file: ask clients for certificates signed by it (mTLS).
    pub client_ca: Option<Spanned<String>>,
    /// With `client_ca`: `"required"` (default) or `"optional"`.
    pub client_auth: Option<Spanned<String>>,
    /// `Strict-Transport-Security` value, e.g. `"max-age=31536000"`.
    pub hsts: Option<Spanned<String>>,
    /// Cipher suites offered, in order of preference (IANA names).
    pub cipher_suites: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `{ cert = "a.pem", key = "a.key", server_names = ["a.example.com"] }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCert {
    /// Required: PEM certificate chain, leaf first.
    pub cert: Option<Spanned<String>>,
    /// Required: PEM private key.
    pub key: Option<Spanned<String>>,
    /// SNI names served; default: the certificate's DNS names.
    pub server_names: Option<Spanned<OneOrMany>>,
    /// DER OCSP response stapled with the certificate.
    pub ocsp: Option<Spanned<String>>,
}

/// `[pool.tls]`: TLS to the pool's endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePoolTls {
    /// PEM CA file to verify endpoints; default: the system trust roots.
    pub ca: Option<Spanned<String>>,
    /// Name sent as SNI and verified; default: the endpoint's host.
    pub server_name: Option<Spanned<String>>,
    /// Send SNI; default true.
    pub sni: Option<Spanned<bool>>,
    /// PEM client certificate chain (mTLS to endpoints); needs `client_key`.
    pub client_cert: Option<Spanned<String>>,
    /// PEM client private key.
    pub client_key: Option<Spanned<String>>,
    /// Accept any endpoint certificate (warned at every load); default false.
    pub insecure_skip_verify: Option<Spanned<bool>>,
}

/// `[[listener.sni]]`: a TLS passthrough route of a TCP listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSni {
    /// Optional; default `sni-N`; unique within the listener.
    pub name: Option<Spanned<String>>,
    /// `"a.example.com"`, `"*.example.com"` or an array; absent = any name.
    pub server_name: Option<Spanned<OneOrMany>>,
    /// Any of these ALPN protocols offered by the client, e.g. `["h2"]`.
    pub alpn: Option<Spanned<Vec<Spanned<String>>>>,
    /// Required: where matching connections go.
    pub pool: Option<Spanned<String>>,
}

/// `[[listener.route]]`: conditions (all must hold) and an action.
///
/// At most one of `path`, `path_prefix`, `path_regex`; exactly one of
/// `pool`, `split`. A route without conditions matches every request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoute {
    /// Optional; default `route-N` (1-based position); unique in the listener.
    pub name: Option<Spanned<String>>,
    /// `"api.example.com"`, `"*.example.com"` or an array of them.
    pub host: Option<Spanned<OneOrMany>>,
    /// Exact path, starting with `/`.
    pub path: Option<Spanned<String>>,
    /// Path prefix, starting with `/` (plain string prefix).
    pub path_prefix: Option<Spanned<String>>,
    /// Regular expression searched in the path (use `^`/`$` to anchor).
    pub path_regex: Option<Spanned<String>>,
    /// Any of these methods, e.g. `["GET", "POST"]`.
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
    /// All of these header conditions.
    pub headers: Option<Spanned<Vec<Spanned<FileCondition>>>>,
    /// All of these cookie conditions.
    pub cookies: Option<Spanned<Vec<Spanned<FileCondition>>>>,
    /// All of these query-parameter conditions.
    pub query: Option<Spanned<Vec<Spanned<FileCondition>>>>,
    /// Send matching requests to this pool.
    pub pool: Option<Spanned<String>>,
    /// Or split them across pools by weight.
    pub split: Option<Spanned<Vec<Spanned<FileSplit>>>>,
}

/// `{ name = "x-canary", exact = "1" }`: exactly one of `exact`, `regex`,
/// `present` (`present = false` means "must be absent").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCondition {
    pub name: Option<Spanned<String>>,
    pub exact: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub present: Option<Spanned<bool>>,
}

/// `{ pool = "v2", weight = 10 }`: weight 1..=65535, default 1.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSplit {
    pub pool: Option<Spanned<String>>,
    pub weight: Option<Spanned<i64>>,
}

/// `[[pool]]`: interchangeable endpoints and how to balance over them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePool {
    /// Required, unique among pools.
    pub name: Option<Spanned<String>>,
    /// One of `crate::balance::Algorithm::NAMES`; default `"round_robin"`.
    pub algorithm: Option<Spanned<String>>,
    /// `client_ip` (default), `path`, `header:NAME` or `cookie:NAME`;
    /// only for `ring_hash` and `maglev`.
    pub hash_key: Option<Spanned<String>>,
    /// Maglev lookup table size: a prime in 7..=1000003; default 65537.
    pub maglev_table_size: Option<Spanned<i64>>,
    /// Default `"2s"`, > 0.
    pub connect_timeout: Option<Spanned<String>>,
    /// Request sent → response head received, > 0; default `"30s"` (else 504).
    pub response_timeout: Option<Spanned<String>>,
    /// Longest wait for more of a response body, > 0; default `"60s"`.
    pub response_body_timeout: Option<Spanned<String>>,
    /// HTTP/2 pools: PING an endpoint connection heard nothing from for
    /// this long; default off.
    pub h2_keepalive_interval: Option<Spanned<String>>,
    /// HTTP/2 pools: close a connection whose keepalive PING goes
    /// unanswered this long; default `"20s"`.
    pub h2_keepalive_timeout: Option<Spanned<String>>,
    /// Upstream keep-alive idle time; default `"60s"` (`"0s"`: no reuse).
    pub idle_timeout: Option<Spanned<String>>,
    /// Idle upstream connections kept per endpoint, 0..=10000; default 32.
    pub max_idle_per_endpoint: Option<Spanned<i64>>,
    /// Skip an endpoint this long after `max_fails` failures in a row;
    /// default `"10s"` (`"0s"` disables).
    pub fail_timeout: Option<Spanned<String>>,
    /// Failures in a row (failed connects, no valid response head) that
    /// mark an endpoint down, 1..=1000; default 1.
    pub max_fails: Option<Spanned<i64>>,
    /// Response statuses (400..=599) that count as failures towards
    /// `max_fails`; default none.
    pub fail_statuses: Option<Spanned<Vec<Spanned<i64>>>>,
    /// `[{ address = "10.0.0.1:80", weight = 2 }, ...]`.
    pub endpoints: Option<Spanned<Vec<Spanned<FileEndpoint>>>>,
    /// Send a PROXY protocol header on new upstream connections: `"v1"` or `"v2"`.
    pub send_proxy_protocol: Option<Spanned<String>>,
    /// TLVs of an accepted PROXY v2 header: `"drop"` (default) or `"forward"`.
    pub proxy_protocol_tlvs: Option<Spanned<String>>,
    /// TCP: connections per endpoint (per process); 0 (default) = no limit.
    pub max_connections_per_endpoint: Option<Spanned<i64>>,
    /// TCP, when every endpoint is at its limit: `"refuse"` (default) or `"queue"`.
    pub on_limit: Option<Spanned<String>>,
    /// With `on_limit = "queue"`: how long a connection may wait; default `"5s"`.
    pub queue_timeout: Option<Spanned<String>>,
    /// TCP: how long connections to a removed or disabled endpoint may live
    /// on; default `"30s"`.
    pub drain_timeout: Option<Spanned<String>>,
    /// HTTP version to endpoints: `"1.1"` (default), `"2"`, or `"auto"`
    /// (with `tls`: ALPN decides).
    pub http_version: Option<Spanned<String>>,
    /// `[pool.tls]`: TLS to the endpoints.
    pub tls: Option<Spanned<FilePoolTls>>,
}

/// `{ address = "backend.internal:8080", weight = 3 }`: `host:port`
/// (resolved at load, first address used); weight 1..=65535, default 1.
/// A bare `"backend.internal:8080"` is the address with weight 1; its
/// `address` then has an empty span, for the validator to replace with
/// the item's.
#[derive(Debug, Clone, Default)]
pub struct FileEndpoint {
    pub address: Option<Spanned<String>>,
    pub weight: Option<Spanned<i64>>,
}

/// The table form of [`FileEndpoint`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointTable {
    address: Option<Spanned<String>>,
    weight: Option<Spanned<i64>>,
}

impl<'de> Deserialize<'de> for FileEndpoint {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileEndpoint;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an endpoint: \"host:port\" or a table { address = \"host:port\", weight = N }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileEndpoint, E> {
                Ok(FileEndpoint {
                    address: Some(Spanned::new(0..0, v.to_string())),
                    weight: None,
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<FileEndpoint, A::Error> {
                let t = EndpointTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FileEndpoint {
                    address: t.address,
                    weight: t.weight,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A string or an array of strings (`host = "a"` or `host = ["a", "b"]`).
#[derive(Debug, Clone)]
pub enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element::<Spanned<String>>()? {
                    all.push(s);
                }
                Ok(OneOrMany::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// The keys each table accepts, for "did you mean" and "valid keys" help.
pub(crate) mod keys {
    pub const TOP: &[&str] = &["global", "listener", "pool", "engine", "vip"];
    pub const GLOBAL: &[&str] = &["workers", "shutdown_timeout", "log_level", "control_socket"];
    pub const LISTENER: &[&str] = &[
        "name",
        "address",
        "protocol",
        "backlog",
        "access_log",
        "forwarded",
        "request_id",
        "normalize_path",
        "max_header_bytes",
        "max_headers",
        "max_uri_bytes",
        "request_header_timeout",
        "idle_timeout",
        "request_body_timeout",
        "send_timeout",
        "max_connection_duration",
        "route",
        "pool",
        "sni",
        "non_tls",
        "peek_timeout",
        "max_connections",
        "on_limit",
        "queue_timeout",
        "tcp_keepalive",
        "tcp_nodelay",
        "proxy_protocol",
        "trusted_proxies",
        "max_sessions",
        "tls",
        "http2",
        "h2_max_concurrent_streams",
        "h2_max_pending_resets",
        "h2_server",
        "h2_keepalive_interval",
        "h2_keepalive_timeout",
        "https_redirect",
        "tunnel_idle_timeout",
    ];
    // Unknown keys in these tables are reported from serde's own list;
    // this copy is kept in step with the schema by a test.
    #[allow(dead_code)]
    pub const LISTENER_TLS: &[&str] = &[
        "certificates",
        "min_version",
        "session_tickets",
        "client_ca",
        "client_auth",
        "hsts",
        "cipher_suites",
    ];
    // Unknown keys in these tables are reported from serde's own list;
    // this copy is kept in step with the schema by a test.
    #[allow(dead_code)]
    pub const CERT: &[&str] = &["cert", "key", "server_names", "ocsp"];
    // Unknown keys in these tables are reported from serde's own list;
    // this copy is kept in step with the schema by a test.
    #[allow(dead_code)]
    pub const POOL_TLS: &[&str] = &[
        "ca",
        "server_name",
        "sni",
        "client_cert",
        "client_key",
        "insecure_skip_verify",
    ];
    pub const SNI: &[&str] = &["name", "server_name", "alpn", "pool"];
    pub const ROUTE: &[&str] = &[
        "name",
        "host",
        "path",
        "path_prefix",
        "path_regex",
        "methods",
        "headers",
        "cookies",
        "query",
        "pool",
        "split",
    ];
    pub const POOL: &[&str] = &[
        "name",
        "algorithm",
        "hash_key",
        "maglev_table_size",
        "connect_timeout",
        "response_timeout",
        "response_body_timeout",
        "h2_keepalive_interval",
        "h2_keepalive_timeout",
        "idle_timeout",
        "max_idle_per_endpoint",
        "fail_timeout",
        "max_fails",
        "fail_statuses",
        "endpoints",
        "send_proxy_protocol",
        "proxy_protocol_tlvs",
        "max_connections_per_endpoint",
        "on_limit",
        "queue_timeout",
        "drain_timeout",
        "http_version",
        "tls",
    ];
}

/// An example of a well-typed value for `key`, for "wrong type" help.
pub(crate) fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "workers" => "workers = 4",
        "shutdown_timeout" => "shutdown_timeout = \"30s\"",
        "log_level" => "log_level = \"info\"",
        "name" => "name = \"web\"",
        "address" => "address = \"127.0.0.1:8080\"",
        "protocol" => "protocol = \"http\"",
        "backlog" => "backlog = 1024",
        "access_log" => "access_log = true",
        "forwarded" => "forwarded = [\"for\", \"proto\", \"host\"]",
        "request_id" => "request_id = true",
        "normalize_path" => "normalize_path = true",
        "max_header_bytes" => "max_header_bytes = 65536",
        "max_headers" => "max_headers = 100",
        "max_uri_bytes" => "max_uri_bytes = 8192",
        "request_header_timeout" => "request_header_timeout = \"10s\"",
        "idle_timeout" => "idle_timeout = \"60s\"",
        "request_body_timeout" => "request_body_timeout = \"60s\"",
        "send_timeout" => "send_timeout = \"60s\"",
        "max_connection_duration" => "max_connection_duration = \"1h\"",
        "route" => "[[listener.route]]",
        "sni" => "[[listener.sni]]",
        "non_tls" => "non_tls = \"refuse\"",
        "peek_timeout" => "peek_timeout = \"5s\"",
        "max_connections" => "max_connections = 10000",
        "on_limit" => "on_limit = \"refuse\"",
        "queue_timeout" => "queue_timeout = \"5s\"",
        "tcp_keepalive" => "tcp_keepalive = \"60s\"",
        "tcp_nodelay" => "tcp_nodelay = false",
        "proxy_protocol" => "proxy_protocol = \"v2\"",
        "trusted_proxies" => "trusted_proxies = [\"10.0.0.0/8\"]",
        "max_sessions" => "max_sessions = 65536",
        "server_name" => "server_name = \"a.example.com\"",
        "alpn" => "alpn = [\"h2\"]",
        "send_proxy_protocol" => "send_proxy_protocol = \"v2\"",
        "proxy_protocol_tlvs" => "proxy_protocol_tlvs = \"forward\"",
        "max_connections_per_endpoint" => "max_connections_per_endpoint = 100",
        "drain_timeout" => "drain_timeout = \"30s\"",
        "tls" => "[listener.tls] (or [pool.tls]) as a table below the section",
        "http2" => "http2 = true",
        "h2_max_concurrent_streams" => "h2_max_concurrent_streams = 100",
        "h2_max_pending_resets" => "h2_max_pending_resets = 20",
        "h2_server" => "h2_server = \"own\"",
        "h2_keepalive_interval" => "h2_keepalive_interval = \"30s\"",
        "h2_keepalive_timeout" => "h2_keepalive_timeout = \"20s\"",
        "https_redirect" => "https_redirect = 443",
        "tunnel_idle_timeout" => "tunnel_idle_timeout = \"1h\"",
        "certificates" => "certificates = [{ cert = \"site.pem\", key = \"site.key\" }]",
        "cert" => "cert = \"/etc/switchyard/site.pem\"",
        "key" => "key = \"/etc/switchyard/site.key\"",
        "server_names" => "server_names = [\"example.com\", \"*.example.com\"]",
        "ocsp" => "ocsp = \"/etc/switchyard/site.ocsp.der\"",
        "min_version" => "min_version = \"1.2\"",
        "session_tickets" => "session_tickets = true",
        "client_ca" => "client_ca = \"/etc/switchyard/clients-ca.pem\"",
        "client_auth" => "client_auth = \"required\"",
        "hsts" => "hsts = \"max-age=31536000; includeSubDomains\"",
        "cipher_suites" => {
            "cipher_suites = [\"TLS_AES_128_GCM_SHA256\", \"TLS_AES_256_GCM_SHA384\"]"
        }
        "ca" => "ca = \"/etc/switchyard/upstream-ca.pem\"",
        "client_cert" => "client_cert = \"/etc/switchyard/client.pem\"",
        "client_key" => "client_key = \"/etc/switchyard/client.key\"",
        "insecure_skip_verify" => "insecure_skip_verify = false",
        "http_version" => "http_version = \"2\"",
        "shield" => "shield = true",
        "control_socket" => "control_socket = \"/run/switchyard/control.sock\"",
        "source_nat" => "source_nat = \"198.18.0.100\"",
        "host" => "host = \"api.example.com\" or host = [\"a.example.com\", \"*.example.org\"]",
        "path" => "path = \"/exact\"",
        "path_prefix" => "path_prefix = \"/api/\"",
        "path_regex" => "path_regex = \"^/v[0-9]+/\"",
        "methods" => "methods = [\"GET\", \"POST\"]",
        "headers" => "headers = [{ name = \"x-canary\", exact = \"1\" }]",
        "cookies" => "cookies = [{ name = \"beta\", exact = \"yes\" }]",
        "query" => "query = [{ name = \"debug\", present = true }]",
        "exact" => "exact = \"1\"",
        "regex" => "regex = \"^u\"",
        "present" => "present = true",
        "pool" => "pool = \"api\"",
        "split" => "split = [{ pool = \"v1\", weight = 90 }, { pool = \"v2\", weight = 10 }]",
        "weight" => "weight = 1",
        "algorithm" => "algorithm = \"round_robin\"",
        "hash_key" => "hash_key = \"client_ip\"",
        "maglev_table_size" => "maglev_table_size = 65537",
        "connect_timeout" => "connect_timeout = \"2s\"",
        "response_timeout" => "response_timeout = \"30s\"",
        "response_body_timeout" => "response_body_timeout = \"60s\"",
        "max_idle_per_endpoint" => "max_idle_per_endpoint = 32",
        "fail_timeout" => "fail_timeout = \"10s\"",
        "max_fails" => "max_fails = 1",
        "fail_statuses" => "fail_statuses = [502, 503, 504]",
        "endpoints" => {
            "endpoints = [\"127.0.0.1:9001\"] (or [{ address = \"127.0.0.1:9001\", weight = 2 }])"
        }
        _ => return None,
    })
}
