//! DSR: only the MACs change; Ethernet II with up to two VLAN tags.

use super::*;
use crate::packet::rewrite::{EtherFrame, RewriteError, dsr_rewrite, parse_ethernet};

const ENGINE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CLIENT_ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const BACKEND_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];

/// A frame to the engine with the given tags and EtherType around `l3`.
fn frame(tags: &[u16], ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = [ENGINE_MAC, CLIENT_ROUTER_MAC].concat();
    for (i, t) in tags.iter().enumerate() {
        f.extend_from_slice(&t.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

#[test]
fn only_the_macs_change() {
    let ip = tcp_v4(CLIENT, 40000, VIP, 80, b"GET /");
    let ip6 = tcp_v6(CLIENT6, 40000, VIP6, 80, b"GET /");
    let cases: [(&[u16], u16, &[u8], usize); 5] = [
        (&[], 0x0800, &ip, 14),
        (&[], 0x86DD, &ip6, 14),
        (&[0x8100], 0x0800, &ip, 18),
        (&[0x88A8, 0x8100], 0x0800, &ip, 22),
        (&[0x9100, 0x8100], 0x86DD, &ip6, 22),
    ];
    for (tags, et, l3, off) in cases {
        let mut f = frame(tags, et, l3);
        assert_eq!(
            parse_ethernet(&f),
            Ok(EtherFrame {
                l3_offset: off,
                ethertype: et,
                vlan_tags: tags.len() as u8
            })
        );
        let before = f.clone();
        dsr_rewrite(&mut f, BACKEND_MAC, ENGINE_MAC).expect("dsr");
        assert_eq!(f[..6], BACKEND_MAC);
        assert_eq!(f[6..12], ENGINE_MAC);
        assert_eq!(f[12..], before[12..], "nothing past the MACs changes");
    }
}

#[test]
fn padding_allowed() {
    let ip = udp_v4(CLIENT, 1, VIP, 53, b"");
    let mut f = frame(&[], 0x0800, &ip);
    f.resize(60, 0);
    dsr_rewrite(&mut f, BACKEND_MAC, ENGINE_MAC).expect("padded frame");
}

#[test]
fn refusals_write_nothing() {
    let ip = tcp_v4(CLIENT, 1, VIP, 80, b"");
    let cases = [
        (frame(&[], 0x05DC, &ip), RewriteError::NotEthernetII(0x05DC)),
        (
            frame(&[], 0x0806, &[0; 28]),
            RewriteError::NotIpEtherType(0x0806),
        ),
        (
            frame(&[0x8100], 0x0806, &ip),
            RewriteError::NotIpEtherType(0x0806),
        ),
        // A third tag is not walked.
        (
            frame(&[0x8100, 0x8100, 0x8100], 0x0800, &ip),
            RewriteError::NotIpEtherType(0x8100),
        ),
        (
            frame(&[], 0x0800, &tcp_v6(CLIENT6, 1, VIP6, 2, b"")),
            RewriteError::WrongVersion {
                found: 6,
                expected: 4,
            },
        ),
    ];
    for (mut f, err) in cases {
        let before = f.clone();
        assert_eq!(dsr_rewrite(&mut f, BACKEND_MAC, ENGINE_MAC), Err(err));
        assert_eq!(f, before);
    }
    let v4_in_v6 = frame(&[], 0x86DD, &[ip.clone(), vec![0; 40]].concat());
    assert!(matches!(
        parse_ethernet(&v4_in_v6),
        Err(RewriteError::WrongVersion { .. })
    ));
}

#[test]
fn every_truncation_is_refused() {
    let f = frame(&[0x8100], 0x0800, &tcp_v4(CLIENT, 1, VIP, 80, b"abc"));
    every_truncation_fails(&f, |f| dsr_rewrite(f, BACKEND_MAC, ENGINE_MAC));
    let f = frame(&[], 0x86DD, &tcp_v6(CLIENT6, 1, VIP6, 80, b"abc"));
    every_truncation_fails(&f, |f| dsr_rewrite(f, BACKEND_MAC, ENGINE_MAC));
}
