//! NAT of ICMP error messages, so that errors about a flow reach the side
//! that owns it (issue 5, item 3, "ICMP").
//!
//! An ICMP error quotes the packet that caused it. In NAT mode that quoted
//! packet carries the addresses the *other* side of the engine saw: a
//! "fragmentation needed" from a router on the client's path quotes a reply
//! from VIP:port, but must reach the backend, whose stack only recognises
//! its own address and port. So the outer header is rewritten like any
//! packet of the flow's reverse direction, and the quoted header gets the
//! same rewrite as the flow's packets in the quoted direction: addresses,
//! ports, the quoted IP header checksum and, when quoted, its L4 checksum,
//! then the ICMP checksum, all incrementally. In DSR and tunnel modes errors
//! need no rewrite: they are forwarded to the flow's backend as they are.
//!
//! Which flow an error belongs to is read from the quoted header by the
//! flow-key code; this module only rewrites.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::RewriteError;
use super::checksum::Delta;
use super::parse::{
    self, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, be16, need, patch, put16,
};

/// New addresses and ports for one header; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints<A> {
    pub src: Option<A>,
    pub sport: Option<u16>,
    pub dst: Option<A>,
    pub dport: Option<u16>,
}

impl<A> Default for Endpoints<A> {
    fn default() -> Self {
        Endpoints {
            src: None,
            sport: None,
            dst: None,
            dport: None,
        }
    }
}

impl<A> Endpoints<A> {
    fn ports(&self) -> bool {
        self.sport.is_some() || self.dport.is_some()
    }
}

/// Where the quoted transport header's fields are, as far as the quote
/// reaches.
struct Quoted {
    /// Offset of the ports, when they are to be rewritten.
    ports: Option<usize>,
    /// Offset of the quoted L4 checksum, when it is inside the quote and
    /// covers the changed fields; `true` for UDP (0 stays 0).
    cksum: Option<(usize, bool)>,
}

/// Locates the quoted transport header's ports and checksum. `icmp6` says
/// whether a quoted ICMPv6 checksum (which covers its pseudo-header) must
/// follow address changes.
fn quoted_l4(
    proto: u8,
    l4: usize,
    end: usize,
    frag_offset: usize,
    ports: bool,
    icmp6: bool,
) -> Result<Quoted, RewriteError> {
    if ports {
        if frag_offset != 0 {
            return Err(RewriteError::NonFirstFragment(frag_offset));
        }
        if !matches!(proto, PROTO_TCP | PROTO_UDP) {
            return Err(RewriteError::NoPorts(proto));
        }
        need("quoted ports", l4 + 4, end)?;
    }
    let cksum = match proto {
        _ if frag_offset != 0 => None,
        PROTO_TCP if l4 + 18 <= end => Some((l4 + 16, false)),
        PROTO_UDP if l4 + 8 <= end => Some((l4 + 6, true)),
        PROTO_ICMPV6 if icmp6 && l4 + 4 <= end => Some((l4 + 2, false)),
        _ => None,
    };
    Ok(Quoted {
        ports: ports.then_some(l4),
        cksum,
    })
}

/// Writes the quoted ports, the quoted L4 checksum, and returns the delta
/// the ICMP checksum must absorb for them. `l4` already holds the address
/// changes the quoted L4 checksum covers.
fn patch_quoted_l4<A>(p: &mut [u8], q: &Quoted, new: &Endpoints<A>, mut l4: Delta) -> Delta {
    let mut icmp = Delta::default();
    if let Some(off) = q.ports {
        if let Some(port) = new.sport {
            let d = patch(p, off, &port.to_be_bytes());
            l4 += d;
            icmp += d;
        }
        if let Some(port) = new.dport {
            let d = patch(p, off + 2, &port.to_be_bytes());
            l4 += d;
            icmp += d;
        }
    }
    if let Some((off, udp)) = q.cksum {
        let old = be16(p, off);
        let c = if udp {
            l4.apply_udp(old)
        } else {
            l4.apply(old)
        };
        icmp += patch(p, off, &c.to_be_bytes());
    }
    icmp
}

