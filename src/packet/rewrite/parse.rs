//! Header parsing shared by the rewrites: bounds-checked views of IPv4 and
//! IPv6 headers and of the TCP/UDP header a rewrite touches.
//!
//! It exists so every rewrite validates a packet the same way before its
//! first write: once a function here returns `Ok`, every offset it reports
//! is inside the slice, and the writers may index without further checks.

use super::RewriteError;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_IPV6: u8 = 41;
pub const PROTO_GRE: u8 = 47;
pub const PROTO_ICMPV6: u8 = 58;

/// `Err(Truncated)` unless `have >= need`.
pub fn need(what: &'static str, need: usize, have: usize) -> Result<(), RewriteError> {
    if have < need {
        Err(RewriteError::Truncated { what, need, have })
    } else {
        Ok(())
    }
}

/// Big-endian u16 at `off`; 0 if out of bounds (callers check bounds first).
pub fn be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// Writes a big-endian u16 at `off` if it is in bounds.
pub fn put16(b: &mut [u8], off: usize, v: u16) {
    if let Some(f) = b.get_mut(off..off + 2) {
        f.copy_from_slice(&v.to_be_bytes());
    }
}

/// The version nibble of the first byte.
pub fn version(b: &[u8]) -> Result<u8, RewriteError> {
    match b.first() {
        Some(v) => Ok(v >> 4),
        None => Err(RewriteError::Truncated {
            what: "IP header",
            need: 1,
            have: 0,
        }),
    }
}

/// What a rewrite needs from an IPv4 header.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Info {
    /// Header length in bytes (20..=60).
    pub ihl: usize,
    /// Total length: the packet ends here (`<= slice.len()`).
    pub total_len: usize,
    pub proto: u8,
    /// Fragment offset in bytes (0 for an unfragmented or first fragment).
    pub frag_offset: usize,
    pub more_fragments: bool,
    pub dont_fragment: bool,
}

impl Ipv4Info {
    pub fn is_fragment(&self) -> bool {
        self.frag_offset != 0 || self.more_fragments
    }
}

/// Parses an IPv4 header: version 4, a header length of at least 20 bytes
/// inside the slice, a total length covering the header and inside the
/// slice. The header checksum is not checked.
pub fn ipv4(p: &[u8]) -> Result<Ipv4Info, RewriteError> {
    need("IPv4 header", 20, p.len())?;
    let v = p[0] >> 4;
    if v != 4 {
        return Err(RewriteError::WrongVersion {
            found: v,
            expected: 4,
        });
    }
    let ihl = usize::from(p[0] & 0x0F) * 4;
    if ihl < 20 {
        return Err(RewriteError::BadHeaderLength(ihl));
    }
    need("IPv4 header with options", ihl, p.len())?;
    let total_len = usize::from(be16(p, 2));
    if total_len < ihl {
        return Err(RewriteError::Malformed(
            "IPv4 total length is shorter than its header",
        ));
    }
    need("IPv4 packet (its total length)", total_len, p.len())?;
    let frag = be16(p, 6);
    Ok(Ipv4Info {
        ihl,
        total_len,
        proto: p[9],
        frag_offset: usize::from(frag & 0x1FFF) * 8,
        more_fragments: frag & 0x2000 != 0,
        dont_fragment: frag & 0x4000 != 0,
    })
}

/// What a rewrite needs from an IPv6 header and its extension headers.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Info {
    /// The upper-layer protocol (after the extension headers).
    pub proto: u8,
    /// Where the upper-layer header starts.
    pub l4_off: usize,
    /// Where the packet (or the quoted part of it) ends.
    pub end: usize,
    /// Fragment offset in bytes and the M flag, if a Fragment header is
    /// present.
    pub frag: Option<(usize, bool)>,
}

impl Ipv6Info {
    pub fn frag_offset(&self) -> usize {
        self.frag.map_or(0, |(o, _)| o)
    }
    pub fn more_fragments(&self) -> bool {
        self.frag.is_some_and(|(_, m)| m)
    }
}

/// Parses an IPv6 packet whose payload length must lie inside the slice.
pub fn ipv6(p: &[u8]) -> Result<Ipv6Info, RewriteError> {
    need("IPv6 header", 40, p.len())?;
    let v = p[0] >> 4;
    if v != 6 {
        return Err(RewriteError::WrongVersion {
            found: v,
            expected: 6,
        });
    }
    let end = 40 + usize::from(be16(p, 4));
    need("IPv6 packet (its payload length)", end, p.len())?;
    ipv6_until(p, end)
}

