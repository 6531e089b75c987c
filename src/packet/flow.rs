//! Flow keys from raw packets: the parsing half of the packet engine's flow
//! decision (issue 5, item 2).
//!
//! Every packet the engine forwards needs its 5-tuple before anything else
//! can happen: the connection table is keyed by it and Maglev hashes it. This
//! module turns bytes into a [`FlowKey`] (plus the offsets the rewriters
//! need), never panics on any input, allocates nothing and touches no
//! socket: the data path hands it a slice, the fuzz target hands it noise.
//!
//! # What is parsed
//!
//! * [`parse`]: a raw IP packet (IPv4 or IPv6, told apart by the version
//!   nibble); [`parse_ethernet`]: an Ethernet II frame with at most one
//!   802.1Q tag. Offsets in [`Parsed`] index the slice that was passed in.
//! * IPv4 options are skipped (IHL); the total length bounds the packet, so
//!   link-layer padding after it is ignored ([`Parsed::l3_end`]).
//! * IPv6 extension headers (hop-by-hop, routing, destination options,
//!   fragment, AH, mobility, HIP, shim6) are walked, at most
//!   [`MAX_EXTENSION_HEADERS`] of them. A routing header does not change the
//!   key: `dst` is the header's destination field. Jumbograms are refused.
//! * TCP and UDP give ports (and TCP its flags); ICMP/ICMPv6 error messages
//!   are classified in [`Parsed::icmp_error`] and [`icmp_inner_flow`] finds
//!   the flow they are about. Every other protocol parses with ports 0.
//! * Checksums are not verified: the engine forwards, the receiver checks.
//!
//! # Fragments
//!
//! A fragment (IPv4 MF set or offset non-zero; an IPv6 fragment header that
//! is not an atomic fragment) parses successfully with `is_fragment` set,
//! ports 0 and `tcp_flags` 0, **the first fragment included**: only the
//! first fragment carries ports, so keying it by them would send the pieces
//! of one datagram to different backends. With the 3-tuple key every piece
//! of a datagram lands on the same backend, which reassembles it (the
//! Maglev paper's choice); the price is that a flow's fragments may go to a
//! different backend than its unfragmented packets. For an IPv6 fragment the
//! key's protocol is the fragment header's next header and `l4_offset` is
//! where the fragment's data begins. Callers that prefer to drop fragments
//! test `is_fragment`.
//!
//! # The flow hash
//!
//! [`flow_hash`] is xxh3 under the crate's fixed seed ([`hash_bytes`]) over a
//! canonical encoding, so every engine, process and release computes the
//! same value for the same flow (a test pins it). The encoding is, in order:
//! a family tag byte (`0x44` for IPv4 → IPv4, `0x66` for IPv6 → IPv6, `0x46`
//! or `0x64` for the mixed keys only a hand-built [`FlowKey`] can have), the
//! protocol byte, the source address (4 or 16 bytes, network order), the
//! destination address, the source port and the destination port (2 bytes
//! each, big-endian): 14 bytes for IPv4, 38 for IPv6. The hash is directional
//! (the engine hashes the client → VIP direction) and does not fold
//! IPv4-mapped IPv6 addresses into IPv4 (they never appear on the wire).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::balance::hash_bytes;

/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

/// TCP FIN flag (in [`Parsed::tcp_flags`]).
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN flag.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST flag.
pub const TCP_RST: u8 = 0x04;
/// TCP PSH flag.
pub const TCP_PSH: u8 = 0x08;
/// TCP ACK flag.
pub const TCP_ACK: u8 = 0x10;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// EtherType (TPID) of an 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// The most IPv6 extension headers walked before giving up (a packet with
/// more is refused rather than followed through an attacker-sized chain).
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// A flow's 5-tuple, as seen in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// IP protocol number ([`PROTO_TCP`], [`PROTO_UDP`], ...).
    pub proto: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (0 for protocols without ports and for fragments).
    pub sport: u16,
    /// Destination port (0 for protocols without ports and for fragments).
    pub dport: u16,
}

