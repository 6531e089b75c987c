//! NAT rewrites: hand-built flows (request, reply restoring the VIP, full
//! NAT), random packets against full recomputation, fragments, refusals
//! and truncations.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::balance::Rng;
use crate::packet::rewrite::{
    RewriteError, dnat_v4, dnat_v6, rewrite_v4, rewrite_v6, snat_v4, snat_v6,
};

#[test]
fn dnat_sends_the_request_to_the_backend() {
    let mut p = tcp_v4(CLIENT, 40000, VIP, 80, b"GET / HTTP/1.1\r\n\r\n");
    dnat_v4(&mut p, BACKEND, 8080).expect("dnat");
    assert_eq!(
        p,
        tcp_v4(CLIENT, 40000, BACKEND, 8080, b"GET / HTTP/1.1\r\n\r\n")
    );
    let mut u = udp_v4(CLIENT, 5353, VIP, 53, b"query");
    dnat_v4(&mut u, BACKEND, 53).expect("dnat udp");
    assert_eq!(u, udp_v4(CLIENT, 5353, BACKEND, 53, b"query"));
}

#[test]
fn snat_restores_the_vip_on_the_reply() {
    let mut reply = tcp_v4(BACKEND, 8080, CLIENT, 40000, b"HTTP/1.1 200 OK\r\n\r\n");
    snat_v4(&mut reply, VIP, 80).expect("snat");
    assert_eq!(
        reply,
        tcp_v4(VIP, 80, CLIENT, 40000, b"HTTP/1.1 200 OK\r\n\r\n")
    );
    let mut reply6 = tcp_v6(BACKEND6, 8080, CLIENT6, 40000, b"pong");
    snat_v6(&mut reply6, VIP6, 80).expect("snat6");
    assert_eq!(reply6, tcp_v6(VIP6, 80, CLIENT6, 40000, b"pong"));
}

#[test]
fn full_nat_both_ways() {
    // In: client:40000 → VIP:80 becomes engine:61000 → backend:8080.
    let mut p = tcp_v4(CLIENT, 40000, VIP, 80, b"hello");
    rewrite_v4(&mut p, Some(ENGINE), Some(61000), Some(BACKEND), Some(8080)).expect("in");
    assert_eq!(p, tcp_v4(ENGINE, 61000, BACKEND, 8080, b"hello"));
    // Out: backend:8080 → engine:61000 becomes VIP:80 → client:40000.
    let mut r = tcp_v4(BACKEND, 8080, ENGINE, 61000, b"world");
    rewrite_v4(&mut r, Some(VIP), Some(80), Some(CLIENT), Some(40000)).expect("out");
    assert_eq!(r, tcp_v4(VIP, 80, CLIENT, 40000, b"world"));
}

#[test]
fn ipv6_nat_both_ways() {
    let mut p = udp_v6(CLIENT6, 5000, VIP6, 53, b"q");
    dnat_v6(&mut p, BACKEND6, 5353).expect("dnat6");
    assert_eq!(p, udp_v6(CLIENT6, 5000, BACKEND6, 5353, b"q"));
    rewrite_v6(&mut p, Some(BACKEND6), Some(1), Some(CLIENT6), Some(2)).expect("full");
    assert_eq!(p, udp_v6(BACKEND6, 1, CLIENT6, 2, b"q"));
}

