//! The checksum module against the oracle and the RFCs' worked examples.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{CLIENT, TCP, VIP, naive_sum, tcp_v4};
use crate::balance::Rng;
use crate::packet::rewrite::checksum::{
    Delta, internet_checksum, transport_checksum_v4, transport_checksum_v6, update16, update32,
};

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn rfc1071_example() {
    // RFC 1071, 3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(internet_checksum(&data), !0xddf2);
}

#[test]
fn full_checksum_matches_oracle_including_odd_lengths() {
    let mut rng = Rng::seeded(1);
    for _ in 0..2000 {
        let n = rng.below(200) as usize;
        let data = random_bytes(&mut rng, n);
        assert_eq!(internet_checksum(&data), !naive_sum(&[&data]), "{data:?}");
    }
    // All 0xFF: the sum is 0xFFFF however long the data.
    assert_eq!(internet_checksum(&[0xFF; 70_000]), 0);
}

#[test]
fn rfc1624_example_gives_plus_zero() {
    // RFC 1624, 4: m 0x5555 → 0x3285 with HC 0xDD2F; the right answer
    // is 0x0000 (eqn. 2 of RFC 1141 gave 0xFFFF).
    assert_eq!(update16(0xDD2F, 0x5555, 0x3285), 0x0000);
}

/// A random "header" of even length whose checksum (at offset 0) is right
/// and whose second word is never 0 (as the version word of an IPv4
/// header): the tests change words from offset 4 on.
fn header(rng: &mut Rng) -> Vec<u8> {
    let n = 2 * (4 + rng.below(30) as usize);
    let mut h = random_bytes(rng, n);
    h[0] = 0;
    h[1] = 0;
    h[2] |= 1; // never all zeros
    let c = internet_checksum(&h);
    h[..2].copy_from_slice(&c.to_be_bytes());
    h
}

