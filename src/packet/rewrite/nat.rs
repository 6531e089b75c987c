//! NAT mode: rewrite a packet's addresses and ports in place.
//!
//! Requests to the VIP get the backend as destination ([`dnat_v4`]);
//! replies from the backend, which route back through the engine, get the
//! VIP restored as source ([`snat_v4`]). Full NAT also rewrites the other
//! side (the client's address becomes an engine address on the way in, and
//! is restored on the way out) so backends need no route back through the
//! engine; [`rewrite_v4`] is the general form that does any combination.
//! The IPv6 functions are the same without a header checksum.
//!
//! Supported protocols: TCP and UDP (ports and addresses), and ICMP /
//! ICMPv6 for address-only rewrites (ICMP echo to a VIP). Everything else is
//! refused, because protocols such as DCCP or UDP-Lite carry a
//! pseudo-header checksum we would silently break.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::RewriteError;
use super::checksum::Delta;
use super::parse::{self, L4, PROTO_ICMP, PROTO_ICMPV6, be16, patch, put16};

/// NAT, client → backend: the destination becomes `new_dst:new_dport`.
pub fn dnat_v4(packet: &mut [u8], new_dst: Ipv4Addr, new_dport: u16) -> Result<(), RewriteError> {
    rewrite_v4(packet, None, None, Some(new_dst), Some(new_dport))
}

/// NAT, backend → client: the source becomes `new_src:new_sport` (the VIP
/// and its port).
pub fn snat_v4(packet: &mut [u8], new_src: Ipv4Addr, new_sport: u16) -> Result<(), RewriteError> {
    rewrite_v4(packet, Some(new_src), Some(new_sport), None, None)
}

/// Rewrites whichever of source address, source port, destination address
/// and destination port are `Some`, updating the IPv4 header checksum and
/// the TCP/UDP checksum incrementally.
///
/// Refuses (without writing) anything but IPv4 carrying TCP or UDP, or ICMP
/// when no port changes; a non-first fragment when a port changes; and a
/// packet shorter than its lengths say.
pub fn rewrite_v4(
    packet: &mut [u8],
    src: Option<Ipv4Addr>,
    sport: Option<u16>,
    dst: Option<Ipv4Addr>,
    dport: Option<u16>,
) -> Result<(), RewriteError> {
    let ip = parse::ipv4(packet)?;
    let l4 = parse::l4_for_nat(
        packet,
        ip.proto,
        ip.ihl,
        ip.total_len,
        (ip.frag_offset, ip.more_fragments),
        PROTO_ICMP,
        sport.is_some() || dport.is_some(),
    )?;
    // Validation is over: from here on, only writes.
    let mut ip_delta = Delta::default();
    let mut l4_delta = Delta::default();
    if let Some(a) = src {
        let d = patch(packet, 12, &a.octets());
        ip_delta += d;
        l4_delta += d;
    }
    if let Some(a) = dst {
        let d = patch(packet, 16, &a.octets());
        ip_delta += d;
        l4_delta += d;
    }
    l4_delta += patch_ports(packet, l4, sport, dport);
    let hc = be16(packet, 10);
    put16(packet, 10, ip_delta.apply(hc));
    apply_l4(packet, l4, l4_delta);
    Ok(())
}

/// NAT for IPv6, client → backend.
pub fn dnat_v6(packet: &mut [u8], new_dst: Ipv6Addr, new_dport: u16) -> Result<(), RewriteError> {
    rewrite_v6(packet, None, None, Some(new_dst), Some(new_dport))
}

/// NAT for IPv6, backend → client (restores the VIP as source).
pub fn snat_v6(packet: &mut [u8], new_src: Ipv6Addr, new_sport: u16) -> Result<(), RewriteError> {
    rewrite_v6(packet, Some(new_src), Some(new_sport), None, None)
}

/// [`rewrite_v4`] for IPv6: no header checksum; the TCP, UDP or ICMPv6
/// checksum absorbs the address change through its pseudo-header.
/// Extension headers: hop-by-hop, destination options and fragment are
/// walked; routing (the pseudo-header would use its final destination), AH
/// and ESP are refused.
pub fn rewrite_v6(
    packet: &mut [u8],
    src: Option<Ipv6Addr>,
    sport: Option<u16>,
    dst: Option<Ipv6Addr>,
    dport: Option<u16>,
) -> Result<(), RewriteError> {
    let ip = parse::ipv6(packet)?;
    let l4 = parse::l4_for_nat(
        packet,
        ip.proto,
        ip.l4_off,
        ip.end,
        (ip.frag_offset(), ip.more_fragments()),
        PROTO_ICMPV6,
        sport.is_some() || dport.is_some(),
    )?;
    let mut l4_delta = Delta::default();
    if let Some(a) = src {
        l4_delta += patch(packet, 8, &a.octets());
    }
    if let Some(a) = dst {
        l4_delta += patch(packet, 24, &a.octets());
    }
    l4_delta += patch_ports(packet, l4, sport, dport);
    apply_l4(packet, l4, l4_delta);
    Ok(())
}

/// Writes the ports (the caller has checked that `l4` has them when either
/// is `Some`) and returns their checksum delta.
fn patch_ports(packet: &mut [u8], l4: L4, sport: Option<u16>, dport: Option<u16>) -> Delta {
    let mut d = Delta::default();
    if let Some(off) = l4.ports() {
        if let Some(p) = sport {
            d += patch(packet, off, &p.to_be_bytes());
        }
        if let Some(p) = dport {
            d += patch(packet, off + 2, &p.to_be_bytes());
        }
    }
    d
}

/// Applies `delta` to the transport checksum `l4` names.
pub(super) fn apply_l4(packet: &mut [u8], l4: L4, delta: Delta) {
    match l4 {
        L4::Tcp(off) => {
            let c = be16(packet, off + 16);
            put16(packet, off + 16, delta.apply(c));
        }
        L4::Udp(off) => {
            let c = be16(packet, off + 6);
            put16(packet, off + 6, delta.apply_udp(c));
        }
        L4::Icmp6(off) => {
            let c = be16(packet, off + 2);
            put16(packet, off + 2, delta.apply(c));
        }
        L4::Nothing => {}
    }
}
