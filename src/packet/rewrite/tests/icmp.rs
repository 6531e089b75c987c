//! MTU policy, the ICMP messages we generate, and NAT of ICMP errors.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::packet::rewrite::{
    Endpoints, GRE_OVERHEAD, IPIP_OVERHEAD, MtuVerdict, RewriteError, icmp_frag_needed_v4,
    icmp6_packet_too_big, mtu_verdict, needs_frag, rewrite_icmp_error_v4, rewrite_icmp_error_v6,
};

const ROUTER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0xfe);

fn icmp4_error(
    from: Ipv4Addr,
    to: Ipv4Addr,
    kind: [u8; 2],
    rest: [u8; 4],
    quote: &[u8],
) -> Vec<u8> {
    let m = [&kind[..], &[0, 0], &rest, quote].concat();
    recomputed(&Ip4::new(from, to, 1).build(&m))
}

fn icmp6_error(
    from: Ipv6Addr,
    to: Ipv6Addr,
    kind: [u8; 2],
    rest: [u8; 4],
    quote: &[u8],
) -> Vec<u8> {
    let m = [&kind[..], &[0, 0], &rest, quote].concat();
    recomputed(&ip6(from, to, &[], 58, &m))
}

#[test]
fn needs_frag_and_the_policy() {
    assert!(!needs_frag(1480, IPIP_OVERHEAD, 1500));
    assert!(needs_frag(1481, IPIP_OVERHEAD, 1500));
    assert!(needs_frag(1477, GRE_OVERHEAD, 1500));
    assert!(needs_frag(usize::MAX, 1, 1500));

    let mut h = Ip4::new(CLIENT, VIP, UDP);
    let p = h.build(&[0; 1480 - 20]);
    assert_eq!(mtu_verdict(&p, IPIP_OVERHEAD, 1500), Ok(MtuVerdict::Fits));
    assert_eq!(
        mtu_verdict(&p, GRE_OVERHEAD, 1500),
        Ok(MtuVerdict::TooBig { next_hop_mtu: 1476 })
    );
    h.df = false;
    let p = h.build(&[0; 1480 - 20]);
    assert_eq!(mtu_verdict(&p, GRE_OVERHEAD, 1500), Ok(MtuVerdict::Drop));
    let p6 = ip6(CLIENT6, VIP6, &[], UDP, &[0; 1441]);
    assert_eq!(
        mtu_verdict(&p6, IPIP_OVERHEAD, 1500),
        Ok(MtuVerdict::TooBig { next_hop_mtu: 1480 })
    );
    assert!(mtu_verdict(&p6[..39], IPIP_OVERHEAD, 1500).is_err());
    assert_eq!(mtu_verdict(&[0x10], 20, 1500), Err(RewriteError::NotIp(1)));
}

#[test]
fn frag_needed_quotes_the_original_within_576_bytes() {
    let big = tcp_v4(CLIENT, 40000, VIP, 80, &[0x5A; 1460]);
    let mut out = Vec::new();
    icmp_frag_needed_v4(&big, 1480, VIP, &mut out).expect("DF set");
    assert_eq!(out.len(), 576);
    assert_eq!(out[9], 1);
    assert_eq!(out[12..16], VIP.octets());
    assert_eq!(out[16..20], CLIENT.octets());
    assert_eq!(out[20..24][..2], [3, 4]);
    assert_eq!(be16(&out, 26), 1480);
    assert_eq!(out[28..], big[..548]);
    assert!(checksums_ok(&out), "header and ICMP checksums");

    let small = tcp_v4(CLIENT, 40000, VIP, 80, b"x");
    icmp_frag_needed_v4(&small, 1400, VIP, &mut out).expect("small");
    assert_eq!(out.len(), 28 + small.len());
    assert_eq!(out[28..], small[..]);
    assert!(checksums_ok(&out));
}