/// A random rewrite of a random packet matches full recomputation, and the
/// inverse rewrite gives back the original bytes.
#[test]
fn random_packets_match_full_recomputation_and_round_trip() {
    let mut rng = Rng::seeded(0x5eed);
    for i in 0..3000 {
        let orig = random_packet(&mut rng);
        let mut p = orig.clone();
        let pick = |r: &mut Rng| r.below(3) != 0;
        let (s, sp, d, dp) = (
            pick(&mut rng),
            pick(&mut rng),
            pick(&mut rng),
            pick(&mut rng),
        );
        let ports = orig[0] >> 4 == 4;
        let (sport, dport) = (rng.next_u64() as u16, rng.next_u64() as u16);
        let (l4, old_sport, old_dport);
        if ports {
            l4 = usize::from(orig[0] & 15) * 4;
            let (a, b) = (
                Ipv4Addr::from(rng.next_u64() as u32),
                Ipv4Addr::from(rng.next_u64() as u32),
            );
            rewrite_v4(
                &mut p,
                s.then_some(a),
                sp.then_some(sport),
                d.then_some(b),
                dp.then_some(dport),
            )
            .expect("accepted");
            if s {
                assert_eq!(p[12..16], a.octets());
            }
            if d {
                assert_eq!(p[16..20], b.octets());
            }
        } else {
            l4 = if orig[6] == 60 { 48 } else { 40 };
            let a = Ipv6Addr::from(u128::from(rng.next_u64()) << 32);
            let b = Ipv6Addr::from(u128::from(rng.next_u64()));
            rewrite_v6(
                &mut p,
                s.then_some(a),
                sp.then_some(sport),
                d.then_some(b),
                dp.then_some(dport),
            )
            .expect("accepted");
            if d {
                assert_eq!(p[24..40], b.octets());
            }
        }
        (old_sport, old_dport) = (be16(&orig, l4), be16(&orig, l4 + 2));
        if sp {
            assert_eq!(be16(&p, l4), sport);
        }
        if dp {
            assert_eq!(be16(&p, l4 + 2), dport);
        }
        assert!(checksums_ok(&p), "packet {i}: {orig:?} → {p:?}");
        let udp = orig[if ports { 9 } else { l4 - 40 + 6 }] == UDP;
        if udp && ports && be16(&orig, l4 + 6) == 0 {
            assert_eq!(be16(&p, l4 + 6), 0, "UDP checksum 0 must stay 0");
        }
        // The inverse rewrite restores the original exactly.
        if ports {
            let a = Ipv4Addr::new(orig[12], orig[13], orig[14], orig[15]);
            let b = Ipv4Addr::new(orig[16], orig[17], orig[18], orig[19]);
            rewrite_v4(&mut p, Some(a), Some(old_sport), Some(b), Some(old_dport)).expect("back");
        } else {
            let a: [u8; 16] = orig[8..24].try_into().expect("16");
            let b: [u8; 16] = orig[24..40].try_into().expect("16");
            rewrite_v6(
                &mut p,
                Some(a.into()),
                Some(old_sport),
                Some(b.into()),
                Some(old_dport),
            )
            .expect("back");
        }
        assert_eq!(p, orig, "packet {i} did not round-trip");
    }
}

#[test]
fn a_corrupted_checksum_stays_corrupted() {
    let mut p = tcp_v4(CLIENT, 1, VIP, 80, b"data");
    p[36] ^= 0x40; // TCP checksum
    p[10] ^= 0x01; // IP header checksum
    dnat_v4(&mut p, BACKEND, 8080).expect("dnat does not validate");
    let fixed = recomputed(&p);
    assert_ne!(p[10..12], fixed[10..12]);
    assert_ne!(p[36..38], fixed[36..38]);
}

#[test]
fn udp_checksum_zero_stays_zero_and_computed_zero_becomes_ffff() {
    let mut p = udp_v4(CLIENT, 1000, VIP, 53, b"x");
    p[26..28].copy_from_slice(&[0, 0]);
    let p = recomputed(&p); // header checksum only
    let mut q = p.clone();
    dnat_v4(&mut q, BACKEND, 5353).expect("dnat");
    assert_eq!(q[26..28], [0, 0]);
    assert!(checksums_ok(&q));
    // Find a destination port for which the full checksum is "0", sent as
    // 0xFFFF, and check the incremental update lands on it too.
    let base = udp_v4(CLIENT, 1000, VIP, 53, b"xy");
    let port = (0..=u16::MAX)
        .find(|&port| udp_v4(CLIENT, 1000, BACKEND, port, b"xy")[26..28] == [0xFF, 0xFF])
        .expect("some port gives a zero checksum");
    let mut q = base.clone();
    dnat_v4(&mut q, BACKEND, port).expect("dnat");
    assert_eq!(q[26..28], [0xFF, 0xFF]);
    assert_eq!(q, udp_v4(CLIENT, 1000, BACKEND, port, b"xy"));
}

