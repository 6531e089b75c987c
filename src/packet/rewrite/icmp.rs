//! MTU handling of the tunnel modes: deciding what to do with a packet that
//! would exceed the MTU once encapsulated, and building the ICMP message
//! that tells the client to send smaller packets.
//!
//! Without it, a client whose packets fill its own MTU would lose every
//! full-sized packet after encapsulation with no signal (a path-MTU black
//! hole). Policy (see [`mtu_verdict`]): IPv4 with DF set, and all IPv6 →
//! ICMP "fragmentation needed" (type 3 code 4, RFC 1191) or ICMPv6 "packet
//! too big" (type 2, RFC 4443) back to the client, reporting the MTU minus
//! the tunnel overhead; IPv4 with DF clear → the caller may fragment the
//! outer packet, but the engine drops it and counts it instead.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::RewriteError;
use super::checksum::{internet_checksum, transport_checksum_v6};
use super::parse::{self, PROTO_ICMP, PROTO_ICMPV6, be16, need};

/// Whether a packet of `inner_len` bytes exceeds `mtu` once `overhead`
/// bytes of encapsulation are added.
pub fn needs_frag(inner_len: usize, overhead: usize, mtu: usize) -> bool {
    inner_len.saturating_add(overhead) > mtu
}

/// What to do with a packet about to be encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtuVerdict {
    /// It fits: encapsulate and send.
    Fits,
    /// Too big and must not be fragmented: drop it and send the client
    /// [`icmp_frag_needed_v4`] / [`icmp6_packet_too_big`] with this MTU.
    TooBig { next_hop_mtu: u16 },
    /// Too big, DF clear: drop and count (we do not fragment).
    Drop,
}

/// Applies the MTU policy of the module docs to an IPv4 or IPv6 packet that
/// would be encapsulated with `overhead` bytes on a link of `mtu` bytes.
pub fn mtu_verdict(inner: &[u8], overhead: usize, mtu: usize) -> Result<MtuVerdict, RewriteError> {
    let (len, df) = match parse::version(inner)? {
        4 => {
            let ip = parse::ipv4(inner)?;
            (ip.total_len, ip.dont_fragment)
        }
        6 => {
            need("IPv6 header", 40, inner.len())?;
            (40 + usize::from(be16(inner, 4)), true)
        }
        v => return Err(RewriteError::NotIp(v)),
    };
    Ok(if !needs_frag(len, overhead, mtu) {
        MtuVerdict::Fits
    } else if df {
        let m = mtu.saturating_sub(overhead).min(usize::from(u16::MAX));
        MtuVerdict::TooBig {
            next_hop_mtu: m as u16,
        }
    } else {
        MtuVerdict::Drop
    })
}

/// The most an ICMPv4 error may be (RFC 1812, 4.3.2.3): 576 bytes.
const ICMP4_MAX: usize = 576;
/// The most an ICMPv6 error may be (RFC 4443, 2.4 (c)): the IPv6 minimum
/// MTU.
const ICMP6_MAX: usize = 1280;

/// Whether `a` cannot be the source of a packet we answer (RFC 1122,
/// 3.2.2: not a unique host).
fn not_unique_v4(a: Ipv4Addr) -> bool {
    a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || a.octets()[0] >= 240
}

