//! ClientHello parser tests: genuine hellos from rustls, re-framed and fed byte
//! by byte; hand-built hellos for the malformed and the very large cases.

use super::*;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, SupportedProtocolVersion};

// ---- helpers ---------------------------------------------------------------

/// The bytes a fresh rustls client sends first: a genuine ClientHello.
fn rustls_hello(
    server: &str,
    alpn: &[&[u8]],
    versions: &[&'static SupportedProtocolVersion],
) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(server.to_owned()).expect("server name");
    let mut conn = ClientConnection::new(Arc::new(config), name).expect("client connection");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write_tls");
    }
    out
}

fn default_hello() -> Vec<u8> {
    rustls_hello(
        "api.example.com",
        &[b"h2", b"http/1.1"],
        rustls::DEFAULT_VERSIONS,
    )
}

/// The handshake message carried by the leading handshake records of `tls`.
fn handshake_message(tls: &[u8]) -> Vec<u8> {
    let mut msg = Vec::new();
    let mut rest = tls;
    while let [22, 3, _, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        msg.extend_from_slice(&tail[..len]);
        rest = &tail[len..];
        if msg.len() >= 4 {
            let body =
                (usize::from(msg[1]) << 16) | (usize::from(msg[2]) << 8) | usize::from(msg[3]);
            if msg.len() >= 4 + body {
                break;
            }
        }
    }
    msg
}

/// `msg` cut at `cuts` (ascending offsets) into handshake records.
fn frame(msg: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&msg.len())) {
        let piece = &msg[start..end];
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        out.extend_from_slice(piece);
        start = end;
    }
    out
}

/// Every proper prefix of `buf` must be `NeedMore` or `buf`'s own verdict (a
/// verdict never changes once given); returns `buf`'s verdict.
fn stable_verdict(buf: &[u8]) -> Peek {
    let last = parse_client_hello(buf);
    let mut decided = false;
    for n in 0..buf.len() {
        match parse_client_hello(&buf[..n]) {
            Peek::NeedMore => assert!(!decided, "NeedMore after a verdict at {n}"),
            other => {
                assert_eq!(other, last, "prefix of {n} bytes");
                decided = true;
            }
        }
    }
    last
}

fn expect_hello(verdict: Peek) -> ClientHello {
    match verdict {
        Peek::Hello(h) => h,
        other => panic!("expected a ClientHello, got {other:?}"),
    }
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut e = ty.to_be_bytes().to_vec();
    e.extend_from_slice(&(data.len() as u16).to_be_bytes());
    e.extend_from_slice(data);
    e
}

fn sni_ext(name: &[u8]) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
    entry.extend_from_slice(name);
    let mut data = (entry.len() as u16).to_be_bytes().to_vec();
    data.extend_from_slice(&entry);
    ext(0, &data)
}

fn alpn_ext(names: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for n in names {
        list.push(n.len() as u8);
        list.extend_from_slice(n);
    }
    let mut data = (list.len() as u16).to_be_bytes().to_vec();
    data.extend_from_slice(&list);
    ext(16, &data)
}

/// A ClientHello handshake message (header included) with these extensions.
fn build_msg(exts: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(32);
    body.extend_from_slice(&[9; 32]); // session_id
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02]); // cipher_suites
    body.extend_from_slice(&[1, 0]); // compression: null
    let all: Vec<u8> = exts.concat();
    body.extend_from_slice(&(all.len() as u16).to_be_bytes());
    body.extend_from_slice(&all);
    wrap_handshake(1, &body)
}

fn wrap_handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut msg = vec![ty];
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(body);
    msg
}

fn build(exts: &[Vec<u8>]) -> Vec<u8> {
    frame(&build_msg(exts), &[])
}

