//! Feeds arbitrary bytes to every packet rewrite of the L4 engine
//! (`switchyard::packet::rewrite`): NAT (IPv4, IPv6, ICMP errors), DSR,
//! IP-in-IP/GRE encapsulation and decapsulation, and the MTU/ICMP builders.
//!
//! Input: 13 parameter bytes (a mask saying which fields to rewrite, two
//! IPv4 addresses, two ports; IPv6 addresses repeat the IPv4 bytes) and
//! then the packet. Properties: nothing panics; a refused rewrite writes
//! nothing; an accepted rewrite changes only the fields it names and their
//! checksums, and keeps every checksum exactly as valid or invalid as it
//! was (checked by an independent full recomputation). Each input is also
//! run with its checksums fixed first: then the result must be
//! bit-identical to a full recomputation and the inverse rewrite must give
//! back the input. Encapsulation followed by `decap` gives back the inner
//! packet; `decap` returns a part of its input behind a valid header.

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use switchyard::packet::rewrite::{
    Endpoints, GRE_OVERHEAD, IPIP_OVERHEAD, MtuVerdict, decap, dsr_rewrite, encap_gre, encap_ipip,
    icmp_frag_needed_v4, icmp6_packet_too_big, mtu_verdict, parse_ethernet, rewrite_icmp_error_v4,
    rewrite_icmp_error_v6, rewrite_v4, rewrite_v6,
};

use oracle::{Layout, be16, recompute, sum, validity};

struct Params {
    mask: u8,
    a4: Ipv4Addr,
    b4: Ipv4Addr,
    a6: Ipv6Addr,
    b6: Ipv6Addr,
    p1: u16,
    p2: u16,
}

impl Params {
    fn parse(b: &[u8; 13]) -> Params {
        let a = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
        let c = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
        let wide = |x: u32| u128::from(x) * 0x0000_0001_0000_0001_0000_0001_0000_0001;
        Params {
            mask: b[0],
            a4: Ipv4Addr::from(a),
            b4: Ipv4Addr::from(c),
            a6: Ipv6Addr::from(wide(a)),
            b6: Ipv6Addr::from(wide(c)),
            p1: u16::from_be_bytes([b[9], b[10]]),
            p2: u16::from_be_bytes([b[11], b[12]]),
        }
    }
    fn bit(&self, n: u8) -> bool {
        self.mask & (1 << n) != 0
    }
}

/// Asserts that only bytes inside `allowed` ranges differ.
fn only_changed(before: &[u8], after: &[u8], allowed: &[(usize, usize)], what: &str) {
    assert_eq!(before.len(), after.len());
    for (i, (x, y)) in before.iter().zip(after).enumerate() {
        if x != y {
            assert!(
                allowed.iter().any(|&(s, e)| (s..e).contains(&i)),
                "{what}: byte {i} changed, allowed {allowed:?}"
            );
        }
    }
}

