//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Every rewrite changes a handful of 16-bit words (addresses, ports) in a
//! packet whose checksums cover hundreds of bytes. Recomputing would read
//! the whole payload and would also *launder* a corrupted packet into a
//! valid-looking one; the incremental form `HC' = ~(~HC + ~m + m')` (RFC
//! 1624, eqn. 3) reads only the changed words and carries any existing
//! error through. This module holds both forms so tests can compare them.
//!
//! Canonical form: for data that is not all zeros (every IPv4 header, every
//! pseudo-header) the full computation yields a value in `0..=0xFFFE`. The
//! incremental form can only differ from it by yielding `0xFFFF` where the
//! full form gives `0x0000` (the two zeros of ones'-complement arithmetic);
//! [`Delta::apply`] maps that case to `0x0000`, so an incremental update of
//! a correct checksum is bit-identical to recomputing it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The ones'-complement sum of `data` as big-endian 16-bit words (a trailing
/// odd byte is padded with zero), not yet folded. Feed it to [`fold`].
pub fn sum(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut acc: u64 = 0;
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a wide ones'-complement accumulator to 16 bits (end-around carry).
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum of `data`. Over a header whose checksum field holds
/// the right value, the result is 0; over a header whose checksum field is
/// zeroed, the result is the value to store.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// The unfolded sum of the IPv4 TCP/UDP pseudo-header.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u64 {
    sum(&src.octets()) + sum(&dst.octets()) + u64::from(proto) + len as u64
}

/// The unfolded sum of the IPv6 pseudo-header (RFC 8200, section 8.1).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: usize) -> u64 {
    sum(&src.octets()) + sum(&dst.octets()) + u64::from(proto) + len as u64
}

/// The value to store in a TCP, UDP or ICMPv6 checksum field, computed in
/// full over `segment` (whose checksum field must be zero) and the
/// pseudo-header. A UDP result of 0 is returned as 0xFFFF (0 means "no
/// checksum").
pub fn transport_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    let c = !fold(pseudo_header_v4(src, dst, proto, segment.len()) + sum(segment));
    udp_zero(proto, c)
}

/// [`transport_checksum_v4`] for IPv6.
pub fn transport_checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, segment: &[u8]) -> u16 {
    let c = !fold(pseudo_header_v6(src, dst, proto, segment.len()) + sum(segment));
    udp_zero(proto, c)
}

fn udp_zero(proto: u8, c: u16) -> u16 {
    if proto == super::parse::PROTO_UDP && c == 0 {
        0xFFFF
    } else {
        c
    }
}

/// The accumulated change of some 16-bit words (`~m + m'` for each), to be
/// applied to every checksum that covers them. Addresses feed both the IPv4
/// header checksum and the L4 pseudo-header, so one `Delta` is often added
/// into several others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    acc: u64,
    touched: bool,
}

impl Delta {
    /// The change of one word from `old` to `new`.
    pub fn word(old: u16, new: u16) -> Delta {
        Delta {
            acc: u64::from(!old) + u64::from(new),
            touched: true,
        }
    }

    /// The change of a 32-bit field (two words).
    pub fn dword(old: u32, new: u32) -> Delta {
        Delta::word((old >> 16) as u16, (new >> 16) as u16) + Delta::word(old as u16, new as u16)
    }

    /// The change of an even-length field from `old` to `new` (same
    /// length); the field must start at an even offset of the checksummed
    /// data.
    pub fn bytes(old: &[u8], new: &[u8]) -> Delta {
        let mut d = Delta::default();
        for (o, n) in old.chunks(2).zip(new.chunks(2)) {
            let o = u16::from_be_bytes([o[0], o.get(1).copied().unwrap_or(0)]);
            let n = u16::from_be_bytes([n[0], n.get(1).copied().unwrap_or(0)]);
            d += Delta::word(o, n);
        }
        d
    }