fn invalid(buf: &[u8]) -> &'static str {
    match stable_verdict(buf) {
        Peek::Invalid(why) => why,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

// ---- genuine hellos from rustls -------------------------------------------

#[test]
fn rustls_hello_with_alpn() {
    let h = expect_hello(stable_verdict(&default_hello()));
    assert_eq!(h.server_name.as_deref(), Some("api.example.com"));
    assert_eq!(h.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert!(h.tls13_offered);
}

#[test]
fn rustls_hello_without_alpn() {
    let buf = rustls_hello("api.example.com", &[], rustls::DEFAULT_VERSIONS);
    let h = expect_hello(parse_client_hello(&buf));
    assert_eq!(h.server_name.as_deref(), Some("api.example.com"));
    assert!(h.alpn.is_empty());
}

#[test]
fn rustls_hello_to_an_ip_address_has_no_sni() {
    let buf = rustls_hello("192.0.2.7", &[b"h2"], rustls::DEFAULT_VERSIONS);
    let h = expect_hello(parse_client_hello(&buf));
    assert_eq!(h.server_name, None);
    assert_eq!(h.alpn, vec![b"h2".to_vec()]);
}

#[test]
fn rustls_tls12_only_hello() {
    let buf = rustls_hello(
        "Legacy.Example.NET",
        &[b"http/1.1"],
        &[&rustls::version::TLS12],
    );
    let h = expect_hello(stable_verdict(&buf));
    assert_eq!(h.server_name.as_deref(), Some("legacy.example.net"));
    assert_eq!(h.alpn, vec![b"http/1.1".to_vec()]);
    assert!(!h.tls13_offered);
}

#[test]
fn bytes_after_the_hello_are_ignored() {
    let hello = default_hello();
    let want = parse_client_hello(&hello);
    let mut buf = hello.clone();
    buf.extend_from_slice(&[20, 3, 3, 0, 1, 1]); // ChangeCipherSpec
    buf.extend_from_slice(&[23, 3, 3, 0, 40]); // 0-RTT application data...
    buf.extend_from_slice(&[0xAB; 40]);
    assert_eq!(stable_verdict(&buf), want);
}

// ---- fragmentation ----------------------------------------------------------

#[test]
fn hello_split_into_two_records_at_every_point() {
    let hello = default_hello();
    let want = parse_client_hello(&hello);
    let msg = handshake_message(&hello);
    for cut in 1..msg.len() {
        assert_eq!(parse_client_hello(&frame(&msg, &[cut])), want, "cut {cut}");
    }
}

#[test]
fn hello_in_three_records_fed_byte_by_byte() {
    let hello = default_hello();
    let want = parse_client_hello(&hello);
    let msg = handshake_message(&hello);
    let n = msg.len();
    // Including cuts inside the 4-byte handshake header.
    for cuts in [
        [1, 2],
        [2, 3],
        [3, 4],
        [4, 100],
        [n / 3, 2 * n / 3],
        [40, n - 1],
    ] {
        let buf = frame(&msg, &cuts);
        assert_eq!(stable_verdict(&buf), want, "cuts {cuts:?}");
    }
}

#[test]
fn hello_in_one_byte_records() {
    let msg = build_msg(&[sni_ext(b"tiny.example"), alpn_ext(&[b"h2"])]);
    let cuts: Vec<usize> = (1..msg.len()).collect();
    let h = expect_hello(parse_client_hello(&frame(&msg, &cuts)));
    assert_eq!(h.server_name.as_deref(), Some("tiny.example"));
}

// ---- not TLS ----------------------------------------------------------------

#[test]
fn other_protocols_are_not_tls() {
    for buf in [
        &b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.6\r\n",
        &[0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15][..], // SSLv2-compatible hello
        b"G",
        &[0x16, 0x02][..],
        &[0x16, b'G', b'E', b'T'][..],
    ] {
        assert_eq!(parse_client_hello(buf), Peek::NotTls, "{buf:?}");
    }
}

#[test]
fn short_prefixes_need_more() {
    for buf in [
        &[][..],
        &[0x16],
        &[0x16, 3],
        &[0x16, 3, 1],
        &[0x16, 3, 1, 0],
    ] {
        assert_eq!(parse_client_hello(buf), Peek::NeedMore, "{buf:?}");
    }
}

// ---- malformed --------------------------------------------------------------

#[test]
fn record_layer_errors() {
    // SSL 3.0 record version.
    assert_eq!(invalid(&[22, 3, 0, 0, 10, 1]), "unsupported record version");
    assert_eq!(invalid(&[22, 3, 1, 0, 0]), "empty handshake record");
    assert_eq!(
        invalid(&[22, 3, 1, 0xff, 0xff]),
        "record longer than 2^14 bytes"
    );
    // A ServerHello / Certificate where the ClientHello should be: decided
    // from the first handshake byte.
    assert_eq!(invalid(&[22, 3, 3, 0, 80, 2]), "not a ClientHello");
    assert_eq!(invalid(&[22, 3, 1, 0, 1, 11]), "not a ClientHello");
}

#[test]
fn non_handshake_record_mid_hello() {
    let msg = handshake_message(&default_hello());
    let first = frame(&msg[..50], &[]);
    for (ty, ver) in [(21u8, 3u8), (20, 3), (23, 3), (22, 2)] {
        let mut buf = first.clone();
        buf.extend_from_slice(&[ty, ver, 3, 0, 2, 2, 40]);
        let why = invalid(&buf);
        assert!(
            why.contains("non-handshake") || why == "bad record version",
            "{why}"
        );
    }
}

#[test]
fn wrong_handshake_type_in_a_full_record() {
    let mut msg = build_msg(&[sni_ext(b"a.example")]);
    msg[0] = 2;
    assert_eq!(invalid(&frame(&msg, &[])), "not a ClientHello");
}

#[test]
fn overflowing_lengths() {
    let good = build_msg(&[sni_ext(b"a.example")]);
    // Offsets in the message: 4 header, 6 version, 38 random, 39..71 session
    // id, 71 suites length, 77 compression, 79 extensions length.
    let cases: [(usize, &[u8], &str); 7] = [
        (38, &[33], "session_id longer than 32 bytes"),
        (38, &[255], "session_id overruns the ClientHello"),
        (71, &[0xff, 0xf0], "cipher_suites overrun the ClientHello"),
        (71, &[0, 3], "bad cipher_suites length"),
        (77, &[200], "compression_methods overrun the ClientHello"),
        (79, &[0xff, 0xff], "extensions overrun the ClientHello"),
        (83, &[0xff, 0xff], "extension overruns the extension list"),
    ];
    for (at, bytes, want) in cases {
        let mut msg = good.clone();
        msg[at..at + bytes.len()].copy_from_slice(bytes);
        assert_eq!(invalid(&frame(&msg, &[])), want, "patch at {at}");
    }
}

#[test]
fn handshake_length_that_cannot_fit_is_rejected_early() {
    // Declares a 16 MiB hello: rejected as soon as the length is visible.
    assert_eq!(invalid(&[22, 3, 1, 0, 200, 1, 0xff, 0xff, 0xff]), TOO_LARGE);
    // Declares less than the record holds.
    let mut msg = build_msg(&[]);
    msg[3] -= 1;
    assert_eq!(
        invalid(&frame(&msg, &[])),
        "data after the ClientHello in its record"
    );
}

#[test]
fn truncated_extensions() {
    let mut body_end = build_msg(&[sni_ext(b"a.example")]);
    // Cut the last extension short but keep all lengths consistent with the
    // message: an extension header with no room for its data.
    body_end.truncate(body_end.len() - 3);
    let ext_len = (body_end.len() - 81) as u16;
    body_end[79..81].copy_from_slice(&ext_len.to_be_bytes());
    let body = body_end[4..].to_vec();
    let msg = wrap_handshake(1, &body);
    assert_eq!(
        invalid(&frame(&msg, &[])),
        "extension overruns the extension list"
    );

    // One byte of an extension header only.
    let msg = build_msg(&[vec![0]]);
    assert_eq!(invalid(&frame(&msg, &[])), "truncated extension header");
}

#[test]
fn malformed_extension_contents() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (ext(0, &[]), "server_name list overruns its extension"),
        (ext(0, &[0, 0]), "empty server_name list"),
        (
            ext(0, &[0, 3, 0, 0, 9]),
            "server name overruns the server_name list",
        ),
        (
            ext(0, &[0, 2, 0, 7]),
            "server name overruns the server_name list",
        ),
        (
            ext(0, &[0, 1, 0, 7]),
            "trailing bytes in the server_name extension",
        ),
        (ext(16, &[0, 0]), "empty ALPN list"),
        (
            ext(16, &[0, 3, 2, b'h', b'2', 9]),
            "trailing bytes in the ALPN extension",
        ),
        (ext(16, &[0, 3, 0, 1, b'x']), "empty ALPN protocol name"),
        (
            ext(16, &[0, 2, 5, b'h']),
            "ALPN protocol name overruns the list",
        ),
        (ext(43, &[3, 3, 4, 3]), "bad supported_versions length"),
        (ext(43, &[0]), "bad supported_versions length"),
    ];
    for (e, want) in cases {
        assert_eq!(invalid(&build(std::slice::from_ref(&e))), want, "{e:?}");
    }
}

