use super::*;

fn header(buf: &[u8]) -> (ProxyHeader, usize) {
    match parse(buf) {
        Parsed::Header { header, consumed } => (header, consumed),
        other => panic!("expected a header for {buf:?}, got {other:?}"),
    }
}

fn invalid(buf: &[u8]) -> &'static str {
    match parse(buf) {
        Parsed::Invalid(why) => why,
        other => panic!(
            "expected Invalid for {:?}, got {other:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// Every strict prefix of `buf` shorter than `upto` is `NeedMore`.
fn need_more_below(buf: &[u8], upto: usize) {
    for n in 0..upto {
        assert_eq!(parse(&buf[..n]), Parsed::NeedMore, "prefix of {n} bytes");
    }
}

// ------------------------------------------------------------------ v1

#[test]
fn v1_tcp4_spec_example_with_payload() {
    let buf = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
    let (h, consumed) = header(buf);
    assert_eq!(consumed, 47);
    assert_eq!(
        &buf[consumed..],
        b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"
    );
    assert_eq!(
        h,
        ProxyHeader {
            version: Version::V1,
            command: Command::Proxy,
            transport: Transport::Stream,
            source: Some(sa("192.168.0.1:56324")),
            destination: Some(sa("192.168.0.11:443")),
            tlvs: vec![],
        }
    );
    need_more_below(buf, consumed);
}

#[test]
fn v1_tcp6() {
    let buf = b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n";
    let (h, consumed) = header(buf);
    assert_eq!(consumed, buf.len());
    assert_eq!(h.source, Some(sa("[2001:db8::1]:0")));
    assert_eq!(h.destination, Some(sa("[::ffff:10.0.0.1]:65535")));
    need_more_below(buf, consumed);
}

#[test]
fn v1_tcp6_longest_form() {
    let a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let line = format!("PROXY TCP6 {a} {a} 65535 65535\r\n");
    assert_eq!(line.len(), 104);
    let (h, consumed) = header(line.as_bytes());
    assert_eq!(consumed, 104);
    assert_eq!(
        h.source,
        Some(SocketAddr::new(
            IpAddr::V6(Ipv6Addr::from([0xffff; 8])),
            65535
        ))
    );
}

#[test]
fn v1_unknown_short_and_long() {
    let long = format!(
        "PROXY UNKNOWN {a} {a} 65535 65535\r\n",
        a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    );
    assert_eq!(long.len(), MAX_V1_LEN);
    for buf in [
        &b"PROXY UNKNOWN\r\n"[..],
        b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY UNKNOWN whatever\tgoes\r\n",
        long.as_bytes(),
    ] {
        let (h, consumed) = header(buf);
        assert_eq!(consumed, buf.len());
        assert_eq!(h.command, Command::Local);
        assert_eq!(h.transport, Transport::Unspecified);
        assert_eq!((h.source, h.destination), (None, None));
        need_more_below(buf, consumed);
    }
}

#[test]
fn v1_truncated_is_need_more_at_every_prefix() {
    let buf = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    need_more_below(buf, buf.len());
    need_more_below(b"PROXY TCP4", 10);
    assert_eq!(parse(b"PROXY TCP4"), Parsed::NeedMore);
    assert_eq!(
        parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r"),
        Parsed::NeedMore
    );
}

#[test]
fn v1_malformed_lines_are_invalid() {
    let bad: &[&[u8]] = &[
        b"PROXY  TCP4 1.2.3.4 5.6.7.8 80 443\r\n",  // double space
        b"PROXY TCP4  1.2.3.4 5.6.7.8 80 443\r\n",  // double space
        b"PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n",  // double space
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80  443\r\n",  // double space
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n",  // trailing space
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n", // extra field
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",       // missing field
        b"PROXY TCP4\r\n",                          // no fields
        b"PROXY \r\n",                              // no protocol
        b"PROXY\r\n",                               // no space
        b"PROXYTCP4 1.2.3.4 5.6.7.8 80 443\r\n",    // no space
        b"PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n",   // protocol
        b"PROXY tcp4 1.2.3.4 5.6.7.8 80 443\r\n",   // case
        b"PROXY UNKNOWNX\r\n",                      // protocol
        b"PROXY TCP4 ::1 5.6.7.8 80 443\r\n",       // family
        b"PROXY TCP4 1.2.3.4 ::1 80 443\r\n",       // family
        b"PROXY TCP6 1.2.3.4 ::1 80 443\r\n",       // family
        b"PROXY TCP6 ::1 5.6.7.8 80 443\r\n",       // family
        b"PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n",     // 3 octets
        b"PROXY TCP4 1.2.3.256 5.6.7.8 80 443\r\n", // octet
        b"PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n",  // leading zero
        b"PROXY TCP6 [::1] ::2 80 443\r\n",         // brackets
        b"PROXY TCP6 fe80::1%eth0 ::2 80 443\r\n",  // zone id
        b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::2 80 443\r\n", // 9 groups
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n", // port
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 99999\r\n", // port
        b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n",  // sign
        b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n",   // sign
        b"PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n",  // leading zero
        b"PROXY TCP4 1.2.3.4 5.6.7.8 00 443\r\n",   // leading zero
        b"PROXY TCP4 1.2.3.4 5.6.7.8 8a 443\r\n",   // hex
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n",     // LF alone
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX",    // CR alone
        b"PROXY TCP4 1.2.3.4\n5.6.7.8 80 443\r\n",  // LF inside
        b"PROXY UNKNOWN\n",                         // LF alone
        b"PROXY UNKNOWN foo\rbar\r\n",              // CR inside
        b"PROXY TCP4\t1.2.3.4 5.6.7.8 80 443\r\n",  // tab
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\0\r\n", // NUL
    ];
    for line in bad {
        invalid(line);
    }
}

#[test]
fn v1_malformed_lines_are_rejected_before_the_crlf() {
    // Nothing further can make these valid: reject without waiting.
    for partial in [
        &b"PROXYX"[..],
        b"PROXY X",
        b"PROXY TCP4  ",
        b"PROXY TCP4 1.2.3.4x",
        b"PROXY TCP4 ::",
        b"PROXY TCP4 1.2.3.999 ",
        b"PROXY TCP6 ::1 g",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
        b"PROXY UNKNOWNX",
    ] {
        let why = invalid(partial);
        // ...and the verdict holds once the rest arrives.
        let mut full = partial.to_vec();
        full.extend_from_slice(b" 1 2\r\n");
        assert_eq!(
            parse(&full),
            Parsed::Invalid(why),
            "{:?}",
            String::from_utf8_lossy(&full)
        );
    }
}

#[test]
fn v1_no_crlf_within_107_bytes_is_invalid() {
    let mut buf = b"PROXY UNKNOWN ".to_vec();
    buf.resize(MAX_V1_LEN - 1, b'a');
    assert_eq!(parse(&buf), Parsed::NeedMore);
    buf.push(b'\r'); // 107 bytes, the LF would be the 108th
    invalid(&buf);
    buf.push(b'\n');
    invalid(&buf);
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(200, b'a');
    invalid(&long);
    // 105 bytes of line + CRLF = 107 is still fine.
    let mut ok = b"PROXY UNKNOWN ".to_vec();
    ok.resize(MAX_V1_LEN - 2, b'a');
    ok.extend_from_slice(b"\r\n");
    assert_eq!(header(&ok).1, MAX_V1_LEN);
}

// ------------------------------------------------------------------ v2

/// A v2 header built by hand (not with `encode_v2`).
fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[ver_cmd, fam]);
    out.extend_from_slice(&u16::try_from(body.len()).expect("short body").to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(
        &u16::try_from(value.len())
            .expect("short value")
            .to_be_bytes(),
    );
    out.extend_from_slice(value);
    out
}

const V4_BLOCK: [u8; 12] = [192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb];

fn v6_block() -> Vec<u8> {
    let mut b = "2001:db8::1"
        .parse::<Ipv6Addr>()
        .expect("ip")
        .octets()
        .to_vec();
    b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("ip").octets());
    b.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]);
    b
}