/// Rewrites an ICMPv4 error (destination unreachable, time exceeded or
/// parameter problem) about a NATed flow: `outer_src`/`outer_dst` in the
/// outer header, `quoted` in the quoted packet (whose source is the side
/// the error goes to). Updates the outer and quoted header checksums, the
/// quoted TCP/UDP checksum when the quote contains it, and the ICMP
/// checksum. The error itself must not be fragmented; the quoted ports must
/// be in the quote (RFC 792 guarantees 8 bytes after the quoted header).
pub fn rewrite_icmp_error_v4(
    packet: &mut [u8],
    outer_src: Option<Ipv4Addr>,
    outer_dst: Option<Ipv4Addr>,
    quoted: Endpoints<Ipv4Addr>,
) -> Result<(), RewriteError> {
    let ip = parse::ipv4(packet)?;
    if ip.proto != PROTO_ICMP {
        return Err(RewriteError::UnsupportedProtocol(ip.proto));
    }
    if ip.is_fragment() {
        return Err(RewriteError::Fragmented("an ICMP error rewrite"));
    }
    let (icmp, end) = (ip.ihl, ip.total_len);
    need("ICMP header", icmp + 8, end)?;
    let t = packet[icmp];
    if !matches!(t, 3 | 11 | 12) {
        return Err(RewriteError::NotIcmpError(t));
    }
    let q = icmp + 8;
    need("quoted IPv4 header", q + 20, end)?;
    let v = packet[q] >> 4;
    if v != 4 {
        return Err(RewriteError::WrongVersion {
            found: v,
            expected: 4,
        });
    }
    let qihl = usize::from(packet[q] & 0x0F) * 4;
    if qihl < 20 {
        return Err(RewriteError::BadHeaderLength(qihl));
    }
    need("quoted IPv4 header with options", q + qihl, end)?;
    let qfrag = usize::from(be16(packet, q + 6) & 0x1FFF) * 8;
    let ql4 = quoted_l4(packet[q + 9], q + qihl, end, qfrag, quoted.ports(), false)?;
    // Validation is over: from here on, only writes.
    let mut outer = Delta::default();
    if let Some(a) = outer_src {
        outer += patch(packet, 12, &a.octets());
    }
    if let Some(a) = outer_dst {
        outer += patch(packet, 16, &a.octets());
    }
    let (mut qip, mut l4, mut icmp_d) = (Delta::default(), Delta::default(), Delta::default());
    for (off, a) in [(q + 12, quoted.src), (q + 16, quoted.dst)] {
        if let Some(a) = a {
            let d = patch(packet, off, &a.octets());
            qip += d;
            l4 += d;
            icmp_d += d;
        }
    }
    icmp_d += patch_quoted_l4(packet, &ql4, &quoted, l4);
    let c = qip.apply(be16(packet, q + 10));
    icmp_d += patch(packet, q + 10, &c.to_be_bytes());
    let c = icmp_d.apply(be16(packet, icmp + 2));
    put16(packet, icmp + 2, c);
    let c = outer.apply(be16(packet, 10));
    put16(packet, 10, c);
    Ok(())
}

/// [`rewrite_icmp_error_v4`] for ICMPv6 errors (destination unreachable,
/// packet too big, time exceeded, parameter problem). The ICMPv6 checksum
/// covers the outer addresses through its pseudo-header; the quoted packet
/// has no header checksum, and its TCP, UDP or ICMPv6 checksum is updated
/// when the quote contains it.
pub fn rewrite_icmp_error_v6(
    packet: &mut [u8],
    outer_src: Option<Ipv6Addr>,
    outer_dst: Option<Ipv6Addr>,
    quoted: Endpoints<Ipv6Addr>,
) -> Result<(), RewriteError> {
    let ip = parse::ipv6(packet)?;
    if ip.proto != PROTO_ICMPV6 {
        return Err(RewriteError::UnsupportedProtocol(ip.proto));
    }
    if ip.frag.is_some() {
        return Err(RewriteError::Fragmented("an ICMPv6 error rewrite"));
    }
    let (icmp, end) = (ip.l4_off, ip.end);
    need("ICMPv6 header", icmp + 8, end)?;
    let t = packet[icmp];
    if !matches!(t, 1..=4) {
        return Err(RewriteError::NotIcmpError(t));
    }
    let q = icmp + 8;
    let qi = parse::ipv6_until(&packet[q..end], end - q)?;
    let ql4 = quoted_l4(
        qi.proto,
        q + qi.l4_off,
        end,
        qi.frag_offset(),
        quoted.ports(),
        true,
    )?;
    // Validation is over: from here on, only writes.
    let mut icmp_d = Delta::default();
    for (off, a) in [(8, outer_src), (24, outer_dst)] {
        if let Some(a) = a {
            icmp_d += patch(packet, off, &a.octets());
        }
    }
    let mut l4 = Delta::default();
    for (off, a) in [(q + 8, quoted.src), (q + 24, quoted.dst)] {
        if let Some(a) = a {
            let d = patch(packet, off, &a.octets());
            l4 += d;
            icmp_d += d;
        }
    }
    icmp_d += patch_quoted_l4(packet, &ql4, &quoted, l4);
    let c = icmp_d.apply(be16(packet, icmp + 2));
    put16(packet, icmp + 2, c);
    Ok(())
}
