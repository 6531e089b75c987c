//! Header blocks: CONTINUATION assembly and its rules, the CONTINUATION
//! flood cap, HPACK errors, the 431 answer, request validation (RFC 9113
//! §8.1.1, §8.2.2, §8.3.1, RFC 8441), `content-length`, trailers.

use bytes::Bytes;

use super::*;

#[test]
fn headers_and_continuation_are_assembled() {
    let mut c = Client::new(cfg());
    let b = block(GET);
    let (a, rest) = b.split_at(5);
    let (m, z) = rest.split_at(7);
    let mut input = raw(kind::HEADERS, flag::END_STREAM, 1, a);
    input.extend(raw(kind::CONTINUATION, 0, 1, m));
    input.extend(raw(kind::CONTINUATION, flag::END_HEADERS, 1, z));
    c.send(&input).unwrap();
    let (head, end_stream) = c.request(1);
    assert!(end_stream);
    assert_eq!(head.path.as_deref(), Some(&b"/"[..]));
}

#[test]
fn another_frame_inside_a_header_block_is_protocol_error() {
    let b = block(GET);
    let mut ping = Vec::new();
    encode::ping(&mut ping, false, [0; 8]);
    for interloper in [
        ping,
        raw(kind::CONTINUATION, flag::END_HEADERS, 3, &b[4..]),
        raw(0xfa, 0, 0, b""),
        raw(kind::PRIORITY, 0, 1, &[0; 4]),
    ] {
        let mut c = Client::new(cfg());
        let mut input = raw(kind::HEADERS, 0, 1, &b[..4]);
        input.extend(interloper);
        c.expect_conn_error(&input, ErrorCode::ProtocolError);
    }
}

#[test]
fn continuation_without_headers_is_protocol_error() {
    let mut c = Client::new(cfg());
    c.expect_conn_error(
        &raw(kind::CONTINUATION, flag::END_HEADERS, 1, &block(GET)),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn continuation_flood_is_enhance_your_calm() {
    // max_header_list_size 1024: the cap is 64 KiB.
    let mut c = Client::new(cfg());
    c.send(&raw(kind::HEADERS, 0, 1, &[0; 16_000])).unwrap();
    for _ in 0..3 {
        c.send(&raw(kind::CONTINUATION, 0, 1, &[0; 16_000]))
            .unwrap();
    }
    c.expect_conn_error(
        &raw(kind::CONTINUATION, 0, 1, &[0; 16_000]),
        ErrorCode::EnhanceYourCalm,
    );
}

#[test]
fn invalid_hpack_is_compression_error() {
    let mut c = Client::new(cfg());
    // Index 0.
    c.expect_conn_error(
        &raw(kind::HEADERS, flag::END_HEADERS, 1, &[0x80]),
        ErrorCode::CompressionError,
    );
}

#[test]
fn header_list_over_the_limit_is_answered_431() {
    let mut c = Client::new(cfg());
    let big = "v".repeat(1000);
    let mut fields = GET.to_vec();
    fields.push(("x-big", &big));
    // With a body coming: 431, then RST_STREAM NO_ERROR.
    c.send(&headers(1, &fields, false)).unwrap();
    assert_eq!(
        c.events(),
        [Event::Refused {
            stream: 1,
            reason: "header list too large"
        }]
    );
    let frames = c.frames();
    let [
        Frame::Headers {
            stream: 1,
            end_stream: true,
            block,
            ..
        },
        Frame::RstStream {
            stream: 1,
            code: ErrorCode::NoError,
        },
    ] = frames.as_slice()
    else {
        panic!("{frames:?}");
    };
    assert_eq!(
        c.decode(block),
        vec![(":status".to_owned(), "431".to_owned())]
    );
    // Without a body: 431 alone. The connection goes on.
    c.send(&headers(3, &fields, true)).unwrap();
    let frames = c.frames();
    assert!(matches!(
        frames.as_slice(),
        [Frame::Headers {
            stream: 3,
            end_stream: true,
            ..
        }]
    ));
    assert!(matches!(
        c.events().as_slice(),
        [Event::Refused { stream: 3, .. }]
    ));
    c.open(5, GET, true);
    assert_eq!(c.conn.open_streams(), 1);
}

/// Sends `fields` as a request on stream 1 and expects RST_STREAM
/// PROTOCOL_ERROR and no event.
#[track_caller]
fn assert_malformed(fields: &[(&str, &str)], end_stream: bool, c: Config) {
    let mut c = Client::new(c);
    c.expect_rst(&headers(1, fields, end_stream), 1, ErrorCode::ProtocolError);
    // No request; only the refusal, for the log.
    let events = c.events();
    assert!(
        matches!(events.as_slice(), [Event::Refused { stream: 1, .. }]),
        "{fields:?}: {events:?}"
    );
    // The connection goes on.
    c.open(3, GET, true);
}

#[test]
fn malformed_requests_are_reset_with_protocol_error() {
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = GET.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let without = |name: &str| -> Vec<(&'static str, &'static str)> {
        GET.iter().copied().filter(|(n, _)| *n != name).collect()
    };
    let cases: Vec<Vec<(&str, &str)>> = vec![
        without(":method"),
        without(":scheme"),
        without(":path"),
        vec![(":method", "GET"), (":scheme", "https"), (":path", "")],
        vec![(":method", "GET"), (":scheme", "https"), (":path", "/a#b")],
        vec![(":method", "G ET"), (":scheme", "https"), (":path", "/")],
        // Pseudo-header after a regular field.
        vec![
            (":method", "GET"),
            (":scheme", "https"),
            ("x-a", "1"),
            (":path", "/"),
        ],
        with(&[(":path", "/again")]),
        with(&[(":status", "200")]),
        with(&[(":unknown", "x")]),
        with(&[(":protocol", "websocket")]),
        with(&[("connection", "close")]),
        with(&[("keep-alive", "5")]),
        with(&[("proxy-connection", "x")]),
        with(&[("transfer-encoding", "chunked")]),
        with(&[("upgrade", "h2c")]),
        with(&[("te", "gzip")]),
        with(&[("X-Upper", "1")]),
        with(&[("x-nul", "a\0b")]),
        with(&[("content-length", "abc")]),
        with(&[("content-length", "1"), ("content-length", "2")]),
        // CONNECT with :path, and without :authority.
        vec![
            (":method", "CONNECT"),
            (":authority", "example.com:443"),
            (":path", "/"),
        ],
        vec![(":method", "CONNECT")],
        // Extended CONNECT when not enabled.
        vec![
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "example.com"),
            (":path", "/chat"),
        ],
    ];
    for fields in &cases {
        assert_malformed(fields, true, cfg());
    }
    // A content-length with END_STREAM on the HEADERS must be 0.
    assert_malformed(&with(&[("content-length", "5")]), true, cfg());
    // Extended CONNECT needs :path even when enabled.
    let on = Config {
        enable_connect_protocol: true,
        ..cfg()
    };
    assert_malformed(
        &[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "example.com"),
        ],
        false,
        on,
    );
}