/// Parses an IPv6 header and walks its extension headers up to `end`
/// (the payload length for a packet; the quote's end for the packet quoted
/// in an ICMPv6 error). Hop-by-hop (first only), destination options and
/// fragment headers are walked; routing, AH and ESP are refused. Walking
/// stops at a non-first fragment, whose remaining bytes are payload.
pub fn ipv6_until(p: &[u8], end: usize) -> Result<Ipv6Info, RewriteError> {
    need("IPv6 header", 40, p.len().min(end))?;
    let v = p[0] >> 4;
    if v != 6 {
        return Err(RewriteError::WrongVersion {
            found: v,
            expected: 6,
        });
    }
    let mut next = p[6];
    let mut off = 40;
    let mut frag = None;
    for _ in 0..8 {
        match next {
            0 | 60 => {
                if next == 0 && off != 40 {
                    return Err(RewriteError::Malformed("IPv6 hop-by-hop header not first"));
                }
                need("IPv6 extension header", off + 2, end)?;
                let len = (usize::from(p[off + 1]) + 1) * 8;
                need("IPv6 extension header", off + len, end)?;
                next = p[off];
                off += len;
            }
            44 => {
                need("IPv6 fragment header", off + 8, end)?;
                let fo = be16(p, off + 2);
                let offset = usize::from(fo >> 3) * 8;
                next = p[off];
                off += 8;
                frag = Some((offset, fo & 1 != 0));
                if offset != 0 {
                    break;
                }
            }
            43 | 50 | 51 => return Err(RewriteError::UnsupportedExtension(next)),
            _ => {
                return Ok(Ipv6Info {
                    proto: next,
                    l4_off: off,
                    end,
                    frag,
                });
            }
        }
    }
    if frag.is_some_and(|(o, _)| o != 0) {
        return Ok(Ipv6Info {
            proto: next,
            l4_off: off,
            end,
            frag,
        });
    }
    Err(RewriteError::Malformed(
        "more than 8 IPv6 extension headers",
    ))
}

/// Where a rewrite finds the transport checksum of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// TCP header at this offset: ports at +0/+2, checksum at +16.
    Tcp(usize),
    /// UDP header at this offset: ports at +0/+2, checksum at +6.
    Udp(usize),
    /// ICMPv6 message at this offset: checksum at +2 (covers the
    /// pseudo-header, so address changes update it).
    Icmp6(usize),
    /// Nothing to update below IP: ICMPv4 (no pseudo-header) or a non-first
    /// fragment (the checksum is in the first fragment).
    Nothing,
}

impl L4 {
    /// Offset of the ports, for TCP and UDP.
    pub fn ports(self) -> Option<usize> {
        match self {
            L4::Tcp(o) | L4::Udp(o) => Some(o),
            _ => None,
        }
    }
}

/// Finds the transport header a NAT rewrite touches, between `l4_off` and
/// `end`. `fragment` is (offset, more fragments); `icmp` is the ICMP
/// protocol of the family (1 or 58); `ports` says whether ports change.
pub fn l4_for_nat(
    p: &[u8],
    proto: u8,
    l4_off: usize,
    end: usize,
    fragment: (usize, bool),
    icmp: u8,
    ports: bool,
) -> Result<L4, RewriteError> {
    let (frag_offset, more) = fragment;
    if !matches!(proto, PROTO_TCP | PROTO_UDP) && proto != icmp {
        return Err(if ports {
            RewriteError::NoPorts(proto)
        } else {
            RewriteError::UnsupportedProtocol(proto)
        });
    }
    if frag_offset != 0 {
        if ports {
            return Err(RewriteError::NonFirstFragment(frag_offset));
        }
        return Ok(L4::Nothing);
    }
    let have = end.saturating_sub(l4_off);
    match proto {
        PROTO_TCP => {
            need("TCP header", 20, have)?;
            let doff = usize::from(p[l4_off + 12] >> 4) * 4;
            if doff < 20 {
                return Err(RewriteError::Malformed("TCP data offset below 20 bytes"));
            }
            if !more {
                need("TCP header with options", doff, have)?;
            }
            Ok(L4::Tcp(l4_off))
        }
        PROTO_UDP => {
            need("UDP header", 8, have)?;
            let len = usize::from(be16(p, l4_off + 4));
            if len < 8 {
                return Err(RewriteError::Malformed("UDP length below 8 bytes"));
            }
            if !more {
                need("UDP datagram (its UDP length)", len, have)?;
            }
            Ok(L4::Udp(l4_off))
        }
        _ if ports => Err(RewriteError::NoPorts(proto)),
        _ => {
            need("ICMP header", 8, have)?;
            Ok(if proto == PROTO_ICMPV6 {
                L4::Icmp6(l4_off)
            } else {
                L4::Nothing
            })
        }
    }
}

/// Overwrites the field at `off` with `new` and returns the checksum delta
/// of the change. The caller has checked the bounds.
pub fn patch(b: &mut [u8], off: usize, new: &[u8]) -> super::Delta {
    match b.get_mut(off..off + new.len()) {
        Some(field) => {
            let d = super::Delta::bytes(field, new);
            field.copy_from_slice(new);
            d
        }
        None => super::Delta::default(),
    }
}