/// Bit-at-a-time CRC32C, independent of the table-driven one.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32c_known_values() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    // RFC 3720 B.4 vectors.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    let ascending: Vec<u8> = (0..32).collect();
    assert_eq!(crc32c(&ascending), 0x46DD_794E);
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    assert_eq!(crc32c(&data), crc32c_bitwise(&data));
}

#[test]
fn v2_tcp4_with_payload() {
    let mut buf = v2(0x21, 0x11, &V4_BLOCK);
    let len = buf.len();
    buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let (h, consumed) = header(&buf);
    assert_eq!(consumed, 28);
    assert_eq!(consumed, len);
    assert_eq!(&buf[consumed..], b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(
        h,
        ProxyHeader {
            version: Version::V2,
            command: Command::Proxy,
            transport: Transport::Stream,
            source: Some(sa("192.168.0.1:56324")),
            destination: Some(sa("192.168.0.11:443")),
            tlvs: vec![],
        }
    );
    need_more_below(&buf, consumed);
}

#[test]
fn v2_tcp6_and_udp() {
    let buf = v2(0x21, 0x21, &v6_block());
    let (h, consumed) = header(&buf);
    assert_eq!(consumed, 16 + 36);
    assert_eq!(h.source, Some(sa("[2001:db8::1]:12345")));
    assert_eq!(h.destination, Some(sa("[2001:db8::2]:80")));
    assert_eq!(h.transport, Transport::Stream);

    let (h, _) = header(&v2(0x21, 0x12, &V4_BLOCK));
    assert_eq!(h.transport, Transport::Datagram);
    assert_eq!(h.source, Some(sa("192.168.0.1:56324")));
    let (h, _) = header(&v2(0x21, 0x22, &v6_block()));
    assert_eq!(h.transport, Transport::Datagram);
    assert_eq!(h.destination, Some(sa("[2001:db8::2]:80")));
}

#[test]
fn v2_local_unspec_unix_have_no_addresses() {
    // LOCAL, the usual health-check form: AF_UNSPEC, no block.
    let (h, consumed) = header(&v2(0x20, 0x00, &[]));
    assert_eq!(
        (h.command, h.transport, consumed),
        (Command::Local, Transport::Unspecified, 16)
    );
    assert_eq!((h.source, h.destination), (None, None));
    // LOCAL carrying an address block: skipped, not reported.
    let (h, consumed) = header(&v2(0x20, 0x11, &V4_BLOCK));
    assert_eq!((h.command, h.source, consumed), (Command::Local, None, 28));
    // PROXY over AF_UNSPEC / AF_UNIX / UNSPEC protocol: use the real endpoints.
    let (h, _) = header(&v2(0x21, 0x00, &[]));
    assert_eq!((h.command, h.source), (Command::Proxy, None));
    let mut unix = vec![0u8; 216];
    unix[..9].copy_from_slice(b"/tmp/sock");
    for fam in [0x31, 0x32] {
        let (h, consumed) = header(&v2(0x21, fam, &unix));
        assert_eq!((h.source, h.destination, consumed), (None, None, 16 + 216));
    }
    let (h, _) = header(&v2(0x21, 0x10, &V4_BLOCK));
    assert_eq!((h.transport, h.source), (Transport::Unspecified, None));
}

#[test]
fn v2_tlvs_in_order_unknown_kept() {
    let mut body = V4_BLOCK.to_vec();
    body.extend(tlv(PP2_TYPE_ALPN, b"h2"));
    body.extend(tlv(PP2_TYPE_AUTHORITY, b"example.com"));
    body.extend(tlv(PP2_TYPE_NOOP, &[0; 5]));
    body.extend(tlv(0xE0, &[1, 2, 3]));
    body.extend(tlv(0xE1, &[]));
    let mut buf = v2(0x21, 0x11, &body);
    let len = buf.len();
    buf.extend_from_slice(b"\x16\x03\x01payload");
    let (h, consumed) = header(&buf);
    assert_eq!(consumed, len);
    let expect = |kind: u8, value: &[u8]| Tlv {
        kind,
        value: value.to_vec(),
    };
    assert_eq!(
        h.tlvs,
        vec![
            expect(PP2_TYPE_ALPN, b"h2"),
            expect(PP2_TYPE_AUTHORITY, b"example.com"),
            expect(PP2_TYPE_NOOP, &[0; 5]),
            expect(0xE0, &[1, 2, 3]),
            expect(0xE1, &[]),
        ]
    );
    assert_eq!(h.source, Some(sa("192.168.0.1:56324")));
    need_more_below(&buf, consumed);
    // TLVs on LOCAL, straight after the (empty) AF_UNSPEC block.
    let (h, _) = header(&v2(0x20, 0x00, &tlv(0xE0, b"x")));
    assert_eq!(h.tlvs, vec![expect(0xE0, b"x")]);
}

/// A header with ALPN, then a CRC32C TLV holding `crc(header)`, then 0xE0.
fn v2_with_crc(crc: impl Fn(&[u8]) -> u32) -> Vec<u8> {
    let mut body = V4_BLOCK.to_vec();
    body.extend(tlv(PP2_TYPE_ALPN, b"h2"));
    body.extend(tlv(PP2_TYPE_CRC32C, &[0; 4]));
    body.extend(tlv(0xE0, b"tail"));
    let mut buf = v2(0x21, 0x11, &body);
    let at = 16 + 12 + 5 + 3;
    let value = crc(&buf);
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
    buf
}

#[test]
fn v2_crc32c_verified() {
    let good = v2_with_crc(crc32c_bitwise);
    let (h, consumed) = header(&good);
    assert_eq!(consumed, good.len());
    assert_eq!(h.tlvs[1].kind, PP2_TYPE_CRC32C);
    assert_eq!(
        h.tlvs[1].value,
        crc32c_bitwise(&v2_with_crc(|_| 0)).to_be_bytes()
    );

    let wrong = v2_with_crc(|b| crc32c_bitwise(b) ^ 1);
    assert_eq!(parse(&wrong), Parsed::Invalid("v2: CRC32C mismatch"));
    // A flipped bit anywhere else is caught too, except in the CRC TLV's
    // own type byte (byte 33), which turns it into an unchecked 0x83 TLV.
    for i in (12..good.len()).filter(|&i| i != 33) {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        assert!(
            !matches!(parse(&bad), Parsed::Header { .. }),
            "bit flip at {i}"
        );
    }
    // Little-endian instead of network order is wrong.
    let le = v2_with_crc(|b| crc32c_bitwise(b).swap_bytes());
    invalid(&le);
}

#[test]
fn v2_crc32c_tlv_shape() {
    let mut body = tlv(PP2_TYPE_CRC32C, &[0; 3]);
    assert_eq!(
        parse(&v2(0x20, 0x00, &body)),
        Parsed::Invalid("v2: CRC32C TLV is not 4 bytes")
    );
    body = tlv(PP2_TYPE_CRC32C, &[0; 4]);
    body.extend(tlv(PP2_TYPE_CRC32C, &[0; 4]));
    assert_eq!(
        parse(&v2(0x20, 0x00, &body)),
        Parsed::Invalid("v2: more than one CRC32C TLV")
    );
}

#[test]
fn v2_truncated_is_need_more_at_every_length() {
    let mut body = v6_block();
    body.extend(tlv(PP2_TYPE_AUTHORITY, b"example.com"));
    let buf = v2(0x21, 0x21, &body);
    need_more_below(&buf, buf.len());
    assert_eq!(header(&buf).1, buf.len());
}

#[test]
fn v2_bad_fixed_fields() {
    assert_eq!(
        parse(&v2(0x11, 0x11, &V4_BLOCK)),
        Parsed::Invalid("v2: version is not 2")
    );
    assert_eq!(
        parse(&v2(0x31, 0x11, &V4_BLOCK)),
        Parsed::Invalid("v2: version is not 2")
    );
    assert_eq!(
        parse(&v2(0x22, 0x11, &V4_BLOCK)),
        Parsed::Invalid("v2: unknown command")
    );
    assert_eq!(
        parse(&v2(0x2f, 0x11, &V4_BLOCK)),
        Parsed::Invalid("v2: unknown command")
    );
    assert_eq!(
        parse(&v2(0x21, 0x41, &V4_BLOCK)),
        Parsed::Invalid("v2: unknown address family")
    );
    assert_eq!(
        parse(&v2(0x21, 0x13, &V4_BLOCK)),
        Parsed::Invalid("v2: unknown transport protocol")
    );
    // Decided from the fixed bytes alone, before the rest arrives.
    assert_eq!(
        parse(&v2(0x11, 0x11, &V4_BLOCK)[..13]),
        Parsed::Invalid("v2: version is not 2")
    );
    assert_eq!(
        parse(&v2(0x21, 0x41, &V4_BLOCK)[..14]),
        Parsed::Invalid("v2: unknown address family")
    );
}

#[test]
fn v2_lengths_that_overrun_are_invalid() {
    let short = "v2: length too short for the address family";
    assert_eq!(
        parse(&v2(0x21, 0x11, &V4_BLOCK[..11])),
        Parsed::Invalid(short)
    );
    assert_eq!(
        parse(&v2(0x21, 0x21, &v6_block()[..35])),
        Parsed::Invalid(short)
    );
    assert_eq!(parse(&v2(0x21, 0x31, &[0; 215])), Parsed::Invalid(short));
    assert_eq!(parse(&v2(0x20, 0x11, &[])), Parsed::Invalid(short));
    // ...known from the 16 fixed bytes.
    assert_eq!(
        parse(&v2(0x21, 0x21, &v6_block()[..35])[..16]),
        Parsed::Invalid(short)
    );

    let overrun = "v2: TLV overruns the header";
    let mut body = V4_BLOCK.to_vec();
    body.extend_from_slice(&[0xE0, 0x00, 0x05, 1, 2, 3, 4]); // says 5, has 4
    assert_eq!(parse(&v2(0x21, 0x11, &body)), Parsed::Invalid(overrun));
    let mut body = V4_BLOCK.to_vec();
    body.extend_from_slice(&[0xE0, 0xff, 0xff]);
    assert_eq!(parse(&v2(0x21, 0x11, &body)), Parsed::Invalid(overrun));
    // A TLV must not run into the payload that follows the header.
    let mut buf = v2(0x21, 0x11, &body);
    buf.extend(vec![0u8; 70_000]);
    assert_eq!(parse(&buf), Parsed::Invalid(overrun));
    for tail in [&[0xE0][..], &[0xE0, 0x00]] {
        let mut body = V4_BLOCK.to_vec();
        body.extend_from_slice(tail);
        assert_eq!(
            parse(&v2(0x21, 0x11, &body)),
            Parsed::Invalid("v2: truncated TLV header")
        );
    }
}

#[test]
fn v2_largest_header() {
    let mut body = V4_BLOCK.to_vec();
    body.extend(tlv(0xE0, &vec![7; 65535 - 12 - 3]));
    let mut buf = v2(0x21, 0x11, &body);
    assert_eq!(buf.len(), MAX_V2_LEN);
    buf.extend_from_slice(b"after");
    let (h, consumed) = header(&buf);
    assert_eq!(consumed, MAX_V2_LEN);
    assert_eq!(h.tlvs[0].value.len(), 65520);
}

// ------------------------------------------------------------------ detection

#[test]
fn other_protocols_are_not_proxy() {
    let client_hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    for buf in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &client_hello,
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"POST / HTTP/1.1\r\n",
        b"PROX\0",
        b"\r\n\r\n\0\r\nQUIX\n",
        b"\r\nGET",
        b"\n",
        b"\0",
    ] {
        assert_eq!(parse(buf), Parsed::NotProxy, "{buf:?}");
    }
    // Decided from the first byte(s) that rule both versions out.
    assert_eq!(parse(b"G"), Parsed::NotProxy);
    assert_eq!(parse(&[0x16]), Parsed::NotProxy);
    assert_eq!(parse(b"PU"), Parsed::NotProxy);
    assert_eq!(parse(b"\r\r"), Parsed::NotProxy);
    // Prefixes of a signature are undecided.
    assert_eq!(parse(b""), Parsed::NeedMore);
    assert_eq!(parse(b"PROX"), Parsed::NeedMore);
    assert_eq!(parse(b"\r\n\r\n\0\r\nQU"), Parsed::NeedMore);
}