#[test]
fn frag_needed_refusals() {
    let refuse = |p: &[u8]| {
        let mut out = vec![7];
        let r = icmp_frag_needed_v4(p, 1400, VIP, &mut out);
        assert_eq!(out, [7], "out written on refusal");
        r
    };
    let mut h = Ip4::new(CLIENT, VIP, TCP);
    h.df = false;
    assert!(matches!(
        refuse(&h.build(&[0; 20])),
        Err(RewriteError::NoIcmpError(_))
    ));
    h.df = true;
    h.frag = 10;
    assert!(matches!(
        refuse(&h.build(&[0; 20])),
        Err(RewriteError::NoIcmpError(_))
    ));
    let about_error = icmp4_error(CLIENT, VIP, [3, 1], [0; 4], &[0x45; 28]);
    assert!(matches!(
        refuse(&about_error),
        Err(RewriteError::NoIcmpError(_))
    ));
    let echo = Ip4::new(CLIENT, VIP, 1).build(&[8, 0, 0, 0, 0, 0, 0, 0]);
    icmp_frag_needed_v4(&echo, 1400, VIP, &mut Vec::new()).expect("echo requests get answers");
    for (src, dst) in [
        (Ipv4Addr::UNSPECIFIED, VIP),
        (Ipv4Addr::new(127, 0, 0, 1), VIP),
        (Ipv4Addr::new(224, 0, 0, 5), VIP),
        (Ipv4Addr::new(240, 0, 0, 1), VIP),
        (CLIENT, Ipv4Addr::BROADCAST),
        (CLIENT, Ipv4Addr::new(239, 1, 1, 1)),
    ] {
        let p = Ip4::new(src, dst, TCP).build(&[0; 20]);
        assert!(
            matches!(refuse(&p), Err(RewriteError::NoIcmpError(_))),
            "{src} → {dst}"
        );
    }
    let p = tcp_v4(CLIENT, 1, VIP, 80, b"abc");
    for len in 0..p.len() {
        assert!(refuse(&p[..len]).is_err());
    }
}

#[test]
fn packet_too_big_for_ipv6() {
    let big = tcp_v6(CLIENT6, 40000, VIP6, 80, &[1; 1440]);
    let mut out = Vec::new();
    icmp6_packet_too_big(&big, 1480, VIP6, &mut out).expect("ptb");
    assert_eq!(out.len(), 1280);
    assert_eq!(out[6], 58);
    assert_eq!(out[8..24], VIP6.octets());
    assert_eq!(out[24..40], CLIENT6.octets());
    assert_eq!(out[40..42], [2, 0]);
    assert_eq!(out[44..48], 1480u32.to_be_bytes());
    assert_eq!(out[48..], big[..1232]);
    assert!(checksums_ok(&out));

    let small = udp_v6(CLIENT6, 1, VIP6, 53, b"q");
    icmp6_packet_too_big(&small, 1280, VIP6, &mut out).expect("small");
    assert_eq!(out[48..], small[..]);
    assert!(checksums_ok(&out));

    let about_error = icmp6_error(CLIENT6, VIP6, [1, 0], [0; 4], &small);
    assert!(matches!(
        icmp6_packet_too_big(&about_error, 1280, VIP6, &mut out),
        Err(RewriteError::NoIcmpError(_))
    ));
    let echo = recomputed(&ip6(CLIENT6, VIP6, &[], 58, &[128, 0, 0, 0, 0, 1, 0, 1]));
    icmp6_packet_too_big(&echo, 1280, VIP6, &mut out).expect("echo");
    let to_multicast = udp_v6(CLIENT6, 1, "ff02::1".parse().expect("addr"), 53, b"");
    icmp6_packet_too_big(&to_multicast, 1280, VIP6, &mut out).expect("RFC 4443 exception");
    let from_multicast = udp_v6("ff02::1".parse().expect("addr"), 1, VIP6, 53, b"");
    assert!(icmp6_packet_too_big(&from_multicast, 1280, VIP6, &mut out).is_err());
    for len in 0..small.len() {
        assert!(icmp6_packet_too_big(&small[..len], 1280, VIP6, &mut out).is_err());
    }
}

/// Client-side error about a reply (VIP → client): it must reach the
/// backend, quoting the packet as the backend sent it.
#[test]
fn icmp_error_about_a_reply_reaches_the_backend() {
    let to_backend = Endpoints {
        src: Some(BACKEND),
        sport: Some(8080),
        ..Endpoints::default()
    };
    let tcp = (
        tcp_v4(VIP, 80, CLIENT, 40000, &[3; 100]),
        tcp_v4(BACKEND, 8080, CLIENT, 40000, &[3; 100]),
    );
    let udp = (
        udp_v4(VIP, 53, CLIENT, 5000, &[4; 30]),
        udp_v4(BACKEND, 8080, CLIENT, 5000, &[4; 30]),
    );
    for (seen, sent) in [tcp, udp] {
        // The whole packet quoted, and only its header plus 8 bytes.
        for cut in [seen.len(), 28] {
            let rest = [0, 0, 0x05, 0xC8];
            let mut err = icmp4_error(ROUTER, VIP, [3, 4], rest, &seen[..cut]);
            rewrite_icmp_error_v4(&mut err, None, Some(BACKEND), to_backend).expect("rewrite");
            assert_eq!(
                err,
                icmp4_error(ROUTER, BACKEND, [3, 4], rest, &sent[..cut])
            );
        }
    }
}