/// Builds, into `out` (replaced), an IPv4 packet from `from` to the
/// original's source carrying ICMP "destination unreachable, fragmentation
/// needed and DF set" (type 3, code 4) with `next_hop_mtu` (RFC 1191) and
/// as much of `original` as keeps the message within 576 bytes.
///
/// `from` should be the VIP (the original's destination) so the client
/// relates the message to its connection; `next_hop_mtu` is the link MTU
/// minus the tunnel overhead ([`MtuVerdict::TooBig`]). Refused, as RFC 1122
/// and RFC 1812 require: packets without DF; non-first fragments; ICMP
/// error messages; packets from a non-unique source or to a broadcast or
/// multicast destination. On error `out` is untouched.
pub fn icmp_frag_needed_v4(
    original: &[u8],
    next_hop_mtu: u16,
    from: Ipv4Addr,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let ip = parse::ipv4(original)?;
    if !ip.dont_fragment {
        return Err(RewriteError::NoIcmpError(
            "DF is clear, so the packet may be fragmented",
        ));
    }
    if ip.frag_offset != 0 {
        return Err(RewriteError::NoIcmpError("non-first fragment"));
    }
    if ip.proto == PROTO_ICMP {
        need("ICMP type", ip.ihl + 1, ip.total_len)?;
        if !matches!(original[ip.ihl], 0 | 8 | 9 | 10 | 13..=18) {
            return Err(RewriteError::NoIcmpError("it is an ICMP error message"));
        }
    }
    let src = Ipv4Addr::new(original[12], original[13], original[14], original[15]);
    let dst = Ipv4Addr::new(original[16], original[17], original[18], original[19]);
    if not_unique_v4(src) {
        return Err(RewriteError::NoIcmpError("its source is not a unique host"));
    }
    if dst.is_multicast() || dst.is_broadcast() {
        return Err(RewriteError::NoIcmpError(
            "it was sent to a broadcast or multicast address",
        ));
    }
    let quote = &original[..ip.total_len.min(ICMP4_MAX - 28)];
    let total = (28 + quote.len()) as u16;
    out.clear();
    out.reserve(usize::from(total));
    // Version 4, IHL 5; TOS 0xC0 (internetwork control, as Linux sends its
    // ICMP errors); the original's identification; no fragmentation flags.
    out.extend_from_slice(&[0x45, 0xC0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&original[4..6]);
    out.extend_from_slice(&[0, 0, 64, PROTO_ICMP, 0, 0]);
    out.extend_from_slice(&from.octets());
    out.extend_from_slice(&src.octets());
    let c = internet_checksum(&out[..20]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
    out.extend_from_slice(&next_hop_mtu.to_be_bytes());
    out.extend_from_slice(quote);
    let c = internet_checksum(&out[20..]);
    out[22..24].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Builds, into `out` (replaced), an IPv6 packet from `from` to the
/// original's source carrying ICMPv6 "packet too big" (type 2) with `mtu`
/// and as much of `original` as keeps the message within 1280 bytes (RFC
/// 4443, 3.2). Refused (RFC 4443, 2.4 (e)): ICMPv6 error messages, and an
/// unspecified or multicast source. A multicast destination is allowed, as
/// the RFC makes that exception for "packet too big". An `mtu` below 1280
/// is reported as given; IPv6 through a tunnel needs a link MTU of at least
/// 1280 plus the overhead. On error `out` is untouched.
pub fn icmp6_packet_too_big(
    original: &[u8],
    mtu: u32,
    from: Ipv6Addr,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    need("IPv6 header", 40, original.len())?;
    let v = original[0] >> 4;
    if v != 6 {
        return Err(RewriteError::WrongVersion {
            found: v,
            expected: 6,
        });
    }
    let end = 40 + usize::from(be16(original, 4));
    need("IPv6 packet (its payload length)", end, original.len())?;
    // An extension chain we do not walk (routing, ESP) is no reason to stay
    // silent; only a recognised ICMPv6 error is.
    if let Ok(l4) = parse::ipv6_until(original, end)
        && l4.proto == PROTO_ICMPV6
        && l4.frag_offset() == 0
        && original.get(l4.l4_off).is_some_and(|t| *t < 128)
    {
        return Err(RewriteError::NoIcmpError("it is an ICMPv6 error message"));
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&original[8..24]);
    let src = Ipv6Addr::from(a);
    if src.is_unspecified() || src.is_multicast() {
        return Err(RewriteError::NoIcmpError("its source is not a unique host"));
    }
    let quote = &original[..end.min(ICMP6_MAX - 48)];
    let payload_len = (8 + quote.len()) as u16;
    out.clear();
    out.reserve(40 + usize::from(payload_len));
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.extend_from_slice(&[PROTO_ICMPV6, 64]);
    out.extend_from_slice(&from.octets());
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&[2, 0, 0, 0]);
    out.extend_from_slice(&mtu.to_be_bytes());
    out.extend_from_slice(quote);
    let c = transport_checksum_v6(from, src, PROTO_ICMPV6, &out[40..]);
    out[42..44].copy_from_slice(&c.to_be_bytes());
    Ok(())
}
