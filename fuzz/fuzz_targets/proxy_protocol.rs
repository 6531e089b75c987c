//! The PROXY protocol codec: `parse` never panics on arbitrary bytes; its
//! verdict does not depend on how many bytes have arrived (every prefix
//! either says `NeedMore` or gives the same answer); a header's `consumed`
//! is exact; re-encoding a parsed header parses back to the same header; and
//! headers encoded from fuzzed addresses and TLVs parse back to what went in.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use switchyard::l4::proxy_protocol::{
    Command, MAX_V1_LEN, MAX_V2_LEN, PP2_TYPE_CRC32C, Parsed, ProxyHeader, Tlv, Transport, Version,
    encode_v1, encode_v2, parse,
};

fuzz_target!(|data: &[u8]| {
    check_parse(data);
    check_encode(data);
});

fn check_parse(data: &[u8]) {
    let verdict = parse(data);

    // Every prefix is undecided or agrees (all short ones, then a sample).
    let step = (data.len() / 64).max(1);
    for n in (0..data.len().min(256)).chain((256..data.len()).step_by(step)) {
        let early = parse(&data[..n]);
        assert!(
            early == Parsed::NeedMore || early == verdict,
            "prefix {n}: {early:?} vs {verdict:?}"
        );
    }

    match &verdict {
        Parsed::NeedMore => {
            let bound = if data.first() == Some(&b'P') {
                MAX_V1_LEN
            } else {
                MAX_V2_LEN
            };
            assert!(
                data.len() < bound,
                "NeedMore past the maximum header length"
            );
        }
        Parsed::NotProxy | Parsed::Invalid(_) => {}
        Parsed::Header { header, consumed } => {
            let consumed = *consumed;
            assert!(consumed <= data.len());
            match header.version {
                Version::V1 => assert!(consumed <= MAX_V1_LEN && header.tlvs.is_empty()),
                Version::V2 => assert!((16..=MAX_V2_LEN).contains(&consumed)),
            }
            // Exactly the header: the bytes after it play no part.
            assert_eq!(parse(&data[..consumed]), verdict);
            assert_eq!(parse(&data[..consumed - 1]), Parsed::NeedMore);
            assert_eq!(header.source.is_some(), header.destination.is_some());
            check_reencode(header, &data[..consumed]);
        }
    }
}

fn check_reencode(header: &ProxyHeader, wire: &[u8]) {
    let (src, dst) = (header.source, header.destination);
    let bytes = match (header.version, src, dst) {
        (Version::V1, Some(s), Some(d)) => encode_v1(s, d),
        (Version::V1, _, _) => return, // UNKNOWN: nothing to encode
        (Version::V2, _, _) => encode_v2(header.command, header.transport, src, dst, &header.tlvs),
    };
    let Parsed::Header {
        header: again,
        consumed,
    } = parse(&bytes)
    else {
        panic!("re-encoded header does not parse: {bytes:?}");
    };
    assert_eq!(consumed, bytes.len());
    if src.is_some() {
        assert_eq!(&again, header);
        if header.version == Version::V2 {
            // Same fields, same TLVs, same checksum: the very same bytes.
            assert_eq!(bytes, wire);
        }
    } else {
        // Without addresses the family/protocol byte is sent as 0x00, which
        // drops the transport and changes the checksum.
        assert_eq!(normalized(&again), normalized(header));
    }
}

fn normalized(h: &ProxyHeader) -> ProxyHeader {
    let mut h = h.clone();
    h.transport = Transport::Unspecified;
    for tlv in &mut h.tlvs {
        if tlv.kind == PP2_TYPE_CRC32C {
            tlv.value.clear();
        }
    }
    h
}

/// Builds addresses and TLVs from the input, encodes them, parses them back.
fn check_encode(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((addr_bytes, tlv_bytes)) = rest.split_at_checked(36) else {
        return;
    };
    let addr = |v6: bool, at: usize| -> SocketAddr {
        let port = u16::from_be_bytes([addr_bytes[32 + at / 8], addr_bytes[33 + at / 8]]);
        if v6 {
            let mut o = [0u8; 16];
            o.copy_from_slice(&addr_bytes[at..at + 16]);
            SocketAddr::new(Ipv6Addr::from(o).into(), port)
        } else {
            let o = [
                addr_bytes[at],
                addr_bytes[at + 1],
                addr_bytes[at + 2],
                addr_bytes[at + 3],
            ];
            SocketAddr::new(Ipv4Addr::from(o).into(), port)
        }
    };
    let src = addr(flags & 1 != 0, 0);
    let dst = addr(flags & 2 != 0, 16);
    // A v4-mapped side is what a mixed-family header carries.
    let mapped = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        v6 => v6,
    };
    let expect = if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (mapped(src), mapped(dst))
    };

    let v1 = encode_v1(src, dst);
    assert!(v1.len() <= MAX_V1_LEN);
    match parse(&v1) {
        Parsed::Header { header, consumed } => {
            assert_eq!(consumed, v1.len());
            assert_eq!(
                (header.source, header.destination),
                (Some(expect.0), Some(expect.1))
            );
        }
        other => panic!("encode_v1 output does not parse: {other:?}"),
    }

    // TLVs: kind byte, one length byte, value (truncated to what is there).
    let mut tlvs = Vec::new();
    let mut t = tlv_bytes;
    while let [kind, len, tail @ ..] = t {
        let n = usize::from(*len).min(tail.len());
        tlvs.push(Tlv {
            kind: *kind,
            value: tail[..n].to_vec(),
        });
        t = &tail[n..];
    }
    let transport = match (flags >> 2) & 3 {
        0 => Transport::Unspecified,
        1 => Transport::Stream,
        _ => Transport::Datagram,
    };
    let command = if flags & 0x10 != 0 {
        Command::Local
    } else {
        Command::Proxy
    };
    let v2 = encode_v2(command, transport, Some(src), Some(dst), &tlvs);
    let Parsed::Header { header, consumed } = parse(&v2) else {
        panic!("encode_v2 output does not parse: {v2:?}");
    };
    assert_eq!(consumed, v2.len());
    let with_addrs = command == Command::Proxy && transport != Transport::Unspecified;
    if with_addrs {
        assert_eq!(
            (header.source, header.destination),
            (Some(expect.0), Some(expect.1))
        );
        assert_eq!(header.transport, transport);
    } else {
        assert_eq!(
            (header.source, header.transport),
            (None, Transport::Unspecified)
        );
    }
    assert_eq!(header.command, command);
    // The TLVs come back in order; a CRC32C one (the first only) gets the checksum.
    let mut seen_crc = false;
    let sent: Vec<&Tlv> = tlvs
        .iter()
        .filter(|t| t.kind != PP2_TYPE_CRC32C || !std::mem::replace(&mut seen_crc, true))
        .collect();
    assert_eq!(sent.len(), header.tlvs.len());
    for (a, b) in sent.iter().zip(&header.tlvs) {
        assert_eq!(a.kind, b.kind);
        if a.kind != PP2_TYPE_CRC32C {
            assert_eq!(a.value, b.value);
        }
    }
}