/// Backend-side error about a request, in full NAT: it must reach the
/// client, quoting the packet as the client sent it.
#[test]
fn icmp_error_about_a_request_reaches_the_client_in_full_nat() {
    let seen = tcp_v4(ENGINE, 61000, BACKEND, 8080, b"req");
    let sent = tcp_v4(CLIENT, 40000, VIP, 80, b"req");
    let mut err = icmp4_error(BACKEND, ENGINE, [11, 0], [0; 4], &seen);
    let quoted = Endpoints {
        src: Some(CLIENT),
        sport: Some(40000),
        dst: Some(VIP),
        dport: Some(80),
    };
    rewrite_icmp_error_v4(&mut err, Some(VIP), Some(CLIENT), quoted).expect("rewrite");
    assert_eq!(err, icmp4_error(VIP, CLIENT, [11, 0], [0; 4], &sent));
}

#[test]
fn icmpv6_errors_are_rewritten_too() {
    let seen = tcp_v6(VIP6, 80, CLIENT6, 40000, &[5; 64]);
    let sent = tcp_v6(BACKEND6, 8080, CLIENT6, 40000, &[5; 64]);
    let to_backend = Endpoints {
        src: Some(BACKEND6),
        sport: Some(8080),
        ..Endpoints::default()
    };
    for cut in [seen.len(), 48, 60] {
        let rest = 1400u32.to_be_bytes();
        let mut err = icmp6_error(ROUTER6, VIP6, [2, 0], rest, &seen[..cut]);
        rewrite_icmp_error_v6(&mut err, None, Some(BACKEND6), to_backend).expect("rewrite");
        assert_eq!(
            err,
            icmp6_error(ROUTER6, BACKEND6, [2, 0], rest, &sent[..cut]),
            "cut {cut}"
        );
    }
}

#[test]
fn icmp_error_rewrite_refusals() {
    let ports = Endpoints {
        dport: Some(1),
        ..Endpoints::default()
    };
    let seen = tcp_v4(VIP, 80, CLIENT, 40000, b"");
    let mut echo = icmp4_error(CLIENT, VIP, [8, 0], [0; 4], &[]);
    assert_eq!(
        rewrite_icmp_error_v4(&mut echo, None, None, ports),
        Err(RewriteError::NotIcmpError(8))
    );
    let mut tcp = seen.clone();
    assert_eq!(
        rewrite_icmp_error_v4(&mut tcp, None, None, ports),
        Err(RewriteError::UnsupportedProtocol(TCP))
    );
    let mut short = icmp4_error(ROUTER, VIP, [3, 4], [0; 4], &seen[..22]);
    assert!(matches!(
        rewrite_icmp_error_v4(&mut short, None, None, ports),
        Err(RewriteError::Truncated { .. })
    ));
    // Addresses alone need no ports in the quote.
    let addr_only = Endpoints {
        src: Some(BACKEND),
        ..Endpoints::default()
    };
    rewrite_icmp_error_v4(&mut short, None, None, addr_only).expect("address only");
    assert!(checksums_ok(&short));
    let mut h = Ip4::new(VIP, CLIENT, TCP);
    h.frag = 2;
    let mut frag = icmp4_error(ROUTER, VIP, [3, 4], [0; 4], &h.build(&[0; 16]));
    assert_eq!(
        rewrite_icmp_error_v4(&mut frag, None, None, ports),
        Err(RewriteError::NonFirstFragment(16))
    );
    let err = icmp4_error(ROUTER, VIP, [3, 4], [0; 4], &seen);
    every_truncation_fails(&err, |p| {
        rewrite_icmp_error_v4(p, None, Some(BACKEND), ports)
    });
    let ports = Endpoints {
        dport: Some(1),
        ..Endpoints::default()
    };
    let err6 = icmp6_error(
        ROUTER6,
        VIP6,
        [1, 4],
        [0; 4],
        &tcp_v6(VIP6, 1, CLIENT6, 2, b""),
    );
    every_truncation_fails(&err6, |p| {
        rewrite_icmp_error_v6(p, None, Some(BACKEND6), ports)
    });
    let mut echo6 = recomputed(&ip6(CLIENT6, VIP6, &[], 58, &[128, 0, 0, 0, 0, 1, 0, 1]));
    assert_eq!(
        rewrite_icmp_error_v6(&mut echo6, None, None, ports),
        Err(RewriteError::NotIcmpError(128))
    );
}