fn check_nat(pkt: &[u8], p: &Params, fixed: bool) {
    let mut out = pkt.to_vec();
    let (src, sport, dst, dport) = (p.bit(0), p.bit(1), p.bit(2), p.bit(3));
    let (sp, dp) = (sport.then_some(p.p1), dport.then_some(p.p2));
    let (r4, r6);
    r4 = rewrite_v4(&mut out, src.then_some(p.a4), sp, dst.then_some(p.b4), dp);
    if r4.is_err() {
        assert_eq!(out, pkt, "refused v4 rewrite wrote");
    }
    let mut out6 = pkt.to_vec();
    r6 = rewrite_v6(&mut out6, src.then_some(p.a6), sp, dst.then_some(p.b6), dp);
    if r6.is_err() {
        assert_eq!(out6, pkt, "refused v6 rewrite wrote");
    }
    assert!(
        r4.is_err() || r6.is_err(),
        "both families accepted one packet"
    );
    let (after, v4) = match (r4, r6) {
        (Ok(()), _) => (out, true),
        (_, Ok(())) => (out6, false),
        _ => return,
    };
    let lay = Layout::of(pkt).expect("an accepted packet parses");
    assert_eq!(lay.v4, v4);
    // The named fields hold the new values; nothing else changed but them
    // and the checksums.
    let mut allowed = vec![if v4 { (10, 20) } else { (8, 40) }];
    if let Some((off, proto)) = lay.l4
        && !lay.non_first
    {
        allowed.push((off, off + 4));
        if let Some(c) = oracle::cksum_off(proto, off, v4) {
            allowed.push((c, c + 2));
        }
        if matches!(proto, 6 | 17) {
            if sport {
                assert_eq!(be16(&after, off), p.p1);
            }
            if dport {
                assert_eq!(be16(&after, off + 2), p.p2);
            }
        }
    }
    only_changed(pkt, &after, &allowed, "NAT");
    assert_eq!(
        validity(pkt),
        validity(&after),
        "NAT changed checksum validity"
    );
    if fixed {
        assert_eq!(
            recompute(&after),
            after,
            "NAT differs from full recomputation"
        );
        // The inverse rewrite gives back the input exactly.
        let mut back = after.clone();
        let port = |at: Option<usize>| at.map(|o| be16(pkt, o));
        let ports_at = lay
            .l4
            .filter(|&(_, pr)| matches!(pr, 6 | 17) && !lay.non_first);
        let (sp0, dp0) = (
            port(ports_at.filter(|_| sport).map(|(o, _)| o)),
            port(ports_at.filter(|_| dport).map(|(o, _)| o + 2)),
        );
        let r = if v4 {
            let a = |o: usize| Some(Ipv4Addr::new(pkt[o], pkt[o + 1], pkt[o + 2], pkt[o + 3]));
            rewrite_v4(&mut back, a(12), sp0, a(16), dp0)
        } else {
            let a = |o: usize| {
                pkt[o..o + 16]
                    .try_into()
                    .ok()
                    .map(|x: [u8; 16]| Ipv6Addr::from(x))
            };
            rewrite_v6(&mut back, a(8), sp0, a(24), dp0)
        };
        r.expect("the inverse rewrite is accepted");
        // The input is canonical except for a TCP/ICMPv6 checksum the
        // oracle could not recompute (a first fragment): there, 0xFFFF (the
        // other zero) comes back as 0x0000, the same value.
        let mut want = pkt.to_vec();
        if let Some((off, proto)) = lay.l4.filter(|_| lay.fragmented && !lay.non_first)
            && let Some(c) = oracle::cksum_off(proto, off, v4).filter(|_| matches!(proto, 6 | 58))
            && c + 2 <= lay.end
            && be16(&want, c) == 0xFFFF
        {
            want[c..c + 2].copy_from_slice(&[0, 0]);
        }
        assert_eq!(back, want, "NAT did not round-trip");
    }
}

fn check_icmp_error(pkt: &[u8], p: &Params, fixed: bool) {
    let (sp, dp) = (p.bit(1).then_some(p.p1), p.bit(3).then_some(p.p2));
    let mut out = pkt.to_vec();
    let q4 = Endpoints {
        src: p.bit(0).then_some(p.a4),
        sport: sp,
        dst: p.bit(2).then_some(p.b4),
        dport: dp,
    };
    let q6 = Endpoints {
        src: p.bit(0).then_some(p.a6),
        sport: sp,
        dst: p.bit(2).then_some(p.b6),
        dport: dp,
    };
    let (os4, od4) = (p.bit(4).then_some(p.b4), p.bit(5).then_some(p.a4));
    let (os6, od6) = (p.bit(4).then_some(p.b6), p.bit(5).then_some(p.a6));
    let ok = if pkt.first().is_some_and(|b| b >> 4 == 4) {
        rewrite_icmp_error_v4(&mut out, os4, od4, q4).is_ok()
    } else {
        rewrite_icmp_error_v6(&mut out, os6, od6, q6).is_ok()
    };
    if !ok {
        assert_eq!(out, pkt, "refused ICMP error rewrite wrote");
        return;
    }
    assert_eq!(
        validity(pkt),
        validity(&out),
        "ICMP error rewrite changed validity"
    );
    assert_eq!(
        oracle::quoted_header_ok(pkt),
        oracle::quoted_header_ok(&out),
        "quoted header checksum validity changed"
    );
    if fixed {
        assert_eq!(
            recompute(&out),
            out,
            "ICMP error rewrite differs from recomputation"
        );
    }
}

