//! IP-in-IP and GRE: outer headers, encap → decap round trips, decap's
//! refusals, outer-source spreading.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::*;
use crate::balance::Rng;
use crate::packet::rewrite::{
    GRE_OVERHEAD, IPIP_OVERHEAD, RewriteError, decap, encap_gre, encap_ipip, outer_source_for,
};

const OUTER_SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 7);

fn assert_outer(out: &[u8], proto: u8, inner: &[u8], df: bool) {
    assert_eq!(out[0], 0x45);
    assert_eq!(usize::from(be16(out, 2)), out.len());
    assert_eq!(out[8], 64, "TTL");
    assert_eq!(out[9], proto);
    assert_eq!(be16(out, 6), if df { 0x4000 } else { 0 }, "flags");
    assert_eq!(out[12..16], OUTER_SRC.octets());
    assert_eq!(out[16..20], BACKEND.octets());
    assert_eq!(naive_sum(&[&out[..20]]), 0xFFFF, "outer header checksum");
    assert!(out.ends_with(inner));
}

#[test]
fn ipip_outer_header_copies_df_tos_and_id() {
    for df in [true, false] {
        let mut h = Ip4::new(CLIENT, VIP, TCP);
        h.df = df;
        h.tos = 0xB9; // DSCP 46, ECN 01
        h.id = 0xBEEF;
        let inner = recomputed(&h.build(&tcp_segment(1, 80, 0, b"payload")));
        let mut out = vec![0xAA; 3]; // replaced, not appended to
        encap_ipip(&inner, OUTER_SRC, BACKEND, &mut out).expect("encap");
        assert_eq!(out.len(), inner.len() + IPIP_OVERHEAD);
        assert_outer(&out, 4, &inner, df);
        assert_eq!(out[1], 0xB9, "TOS copied");
        assert_eq!(be16(&out, 4), 0xBEEF, "identification copied");
        assert_eq!(decap(&out), Ok(&inner[..]));
    }
}

#[test]
fn gre_header_and_round_trip() {
    let inner = tcp_v4(CLIENT, 40000, VIP, 80, b"GET /");
    let mut out = Vec::new();
    encap_gre(&inner, OUTER_SRC, BACKEND, &mut out).expect("encap");
    assert_eq!(out.len(), inner.len() + GRE_OVERHEAD);
    assert_outer(&out, 47, &inner, true);
    assert_eq!(out[20..24], [0, 0, 0x08, 0x00]);
    assert_eq!(decap(&out), Ok(&inner[..]));
}

#[test]
fn ipv6_inside_ipv4() {
    let inner = tcp_v6(CLIENT6, 40000, VIP6, 80, b"six");
    let mut out = Vec::new();
    encap_ipip(&inner, OUTER_SRC, BACKEND, &mut out).expect("6in4");
    assert_outer(&out, 41, &inner, true);
    assert_eq!(out[1], 0x02, "traffic class copied");
    assert_eq!(decap(&out), Ok(&inner[..]));
    encap_gre(&inner, OUTER_SRC, BACKEND, &mut out).expect("gre v6");
    assert_outer(&out, 47, &inner, true);
    assert_eq!(out[20..24], [0, 0, 0x86, 0xDD]);
    assert_eq!(decap(&out), Ok(&inner[..]));
}

#[test]
fn random_packets_round_trip_through_both_tunnels() {
    let mut rng = Rng::seeded(77);
    let mut out = Vec::new();
    for _ in 0..2000 {
        let inner = random_packet(&mut rng);
        let src = Ipv4Addr::from(rng.next_u64() as u32);
        let dst = Ipv4Addr::from(rng.next_u64() as u32);
        encap_ipip(&inner, src, dst, &mut out).expect("ipip");
        assert_eq!(naive_sum(&[&out[..20]]), 0xFFFF);
        assert_eq!(decap(&out), Ok(&inner[..]));
        encap_gre(&inner, src, dst, &mut out).expect("gre");
        assert_eq!(naive_sum(&[&out[..20]]), 0xFFFF);
        assert_eq!(decap(&out), Ok(&inner[..]));
    }
}

#[test]
fn inner_padding_is_not_tunneled() {
    let inner = udp_v4(CLIENT, 1, VIP, 53, b"");
    let padded = [&inner[..], &[0u8; 18]].concat();
    let mut out = Vec::new();
    encap_ipip(&padded, OUTER_SRC, BACKEND, &mut out).expect("encap");
    assert_eq!(decap(&out), Ok(&inner[..]));
    // Outer padding is ignored by decap too.
    out.extend_from_slice(&[0; 6]);
    assert_eq!(decap(&out), Ok(&inner[..]));
}

#[test]
fn encap_refuses_bad_inner_packets_and_leaves_out_alone() {
    let mut out = vec![1, 2, 3];
    assert_eq!(
        encap_ipip(&[], OUTER_SRC, BACKEND, &mut out).map_err(|_| ()),
        Err(())
    );
    assert_eq!(
        encap_gre(&[0x50; 40], OUTER_SRC, BACKEND, &mut out),
        Err(RewriteError::NotIp(5))
    );
    assert_eq!(out, [1, 2, 3]);
    let inner = tcp_v4(CLIENT, 1, VIP, 80, b"x");
    every_truncation_fails(&inner, |p| {
        encap_ipip(p, OUTER_SRC, BACKEND, &mut Vec::new())
    });
    every_truncation_fails(&inner, |p| {
        encap_gre(p, OUTER_SRC, BACKEND, &mut Vec::new())
    });
}