impl FlowKey {
    /// The same flow seen from the other end: addresses and ports swapped.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

/// An ICMP or ICMPv6 error message: it quotes the start of the packet that
/// caused it (see [`icmp_inner_flow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// Destination unreachable (ICMP type 3 other than code 4, ICMPv6 type 1).
    Unreachable { code: u8 },
    /// ICMP type 3 code 4, "fragmentation needed and DF set": the next-hop
    /// MTU (0 from routers older than RFC 1191).
    FragmentationNeeded { mtu: u16 },
    /// ICMPv6 type 2, "packet too big".
    PacketTooBig { mtu: u32 },
    /// Time exceeded (ICMP type 11, ICMPv6 type 3).
    TimeExceeded { code: u8 },
    /// Parameter problem (ICMP type 12, ICMPv6 type 4).
    ParameterProblem { code: u8 },
}

/// What [`parse`] found in a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The flow, in the packet's direction.
    pub key: FlowKey,
    /// TCP flags byte (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR); 0 for
    /// everything that is not an unfragmented TCP segment.
    pub tcp_flags: u8,
    /// Offset of the IP header in the parsed slice.
    pub l3_offset: usize,
    /// Offset of the transport header (after IPv4 options and IPv6
    /// extension headers; for a fragment, of the fragment's data).
    pub l4_offset: usize,
    /// One past the IP packet's last byte, per its length field; bytes from
    /// here to the end of the slice are link padding.
    pub l3_end: usize,
    /// Whether this is a fragment (first or not): ports are then 0.
    pub is_fragment: bool,
    /// Set for ICMP/ICMPv6 error messages.
    pub icmp_error: Option<IcmpError>,
}

/// The Ethernet II header of a frame given to [`parse_ethernet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtherInfo {
    /// Destination MAC address.
    pub dst: [u8; 6],
    /// Source MAC address.
    pub src: [u8; 6],
    /// The 802.1Q tag control information (PCP, DEI, VLAN id), if tagged.
    pub vlan_tci: Option<u16>,
    /// The EtherType of the payload (after the VLAN tag, if any).
    pub ethertype: u16,
}

impl EtherInfo {
    /// The 12-bit VLAN id, if the frame was tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci.map(|tci| tci & 0x0fff)
    }
}

/// Why a packet could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The slice ends before a header or the length its IP header claims.
    #[error("truncated packet")]
    Truncated,
    /// The IP version nibble is not 4 or 6 (or not the EtherType's).
    #[error("IP version {0}, expected 4 or 6")]
    BadVersion(u8),
    /// IPv4 IHL below 5 or total length below the header length.
    #[error("bad IPv4 header or total length")]
    BadLength,
    /// TCP data offset below 5 words.
    #[error("bad TCP data offset")]
    BadTcpHeader,
    /// IPv6 payload length 0 with a hop-by-hop header: a jumbogram.
    #[error("IPv6 jumbograms are not supported")]
    Jumbogram,
    /// More than [`MAX_EXTENSION_HEADERS`] IPv6 extension headers.
    #[error("more than {MAX_EXTENSION_HEADERS} IPv6 extension headers")]
    TooManyExtensionHeaders,
    /// An Ethernet payload that is neither IPv4 nor IPv6 (including a
    /// second VLAN tag).
    #[error("EtherType {0:#06x} is neither IPv4 nor IPv6")]
    UnsupportedEtherType(u16),
}

type Result<T> = std::result::Result<T, ParseError>;

fn byte(buf: &[u8], at: usize) -> Result<u8> {
    buf.get(at).copied().ok_or(ParseError::Truncated)
}