fn check_dsr(pkt: &[u8], p: &Params) {
    let mut f = pkt.to_vec();
    let dst: [u8; 6] = [p.mask, 1, 2, 3, 4, 5];
    let src: [u8; 6] = [6, 7, 8, 9, 10, p.mask];
    let r = dsr_rewrite(&mut f, dst, src);
    assert_eq!(r.is_ok(), parse_ethernet(pkt).is_ok());
    if r.is_ok() {
        assert_eq!(f[..6], dst);
        assert_eq!(f[6..12], src);
        assert_eq!(f[12..], pkt[12..]);
        let e = parse_ethernet(pkt).expect("parsed");
        assert!(e.l3_offset < pkt.len());
    } else {
        assert_eq!(f, pkt);
    }
}

fn check_tunnels(pkt: &[u8], p: &Params) {
    for (gre, overhead) in [(false, IPIP_OVERHEAD), (true, GRE_OVERHEAD)] {
        let mut out = vec![0xA5; 3];
        let r = if gre {
            encap_gre(pkt, p.a4, p.b4, &mut out)
        } else {
            encap_ipip(pkt, p.a4, p.b4, &mut out)
        };
        if r.is_err() {
            assert_eq!(out, [0xA5; 3], "refused encap wrote");
            continue;
        }
        assert_eq!(sum(&[&out[..20]]), 0xFFFF, "outer header checksum");
        assert_eq!(out[8], 64);
        let inner = &pkt[..out.len() - overhead];
        assert_eq!(decap(&out), Ok(inner), "encap → decap round trip");
        if inner[0] >> 4 == 4 {
            assert_eq!(out[6] & 0x40, inner[6] & 0x40, "DF copied");
        }
    }
    if let Ok(inner) = decap(pkt) {
        let range = pkt.as_ptr_range();
        assert!(range.contains(&inner.as_ptr()) && inner.len() < pkt.len());
        assert_eq!(sum(&[&pkt[..usize::from(pkt[0] & 15) * 4]]), 0xFFFF);
        let mut again = Vec::new();
        encap_ipip(inner, p.a4, p.b4, &mut again).expect("a decapsulated packet re-encapsulates");
        assert_eq!(decap(&again), Ok(inner));
    }
}

fn check_mtu(pkt: &[u8], p: &Params) {
    let mtu = usize::from(p.p1);
    let verdict = mtu_verdict(pkt, IPIP_OVERHEAD, mtu);
    let mut out = Vec::new();
    if icmp_frag_needed_v4(pkt, p.p2, p.a4, &mut out).is_ok() {
        assert!(out.len() <= 576 && out.len() >= 48);
        assert_eq!(sum(&[&out[..20]]), 0xFFFF);
        assert_eq!(sum(&[&out[20..]]), 0xFFFF, "ICMP checksum");
        assert!(pkt.starts_with(&out[28..]));
        assert!(matches!(
            verdict,
            Ok(MtuVerdict::Fits | MtuVerdict::TooBig { .. })
        ));
    }
    if icmp6_packet_too_big(pkt, u32::from(p.p2), p.a6, &mut out).is_ok() {
        assert!(out.len() <= 1280 && out.len() >= 88);
        assert_eq!(validity(&out).1, Some(true), "ICMPv6 checksum");
        assert!(pkt.starts_with(&out[48..]));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((params, pkt)) = data.split_first_chunk::<13>() else {
        return;
    };
    let p = Params::parse(params);
    check_nat(pkt, &p, false);
    check_icmp_error(pkt, &p, false);
    let fixed = recompute(pkt);
    check_nat(&fixed, &p, true);
    check_icmp_error(&fixed, &p, true);
    check_dsr(pkt, &p);
    check_tunnels(pkt, &p);
    check_tunnels(&fixed, &p);
    check_mtu(pkt, &p);
});

