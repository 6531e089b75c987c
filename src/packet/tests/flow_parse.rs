//! Unit tests of `packet::flow`: hand-built packets (a tiny builder below),
//! every truncation, fragments, VLANs, ICMP errors mapped back to their
//! flow and the pinned flow hash. The builder is shared with `fuzz`, the
//! seeded property test that stands in for the `flow_parse` fuzz target.

use super::*;

const CLIENT4: [u8; 4] = [203, 0, 113, 7];
const VIP4: [u8; 4] = [198, 51, 100, 1];
const ROUTER4: [u8; 4] = [198, 18, 0, 254];
const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
const VIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ROUTER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe,
];

// ---- builder -------------------------------------------------------------

fn tcp(sport: u16, dport: u16, flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..8].copy_from_slice(&1000u32.to_be_bytes());
    h[12] = (((20 + options.len()) / 4) as u8) << 4;
    h[13] = flags;
    h[14..16].copy_from_slice(&65535u16.to_be_bytes());
    h.extend_from_slice(options);
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    h
}

fn icmp(kind: u8, code: u8, rest: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut h = vec![kind, code, 0, 0];
    h.extend_from_slice(&rest);
    h.extend_from_slice(quoted);
    h
}

/// IPv4: `frag` is the flags + fragment offset word (0x2000 = MF, 0x4000 = DF).
fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], options: &[u8], frag: u16, l4: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let ihl = 20 + options.len();
    let mut h = vec![0u8; 20];
    h[0] = 0x40 | (ihl / 4) as u8;
    h[2..4].copy_from_slice(&((ihl + l4.len()) as u16).to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    h.extend_from_slice(options);
    h.extend_from_slice(l4);
    h
}

#[derive(Clone, Copy)]
enum Ext {
    /// Hop-by-hop (0), routing (43) or destination options (60) of
    /// `8 * (units + 1)` bytes.
    Generic { kind: u8, units: u8 },
    /// Fragment header: offset in 8-byte units, M flag.
    Fragment { offset: u16, more: bool },
}

fn ipv6(proto: u8, src: [u8; 16], dst: [u8; 16], exts: &[Ext], l4: &[u8]) -> Vec<u8> {
    let kind = |e: &Ext| match e {
        Ext::Generic { kind, .. } => *kind,
        Ext::Fragment { .. } => 44,
    };
    let mut body = Vec::new();
    for (i, e) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(proto, kind);
        match *e {
            Ext::Generic { units, .. } => {
                let mut h = vec![0u8; 8 * (usize::from(units) + 1)];
                h[0] = next;
                h[1] = units;
                h[2] = 1; // PadN option covering the rest
                h[3] = (h.len() - 4) as u8;
                body.extend_from_slice(&h);
            }
            Ext::Fragment { offset, more } => {
                let word = offset << 3 | u16::from(more);
                body.extend_from_slice(&[next, 0]);
                body.extend_from_slice(&word.to_be_bytes());
                body.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            }
        }
    }
    body.extend_from_slice(l4);
    let mut h = vec![0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
    h[6] = exts.first().map_or(proto, kind);
    h[7] = 64;
    h[8..24].copy_from_slice(&src);
    h[24..40].copy_from_slice(&dst);
    h.extend_from_slice(&body);
    h
}