// ------------------------------------------------------------------ encoding

#[test]
fn encode_v1_round_trips() {
    for (src, dst, text) in [
        (
            "192.168.0.1:56324",
            "192.168.0.11:443",
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        ),
        (
            "[2001:db8::1]:0",
            "[::1]:65535",
            "PROXY TCP6 2001:db8::1 ::1 0 65535\r\n",
        ),
        (
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
        ),
    ] {
        let bytes = encode_v1(sa(src), sa(dst));
        assert_eq!(String::from_utf8_lossy(&bytes), text);
        let (h, consumed) = header(&bytes);
        assert_eq!(consumed, bytes.len());
        assert_eq!(
            (h.version, h.command, h.transport),
            (Version::V1, Command::Proxy, Transport::Stream)
        );
        assert_eq!((h.source, h.destination), (Some(sa(src)), Some(sa(dst))));
    }
}

#[test]
fn encode_v1_mixed_families_map_ipv4_into_ipv6() {
    let bytes = encode_v1(sa("10.0.0.1:1234"), sa("[2001:db8::2]:443"));
    assert_eq!(
        bytes,
        b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1234 443\r\n"
    );
    let (h, _) = header(&bytes);
    assert_eq!(h.source, Some(sa("[::ffff:10.0.0.1]:1234")));
    let bytes = encode_v1(sa("[::1]:1"), sa("10.0.0.2:2"));
    assert_eq!(
        header(&bytes).0.destination,
        Some(sa("[::ffff:10.0.0.2]:2"))
    );
}