#[test]
fn well_formed_edge_cases_are_delivered() {
    let on = Config {
        enable_connect_protocol: true,
        ..cfg()
    };
    let mut c = Client::new(on);
    c.open(
        1,
        &[(":method", "CONNECT"), (":authority", "example.com:443")],
        false,
    );
    c.open(
        3,
        &[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "example.com"),
            (":path", "/chat"),
        ],
        false,
    );
    let mut fields = GET.to_vec();
    fields.extend([("te", "trailers"), ("content-length", "0")]);
    c.open(5, &fields, true);
}

#[test]
fn content_length_must_match_the_body() {
    let mut fields = POST.to_vec();
    fields.push(("content-length", "5"));
    // Short at END_STREAM.
    let mut c = Client::new(cfg());
    c.open(1, &fields, false);
    c.send(&data(1, b"abc", false)).unwrap();
    c.expect_rst(&data(1, b"d", true), 1, ErrorCode::ProtocolError);
    let events = c.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1],
        Event::Reset {
            stream: 1,
            code: ErrorCode::ProtocolError
        }
    );
    // Over, before END_STREAM.
    c.open(3, &fields, false);
    c.expect_rst(&data(3, b"abcdef", false), 3, ErrorCode::ProtocolError);
    assert!(matches!(
        c.events().as_slice(),
        [Event::Reset { stream: 3, .. }]
    ));
    // Exact.
    c.open(5, &fields, false);
    c.send(&data(5, b"abcde", true)).unwrap();
    assert!(matches!(
        c.events().as_slice(),
        [Event::Data {
            stream: 5,
            end_stream: true,
            ..
        }]
    ));
    assert!(c.frames().is_empty());
}

#[test]
fn trailers_end_the_request() {
    let mut c = Client::new(cfg());
    c.open(1, POST, false);
    let mut input = data(1, b"body", false);
    input.extend(headers(1, &[("x-checksum", "abc")], true));
    c.send(&input).unwrap();
    let events = c.events();
    let [
        Event::Data { .. },
        Event::Trailers {
            stream: 1,
            trailers,
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(trailers["x-checksum"], "abc");
    // The stream is half-closed (remote): the response can still go out.
    c.respond(1, false);
    c.conn.send_trailers(1, &trailers.clone()).unwrap();
    assert_eq!(c.conn.open_streams(), 0);
    let frames = c.frames();
    let [
        _,
        Frame::Headers {
            end_stream: true,
            block,
            ..
        },
    ] = frames.as_slice()
    else {
        panic!("{frames:?}");
    };
    let block: Bytes = block.clone();
    assert_eq!(
        c.decode(&block),
        vec![("x-checksum".to_owned(), "abc".to_owned())]
    );
}

#[test]
fn malformed_trailers_reset_the_stream() {
    for (fields, end_stream) in [
        (&[("x-t", "1")][..], false),
        (&[(":path", "/")][..], true),
        (&[("connection", "close")][..], true),
    ] {
        let mut c = Client::new(cfg());
        c.open(1, POST, false);
        c.expect_rst(&headers(1, fields, end_stream), 1, ErrorCode::ProtocolError);
        assert_eq!(
            c.events(),
            vec![Event::Reset {
                stream: 1,
                code: ErrorCode::ProtocolError
            }]
        );
    }
}
