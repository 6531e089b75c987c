//! Tests of the packet rewrites, with a small packet builder and an oracle
//! that recomputes every checksum in full, written independently of
//! `checksum.rs` (word by word, folding after each addition), so a rewrite
//! is checked against a second implementation rather than against itself.

mod checksum;
mod dsr;
mod icmp;
mod nat;
mod tunnel;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::balance::Rng;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);
pub const ENGINE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 7);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
pub const BACKEND6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x18, 0, 0, 0, 0, 0x11);

/// Ones'-complement sum, folding after every word.
pub fn naive_sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut s: u32 = 0;
    for w in bytes.chunks(2) {
        let word = u32::from(w[0]) << 8 | u32::from(w.get(1).copied().unwrap_or(0));
        s += word;
        s = (s & 0xFFFF) + (s >> 16);
    }
    s as u16
}

pub fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

fn set16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

/// An IPv4 header to build packets with.
#[derive(Clone, Debug)]
pub struct Ip4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub tos: u8,
    pub id: u16,
    pub df: bool,
    pub mf: bool,
    /// In 8-byte units.
    pub frag: u16,
    pub ttl: u8,
    pub options: Vec<u8>,
}

impl Ip4 {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, proto: u8) -> Ip4 {
        Ip4 {
            src,
            dst,
            proto,
            tos: 0,
            id: 0x1234,
            df: true,
            mf: false,
            frag: 0,
            ttl: 61,
            options: Vec::new(),
        }
    }

    /// The packet with `payload` after the header; only the header
    /// checksum is computed (payload checksums are the caller's).
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0);
        let ihl = 20 + self.options.len();
        let mut p = vec![0u8; ihl];
        p[0] = 0x40 | (ihl / 4) as u8;
        p[1] = self.tos;
        set16(&mut p, 2, (ihl + payload.len()) as u16);
        set16(&mut p, 4, self.id);
        let flags = (u16::from(self.df) << 14) | (u16::from(self.mf) << 13) | self.frag;
        set16(&mut p, 6, flags);
        p[8] = self.ttl;
        p[9] = self.proto;
        p[12..16].copy_from_slice(&self.src.octets());
        p[16..20].copy_from_slice(&self.dst.octets());
        p[20..].copy_from_slice(&self.options);
        let c = !naive_sum(&[&p]);
        set16(&mut p, 10, c);
        p.extend_from_slice(payload);
        p
    }
}

/// A TCP segment (ACK|PSH, data offset 5 + `opt_words`), checksum 0.
pub fn tcp_segment(sport: u16, dport: u16, opt_words: usize, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; 20 + 4 * opt_words];
    set16(&mut s, 0, sport);
    set16(&mut s, 2, dport);
    s[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    s[8..12].copy_from_slice(&0x0A0B_0C0Du32.to_be_bytes());
    s[12] = ((5 + opt_words) as u8) << 4;
    s[13] = 0x18;
    set16(&mut s, 14, 64240);
    for b in &mut s[20..] {
        *b = 1; // NOP options
    }
    s.extend_from_slice(payload);
    s
}

/// A UDP datagram, checksum 0.
pub fn udp_datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8; 8];
    set16(&mut s, 0, sport);
    set16(&mut s, 2, dport);
    set16(&mut s, 4, (8 + payload.len()) as u16);
    s.extend_from_slice(payload);
    s
}

/// IPv4 TCP packet with correct checksums.
pub fn tcp_v4(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    recomputed(&Ip4::new(src, dst, TCP).build(&tcp_segment(sport, dport, 0, payload)))
}

/// IPv4 UDP packet with correct checksums.
pub fn udp_v4(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Ip4::new(src, dst, UDP).build(&udp_datagram(sport, dport, payload));
    set16(&mut p, 26, 1); // non-zero, so recomputed() fills it in
    recomputed(&p)
}

