//! Packet rewrites of the L4 engine's forwarding modes (issue 5, item 3).
//!
//! This module exists so that everything the engine does *to the bytes* of a
//! packet is a pure function over a byte slice: no sockets, no clocks, no
//! tables. The data path (AF_XDP or AF_PACKET) finds the flow's backend
//! elsewhere (`flow`, `conntrack`, Maglev) and then calls one function here;
//! the unit tests and the `packet_rewrite` fuzz target drive the same
//! functions directly, and `switchyard decap` (the backend-side helper) uses
//! [`decap`].
//!
//! | mode | functions | IPv4 | IPv6 |
//! |---|---|---|---|
//! | NAT | [`dnat_v4`], [`snat_v4`], [`rewrite_v4`] (full NAT) | yes | [`dnat_v6`], [`snat_v6`], [`rewrite_v6`] |
//! | NAT of ICMP errors | [`rewrite_icmp_error_v4`] | yes | [`rewrite_icmp_error_v6`] |
//! | DSR | [`dsr_rewrite`] (Ethernet frame; IPs untouched) | yes | yes |
//! | IP-in-IP | [`encap_ipip`] | outer IPv4 only | inner IPv6 as protocol 41 (6in4) |
//! | GRE | [`encap_gre`] | outer IPv4 only | inner IPv6 as GRE type 0x86DD |
//! | decapsulation | [`decap`] | outer IPv4 only | inner IPv6 accepted |
//! | MTU | [`mtu_verdict`], [`icmp_frag_needed_v4`] | yes | [`icmp6_packet_too_big`] |
//!
//! What is IPv4-only: the tunnel *outer* header (an IPv6 outer header, as in
//! ip6ip6 or ip6gre, is not built or parsed) and therefore the outer-source
//! spreading of [`outer_source_for`]. Inner packets may be either family.
//!
//! Conventions shared by every function:
//!
//! - Slices start at the IP header, except [`dsr_rewrite`] and
//!   [`parse_ethernet`], which take an Ethernet frame. Bytes past the IP
//!   length (Ethernet padding) are allowed and left alone; a slice shorter
//!   than the IP length is refused, so every truncation of a packet is an
//!   error, never a panic.
//! - A function that returns an error has not written anything: all
//!   validation happens before the first write.
//! - Checksums are updated incrementally (RFC 1624, see [`checksum`]). A
//!   packet that arrived with correct checksums leaves with checksums
//!   bit-identical to a full recomputation; one that arrived with a wrong
//!   checksum leaves with a wrong one (the error is carried, not laundered),
//!   so the next hop still drops it. Only [`decap`] validates a checksum.
//!   Results are in canonical form: a TCP or ICMPv6 checksum received as
//!   0xFFFF where a full computation gives 0x0000 (the other zero of
//!   ones'-complement arithmetic, equally valid) leaves as 0x0000.
//! - A UDP checksum of 0 ("none", legal in IPv4) stays 0; a computed 0 is
//!   written as 0xFFFF. IPv6 forbids 0 but we keep it as received: the
//!   receiver drops it exactly as it would have without us.
//!
//! Fragments: the ports (and the L4 checksum) are only in the first
//! fragment. A non-first fragment is refused by any rewrite that changes a
//! port ([`RewriteError::NonFirstFragment`]); an address-only rewrite (ports
//! `None`) accepts it and changes only the addresses (and the IPv4 header
//! checksum), which is exactly what the datagram's other fragments need once
//! the first fragment's L4 checksum has absorbed the pseudo-header change.
//! Since non-first fragments cannot be mapped to a flow without a fragment
//! table, the engine currently drops and counts them.
//!
//! DF and MTU policy (tunnel modes): the outer header copies DF from an
//! IPv4 inner packet (and sets it for IPv6, which routers never fragment).
//! When the encapsulated packet would exceed the MTU: DF set (or IPv6) →
//! send ICMP "fragmentation needed" / "packet too big" back to the client
//! with the MTU minus the tunnel overhead; DF clear → the caller could
//! fragment the outer packet, but the engine drops and counts it instead
//! (fragmenting would put reassembly on every backend). See
//! [`mtu_verdict`].

pub mod checksum;
mod dsr;
mod icmp;
mod icmp_nat;
mod nat;
mod parse;
mod tunnel;

#[cfg(test)]
pub(crate) mod tests;

pub use checksum::{Delta, internet_checksum, update16, update32};
pub use dsr::{EtherFrame, dsr_rewrite, parse_ethernet};
pub use icmp::{MtuVerdict, icmp_frag_needed_v4, icmp6_packet_too_big, mtu_verdict, needs_frag};
pub use icmp_nat::{Endpoints, rewrite_icmp_error_v4, rewrite_icmp_error_v6};
pub use nat::{dnat_v4, dnat_v6, rewrite_v4, rewrite_v6, snat_v4, snat_v6};
pub use tunnel::{GRE_OVERHEAD, IPIP_OVERHEAD, decap, encap_gre, encap_ipip, outer_source_for};

/// Why a packet could not be rewritten, encapsulated or decapsulated. Each
/// variant names the rule the packet broke, so a counter per variant tells
/// an operator what the engine is dropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    #[error("truncated: the {what} needs {need} bytes, {have} present")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("IP version {found} where IPv{expected} is required")]
    WrongVersion { found: u8, expected: u8 },
    #[error("version nibble {0} is neither IPv4 nor IPv6")]
    NotIp(u8),
    #[error("IPv4 header length {0} bytes is below the minimum of 20")]
    BadHeaderLength(usize),
    #[error("IPv4 header checksum is wrong")]
    BadChecksum,
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    #[error(
        "non-first fragment (offset {0} bytes): the ports are only in the first fragment, \
         so they cannot be rewritten here"
    )]
    NonFirstFragment(usize),
    #[error("fragmented packet: {0} needs the whole datagram and reassembly is not supported")]
    Fragmented(&'static str),
    #[error("IP protocol {0} has no ports to rewrite (only TCP and UDP have)")]
    NoPorts(u8),
    #[error("IP protocol {0} is not supported by this rewrite (TCP, UDP and ICMP are)")]
    UnsupportedProtocol(u8),
    #[error(
        "IPv6 extension header {0} is not supported (routing, AH and ESP headers cannot be \
         rewritten without breaking them)"
    )]
    UnsupportedExtension(u8),
    #[error("not an Ethernet II frame: 0x{0:04x} is an 802.3 length, not an EtherType")]
    NotEthernetII(u16),
    #[error("EtherType 0x{0:04x} is neither IPv4 nor IPv6")]
    NotIpEtherType(u16),
    #[error("outer IP protocol {0} is neither IP-in-IP (4, or 41 for IPv6 inside) nor GRE (47)")]
    NotTunnel(u8),
    #[error(
        "GRE flags/version 0x{0:04x} not supported: checksum, routing, key, sequence and \
         version must all be 0"
    )]
    UnsupportedGre(u16),
    #[error("GRE protocol type 0x{0:04x} is neither IPv4 (0x0800) nor IPv6 (0x86DD)")]
    GreProtocol(u16),
    #[error("{0} bytes do not fit in one IPv4 packet with the tunnel header")]
    TooLong(usize),
    #[error("ICMP type {0} is not an error message")]
    NotIcmpError(u8),
    #[error("no ICMP error may be sent about this packet: {0}")]
    NoIcmpError(&'static str),
}