fn ether(vlan: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if let Some(tci) = vlan {
        f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn key(
    proto: u8,
    src: impl Into<IpAddr>,
    dst: impl Into<IpAddr>,
    sport: u16,
    dport: u16,
) -> FlowKey {
    FlowKey {
        proto,
        src: src.into(),
        dst: dst.into(),
        sport,
        dport,
    }
}

/// Offsets in bounds and fragments portless, for any successful parse.
fn check_invariants(buf: &[u8], p: &Parsed) {
    assert!(p.l3_offset <= p.l4_offset, "{p:?}");
    assert!(p.l4_offset <= p.l3_end, "{p:?}");
    assert!(p.l3_end <= buf.len(), "{p:?}");
    if p.is_fragment {
        assert_eq!((p.key.sport, p.key.dport, p.tcp_flags), (0, 0, 0));
        assert_eq!(p.icmp_error, None);
    }
    if let Some(inner) = icmp_inner_flow(buf, p) {
        assert!(p.icmp_error.is_some());
        assert_eq!(inner.src.is_ipv4(), p.key.src.is_ipv4());
    }
    // Bytes after the IP packet are padding; cutting into it is refused.
    if p.l3_offset == 0 {
        assert_eq!(parse(&buf[..p.l3_end]), Ok(*p));
        assert!(parse(&buf[..p.l3_end - 1]).is_err());
    }
}

// ---- well-formed packets ---------------------------------------------------

#[test]
fn ipv4_tcp_and_udp() {
    let p = ipv4(
        PROTO_TCP,
        CLIENT4,
        VIP4,
        &[],
        0x4000,
        &tcp(40000, 80, TCP_SYN, &[], b""),
    );
    let got = parse(&p).expect("parses");
    assert_eq!(got.key, key(PROTO_TCP, CLIENT4, VIP4, 40000, 80));
    assert_eq!(got.tcp_flags, TCP_SYN);
    assert_eq!((got.l3_offset, got.l4_offset, got.l3_end), (0, 20, 40));
    assert!(!got.is_fragment, "DF alone is not a fragment");
    assert_eq!(got.icmp_error, None);

    let p = ipv4(PROTO_UDP, CLIENT4, VIP4, &[], 0, &udp(5353, 53, b"query"));
    let got = parse(&p).expect("parses");
    assert_eq!(got.key, key(PROTO_UDP, CLIENT4, VIP4, 5353, 53));
    assert_eq!(got.tcp_flags, 0);
    assert_eq!(got.l3_end, p.len());
}

#[test]
fn ipv4_options_tcp_options_and_link_padding() {
    // 8 bytes of IP options (NOPs + EOL), a TCP MSS option, then 6 bytes of
    // Ethernet-style padding after the packet.
    let options = [1, 1, 1, 1, 1, 1, 1, 0];
    let seg = tcp(1234, 443, TCP_ACK | TCP_PSH, &[2, 4, 5, 0xb4], b"hello");
    let mut p = ipv4(PROTO_TCP, CLIENT4, VIP4, &options, 0, &seg);
    let total = p.len();
    p.extend_from_slice(&[0; 6]);
    let got = parse(&p).expect("parses");
    assert_eq!(got.l4_offset, 28);
    assert_eq!(got.l3_end, total);
    assert_eq!(got.key.sport, 1234);
    assert_eq!(got.tcp_flags, TCP_ACK | TCP_PSH);
}

#[test]
fn ipv6_with_extension_headers() {
    let exts = [
        Ext::Generic { kind: 0, units: 0 },
        Ext::Generic { kind: 43, units: 2 },
        Ext::Generic { kind: 60, units: 1 },
        Ext::Fragment {
            offset: 0,
            more: false,
        }, // atomic fragment: a whole packet
    ];
    let p = ipv6(
        PROTO_TCP,
        CLIENT6,
        VIP6,
        &exts,
        &tcp(50000, 443, TCP_SYN, &[], b""),
    );
    let got = parse(&p).expect("parses");
    assert_eq!(got.key, key(PROTO_TCP, CLIENT6, VIP6, 50000, 443));
    assert_eq!(got.l4_offset, 40 + 8 + 24 + 16 + 8);
    assert!(!got.is_fragment);
    assert_eq!(got.tcp_flags, TCP_SYN);

    let p = ipv6(PROTO_UDP, CLIENT6, VIP6, &[], &udp(1, 2, b"x"));
    assert_eq!(
        parse(&p).map(|g| g.key),
        Ok(key(PROTO_UDP, CLIENT6, VIP6, 1, 2))
    );

    // The chain limit: MAX headers parse, one more does not.
    let dest = Ext::Generic { kind: 60, units: 0 };
    let l4 = udp(1, 2, b"");
    let p = ipv6(
        PROTO_UDP,
        CLIENT6,
        VIP6,
        &[dest; MAX_EXTENSION_HEADERS],
        &l4,
    );
    assert!(parse(&p).is_ok());
    let p = ipv6(
        PROTO_UDP,
        CLIENT6,
        VIP6,
        &[dest; MAX_EXTENSION_HEADERS + 1],
        &l4,
    );
    assert_eq!(parse(&p), Err(ParseError::TooManyExtensionHeaders));
}

#[test]
fn other_protocols_parse_without_ports() {
    let p = ipv4(47, CLIENT4, VIP4, &[], 0, &[0; 8]); // GRE
    let got = parse(&p).expect("parses");
    assert_eq!(got.key, key(47, CLIENT4, VIP4, 0, 0));
    // An echo request is ICMP but not an error.
    let p = ipv4(
        PROTO_ICMP,
        CLIENT4,
        VIP4,
        &[],
        0,
        &icmp(8, 0, [0, 1, 0, 1], b"ping"),
    );
    let got = parse(&p).expect("parses");
    assert_eq!(got.icmp_error, None);
    assert_eq!(icmp_inner_flow(&p, &got), None);
}

// ---- fragments -----------------------------------------------------------

#[test]
fn ipv4_fragments_are_keyed_by_three_tuple() {
    let seg = tcp(40000, 80, TCP_ACK, &[], &[7; 32]);
    let whole = parse(&ipv4(PROTO_TCP, CLIENT4, VIP4, &[], 0, &seg)).expect("parses");
    let first = ipv4(PROTO_TCP, CLIENT4, VIP4, &[], 0x2000, &seg[..24]);
    let later = ipv4(PROTO_TCP, CLIENT4, VIP4, &[], 3, &seg[24..]); // offset 24 bytes
    let last = ipv4(PROTO_UDP, CLIENT4, VIP4, &[], 0x0001, &[1, 2]); // tiny
    let three = key(PROTO_TCP, CLIENT4, VIP4, 0, 0);
    for p in [&first, &later] {
        let got = parse(p).expect("fragments parse");
        assert!(got.is_fragment);
        assert_eq!(got.key, three);
        assert_eq!(got.tcp_flags, 0);
        assert_eq!(got.l4_offset, 20);
        check_invariants(p, &got);
    }
    assert_eq!(parse(&last).map(|g| g.key.proto), Ok(PROTO_UDP));
    // Both pieces hash alike (same backend); the whole packet differs.
    assert_ne!(flow_hash(&whole.key), flow_hash(&three));
}

#[test]
fn ipv6_fragments_are_keyed_by_three_tuple() {
    let seg = udp(5000, 53, &[9; 40]);
    let hbh = Ext::Generic { kind: 0, units: 0 };
    let first = Ext::Fragment {
        offset: 0,
        more: true,
    };
    let later = Ext::Fragment {
        offset: 3,
        more: false,
    };
    let p1 = ipv6(PROTO_UDP, CLIENT6, VIP6, &[hbh, first], &seg[..24]);
    let p2 = ipv6(PROTO_UDP, CLIENT6, VIP6, &[hbh, later], &seg[24..]);
    for p in [&p1, &p2] {
        let got = parse(p).expect("fragments parse");
        assert!(got.is_fragment);
        assert_eq!(got.key, key(PROTO_UDP, CLIENT6, VIP6, 0, 0));
        assert_eq!(got.l4_offset, 40 + 8 + 8);
        check_invariants(p, &got);
    }
}

// ---- Ethernet and VLAN -----------------------------------------------------

#[test]
fn ethernet_with_and_without_vlan() {
    let ip = ipv4(
        PROTO_TCP,
        CLIENT4,
        VIP4,
        &[],
        0,
        &tcp(1, 80, TCP_SYN, &[], b""),
    );
    let (eth, got) = parse_ethernet(&ether(None, ETHERTYPE_IPV4, &ip)).expect("untagged");
    assert_eq!(eth.vlan_tci, None);
    assert_eq!(eth.ethertype, ETHERTYPE_IPV4);
    assert_eq!(eth.dst, [0x02, 0, 0, 0, 0, 1]);
    assert_eq!((got.l3_offset, got.l4_offset, got.l3_end), (14, 34, 54));

    // Tagged: PCP 5, VLAN 100; minimum-size frame padding is ignored.
    let mut frame = ether(Some(0xa064), ETHERTYPE_IPV4, &ip);
    frame.resize(64, 0);
    let (eth, got) = parse_ethernet(&frame).expect("tagged");
    assert_eq!(eth.vlan_id(), Some(100));
    assert_eq!((got.l3_offset, got.l4_offset, got.l3_end), (18, 38, 58));
    assert_eq!(got.key.dport, 80);

    let ip6 = ipv6(PROTO_UDP, CLIENT6, VIP6, &[], &udp(1, 2, b""));
    let (_, got) = parse_ethernet(&ether(Some(7), ETHERTYPE_IPV6, &ip6)).expect("v6");
    assert_eq!(got.key, key(PROTO_UDP, CLIENT6, VIP6, 1, 2));

    // ARP, a second tag, and an EtherType that lies about the version.
    let arp = ether(None, 0x0806, &[0; 28]);
    assert_eq!(
        parse_ethernet(&arp),
        Err(ParseError::UnsupportedEtherType(0x0806))
    );
    let qinq = ether(Some(1), ETHERTYPE_VLAN, &[0, 2, 8, 0]);
    assert!(matches!(
        parse_ethernet(&qinq),
        Err(ParseError::UnsupportedEtherType(_))
    ));
    let liar = ether(None, ETHERTYPE_IPV6, &ip);
    assert_eq!(parse_ethernet(&liar), Err(ParseError::BadVersion(4)));
}

// ---- malformed input --------------------------------------------------------

#[test]
fn malformed_headers_are_errors() {
    let good = ipv4(PROTO_TCP, CLIENT4, VIP4, &[], 0, &tcp(1, 2, 0, &[], b""));
    let mut p = good.clone();
    p[0] = 0x44; // IHL 4
    assert_eq!(parse(&p), Err(ParseError::BadLength));
    let mut p = good.clone();
    p[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(parse(&p), Err(ParseError::BadLength));
    let mut p = good.clone();
    p[2..4].copy_from_slice(&41u16.to_be_bytes()); // longer than the slice
    assert_eq!(parse(&p), Err(ParseError::Truncated));
    let mut p = good.clone();
    p[20 + 12] = 0x40; // TCP data offset 4
    assert_eq!(parse(&p), Err(ParseError::BadTcpHeader));
    let mut p = good.clone();
    p[20 + 12] = 0x60; // TCP data offset 6: options past the end
    assert_eq!(parse(&p), Err(ParseError::Truncated));
    let mut p = good;
    p[0] = 0x55 + 0x20; // version 7
    assert_eq!(parse(&p), Err(ParseError::BadVersion(7)));
    assert_eq!(parse(&[]), Err(ParseError::Truncated));

    let mut j = ipv6(
        PROTO_UDP,
        CLIENT6,
        VIP6,
        &[Ext::Generic { kind: 0, units: 0 }],
        &[],
    );
    j[4..6].copy_from_slice(&[0, 0]);
    assert_eq!(parse(&j), Err(ParseError::Jumbogram));
    // Payload length 0 without hop-by-hop: an empty "no next header" packet.
    let empty = ipv6(59, CLIENT6, VIP6, &[], &[]);
    assert_eq!(parse(&empty).map(|g| g.key.proto), Ok(59));
}

/// Packets of every shape the tests build, each one valid.
fn corpus() -> Vec<Vec<u8>> {
    let seg = tcp(40000, 80, TCP_SYN, &[2, 4, 5, 0xb4], b"data");
    let frag = Ext::Fragment {
        offset: 0,
        more: true,
    };
    let routing = Ext::Generic { kind: 43, units: 1 };
    vec![
        ipv4(PROTO_TCP, CLIENT4, VIP4, &[1, 1, 1, 0], 0, &seg),
        ipv4(PROTO_UDP, CLIENT4, VIP4, &[], 0, &udp(1, 53, b"q")),
        ipv4(PROTO_UDP, CLIENT4, VIP4, &[], 0x2000, &[1; 16]),
        ipv6(PROTO_TCP, CLIENT6, VIP6, &[routing], &seg),
        ipv6(PROTO_UDP, CLIENT6, VIP6, &[routing, frag], &[1; 16]),
        frag_needed(&seg),
        too_big(&seg),
    ]
}

#[test]
fn every_truncation_is_an_error() {
    for p in corpus() {
        assert!(parse(&p).is_ok());
        for n in 0..p.len() {
            assert!(parse(&p[..n]).is_err(), "{n} of {} bytes: {p:?}", p.len());
        }
        for tag in [None, Some(5)] {
            let ethertype = if p[0] >> 4 == 4 {
                ETHERTYPE_IPV4
            } else {
                ETHERTYPE_IPV6
            };
            let f = ether(tag, ethertype, &p);
            let (_, whole) = parse_ethernet(&f).expect("frame parses");
            check_invariants(&f, &whole);
            for n in 0..f.len() {
                assert!(parse_ethernet(&f[..n]).is_err(), "frame cut at {n}");
            }
        }
    }
}

// ---- ICMP errors -------------------------------------------------------------

/// The packet a backend sent for the client flow of `seg` (VIP → client),
/// and a router's "fragmentation needed" about it, quoting IP header + 8.
fn frag_needed(seg: &[u8]) -> Vec<u8> {
    let mut reply = tcp(80, 40000, TCP_ACK, &[], &[0; 1400]);
    reply[..4].copy_from_slice(&[seg[2], seg[3], seg[0], seg[1]]);
    let sent = ipv4(PROTO_TCP, VIP4, CLIENT4, &[], 0x4000, &reply);
    let body = icmp(3, 4, [0, 0, 0x05, 0x78], &sent[..28]);
    ipv4(PROTO_ICMP, ROUTER4, VIP4, &[], 0, &body)
}

/// The IPv6 equivalent: "packet too big", quoting as much as fits.
fn too_big(seg: &[u8]) -> Vec<u8> {
    let mut reply = tcp(80, 40000, TCP_ACK, &[], &[0; 1400]);
    reply[..4].copy_from_slice(&[seg[2], seg[3], seg[0], seg[1]]);
    let dest = Ext::Generic { kind: 60, units: 0 };
    let sent = ipv6(PROTO_TCP, VIP6, CLIENT6, &[dest], &reply);
    let body = icmp(2, 0, 1280u32.to_be_bytes(), &sent[..1232]);
    ipv6(PROTO_ICMPV6, ROUTER6, VIP6, &[], &body)
}

#[test]
fn frag_needed_follows_the_client_flow() {
    let client = ipv4(
        PROTO_TCP,
        CLIENT4,
        VIP4,
        &[],
        0,
        &tcp(40000, 80, TCP_ACK, &[], b""),
    );
    let flow = parse(&client).expect("client packet").key;
    let err = frag_needed(&tcp(40000, 80, 0, &[], b""));
    let got = parse(&err).expect("ICMP parses");
    assert_eq!(
        got.icmp_error,
        Some(IcmpError::FragmentationNeeded { mtu: 1400 })
    );
    assert_eq!(got.key, key(PROTO_ICMP, ROUTER4, VIP4, 0, 0));
    assert_eq!(icmp_inner_flow(&err, &got), Some(flow));
    // Behind a VLAN tag, with the frame's offsets.
    let frame = ether(Some(9), ETHERTYPE_IPV4, &err);
    let (_, got) = parse_ethernet(&frame).expect("frame");
    assert_eq!(icmp_inner_flow(&frame, &got), Some(flow));
}

#[test]
fn packet_too_big_follows_the_client_flow() {
    let client = ipv6(
        PROTO_TCP,
        CLIENT6,
        VIP6,
        &[],
        &tcp(40000, 80, TCP_ACK, &[], b""),
    );
    let flow = parse(&client).expect("client packet").key;
    let err = too_big(&tcp(40000, 80, 0, &[], b""));
    let got = parse(&err).expect("ICMPv6 parses");
    assert_eq!(got.icmp_error, Some(IcmpError::PacketTooBig { mtu: 1280 }));
    assert_eq!(icmp_inner_flow(&err, &got), Some(flow));
    assert_eq!(
        flow_hash(&flow),
        flow_hash(&parse(&client).expect("again").key)
    );
}

#[test]
fn other_icmp_errors_and_short_quotes() {
    // Time exceeded about a UDP packet, quoting exactly 4 bytes of UDP.
    let sent = ipv4(PROTO_UDP, VIP4, CLIENT4, &[], 0, &udp(53, 5353, b"answer"));
    for (kind, code, want) in [
        (11, 0, IcmpError::TimeExceeded { code: 0 }),
        (3, 3, IcmpError::Unreachable { code: 3 }),
        (12, 0, IcmpError::ParameterProblem { code: 0 }),
    ] {
        let err = ipv4(
            PROTO_ICMP,
            ROUTER4,
            VIP4,
            &[],
            0,
            &icmp(kind, code, [0; 4], &sent[..24]),
        );
        let got = parse(&err).expect("parses");
        assert_eq!(got.icmp_error, Some(want));
        let flow = key(PROTO_UDP, CLIENT4, VIP4, 5353, 53);
        assert_eq!(icmp_inner_flow(&err, &got), Some(flow));
    }
    // Three bytes of the quoted UDP header: no ports, no answer.
    let err = ipv4(
        PROTO_ICMP,
        ROUTER4,
        VIP4,
        &[],
        0,
        &icmp(11, 0, [0; 4], &sent[..23]),
    );
    let got = parse(&err).expect("parses");
    assert_eq!(icmp_inner_flow(&err, &got), None);
    // A quoted fragment gives the 3-tuple, like parse does.
    let piece = ipv4(PROTO_UDP, VIP4, CLIENT4, &[], 0x2000, &udp(53, 5353, b"x"));
    let err = ipv4(
        PROTO_ICMP,
        ROUTER4,
        VIP4,
        &[],
        0,
        &icmp(11, 0, [0; 4], &piece),
    );
    let got = parse(&err).expect("parses");
    let three = key(PROTO_UDP, CLIENT4, VIP4, 0, 0);
    assert_eq!(icmp_inner_flow(&err, &got), Some(three));
    // An ICMPv4 error quoting IPv6 is nonsense.
    let v6 = ipv6(PROTO_UDP, VIP6, CLIENT6, &[], &udp(1, 2, b""));
    let err = ipv4(PROTO_ICMP, ROUTER4, VIP4, &[], 0, &icmp(3, 1, [0; 4], &v6));
    let got = parse(&err).expect("parses");
    assert_eq!(icmp_inner_flow(&err, &got), None);
    // ICMP inside IPv6 / ICMPv6 inside IPv4 are not errors.
    let odd = ipv6(PROTO_ICMP, ROUTER6, VIP6, &[], &icmp(3, 4, [0; 4], &[]));
    assert_eq!(parse(&odd).map(|g| g.icmp_error), Ok(None));
}

// ---- the flow hash -----------------------------------------------------------

#[test]
fn flow_hash_is_pinned_and_canonical() {
    let k4 = key(PROTO_TCP, CLIENT4, VIP4, 40000, 80);
    let k6 = key(PROTO_UDP, CLIENT6, VIP6, 5353, 53);
    // The documented encoding, spelled out.
    let mut enc4 = vec![0x44, PROTO_TCP];
    enc4.extend_from_slice(&CLIENT4);
    enc4.extend_from_slice(&VIP4);
    enc4.extend_from_slice(&[0x9c, 0x40, 0, 80]);
    assert_eq!(flow_hash(&k4), hash_bytes(&enc4));
    let mut enc6 = vec![0x66, PROTO_UDP];
    enc6.extend_from_slice(&CLIENT6);
    enc6.extend_from_slice(&VIP6);
    enc6.extend_from_slice(&[0x14, 0xe9, 0, 53]);
    assert_eq!(flow_hash(&k6), hash_bytes(&enc6));
    // Pinned: if these change, engines of different versions disagree on
    // every flow. Do not update the literals; find out what changed.
    assert_eq!(flow_hash(&k4), PINNED_V4);
    assert_eq!(flow_hash(&k6), PINNED_V6);
    // Directional, and the mixed-family tags keep keys apart.
    assert_ne!(flow_hash(&k4), flow_hash(&k4.reversed()));
    let mixed = key(PROTO_TCP, CLIENT4, VIP6, 40000, 80);
    assert_ne!(flow_hash(&mixed), flow_hash(&mixed.reversed()));
}

const PINNED_V4: u64 = 0x7b51_c0d7_5dcb_130a;
const PINNED_V6: u64 = 0x0ad6_1530_cfde_a361;

#[path = "flow_fuzz.rs"]
mod fuzz;
