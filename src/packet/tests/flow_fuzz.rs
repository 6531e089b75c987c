//! The `flow_parse` fuzz target's property as a seeded unit test: 100 000
//! random valid packets, truncated, bit-flipped, framed, or plain noise, go
//! through `parse`, `parse_ethernet` and `icmp_inner_flow`: no panic, every
//! offset in bounds, valid packets parse and cut ones do not.

use super::*;
use crate::balance::Rng;

/// A random valid packet.
fn random_packet(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(16) as usize;
    let payload: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    let pick = rng.below(8);
    let sport = rng.below(65536) as u16;
    let l4 = match pick {
        0..=2 => tcp(sport, 80, rng.next_u64() as u8, &[1, 1, 1, 1], &payload),
        3..=5 => udp(sport, 53, &payload),
        _ => {
            let inner = tcp(80, sport, TCP_ACK, &[], &[]);
            let quoted = if rng.below(2) == 0 {
                ipv4(PROTO_TCP, VIP4, CLIENT4, &[], 0, &inner)
            } else {
                ipv6(PROTO_TCP, VIP6, CLIENT6, &[], &inner)
            };
            icmp(3, 4, [0, 0, 5, 0], &quoted)
        }
    };
    let proto = match pick {
        0..=2 => PROTO_TCP,
        3..=5 => PROTO_UDP,
        _ => PROTO_ICMP,
    };
    if rng.below(2) == 0 {
        let options = if rng.below(2) == 0 {
            &[1u8, 1, 1, 0][..]
        } else {
            &[][..]
        };
        let frag = [0, 0x4000, 0x2000, 7][rng.below(4) as usize];
        ipv4(proto, CLIENT4, VIP4, options, frag, &l4)
    } else {
        let proto = if proto == PROTO_ICMP {
            PROTO_ICMPV6
        } else {
            proto
        };
        let mut exts = Vec::new();
        for _ in 0..rng.below(4) {
            exts.push(match rng.below(4) {
                0 => Ext::Generic { kind: 0, units: 0 },
                1 => Ext::Generic { kind: 43, units: 1 },
                2 => Ext::Generic { kind: 60, units: 0 },
                _ => Ext::Fragment {
                    offset: rng.below(4) as u16,
                    more: rng.below(2) == 0,
                },
            });
        }
        ipv6(proto, CLIENT6, VIP6, &exts, &l4)
    }
}

/// Parses `buf` every way the fuzz target does; checks invariants.
fn exercise(buf: &[u8]) -> bool {
    let ok = match parse(buf) {
        Ok(p) => {
            check_invariants(buf, &p);
            assert_eq!(parse(buf), Ok(p), "deterministic");
            true
        }
        Err(_) => false,
    };
    if let Ok((_, p)) = parse_ethernet(buf) {
        assert!(p.l3_offset == 14 || p.l3_offset == 18);
        check_invariants(buf, &p);
    }
    ok
}

#[test]
fn random_and_mutated_packets_never_panic() {
    let mut rng = Rng::seeded(0x5eed_f10e);
    let (mut valid, mut parsed) = (0, 0);
    for i in 0..100_000u32 {
        let mut p = random_packet(&mut rng);
        match i % 4 {
            0 => {
                // Untouched: must parse (and framed, too).
                assert!(exercise(&p), "{p:?}");
                let et = if p[0] >> 4 == 4 {
                    ETHERTYPE_IPV4
                } else {
                    ETHERTYPE_IPV6
                };
                let tag = (rng.below(2) == 0).then_some(rng.below(4096) as u16);
                let f = ether(tag, et, &p);
                assert!(parse_ethernet(&f).is_ok());
                exercise(&f);
                valid += 1;
            }
            1 => {
                let n = rng.below(p.len() as u64) as usize;
                assert!(!exercise(&p[..n]), "cut at {n}: {p:?}");
            }
            2 => {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(p.len() as u64) as usize;
                    p[at] ^= 1 << rng.below(8);
                }
                parsed += usize::from(exercise(&p));
                // Also as a frame: the flipped bytes land in the headers.
                let mut f = ether(None, ETHERTYPE_IPV4, &p);
                f[12] = [0x08, 0x86, 0x81][rng.below(3) as usize];
                exercise(&f);
            }
            _ => {
                let len = rng.below(120) as usize;
                let mut noise: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                if let Some(b) = noise.first_mut() {
                    *b = (*b & 0x0f) | [0x40, 0x60, 0x45][rng.below(3) as usize];
                }
                exercise(&noise);
            }
        }
        // A Parsed that does not belong to the slice must not panic either.
        let bogus = Parsed {
            key: key(PROTO_ICMP, CLIENT4, VIP4, 0, 0),
            tcp_flags: 0,
            l3_offset: rng.below(200) as usize,
            l4_offset: rng.below(200) as usize,
            l3_end: rng.below(200) as usize,
            is_fragment: false,
            icmp_error: Some(IcmpError::Unreachable { code: 0 }),
        };
        let _ = icmp_inner_flow(&p, &bogus);
    }
    assert_eq!(valid, 25_000);
    assert!(
        parsed > 1_000,
        "mutations should often still parse: {parsed}"
    );
}