    /// Whether any word was recorded.
    pub fn is_empty(&self) -> bool {
        !self.touched
    }

    /// RFC 1624 eqn. 3: the checksum `hc` after the recorded changes, in
    /// canonical form (see the module docs). An empty delta returns `hc`
    /// unchanged.
    pub fn apply(self, hc: u16) -> u16 {
        if !self.touched {
            return hc;
        }
        let c = !fold(u64::from(!hc) + self.acc);
        if c == 0xFFFF { 0 } else { c }
    }

    /// [`apply`](Self::apply) for a UDP checksum: 0 ("none") stays 0 and a
    /// result of 0 is written as 0xFFFF.
    pub fn apply_udp(self, hc: u16) -> u16 {
        if hc == 0 {
            return 0;
        }
        match self.apply(hc) {
            0 => 0xFFFF,
            c => c,
        }
    }
}

impl std::ops::Add for Delta {
    type Output = Delta;
    fn add(self, rhs: Delta) -> Delta {
        Delta {
            // At most a few dozen words per packet: no overflow.
            acc: self.acc + rhs.acc,
            touched: self.touched || rhs.touched,
        }
    }
}

impl std::ops::AddAssign for Delta {
    fn add_assign(&mut self, rhs: Delta) {
        *self = *self + rhs;
    }
}

/// The checksum `hc` after one 16-bit word changed from `old` to `new`.
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    Delta::word(old, new).apply(hc)
}

/// The checksum `hc` after one 32-bit field (an IPv4 address) changed.
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    Delta::dword(old, new).apply(hc)
}

/// Completes the TCP or UDP checksum of an Ethernet frame the kernel handed
/// over with the checksum left to the hardware (`CHECKSUM_PARTIAL`: locally
/// generated or virtual-link traffic, `TP_STATUS_CSUMNOTREADY` on
/// `AF_PACKET`). Such a frame carries only the pseudo-header sum in its
/// checksum field; once the engine forwards it as a finished frame the
/// receiver would drop it, so the checksum is computed in full first (the
/// rewrites then update it incrementally as usual). Frames that are not
/// unfragmented TCP/UDP are left alone.
pub fn complete_l4_checksum(frame: &mut [u8]) {
    finish_l4_checksum(frame, false);
}

/// Like [`complete_l4_checksum`] for data paths that cannot tell whether
/// the checksum was left to the hardware (AF_XDP has no such flag): the
/// checksum is completed only when its field holds exactly the folded
/// pseudo-header sum, which is what the stack leaves there. A finished,
/// valid checksum with that value (one in 65536) recomputes to itself.
pub fn complete_if_partial(frame: &mut [u8]) {
    finish_l4_checksum(frame, true);
}

fn finish_l4_checksum(frame: &mut [u8], only_if_partial: bool) {
    use crate::packet::flow::{self, PROTO_TCP, PROTO_UDP};
    use std::net::IpAddr;
    let Ok((_, p)) = flow::parse_ethernet(frame) else {
        return;
    };
    if p.is_fragment {
        return;
    }
    let at = match p.key.proto {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => return,
    };
    let Some(segment) = frame.get_mut(p.l4_offset..p.l3_end) else {
        return;
    };
    if segment.len() < at + 2 {
        return;
    }
    let (proto, len) = (p.key.proto, segment.len());
    let pseudo = match (p.key.src, p.key.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(s, d, proto, len),
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_header_v6(s, d, proto, len),
        _ => return,
    };
    let stored = u16::from_be_bytes([segment[at], segment[at + 1]]);
    if only_if_partial && stored != fold(pseudo) {
        return;
    }
    segment[at..at + 2].copy_from_slice(&[0, 0]);
    let mut c = !fold(pseudo + sum(segment));
    if proto == PROTO_UDP && c == 0 {
        c = 0xFFFF;
    }
    segment[at..at + 2].copy_from_slice(&c.to_be_bytes());
}