#[test]
fn encap_refuses_what_does_not_fit_in_one_packet() {
    let big = |len: usize| Ip4::new(CLIENT, VIP, UDP).build(&vec![0; len - 20]);
    let mut out = Vec::new();
    let fits = big(65535 - IPIP_OVERHEAD);
    encap_ipip(&fits, OUTER_SRC, BACKEND, &mut out).expect("exactly 65535");
    assert_eq!(out.len(), 65535);
    assert_eq!(decap(&out), Ok(&fits[..]));
    let over = big(65535 - IPIP_OVERHEAD + 1);
    assert_eq!(
        encap_ipip(&over, OUTER_SRC, BACKEND, &mut out),
        Err(RewriteError::TooLong(over.len()))
    );
    let over = big(65535 - GRE_OVERHEAD + 1);
    assert_eq!(
        encap_gre(&over, OUTER_SRC, BACKEND, &mut out),
        Err(RewriteError::TooLong(over.len()))
    );
}

/// An outer packet around `payload` with protocol `proto` and a correct
/// header checksum.
fn outer(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = Ip4::new(OUTER_SRC, BACKEND, proto);
    h.ttl = 64;
    h.build(payload)
}

#[test]
fn decap_refusals() {
    let inner = tcp_v4(CLIENT, 1, VIP, 80, b"x");
    let inner6 = tcp_v6(CLIENT6, 1, VIP6, 80, b"x");
    let gre = |flags: u16, ptype: u16, inner: &[u8]| {
        outer(
            47,
            &[&flags.to_be_bytes()[..], &ptype.to_be_bytes(), inner].concat(),
        )
    };

    let mut bad = outer(4, &inner);
    bad[10] ^= 1;
    assert_eq!(decap(&bad), Err(RewriteError::BadChecksum));

    let mut h = Ip4::new(OUTER_SRC, BACKEND, 4);
    h.mf = true;
    assert!(matches!(
        decap(&h.build(&inner)),
        Err(RewriteError::Fragmented(_))
    ));
    h.mf = false;
    h.frag = 1;
    assert!(matches!(
        decap(&h.build(&inner)),
        Err(RewriteError::Fragmented(_))
    ));

    assert_eq!(decap(&inner), Err(RewriteError::NotTunnel(TCP)));
    assert!(matches!(
        decap(&inner6),
        Err(RewriteError::WrongVersion { found: 6, .. })
    ));
    for flags in [0x8000, 0x4000, 0x2000, 0x1000, 0x0001, 0x0080] {
        assert_eq!(
            decap(&gre(flags, 0x0800, &inner)),
            Err(RewriteError::UnsupportedGre(flags))
        );
    }
    assert_eq!(
        decap(&gre(0, 0x6558, &inner)),
        Err(RewriteError::GreProtocol(0x6558))
    );
    assert!(matches!(
        decap(&gre(0, 0x0800, &inner6)),
        Err(RewriteError::WrongVersion {
            found: 6,
            expected: 4
        })
    ));
    assert!(matches!(
        decap(&outer(4, &inner6)),
        Err(RewriteError::WrongVersion {
            found: 6,
            expected: 4
        })
    ));
    assert!(matches!(
        decap(&outer(41, &inner)),
        Err(RewriteError::WrongVersion {
            found: 4,
            expected: 6
        })
    ));
    // The inner packet must fill the outer payload exactly.
    let longer = [&inner[..], &[0; 4]].concat();
    assert!(matches!(
        decap(&outer(4, &longer)),
        Err(RewriteError::Malformed(_))
    ));
    assert!(matches!(
        decap(&outer(4, &inner[..inner.len() - 1])),
        Err(RewriteError::Truncated { .. })
    ));
    assert!(decap(&outer(4, &[])).is_err());
    assert!(decap(&gre(0, 0x0800, &[])).is_err());
}

#[test]
fn decap_refuses_every_truncation() {
    let inner = tcp_v4(CLIENT, 1, VIP, 80, b"abc");
    for encap in [encap_ipip, encap_gre] {
        let mut out = Vec::new();
        encap(&inner, OUTER_SRC, BACKEND, &mut out).expect("encap");
        for len in 0..out.len() {
            assert!(
                decap(&out[..len]).is_err(),
                "accepted a truncation to {len}"
            );
        }
    }
}

#[test]
fn outer_source_stays_in_range_and_spreads() {
    let base = Ipv4Addr::new(198, 18, 200, 99); // host bits are masked off
    let mut seen = HashSet::new();
    let mut rng = Rng::seeded(9);
    for _ in 0..20_000 {
        let h = rng.next_u64();
        let a = outer_source_for(h, base, 24);
        assert_eq!(a, outer_source_for(h, base, 24), "same flow, same source");
        let o = a.octets();
        assert_eq!(o[..3], [198, 18, 200]);
        assert!(o[3] != 0 && o[3] != 255, "{a}");
        seen.insert(a);
    }
    assert_eq!(seen.len(), 254, "every usable address is used");
    // Hashes that differ only in their low bits still spread.
    let low: HashSet<_> = (0..64u64).map(|h| outer_source_for(h, base, 24)).collect();
    assert!(low.len() > 40, "{}", low.len());
    assert_eq!(outer_source_for(123, base, 32), base);
    assert_eq!(outer_source_for(123, base, 40), base);
    let pair: HashSet<_> = (0..100u64).map(|h| outer_source_for(h, base, 31)).collect();
    assert_eq!(pair.len(), 2);
    let p30: HashSet<_> = (0..100u64).map(|h| outer_source_for(h, base, 30)).collect();
    assert_eq!(
        p30,
        HashSet::from([
            Ipv4Addr::new(198, 18, 200, 97),
            Ipv4Addr::new(198, 18, 200, 98)
        ])
    );
    let any = outer_source_for(u64::MAX, base, 0);
    assert!(!any.is_unspecified() && !any.is_broadcast());
}