#[test]
fn update16_matches_recomputation() {
    let mut rng = Rng::seeded(2);
    for _ in 0..20_000 {
        let mut h = header(&mut rng);
        let at = 4 + 2 * rng.below((h.len() / 2 - 2) as u64) as usize;
        let old = u16::from_be_bytes([h[at], h[at + 1]]);
        let new = match rng.below(4) {
            0 => 0,
            1 => 0xFFFF,
            2 => old,
            _ => rng.next_u64() as u16,
        };
        let hc = u16::from_be_bytes([h[0], h[1]]);
        h[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let got = update16(hc, old, new);
        h[..2].copy_from_slice(&[0, 0]);
        assert_eq!(got, internet_checksum(&h), "{h:?} {old:#x}→{new:#x}");
    }
}

#[test]
fn update32_matches_recomputation() {
    let mut rng = Rng::seeded(3);
    for _ in 0..20_000 {
        let mut h = header(&mut rng);
        let at = 4 + 2 * rng.below((h.len() / 2 - 3) as u64) as usize;
        let old = u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let new = if rng.below(8) == 0 {
            old
        } else {
            rng.next_u64() as u32
        };
        let hc = u16::from_be_bytes([h[0], h[1]]);
        h[at..at + 4].copy_from_slice(&new.to_be_bytes());
        let got = update32(hc, old, new);
        h[..2].copy_from_slice(&[0, 0]);
        assert_eq!(got, internet_checksum(&h));
    }
}

#[test]
fn many_changes_in_one_delta_match_recomputation() {
    let mut rng = Rng::seeded(4);
    for _ in 0..5000 {
        let mut h = header(&mut rng);
        let hc = u16::from_be_bytes([h[0], h[1]]);
        let mut d = Delta::default();
        for _ in 0..rng.below(6) {
            let at = 4 + 2 * rng.below((h.len() / 2 - 2) as u64) as usize;
            let new = random_bytes(&mut rng, 2);
            d += Delta::bytes(&h[at..at + 2], &new);
            h[at..at + 2].copy_from_slice(&new);
        }
        let got = d.apply(hc);
        if d.is_empty() {
            assert_eq!(got, hc);
            continue;
        }
        h[..2].copy_from_slice(&[0, 0]);
        assert_eq!(got, internet_checksum(&h));
    }
}

#[test]
fn a_wrong_checksum_stays_wrong_by_the_same_amount() {
    let mut rng = Rng::seeded(5);
    for _ in 0..2000 {
        let mut h = header(&mut rng);
        let err = 1 + rng.below(0xFFFE) as u16;
        let hc = u16::from_be_bytes([h[0], h[1]]).wrapping_add(err);
        let old = u16::from_be_bytes([h[4], h[5]]);
        let new = rng.next_u64() as u16;
        h[4..6].copy_from_slice(&new.to_be_bytes());
        let got = update16(hc, old, new);
        h[..2].copy_from_slice(&got.to_be_bytes());
        assert_ne!(
            naive_sum(&[&h]),
            0xFFFF,
            "a corrupted checksum became valid"
        );
    }
}

#[test]
fn udp_zero_means_none_and_computed_zero_is_ffff() {
    let d = Delta::word(0x1234, 0x4321);
    assert_eq!(d.apply_udp(0), 0);
    // ~0x0FFF + ~0xFFFF + 0x0FFF = 0xF000 + 0 + 0x0FFF = 0xFFFF, so the new
    // checksum is 0: TCP writes 0, UDP writes 0xFFFF.
    assert_eq!(Delta::word(0xFFFF, 0x0FFF).apply(0x0FFF), 0);
    assert_eq!(Delta::word(0xFFFF, 0x0FFF).apply_udp(0x0FFF), 0xFFFF);
}

#[test]
fn transport_checksums_match_the_oracle() {
    let mut rng = Rng::seeded(6);
    for _ in 0..1000 {
        let n = rng.below(100) as usize;
        let seg = random_bytes(&mut rng, n);
        let (s4, d4) = (rng.next_u64() as u32, rng.next_u64() as u32);
        let proto = if rng.below(2) == 0 { 6 } else { 17 };
        let pseudo = [
            &s4.to_be_bytes()[..],
            &d4.to_be_bytes(),
            &[0, proto],
            &(n as u16).to_be_bytes(),
        ]
        .concat();
        let want = !naive_sum(&[&pseudo, &seg]);
        let want = if proto == 17 && want == 0 {
            0xFFFF
        } else {
            want
        };
        let got = transport_checksum_v4(Ipv4Addr::from(s4), Ipv4Addr::from(d4), proto, &seg);
        assert_eq!(got, want);
        let (s6, d6) = (
            u128::from(rng.next_u64()) << 3,
            u128::from(rng.next_u64()) << 70,
        );
        let pseudo = [
            &s6.to_be_bytes()[..],
            &d6.to_be_bytes(),
            &(n as u32).to_be_bytes(),
            &[0, 0, 0, proto],
        ]
        .concat();
        let want = !naive_sum(&[&pseudo, &seg]);
        let want = if proto == 17 && want == 0 {
            0xFFFF
        } else {
            want
        };
        let got = transport_checksum_v6(Ipv6Addr::from(s6), Ipv6Addr::from(d6), proto, &seg);
        assert_eq!(got, want);
    }
}

/// A frame whose L4 checksum was left to the hardware (only the folded
/// pseudo-header sum in the field) is completed; a finished one, right or
/// wrong, is left as it is.
#[test]
fn partial_checksums_are_completed_and_others_kept() {
    use crate::packet::rewrite::checksum::{
        complete_if_partial, complete_l4_checksum, fold, pseudo_header_v4,
    };
    let ip = tcp_v4(CLIENT, 40000, VIP, 80, b"some payload");
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    frame.extend_from_slice(&ip);
    let good = frame.clone();
    let partial = fold(pseudo_header_v4(CLIENT, VIP, TCP, ip.len() - 20));
    frame[14 + 36..14 + 38].copy_from_slice(&partial.to_be_bytes());
    let mut f = frame.clone();
    complete_if_partial(&mut f);
    assert_eq!(f, good, "completed");
    let mut f = frame.clone();
    complete_l4_checksum(&mut f);
    assert_eq!(f, good, "completed when the kernel says so");
    let mut f = good.clone();
    complete_if_partial(&mut f);
    assert_eq!(f, good, "a valid checksum is kept");
    let mut bad = good.clone();
    bad[14 + 36] ^= 0x55;
    let mut f = bad.clone();
    complete_if_partial(&mut f);
    assert_eq!(f, bad, "a wrong checksum is carried, not laundered");
}