#[test]
fn encode_v2_round_trips() {
    let tlvs = vec![
        Tlv {
            kind: PP2_TYPE_ALPN,
            value: b"h2".to_vec(),
        },
        Tlv {
            kind: PP2_TYPE_AUTHORITY,
            value: b"example.com".to_vec(),
        },
        Tlv {
            kind: 0xE0,
            value: vec![0, 1, 2],
        },
    ];
    for (src, dst) in [
        ("192.168.0.1:56324", "192.168.0.11:443"),
        ("[2001:db8::1]:12345", "[2001:db8::2]:80"),
    ] {
        for transport in [Transport::Stream, Transport::Datagram] {
            let bytes = encode_v2(
                Command::Proxy,
                transport,
                Some(sa(src)),
                Some(sa(dst)),
                &tlvs,
            );
            let (h, consumed) = header(&bytes);
            assert_eq!(consumed, bytes.len());
            assert_eq!(
                h,
                ProxyHeader {
                    version: Version::V2,
                    command: Command::Proxy,
                    transport,
                    source: Some(sa(src)),
                    destination: Some(sa(dst)),
                    tlvs: tlvs.clone(),
                }
            );
        }
    }
    // Byte-exact against the hand-built header.
    let bytes = encode_v2(
        Command::Proxy,
        Transport::Stream,
        Some(sa("192.168.0.1:56324")),
        Some(sa("192.168.0.11:443")),
        &[],
    );
    assert_eq!(bytes, v2(0x21, 0x11, &V4_BLOCK));
}