#[test]
fn duplicate_extensions() {
    let twice_sni = build(&[sni_ext(b"a.example"), sni_ext(b"b.example")]);
    assert_eq!(invalid(&twice_sni), "duplicate extension");
    let twice_other = build(&[ext(0xfe0d, &[1]), sni_ext(b"a.example"), ext(0xfe0d, &[])]);
    assert_eq!(invalid(&twice_other), "duplicate extension");
    // Two host_names inside one server_name extension.
    let mut list = Vec::new();
    for name in [&b"a.example"[..], b"b.example"] {
        list.push(0);
        list.extend_from_slice(&(name.len() as u16).to_be_bytes());
        list.extend_from_slice(name);
    }
    let mut data = (list.len() as u16).to_be_bytes().to_vec();
    data.extend_from_slice(&list);
    assert_eq!(
        invalid(&build(&[ext(0, &data)])),
        "more than one host_name in server_name"
    );
}

#[test]
fn implausible_host_names() {
    let long_label = [b'a'; 64];
    let long_name = [b"a.".as_slice(); 127].concat(); // 254 bytes
    let cases: [(&[u8], &str); 9] = [
        (b"evil\x00.example", "control character in host_name"),
        (b"evil\r\nexample", "control character in host_name"),
        (b"del\x7f.example", "control character in host_name"),
        ("bücher.example".as_bytes(), "non-ASCII host_name"),
        (b"a b.example", "invalid character in host_name"),
        (b"", "empty host_name"),
        (b".", "empty host_name"),
        (b"a..example", "empty label in host_name"),
        (&long_label, "host_name label longer than 63 bytes"),
    ];
    for (name, want) in cases {
        assert_eq!(invalid(&build(&[sni_ext(name)])), want, "{name:?}");
    }
    // 253 bytes is the longest name, with or without its trailing dot.
    for name in [&long_name[..253], &long_name[..]] {
        let h = expect_hello(parse_client_hello(&build(&[sni_ext(name)])));
        assert_eq!(h.server_name.map(|n| n.len()), Some(253));
    }
    let mut too_long = long_name.clone();
    too_long.push(b'a'); // 255 bytes, "a.a.….a"
    assert_eq!(
        invalid(&build(&[sni_ext(&too_long)])),
        "host_name longer than 253 bytes"
    );
}