#[test]
fn fragments_first_rewritten_others_address_only() {
    // A UDP datagram of 8 + 40 bytes in two fragments: 24 bytes at offset
    // 0 (header + 16 payload bytes, MF) and 24 bytes at offset 24.
    let whole = udp_v4(CLIENT, 7000, VIP, 53, &[7u8; 40]);
    let l4 = &whole[20..];
    let mut h = Ip4::new(CLIENT, VIP, UDP);
    h.df = false;
    h.mf = true;
    let mut first = h.build(&l4[..24]);
    h.mf = false;
    h.frag = 3;
    let mut second = h.build(&l4[24..]);

    let before = second.clone();
    assert_eq!(
        dnat_v4(&mut second, BACKEND, 5353),
        Err(RewriteError::NonFirstFragment(24))
    );
    assert_eq!(second, before, "a refused rewrite wrote");

    dnat_v4(&mut first, BACKEND, 5353).expect("first fragment has the ports");
    rewrite_v4(&mut second, None, None, Some(BACKEND), None).expect("address only");
    assert!(
        checksums_ok(&first) && checksums_ok(&second),
        "IP header checksums"
    );
    // Reassembled, the datagram's UDP checksum is right for the new
    // addresses and port.
    let reassembled = Ip4::new(CLIENT, BACKEND, UDP).build(&[&first[20..], &second[20..]].concat());
    assert_eq!(reassembled[22..24], 5353u16.to_be_bytes());
    assert!(checksums_ok(&reassembled));
}

#[test]
fn ipv6_extension_headers_and_fragments() {
    let seg = {
        let p = tcp_v6(CLIENT6, 1, VIP6, 80, b"abc");
        p[40..].to_vec()
    };
    let mut p = recomputed(&ip6(CLIENT6, VIP6, &[dest_opts()], TCP, &seg));
    assert!(checksums_ok(&p));
    dnat_v6(&mut p, BACKEND6, 8080).expect("dest opts walked");
    assert!(checksums_ok(&p));
    assert_eq!(be16(&p, 48 + 2), 8080);

    // A non-first fragment: ports refused, address-only accepted.
    let frag = (44, vec![TCP, 0, 0x00, 0x08, 0, 0, 0, 1]); // offset 8 bytes
    let mut f = ip6(CLIENT6, VIP6, &[frag], TCP, &[9u8; 16]);
    let before = f.clone();
    assert_eq!(
        dnat_v6(&mut f, BACKEND6, 1),
        Err(RewriteError::NonFirstFragment(8))
    );
    assert_eq!(f, before);
    rewrite_v6(&mut f, None, None, Some(BACKEND6), None).expect("address only");
    assert_eq!(f[24..40], BACKEND6.octets());
    assert_eq!(f[40..], before[40..]);

    // Routing header: refused.
    let mut r = ip6(CLIENT6, VIP6, &[(43, vec![0; 8])], TCP, &seg);
    assert_eq!(
        dnat_v6(&mut r, BACKEND6, 1),
        Err(RewriteError::UnsupportedExtension(43))
    );
}