#[test]
fn encode_v2_fills_in_crc32c() {
    let tlvs = [
        Tlv {
            kind: PP2_TYPE_ALPN,
            value: b"h2".to_vec(),
        },
        Tlv {
            kind: PP2_TYPE_CRC32C,
            value: vec![],
        },
        Tlv {
            kind: 0xE0,
            value: b"tail".to_vec(),
        },
        Tlv {
            kind: PP2_TYPE_CRC32C,
            value: vec![9; 4],
        }, // dropped
    ];
    let bytes = encode_v2(
        Command::Proxy,
        Transport::Stream,
        Some(sa("192.168.0.1:56324")),
        Some(sa("192.168.0.11:443")),
        &tlvs,
    );
    assert_eq!(bytes, v2_with_crc(crc32c_bitwise));
    let (h, _) = header(&bytes);
    assert_eq!(h.tlvs.len(), 3);
    // Re-encoding the parsed header gives the same bytes.
    assert_eq!(
        encode_v2(h.command, h.transport, h.source, h.destination, &h.tlvs),
        bytes
    );
}

#[test]
fn encode_v2_without_addresses_is_unspec() {
    let local = encode_v2(
        Command::Local,
        Transport::Stream,
        Some(sa("1.2.3.4:5")),
        Some(sa("6.7.8.9:10")),
        &[],
    );
    assert_eq!(local, v2(0x20, 0x00, &[]));
    let (h, _) = header(&local);
    assert_eq!(
        (h.command, h.transport, h.source),
        (Command::Local, Transport::Unspecified, None)
    );
    let no_dst = encode_v2(
        Command::Proxy,
        Transport::Stream,
        Some(sa("1.2.3.4:5")),
        None,
        &[],
    );
    assert_eq!(no_dst, v2(0x21, 0x00, &[]));
    let unspec = encode_v2(
        Command::Proxy,
        Transport::Unspecified,
        Some(sa("1.2.3.4:5")),
        Some(sa("6.7.8.9:10")),
        &[],
    );
    assert_eq!(unspec, v2(0x21, 0x00, &[]));
}