fn array<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N]> {
    buf.get(at..at.saturating_add(N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(ParseError::Truncated)
}

fn be16(buf: &[u8], at: usize) -> Result<u16> {
    array::<2>(buf, at).map(u16::from_be_bytes)
}

/// Parses a raw IP packet (no link-layer header).
pub fn parse(packet: &[u8]) -> std::result::Result<Parsed, ParseError> {
    match byte(packet, 0)? >> 4 {
        4 => parse_v4(packet, 0),
        6 => parse_v6(packet, 0),
        v => Err(ParseError::BadVersion(v)),
    }
}

/// Parses an Ethernet II frame carrying IPv4 or IPv6, optionally behind one
/// 802.1Q tag. The [`Parsed`] offsets index `frame`.
pub fn parse_ethernet(frame: &[u8]) -> std::result::Result<(EtherInfo, Parsed), ParseError> {
    let dst = array::<6>(frame, 0)?;
    let src = array::<6>(frame, 6)?;
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = 14;
    let mut vlan_tci = None;
    if ethertype == ETHERTYPE_VLAN {
        vlan_tci = Some(be16(frame, 14)?);
        ethertype = be16(frame, 16)?;
        l3 = 18;
    }
    let parsed = match ethertype {
        ETHERTYPE_IPV4 => parse_v4(frame, l3)?,
        ETHERTYPE_IPV6 => parse_v6(frame, l3)?,
        other => return Err(ParseError::UnsupportedEtherType(other)),
    };
    let info = EtherInfo {
        dst,
        src,
        vlan_tci,
        ethertype,
    };
    Ok((info, parsed))
}

/// The IPv4 header fields the key needs, from a header at `l3`.
struct V4Header {
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    header_len: usize,
    total_len: usize,
    is_fragment: bool,
}

fn v4_header(buf: &[u8], l3: usize) -> Result<V4Header> {
    let first = byte(buf, l3)?;
    if first >> 4 != 4 {
        return Err(ParseError::BadVersion(first >> 4));
    }
    let header_len = usize::from(first & 0x0f) * 4;
    // The fixed header must be there before any field is believed.
    array::<20>(buf, l3)?;
    let total_len = usize::from(be16(buf, l3 + 2)?);
    if header_len < 20 || total_len < header_len {
        return Err(ParseError::BadLength);
    }
    let frag = be16(buf, l3 + 6)?;
    Ok(V4Header {
        proto: byte(buf, l3 + 9)?,
        src: Ipv4Addr::from(array::<4>(buf, l3 + 12)?),
        dst: Ipv4Addr::from(array::<4>(buf, l3 + 16)?),
        header_len,
        total_len,
        // MF set or a non-zero offset.
        is_fragment: frag & 0x3fff != 0,
    })
}

fn parse_v4(buf: &[u8], l3: usize) -> Result<Parsed> {
    let h = v4_header(buf, l3)?;
    let end = l3 + h.total_len;
    let ip = buf.get(..end).ok_or(ParseError::Truncated)?;
    let l4 = l3 + h.header_len;
    let ips = (IpAddr::V4(h.src), IpAddr::V4(h.dst));
    transport(ip, l3, l4, h.proto, ips, h.is_fragment)
}

fn parse_v6(buf: &[u8], l3: usize) -> Result<Parsed> {
    let fixed = array::<40>(buf, l3)?;
    if fixed[0] >> 4 != 6 {
        return Err(ParseError::BadVersion(fixed[0] >> 4));
    }
    let payload_len = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
    let next = fixed[6];
    if payload_len == 0 && next == 0 {
        return Err(ParseError::Jumbogram);
    }
    let end = l3 + 40 + payload_len;
    let ip = buf.get(..end).ok_or(ParseError::Truncated)?;
    let src = Ipv6Addr::from(array::<16>(&fixed, 8)?);
    let dst = Ipv6Addr::from(array::<16>(&fixed, 24)?);
    let (proto, l4, is_fragment) = walk_v6(ip, l3 + 40, next)?;
    transport(
        ip,
        l3,
        l4,
        proto,
        (IpAddr::V6(src), IpAddr::V6(dst)),
        is_fragment,
    )
}

/// Walks IPv6 extension headers from `at` (whose type is `next`) within
/// `ip`; returns the upper-layer protocol, its offset and whether the
/// packet is a fragment (the walk stops at a fragment header then).
fn walk_v6(ip: &[u8], mut at: usize, mut next: u8) -> Result<(u8, usize, bool)> {
    for _ in 0..=MAX_EXTENSION_HEADERS {
        let len = match next {
            // Hop-by-hop, routing, destination options, mobility, HIP,
            // shim6: length in 8-byte units, not counting the first 8.
            0 | 43 | 60 | 135 | 139 | 140 => (usize::from(byte(ip, at + 1)?) + 1) * 8,
            // Authentication header: length in 4-byte units, minus 2.
            51 => (usize::from(byte(ip, at + 1)?) + 2) * 4,
            44 => {
                let offset_flags = be16(ip, at + 2)?;
                // An atomic fragment (offset 0, M clear) is a whole packet.
                if offset_flags & 0xfff9 != 0 {
                    let proto = byte(ip, at)?;
                    array::<8>(ip, at)?;
                    return Ok((proto, at + 8, true));
                }
                8
            }
            proto => return Ok((proto, at, false)),
        };
        next = byte(ip, at)?;
        at += len;
        if at > ip.len() {
            return Err(ParseError::Truncated);
        }
    }
    Err(ParseError::TooManyExtensionHeaders)
}

/// Reads the transport header at `l4` of the IP packet `ip` (which ends
/// where the IP length says) and assembles the result.
fn transport(
    ip: &[u8],
    l3: usize,
    l4: usize,
    proto: u8,
    (src, dst): (IpAddr, IpAddr),
    is_fragment: bool,
) -> Result<Parsed> {
    let (mut sport, mut dport, mut tcp_flags, mut icmp_error) = (0, 0, 0, None);
    if !is_fragment {
        match proto {
            PROTO_TCP => {
                let h = array::<20>(ip, l4)?;
                let header_len = usize::from(h[12] >> 4) * 4;
                if header_len < 20 {
                    return Err(ParseError::BadTcpHeader);
                }
                if l4 + header_len > ip.len() {
                    return Err(ParseError::Truncated);
                }
                sport = u16::from_be_bytes([h[0], h[1]]);
                dport = u16::from_be_bytes([h[2], h[3]]);
                tcp_flags = h[13];
            }
            PROTO_UDP => {
                let h = array::<8>(ip, l4)?;
                sport = u16::from_be_bytes([h[0], h[1]]);
                dport = u16::from_be_bytes([h[2], h[3]]);
            }
            PROTO_ICMP if src.is_ipv4() => icmp_error = icmp_v4(&array::<8>(ip, l4)?),
            PROTO_ICMPV6 if src.is_ipv6() => icmp_error = icmp_v6(&array::<8>(ip, l4)?),
            _ => {}
        }
    }
    Ok(Parsed {
        key: FlowKey {
            proto,
            src,
            dst,
            sport,
            dport,
        },
        tcp_flags,
        l3_offset: l3,
        l4_offset: l4,
        l3_end: ip.len(),
        is_fragment,
        icmp_error,
    })
}

fn icmp_v4(h: &[u8; 8]) -> Option<IcmpError> {
    let code = h[1];
    match h[0] {
        3 if code == 4 => Some(IcmpError::FragmentationNeeded {
            mtu: u16::from_be_bytes([h[6], h[7]]),
        }),
        3 => Some(IcmpError::Unreachable { code }),
        11 => Some(IcmpError::TimeExceeded { code }),
        12 => Some(IcmpError::ParameterProblem { code }),
        _ => None,
    }
}

fn icmp_v6(h: &[u8; 8]) -> Option<IcmpError> {
    let code = h[1];
    match h[0] {
        1 => Some(IcmpError::Unreachable { code }),
        2 => Some(IcmpError::PacketTooBig {
            mtu: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        }),
        3 => Some(IcmpError::TimeExceeded { code }),
        4 => Some(IcmpError::ParameterProblem { code }),
        _ => None,
    }
}

/// The flow an ICMP/ICMPv6 error is about, in the direction the engine sees
/// that flow's client traffic, so the error can follow the flow's
/// connection-table entry (or Maglev choice) to its backend.
///
/// `buf` is the slice `parsed` came from (the frame, for
/// [`parse_ethernet`]). The error quotes a packet the flow's server side
/// sent (VIP → client, from a backend in DSR and tunnel modes) and is
/// addressed to the VIP; the quoted packet's key is returned reversed
/// (client → VIP). A quoted fragment gives the 3-tuple key with ports 0,
/// as [`parse`] keys fragments. `None` for anything that is not an error
/// message or quotes too little (fewer than 4 bytes of a TCP/UDP header)
/// or a different IP version than its own. Whether the quoted source really
/// is the error's destination is the caller's policy, not checked here.
pub fn icmp_inner_flow(buf: &[u8], parsed: &Parsed) -> Option<FlowKey> {
    parsed.icmp_error?;
    let ip = buf.get(..parsed.l3_end)?;
    let inner = ip.get(parsed.l4_offset.checked_add(8)?..)?;
    let (proto, src, dst, l4, is_fragment) = match parsed.key.src {
        IpAddr::V4(_) => {
            let h = v4_header(inner, 0).ok()?;
            let (src, dst) = (IpAddr::V4(h.src), IpAddr::V4(h.dst));
            (h.proto, src, dst, h.header_len, h.is_fragment)
        }
        IpAddr::V6(_) => {
            let fixed = array::<40>(inner, 0).ok()?;
            if fixed[0] >> 4 != 6 {
                return None;
            }
            let src = IpAddr::V6(Ipv6Addr::from(array::<16>(&fixed, 8).ok()?));
            let dst = IpAddr::V6(Ipv6Addr::from(array::<16>(&fixed, 24).ok()?));
            // The quote is usually cut short: walk what is there.
            let (proto, l4, frag) = walk_v6(inner, 40, fixed[6]).ok()?;
            (proto, src, dst, l4, frag)
        }
    };
    let (sport, dport) = match proto {
        PROTO_TCP | PROTO_UDP if !is_fragment => {
            let ports = array::<4>(inner, l4).ok()?;
            let sport = u16::from_be_bytes([ports[0], ports[1]]);
            (sport, u16::from_be_bytes([ports[2], ports[3]]))
        }
        _ => (0, 0),
    };
    let quoted = FlowKey {
        proto,
        src,
        dst,
        sport,
        dport,
    };
    Some(quoted.reversed())
}

/// The flow's stable 64-bit hash (Maglev's key, the connection table's
/// hash): xxh3 under the crate's fixed seed over the canonical encoding in
/// the module docs.
pub fn flow_hash(key: &FlowKey) -> u64 {
    let mut buf = [0u8; 38];
    let mut len = 2;
    let mut tag = 0u8;
    for addr in [key.src, key.dst] {
        tag <<= 4;
        match addr {
            IpAddr::V4(a) => {
                tag |= 4;
                buf[len..len + 4].copy_from_slice(&a.octets());
                len += 4;
            }
            IpAddr::V6(a) => {
                tag |= 6;
                buf[len..len + 16].copy_from_slice(&a.octets());
                len += 16;
            }
        }
    }
    buf[0] = tag;
    buf[1] = key.proto;
    buf[len..len + 2].copy_from_slice(&key.sport.to_be_bytes());
    buf[len + 2..len + 4].copy_from_slice(&key.dport.to_be_bytes());
    hash_bytes(&buf[..len + 4])
}

#[cfg(test)]
#[path = "tests/flow_parse.rs"]
mod tests;
