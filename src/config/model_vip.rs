//! The validated model of the packet engine (`[engine]`, `[[vip]]`): what
//! `packet::engine` compiles into its forwarding state. No TOML here.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::packet::conntrack::Timeouts;

/// How frames reach the engine's workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataPath {
    /// `AF_PACKET` with a `TPACKET_V3` ring: works everywhere.
    AfPacket,
    /// `AF_XDP` behind an XDP program that redirects only VIP traffic.
    AfXdp,
    /// AF_XDP when the interface takes the program, else AF_PACKET.
    Auto,
}

/// How the XDP program is attached (AF_XDP only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    Auto,
    Native,
    Generic,
}

/// `[engine]`, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineCfg {
    pub data_path: DataPath,
    pub xdp_mode: XdpMode,
    /// AF_PACKET: a tc ingress program drops the frames the engine handles
    /// once its socket has them, so the kernel does not process them too.
    pub shield: bool,
    /// Packet workers, resolved (>= 1).
    pub workers: usize,
    /// The engine's own control socket; `None` when `[global]
    /// control_socket` serves the engine too (and `[engine]` names none).
    pub control_socket: Option<PathBuf>,
    /// Connection-table entries per worker.
    pub flow_table_size: usize,
    pub timeouts: Timeouts,
    /// Outer source range of tunnel packets: base address and prefix length.
    pub tunnel_source: Option<(Ipv4Addr, u8)>,
    /// MTU towards the backends (tunnel modes check packets against it).
    pub mtu: usize,
}

impl Default for EngineCfg {
    fn default() -> Self {
        EngineCfg {
            data_path: DataPath::AfPacket,
            xdp_mode: XdpMode::Auto,
            shield: true,
            workers: 1,
            control_socket: Some(PathBuf::from(DEFAULT_CONTROL_SOCKET)),
            flow_table_size: DEFAULT_FLOW_TABLE_SIZE,
            timeouts: Timeouts::default(),
            tunnel_source: None,
            mtu: 1500,
        }
    }
}

/// Where `switchyard vip` looks for the engine by default.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/switchyard/engine.sock";
/// Flow entries per worker by default: 16 MiB of table.
pub const DEFAULT_FLOW_TABLE_SIZE: usize = 262_144;

/// The IP protocol a VIP forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VipProtocol {
    Tcp,
    Udp,
}

impl VipProtocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            VipProtocol::Tcp => 6,
            VipProtocol::Udp => 17,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VipProtocol::Tcp => "tcp",
            VipProtocol::Udp => "udp",
        }
    }
}

/// A forwarding mode (see `docs/packet-engine.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMode {
    /// Destination rewritten to the backend; replies come back through the
    /// engine, which restores the VIP as their source.
    Nat,
    /// Destination MAC rewritten; the backend answers the client directly.
    Dsr,
    /// IPv4-in-IPv4 (or IPv6-in-IPv4) to the backend.
    Ipip,
    /// GRE to the backend.
    Gre,
}

impl ForwardMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardMode::Nat => "nat",
            ForwardMode::Dsr => "dsr",
            ForwardMode::Ipip => "ipip",
            ForwardMode::Gre => "gre",
        }
    }
}

/// One `[[vip]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VipCfg {
    pub name: String,
    pub address: IpAddr,
    /// 0 = every port.
    pub port: u16,
    pub protocol: VipProtocol,
    pub mode: ForwardMode,
    pub interfaces: Vec<String>,
    pub backends: Vec<VipBackendCfg>,
    pub health: Option<VipHealthCfg>,
    pub maglev_table_size: u32,
    /// NAT only: full NAT through this engine address (`None`: the client's
    /// address is kept and replies must route back through the engine).
    pub source_nat: Option<IpAddr>,
}

/// One backend of a VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipBackendCfg {
    pub address: IpAddr,
    /// NAT only: the port to rewrite to; 0 = keep the client's destination port.
    pub port: u16,
    pub weight: u32,
}

/// Active TCP health checks of a VIP's backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipHealthCfg {
    /// 0 = the backend's port, else the VIP's.
    pub port: u16,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}