#[test]
fn encode_v2_mixed_families_and_oversized_tlvs() {
    let bytes = encode_v2(
        Command::Proxy,
        Transport::Stream,
        Some(sa("10.0.0.1:1")),
        Some(sa("[::2]:2")),
        &[],
    );
    let (h, _) = header(&bytes);
    assert_eq!(h.source, Some(sa("[::ffff:10.0.0.1]:1")));
    assert_eq!(h.destination, Some(sa("[::2]:2")));

    let tlvs = [
        Tlv {
            kind: 0xE0,
            value: vec![1; 70_000],
        }, // cannot fit: dropped
        Tlv {
            kind: 0xE1,
            value: vec![2; 65_000],
        },
        Tlv {
            kind: 0xE2,
            value: vec![3; 1_000],
        }, // would overflow: dropped
        Tlv {
            kind: 0xE3,
            value: vec![4; 10],
        },
    ];
    let bytes = encode_v2(
        Command::Proxy,
        Transport::Stream,
        Some(sa("1.2.3.4:5")),
        Some(sa("6.7.8.9:10")),
        &tlvs,
    );
    assert!(bytes.len() <= MAX_V2_LEN);
    let (h, consumed) = header(&bytes);
    assert_eq!(consumed, bytes.len());
    assert_eq!(
        h.tlvs.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![0xE1, 0xE3]
    );
}