#[test]
fn host_name_normalisation_and_grease() {
    let buf = build(&[
        ext(0x0a0a, &[]),                       // GREASE extension
        sni_ext(b"WWW.Example.COM."),           // upper case, trailing dot
        alpn_ext(&[b"\x3a\x3a", b"h2", b"h3"]), // GREASE ALPN value first
        ext(43, &[4, 0x7a, 0x7a, 3, 4]),
        ext(0x1a1a, &[0]),
    ]);
    let h = expect_hello(stable_verdict(&buf));
    assert_eq!(h.server_name.as_deref(), Some("www.example.com"));
    assert_eq!(
        h.alpn,
        vec![b"\x3a\x3a".to_vec(), b"h2".to_vec(), b"h3".to_vec()]
    );
    assert!(h.tls13_offered);
}

#[test]
fn hello_without_extensions() {
    let mut body = build_msg(&[])[4..].to_vec();
    body.truncate(body.len() - 2); // drop the empty extensions vector
    let h = expect_hello(parse_client_hello(&frame(&wrap_handshake(1, &body), &[])));
    assert_eq!(h, ClientHello::default());
}

#[test]
fn unknown_name_types_are_skipped() {
    // An entry of name_type 7, alone and followed by a host_name.
    let data = [0, 5, 7, 0, 2, b'x', b'y'];
    let h = expect_hello(parse_client_hello(&build(&[ext(0, &data)])));
    assert_eq!(h.server_name, None);
    let data = [0, 9, 7, 0, 2, b'x', b'y', 0, 0, 1, b'z'];
    let h = expect_hello(parse_client_hello(&build(&[ext(0, &data)])));
    assert_eq!(h.server_name.as_deref(), Some("z"));
}

// ---- size limits ------------------------------------------------------------