#[test]
fn icmp_only_address_rewrites_and_other_protocols_refused() {
    let mut echo = vec![8, 0, 0, 0, 0, 1, 0, 1, 0xAA, 0xBB];
    let c = !naive_sum(&[&echo]);
    echo[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = Ip4::new(CLIENT, VIP, 1).build(&echo);
    assert_eq!(
        dnat_v4(&mut p.clone(), BACKEND, 1),
        Err(RewriteError::NoPorts(1))
    );
    rewrite_v4(&mut p, None, None, Some(BACKEND), None).expect("ICMP address-only");
    assert!(checksums_ok(&p));
    assert_eq!(p[20..], echo[..]);

    let mut e6 = recomputed(&ip6(CLIENT6, VIP6, &[], 58, &[128, 0, 0, 0, 0, 1, 0, 1]));
    rewrite_v6(&mut e6, None, None, Some(BACKEND6), None).expect("ICMPv6 address-only");
    assert!(
        checksums_ok(&e6),
        "ICMPv6 checksum covers the pseudo-header"
    );

    let mut gre = Ip4::new(CLIENT, VIP, 47).build(&[0; 8]);
    assert_eq!(
        rewrite_v4(&mut gre, None, None, Some(BACKEND), None),
        Err(RewriteError::UnsupportedProtocol(47))
    );
    assert_eq!(
        dnat_v4(&mut gre, BACKEND, 1),
        Err(RewriteError::NoPorts(47))
    );
}

#[test]
fn malformed_transport_headers_refused() {
    let mut p = tcp_v4(CLIENT, 1, VIP, 80, b"");
    p[32] = 0x40; // data offset 16 bytes
    assert!(matches!(
        dnat_v4(&mut p, BACKEND, 1),
        Err(RewriteError::Malformed(_))
    ));
    p[32] = 0x60; // 24 bytes, but the segment has 20
    assert!(matches!(
        dnat_v4(&mut p, BACKEND, 1),
        Err(RewriteError::Truncated { .. })
    ));
    let mut u = udp_v4(CLIENT, 1, VIP, 53, b"abcd");
    u[25] = 13; // UDP length past the packet
    assert!(matches!(
        dnat_v4(&mut u, BACKEND, 1),
        Err(RewriteError::Truncated { .. })
    ));
    u[25] = 7;
    assert!(matches!(
        dnat_v4(&mut u, BACKEND, 1),
        Err(RewriteError::Malformed(_))
    ));
    let mut v6 = tcp_v6(CLIENT6, 1, VIP6, 2, b"");
    assert!(matches!(
        dnat_v4(&mut v6, BACKEND, 1),
        Err(RewriteError::WrongVersion { .. })
    ));
    let mut v4 = tcp_v4(CLIENT, 1, VIP, 2, b"");
    assert!(matches!(
        dnat_v6(&mut v4, BACKEND6, 1),
        Err(RewriteError::WrongVersion { .. })
    ));
    v4[0] = 0x44;
    assert_eq!(
        dnat_v4(&mut v4, BACKEND, 1),
        Err(RewriteError::BadHeaderLength(16))
    );
}

#[test]
fn padding_after_the_packet_is_left_alone() {
    let mut p = udp_v4(CLIENT, 1, VIP, 53, b"");
    let n = p.len();
    p.extend_from_slice(&[0xEE; 18]);
    dnat_v4(&mut p, BACKEND, 5353).expect("padding allowed");
    assert!(checksums_ok(&p[..n]));
    assert_eq!(p[n..], [0xEE; 18]);
}

#[test]
fn every_truncation_is_refused_without_writing() {
    let v4 = tcp_v4(CLIENT, 40000, VIP, 80, b"some payload");
    every_truncation_fails(&v4, |p| dnat_v4(p, BACKEND, 8080));
    every_truncation_fails(&v4, |p| {
        rewrite_v4(p, Some(ENGINE), None, Some(BACKEND), None)
    });
    let u4 = udp_v4(CLIENT, 40000, VIP, 53, b"q");
    every_truncation_fails(&u4, |p| snat_v4(p, VIP, 53));
    let v6 = tcp_v6(CLIENT6, 1, VIP6, 80, b"payload");
    every_truncation_fails(&v6, |p| dnat_v6(p, BACKEND6, 8080));
    every_truncation_fails(&v6, |p| rewrite_v6(p, Some(VIP6), None, None, None));
}