/// An IPv6 packet (`exts`: extension headers already laid out, each as
/// (next-header value naming it, bytes)); checksums are not computed.
pub fn ip6(src: Ipv6Addr, dst: Ipv6Addr, exts: &[(u8, Vec<u8>)], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[1] = 0x20; // some traffic class bits
    p[3] = 0x42; // some flow label bits
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    let mut nh_pos = 6;
    for (kind, bytes) in exts {
        p[nh_pos] = *kind;
        nh_pos = p.len();
        p.extend_from_slice(bytes);
    }
    p[nh_pos] = proto;
    p.extend_from_slice(l4);
    let plen = (p.len() - 40) as u16;
    set16(&mut p, 4, plen);
    p
}

/// A destination-options extension header of 8 bytes (PadN).
pub fn dest_opts() -> (u8, Vec<u8>) {
    (60, vec![0, 0, 1, 4, 0, 0, 0, 0])
}

pub fn tcp_v6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    recomputed(&ip6(
        src,
        dst,
        &[],
        TCP,
        &tcp_segment(sport, dport, 0, payload),
    ))
}

pub fn udp_v6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = ip6(src, dst, &[], UDP, &udp_datagram(sport, dport, payload));
    set16(&mut p, 46, 1);
    recomputed(&p)
}

/// `(offset of the checksum field, pseudo-header sum words)` of the
/// transport header at `l4` of protocol `proto`, or `None`.
fn l4_cksum_off(proto: u8, l4: usize) -> Option<usize> {
    match proto {
        TCP => Some(l4 + 16),
        UDP => Some(l4 + 6),
        1 | 58 => Some(l4 + 2),
        _ => None,
    }
}

/// A copy of `p` with every checksum recomputed in full: the IPv4 header;
/// the TCP, UDP (a stored 0 stays 0), ICMP or ICMPv6 checksum of a whole,
/// unfragmented packet; and, in an ICMP error, the quoted packet's
/// checksums first (recursively) when the quote is complete, or at least
/// the quoted IPv4 header's. Packets it does not understand are returned
/// with what it did understand recomputed.
pub fn recomputed(p: &[u8]) -> Vec<u8> {
    let mut p = p.to_vec();
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 15) * 4;
            let total = usize::from(be16(&p, 2)).min(p.len());
            set16(&mut p, 10, 0);
            let c = !naive_sum(&[&p[..ihl]]);
            set16(&mut p, 10, c);
            let fragmented = be16(&p, 6) & 0x3FFF != 0;
            if !fragmented && total > ihl {
                let proto = p[9];
                let pseudo = [
                    &p[12..20],
                    &[0, proto],
                    &((total - ihl) as u16).to_be_bytes(),
                ]
                .concat();
                recompute_l4(&mut p[..total], ihl, proto, &pseudo, 1);
            }
        }
        Some(6) if p.len() >= 40 => {
            let end = (40 + usize::from(be16(&p, 4))).min(p.len());
            let (mut nh, mut off) = (p[6], 40);
            while matches!(nh, 0 | 60) && off + 8 <= end {
                nh = p[off];
                off += (usize::from(p[off + 1]) + 1) * 8;
            }
            if off <= end && nh != 44 {
                let pseudo = [
                    &p[8..40],
                    &((end - off) as u32).to_be_bytes(),
                    &[0, 0, 0, nh],
                ]
                .concat();
                recompute_l4(&mut p[..end], off, nh, &pseudo, 58);
            }
        }
        _ => {}
    }
    p
}