/// An independent checksum oracle: naive word-by-word sums, its own header
/// walking, receiver-style validity and full recomputation.
mod oracle {
    /// Ones'-complement sum of the concatenated parts, folded every word.
    pub fn sum(parts: &[&[u8]]) -> u16 {
        let mut s: u32 = 0;
        let mut hi: Option<u8> = None;
        for b in parts.iter().flat_map(|p| p.iter()) {
            match hi.take() {
                None => hi = Some(*b),
                Some(h) => {
                    s += u32::from(u16::from_be_bytes([h, *b]));
                    s = (s & 0xFFFF) + (s >> 16);
                }
            }
        }
        if let Some(h) = hi {
            s += u32::from(h) << 8;
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

    /// Where things are in an IPv4 or IPv6 packet.
    pub struct Layout {
        pub v4: bool,
        /// IPv4 header length (40 for IPv6).
        pub hdr: usize,
        pub end: usize,
        /// Upper-layer offset and protocol (after IPv6 extension headers).
        pub l4: Option<(usize, u8)>,
        pub fragmented: bool,
        pub non_first: bool,
    }

    impl Layout {
        pub fn of(p: &[u8]) -> Option<Layout> {
            match p.first()? >> 4 {
                4 => {
                    let ihl = usize::from(p[0] & 15) * 4;
                    if p.len() < 20 || ihl < 20 || ihl > p.len() {
                        return None;
                    }
                    let end = usize::from(be16(p, 2));
                    if end < ihl || end > p.len() {
                        return None;
                    }
                    let fo = be16(p, 6);
                    Some(Layout {
                        v4: true,
                        hdr: ihl,
                        end,
                        l4: Some((ihl, p[9])),
                        fragmented: fo & 0x3FFF != 0,
                        non_first: fo & 0x1FFF != 0,
                    })
                }
                6 => {
                    if p.len() < 40 {
                        return None;
                    }
                    let end = 40 + usize::from(be16(p, 4));
                    if end > p.len() {
                        return None;
                    }
                    let (mut nh, mut off) = (p[6], 40);
                    let (mut fragmented, mut non_first) = (false, false);
                    for _ in 0..16 {
                        match nh {
                            0 | 60 => {
                                if off + 2 > end {
                                    return None;
                                }
                                let len = (usize::from(p[off + 1]) + 1) * 8;
                                if off + len > end {
                                    return None;
                                }
                                nh = p[off];
                                off += len;
                            }
                            44 => {
                                if off + 8 > end {
                                    return None;
                                }
                                let fo = be16(p, off + 2);
                                nh = p[off];
                                off += 8;
                                fragmented |= fo & 0xFFF9 != 0;
                                if fo >> 3 != 0 {
                                    non_first = true;
                                    break;
                                }
                            }
                            _ => break,
                        }
                    }
                    Some(Layout {
                        v4: false,
                        hdr: 40,
                        end,
                        l4: Some((off, nh)),
                        fragmented,
                        non_first,
                    })
                }
                _ => None,
            }
        }
    }

    /// The checksum field of the transport header at `off`.
    pub fn cksum_off(proto: u8, off: usize, v4: bool) -> Option<usize> {
        match proto {
            6 => Some(off + 16),
            17 => Some(off + 6),
            1 if v4 => Some(off + 2),
            58 if !v4 => Some(off + 2),
            _ => None,
        }
    }

    fn pseudo(p: &[u8], v4: bool, proto: u8, len: usize) -> Vec<u8> {
        if v4 {
            [&p[12..20], &[0, proto], &(len as u16).to_be_bytes()].concat()
        } else {
            [&p[8..40], &(len as u32).to_be_bytes(), &[0, 0, 0, proto]].concat()
        }
    }

    /// The transport checksum field and segment of a whole packet, if the
    /// oracle can check it (unfragmented, field inside, UDP not "none").
    fn l4_field(p: &[u8], lay: &Layout) -> Option<(usize, usize, u8)> {
        let (off, proto) = lay.l4?;
        let c = cksum_off(proto, off, lay.v4)?;
        if lay.fragmented || c + 2 > lay.end || (proto == 17 && be16(p, c) == 0) {
            return None;
        }
        Some((off, c, proto))
    }

    fn l4_sum(p: &[u8], lay: &Layout, off: usize, proto: u8) -> u16 {
        let seg = &p[off..lay.end];
        if proto == 1 {
            sum(&[seg])
        } else {
            sum(&[&pseudo(p, lay.v4, proto, seg.len()), seg])
        }
    }

    /// As a receiver sees it: (IPv4 header checksum right, transport
    /// checksum right), `None` where there is nothing to check.
    pub fn validity(p: &[u8]) -> (Option<bool>, Option<bool>) {
        let Some(lay) = Layout::of(p) else {
            return (None, None);
        };
        let ip = lay.v4.then(|| sum(&[&p[..lay.hdr]]) == 0xFFFF);
        let l4 = l4_field(p, &lay).map(|(off, _, proto)| l4_sum(p, &lay, off, proto) == 0xFFFF);
        (ip, l4)
    }

    /// Whether the IPv4 header quoted in an ICMPv4 error has a right
    /// checksum.
    pub fn quoted_header_ok(p: &[u8]) -> Option<bool> {
        let lay = Layout::of(p)?;
        let (off, proto) = lay.l4?;
        if !lay.v4 || proto != 1 || off + 28 > lay.end || !matches!(p[off], 3 | 11 | 12) {
            return None;
        }
        let q = off + 8;
        let qihl = usize::from(p[q] & 15) * 4;
        if qihl < 20 || q + qihl > lay.end {
            return None;
        }
        Some(sum(&[&p[q..q + qihl]]) == 0xFFFF)
    }

    /// A copy with every checksum the oracle understands recomputed in
    /// full, the packet quoted in an ICMP error first.
    pub fn recompute(p: &[u8]) -> Vec<u8> {
        let mut p = p.to_vec();
        let Some(lay) = Layout::of(&p) else {
            return p;
        };
        if lay.v4 {
            set16(&mut p, 10, 0);
            let c = !sum(&[&p[..lay.hdr]]);
            set16(&mut p, 10, c);
        }
        if let Some((off, c, proto)) = l4_field(&p, &lay) {
            let error = if lay.v4 {
                proto == 1 && matches!(p[off], 3 | 11 | 12)
            } else {
                proto == 58 && p[off] < 128
            };
            if error && off + 8 < lay.end {
                let q = recompute_quote(&p[off + 8..lay.end]);
                p[off + 8..lay.end].copy_from_slice(&q);
            }
            set16(&mut p, c, 0);
            let v = !l4_sum(&p, &lay, off, proto);
            set16(&mut p, c, if proto == 17 && v == 0 { 0xFFFF } else { v });
        }
        p
    }

    fn recompute_quote(q: &[u8]) -> Vec<u8> {
        let complete = match q[0] >> 4 {
            4 => q.len() >= 20 && usize::from(be16(q, 2)) == q.len(),
            6 => q.len() >= 40 && 40 + usize::from(be16(q, 4)) == q.len(),
            _ => false,
        };
        if complete {
            return recompute(q);
        }
        let mut q = q.to_vec();
        let ihl = usize::from(q[0] & 15) * 4;
        if q[0] >> 4 == 4 && ihl >= 20 && q.len() >= ihl {
            set16(&mut q, 10, 0);
            let c = !sum(&[&q[..ihl]]);
            set16(&mut q, 10, c);
        }
        q
    }
}
