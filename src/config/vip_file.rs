//! The external schema of the packet engine: `[engine]` and `[[vip]]`
//! (issue 5), kept apart from `file.rs` so each stays small. Like the rest
//! of the schema, every key is optional here and keeps its span; the
//! validator (`vip.rs`) reports what is missing or wrong.
//!
//! ```toml
//! [engine]
//! data_path = "af_packet"
//! tunnel_source = "198.18.0.1"
//!
//! [[vip]]
//! name = "web"
//! address = "198.51.100.1"
//! port = 80
//! protocol = "tcp"
//! mode = "nat"
//! interfaces = ["eth0"]
//! health_check = { port = 80, interval = "1s" }
//! backends = [ { address = "198.18.0.11" }, { address = "198.18.0.12", weight = 2 } ]
//! ```

use serde::Deserialize;
use toml::Spanned;

/// `[engine]`: settings of the packet engine as a whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEngine {
    /// `"af_packet"` (default), `"af_xdp"`, or `"auto"` (AF_XDP, falling
    /// back to AF_PACKET with a warning).
    pub data_path: Option<Spanned<String>>,
    /// How the XDP program is attached: `"auto"` (default), `"native"`, `"generic"`.
    pub xdp_mode: Option<Spanned<String>>,
    /// AF_PACKET: drop handled frames at tc ingress after the engine's copy
    /// (default true).
    pub shield: Option<Spanned<bool>>,
    /// Packet workers, 0 (default) = one per CPU.
    pub workers: Option<Spanned<i64>>,
    /// Path of the control socket `switchyard vip` talks to.
    pub control_socket: Option<Spanned<String>>,
    /// Connection-table entries per worker (64 bytes each).
    pub flow_table_size: Option<Spanned<i64>>,
    /// Life of a TCP flow seen only as a SYN.
    pub tcp_syn_timeout: Option<Spanned<String>>,
    /// Life of an established TCP flow after its last packet.
    pub tcp_timeout: Option<Spanned<String>>,
    /// Life of a TCP flow after FIN or RST.
    pub tcp_fin_timeout: Option<Spanned<String>>,
    /// Life of a UDP flow after its last packet.
    pub udp_timeout: Option<Spanned<String>>,
    /// Outer source address (or `/prefix` range) of IP-in-IP and GRE packets.
    pub tunnel_source: Option<Spanned<String>>,
    /// MTU towards the backends, for the tunnel modes' size check.
    pub mtu: Option<Spanned<i64>>,
}

/// `[[vip]]`: one virtual IP (and port) the engine forwards.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVip {
    pub name: Option<Spanned<String>>,
    /// The virtual IP, IPv4 or IPv6, without a port.
    pub address: Option<Spanned<String>>,
    /// 1..=65535, or 0 / absent for every port.
    pub port: Option<Spanned<i64>>,
    /// `"tcp"` or `"udp"`.
    pub protocol: Option<Spanned<String>>,
    /// `"nat"`, `"dsr"`, `"ipip"` or `"gre"`.
    pub mode: Option<Spanned<String>>,
    /// Interfaces the engine serves this VIP on.
    pub interfaces: Option<Spanned<Vec<Spanned<String>>>>,
    pub backends: Option<Spanned<Vec<Spanned<FileVipBackend>>>>,
    pub health_check: Option<Spanned<FileVipHealth>>,
    /// Maglev lookup-table size (a prime).
    pub maglev_table_size: Option<Spanned<i64>>,
    /// NAT only: full NAT, the client's source replaced by this engine address.
    pub source_nat: Option<Spanned<String>>,
}

/// One backend of a VIP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVipBackend {
    /// IP address, without a port.
    pub address: Option<Spanned<String>>,
    /// NAT only: the backend's port when it differs from the VIP's.
    pub port: Option<Spanned<i64>>,
    pub weight: Option<Spanned<i64>>,
}

/// `health_check = { ... }` of a VIP: a TCP connect to every backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVipHealth {
    /// Port to connect to; default the backend's port (or the VIP's).
    pub port: Option<Spanned<i64>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// Successes in a row that bring a down backend back (default 2).
    pub rise: Option<Spanned<i64>>,
    /// Failures in a row that take a backend out (default 3).
    pub fall: Option<Spanned<i64>>,
}

/// Key lists for "did you mean" help (kept in step with serde by a test).
pub(crate) mod keys {
    pub const ENGINE: &[&str] = &[
        "data_path",
        "xdp_mode",
        "shield",
        "workers",
        "control_socket",
        "flow_table_size",
        "tcp_syn_timeout",
        "tcp_timeout",
        "tcp_fin_timeout",
        "udp_timeout",
        "tunnel_source",
        "mtu",
    ];
    pub const VIP: &[&str] = &[
        "name",
        "address",
        "port",
        "protocol",
        "mode",
        "interfaces",
        "backends",
        "health_check",
        "maglev_table_size",
        "source_nat",
    ];
}