fn recompute_l4(p: &mut [u8], l4: usize, proto: u8, pseudo: &[u8], icmp: u8) {
    let Some(off) = l4_cksum_off(proto, l4) else {
        return;
    };
    if proto == 1 && icmp != 1 || proto == 58 && icmp != 58 || off + 2 > p.len() {
        return;
    }
    if proto == UDP && be16(p, off) == 0 {
        return;
    }
    // ICMP errors: fix the quoted packet first (it is covered by the
    // ICMP checksum).
    let is_error = (proto == 1 && matches!(p[l4], 3 | 11 | 12)) || (proto == 58 && p[l4] < 128);
    if is_error && p.len() > l4 + 8 {
        let q = l4 + 8;
        let quote = recomputed_quote(&p[q..]);
        p[q..].copy_from_slice(&quote);
    }
    set16(p, off, 0);
    let c = if proto == 1 {
        !naive_sum(&[&p[l4..]])
    } else {
        !naive_sum(&[pseudo, &p[l4..]])
    };
    let c = if proto == UDP && c == 0 { 0xFFFF } else { c };
    set16(p, off, c);
}

/// A quoted packet with its checksums recomputed as far as the quote goes.
fn recomputed_quote(q: &[u8]) -> Vec<u8> {
    let complete = match q.first().map(|b| b >> 4) {
        Some(4) => q.len() >= 20 && usize::from(be16(q, 2)) == q.len(),
        Some(6) => q.len() >= 40 && 40 + usize::from(be16(q, 4)) == q.len(),
        _ => false,
    };
    if complete {
        return recomputed(q);
    }
    let mut q = q.to_vec();
    if q.len() >= 20 && q[0] >> 4 == 4 {
        let ihl = usize::from(q[0] & 15) * 4;
        if q.len() >= ihl {
            set16(&mut q, 10, 0);
            let c = !naive_sum(&[&q[..ihl]]);
            set16(&mut q, 10, c);
        }
    }
    q
}

/// A random TCP or UDP packet of either family, with random header
/// options, lengths and payload, and correct checksums (a UDP/IPv4 packet
/// has checksum 0 now and then).
pub fn random_packet(rng: &mut Rng) -> Vec<u8> {
    let payload: Vec<u8> = (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
    let sport = rng.next_u64() as u16;
    let dport = rng.next_u64() as u16;
    let udp = rng.below(2) == 0;
    let l4 = if udp {
        let mut d = udp_datagram(sport, dport, &payload);
        d[6] = 1; // recomputed() fills it in
        d
    } else {
        tcp_segment(sport, dport, rng.below(11) as usize, &payload)
    };
    let proto = if udp { UDP } else { TCP };
    if rng.below(3) == 0 {
        let a =
            |r: &mut Rng| Ipv6Addr::from(u128::from(r.next_u64()) << 64 | u128::from(r.next_u64()));
        let exts = if rng.below(2) == 0 {
            vec![dest_opts()]
        } else {
            vec![]
        };
        return recomputed(&ip6(a(rng), a(rng), &exts, proto, &l4));
    }
    let mut h = Ip4::new(
        Ipv4Addr::from(rng.next_u64() as u32),
        Ipv4Addr::from(rng.next_u64() as u32),
        proto,
    );
    h.tos = rng.next_u64() as u8;
    h.id = rng.next_u64() as u16;
    h.df = rng.below(2) == 0;
    h.options = vec![1; 4 * rng.below(11) as usize];
    let mut p = recomputed(&h.build(&l4));
    if udp && rng.below(5) == 0 {
        let ihl = usize::from(p[0] & 15) * 4;
        set16(&mut p, ihl + 6, 0);
    }
    p
}

/// Whether `p` has every checksum right, by the oracle.
pub fn checksums_ok(p: &[u8]) -> bool {
    recomputed(p) == p
}

/// Asserts `f` fails on every proper prefix of `p` without writing to it.
pub fn every_truncation_fails<F: FnMut(&mut [u8]) -> Result<(), super::RewriteError>>(
    p: &[u8],
    mut f: F,
) {
    for len in 0..p.len() {
        let mut t = p[..len].to_vec();
        assert!(
            f(&mut t).is_err(),
            "accepted a truncation to {len} of {} bytes",
            p.len()
        );
        assert_eq!(t, &p[..len], "wrote to a refused truncation to {len}");
    }
}