/// A hello of exactly `total` message bytes: SNI plus a padding extension.
fn padded_msg(total: usize) -> Vec<u8> {
    let base = build_msg(&[sni_ext(b"big.example"), ext(21, &[])]).len();
    build_msg(&[sni_ext(b"big.example"), ext(21, &vec![0; total - base])])
}

#[test]
fn largest_hello_is_accepted_larger_is_not() {
    let msg = padded_msg(MAX_HANDSHAKE_LEN);
    assert_eq!(msg.len(), MAX_HANDSHAKE_LEN);
    // In one record, and in 8 records: exactly MAX_HELLO_BYTES on the wire.
    let one = frame(&msg, &[]);
    let cuts: Vec<usize> = (1..8).map(|i| i * msg.len() / 8).collect();
    let eight = frame(&msg, &cuts);
    assert_eq!(eight.len(), MAX_HELLO_BYTES);
    for buf in [one, eight] {
        let h = expect_hello(parse_client_hello(&buf));
        assert_eq!(h.server_name.as_deref(), Some("big.example"));
        assert_eq!(parse_client_hello(&buf[..buf.len() - 1]), Peek::NeedMore);
    }
    // One byte more is rejected as soon as the handshake header is visible.
    let msg = padded_msg(MAX_HANDSHAKE_LEN + 1);
    let buf = frame(&msg, &[]);
    assert_eq!(parse_client_hello(&buf[..9]), Peek::Invalid(TOO_LARGE));
    // Nine records of a hello that fits: the record headers push it over.
    let msg = padded_msg(MAX_HANDSHAKE_LEN);
    let cuts: Vec<usize> = (1..9).map(|i| i * msg.len() / 9).collect();
    let buf = frame(&msg, &cuts);
    assert_eq!(parse_client_hello(&buf), Peek::Invalid(TOO_LARGE));
    assert_eq!(
        parse_client_hello(&buf[..MAX_HELLO_BYTES]),
        Peek::Invalid(TOO_LARGE)
    );
}

#[test]
fn very_long_extension_list() {
    // ~3,300 distinct 1-byte extensions: close to the 16 KiB limit.
    let mut exts = vec![sni_ext(b"many.example"), alpn_ext(&[b"h2"])];
    let mut ty = 100u16;
    while exts.iter().map(Vec::len).sum::<usize>() + 5 + 100 <= MAX_HANDSHAKE_LEN {
        exts.push(ext(ty, &[ty as u8]));
        ty += 1;
    }
    let msg = build_msg(&exts);
    assert!(msg.len() > MAX_HANDSHAKE_LEN - 200 && msg.len() <= MAX_HANDSHAKE_LEN);
    let h = expect_hello(parse_client_hello(&frame(&msg, &[msg.len() / 2])));
    assert_eq!(h.server_name.as_deref(), Some("many.example"));
    assert_eq!(h.alpn, vec![b"h2".to_vec()]);
    // The same list with one type repeated at the very end.
    exts.push(ext(100, &[]));
    let msg = build_msg(&exts);
    assert_eq!(invalid(&frame(&msg, &[])), "duplicate extension");
}

#[test]
fn records_that_never_complete_a_hello() {
    // One-byte records of a declared-large hello: the headers alone exceed the
    // limit long before the hello could complete.
    let msg = padded_msg(MAX_HANDSHAKE_LEN);
    let cuts: Vec<usize> = (1..msg.len()).collect();
    let buf = frame(&msg, &cuts);
    assert_eq!(
        parse_client_hello(&buf[..MAX_HELLO_BYTES]),
        Peek::Invalid(TOO_LARGE)
    );
    assert_eq!(
        parse_client_hello(&buf[..MAX_HELLO_BYTES - 1]),
        Peek::NeedMore
    );
}

// ---- robustness ---------------------------------------------------------------

#[test]
fn mutated_hellos_never_panic_and_verdicts_are_stable() {
    let seeds = [
        default_hello(),
        rustls_hello("x.example", &[], &[&rustls::version::TLS12]),
        frame(&handshake_message(&default_hello()), &[3, 90]),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let mut buf = seeds[round % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % buf.len();
            buf[at] = next() as u8;
        }
        let cut = (next() as usize) % (buf.len() + 1);
        let whole = parse_client_hello(&buf);
        let part = parse_client_hello(&buf[..cut]);
        assert!(part == Peek::NeedMore || part == whole, "round {round}");
    }
}
