use super::*;

/// Parses `input` (a GET unless `head_request`) and returns the result with
/// what is left of the buffer.
/// Also parses it keeping the fields raw, and checks that both forms agree:
/// the same verdict, bytes taken, framing and fields.
fn run(input: &[u8], head_request: bool) -> (Result<Option<Parsed>, HeadError>, BytesMut) {
    let mut buf = BytesMut::from(input);
    let res = parse(&mut buf, head_request, false);
    let mut raw_buf = BytesMut::from(input);
    let raw_res = parse(&mut raw_buf, head_request, true);
    assert_eq!(raw_buf, buf, "raw parse took other bytes");
    match (&res, raw_res) {
        (Ok(Some(Parsed::Final(h))), Ok(Some(Parsed::Final(r)))) => {
            assert!(h.raw.is_none());
            assert!(r.parts.headers.is_empty(), "raw parse filled the map");
            let fields = r.raw.expect("raw fields").into_map();
            assert_eq!(fields.as_ref(), Some(&h.parts.headers), "raw fields differ");
            assert_eq!(
                (r.body, r.keep_alive, r.parts.status, r.parts.version),
                (h.body, h.keep_alive, h.parts.status, h.parts.version)
            );
        }
        (Ok(Some(Parsed::Interim(s, f))), Ok(Some(Parsed::Interim(rs, rf)))) => {
            assert_eq!((s, f), (&rs, &rf), "interim heads differ");
        }
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(*a, b),
        (a, b) => panic!("map and raw parses differ: {a:?} / {b:?}"),
    }
    (res, buf)
}

/// A final head and what is left of the buffer; panics on anything else.
fn final_head(input: &[u8], head_request: bool) -> (Head, BytesMut) {
    match run(input, head_request) {
        (Ok(Some(Parsed::Final(h))), rest) => (h, rest),
        (other, _) => panic!("expected a final head, got {other:?}"),
    }
}

fn err(input: &[u8]) -> HeadError {
    match run(input, false).0 {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn values<'a>(head: &'a Head, name: &str) -> Vec<&'a [u8]> {
    head.parts
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.as_bytes())
        .collect()
}

#[test]
fn content_length_200_is_length_framed_keep_alive_and_leaves_the_body() {
    let (h, rest) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\n\r\nhello",
        false,
    );
    assert_eq!(h.parts.status, StatusCode::OK);
    assert_eq!(h.parts.version, Version::HTTP_11);
    assert_eq!(h.body, BodyKind::Length(5));
    assert!(h.keep_alive);
    assert_eq!(values(&h, "content-length"), [&b"5"[..]]);
    assert_eq!(values(&h, "content-type"), [&b"text/plain"[..]]);
    assert_eq!(values(&h, "x-multi"), [&b"a"[..], &b"b"[..]]);
    assert_eq!(h.parts.headers.len(), 4);
    assert_eq!(&rest[..], b"hello");
}

#[test]
fn header_values_keep_inner_spaces_and_lose_surrounding_ones() {
    let (h, rest) = final_head(
        b"HTTP/1.1 200 OK\r\nX-A:   two  words  \r\nx-b:\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert_eq!(values(&h, "x-a"), [&b"two  words"[..]]);
    assert_eq!(values(&h, "x-b"), [&b""[..]]);
    assert!(rest.is_empty());
}

#[test]
fn head_without_body_bytes_leaves_an_empty_buffer() {
    let (h, rest) = final_head(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert_eq!(h.parts.status, StatusCode::NOT_FOUND);
    assert_eq!(h.body, BodyKind::Length(0));
    assert!(h.keep_alive);
    assert!(rest.is_empty());
}

#[test]
fn status_line_without_reason_phrase_is_accepted() {
    let (h, _) = final_head(b"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", false);
    assert_eq!(h.parts.status, StatusCode::OK);
    assert_eq!(h.body, BodyKind::Length(1));
}

#[test]
fn chunked_is_chunked_and_keep_alive() {
    let (h, rest) = final_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Chunked);
    assert!(h.keep_alive);
    assert_eq!(&rest[..], b"5\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn chunked_name_and_value_are_case_insensitive() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\ntransfer-ENCODING: ChUnKeD\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Chunked);
}

#[test]
fn gzip_then_chunked_is_chunked() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Chunked);
    assert!(h.keep_alive);
}

#[test]
fn te_and_cl_is_chunked_and_not_keep_alive() {
    let (h, rest) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Chunked);
    assert!(!h.keep_alive);
    assert_eq!(&rest[..], b"0\r\n\r\n");
}

#[test]
fn cl_after_te_is_still_chunked_and_not_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Chunked);
    assert!(!h.keep_alive);
}

#[test]
fn no_framing_headers_is_eof_and_not_keep_alive() {
    let (h, rest) = final_head(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody", false);
    assert_eq!(h.body, BodyKind::Eof);
    assert!(!h.keep_alive);
    assert_eq!(&rest[..], b"body");
}

#[test]
fn http10_is_not_keep_alive_by_default() {
    let (h, _) = final_head(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", false);
    assert_eq!(h.parts.version, Version::HTTP_10);
    assert_eq!(h.body, BodyKind::Length(2));
    assert!(!h.keep_alive);
}

#[test]
fn http10_with_connection_keep_alive_is_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\nhi",
        false,
    );
    assert_eq!(h.body, BodyKind::Length(2));
    assert!(h.keep_alive);
}

#[test]
fn http10_keep_alive_among_other_tokens_is_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: foo , keep-alive\r\n\r\n",
        false,
    );
    assert!(h.keep_alive);
}

#[test]
fn http10_keep_alive_without_length_is_eof_and_not_keep_alive() {
    let (h, _) = final_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false);
    assert_eq!(h.body, BodyKind::Eof);
    assert!(!h.keep_alive);
}

#[test]
fn http10_keep_alive_then_close_is_not_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, close\r\n\r\n",
        false,
    );
    assert!(!h.keep_alive);
}

// Regression: on HTTP/1.0 a `keep-alive` token after `close` must not make
// the connection persistent. RFC 9112 §9.3: when the `close` option is
// present the connection does not persist, whatever else the field says.
#[test]
fn http10_close_then_keep_alive_is_not_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: close, keep-alive\r\n\r\n",
        false,
    );
    assert!(!h.keep_alive);
}

#[test]
fn http11_keep_alive_token_does_not_undo_close() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
        false,
    );
    assert!(!h.keep_alive);
}

#[test]
fn connection_close_is_not_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        false,
    );
    assert_eq!(h.body, BodyKind::Length(5));
    assert!(!h.keep_alive);
    // Read for the connection's fate; hop-by-hop, so not passed on.
    assert!(values(&h, "connection").is_empty());
}

#[test]
fn connection_close_among_tokens_and_any_case_is_not_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nconnection: upgrade ,CLOSE\r\n\r\n",
        false,
    );
    assert!(!h.keep_alive);
}

#[test]
fn connection_with_other_tokens_stays_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: x-closed, keep-alive\r\n\r\n",
        false,
    );
    assert!(h.keep_alive);
}

#[test]
fn head_request_has_no_body_whatever_the_framing() {
    for input in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ] {
        let (h, rest) = final_head(input, true);
        assert_eq!(h.body, BodyKind::Length(0), "{input:?}");
        assert!(h.keep_alive, "{input:?}");
        assert!(rest.is_empty());
    }
}

#[test]
fn head_request_keeps_the_content_length_header() {
    let (h, _) = final_head(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true);
    assert_eq!(values(&h, "content-length"), [&b"100"[..]]);
}

#[test]
fn head_request_with_te_and_cl_is_not_keep_alive() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        true,
    );
    assert_eq!(h.body, BodyKind::Length(0));
    assert!(!h.keep_alive);
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    for input in [
        &b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"[..],
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
    ] {
        let (h, _) = final_head(input, false);
        assert_eq!(h.body, BodyKind::Length(0), "{input:?}");
        assert!(h.keep_alive, "{input:?}");
    }
}

#[test]
fn other_statuses_without_framing_are_eof() {
    let (h, _) = final_head(b"HTTP/1.1 205 Reset Content\r\n\r\n", false);
    assert_eq!(h.body, BodyKind::Eof);
}

#[test]
fn continue_100_is_interim_and_taken_from_the_buffer() {
    let (res, rest) = run(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert!(
        matches!(res, Ok(Some(Parsed::Interim(StatusCode::CONTINUE, ref f))) if f.is_empty()),
        "{res:?}"
    );
    assert_eq!(&rest[..], b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn early_hints_103_with_headers_is_interim_and_the_final_head_follows() {
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Length: 9\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nLink: </b.js>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..],
    );
    let res = parse(&mut buf, false, false);
    // The links stay; framing and hop-by-hop fields go.
    match res {
        Ok(Some(Parsed::Interim(status, fields))) => {
            assert_eq!(status.as_u16(), 103);
            let links: Vec<_> = fields.get_all("link").iter().collect();
            assert_eq!(links, ["</a.css>; rel=preload", "</b.js>; rel=preload"]);
            assert_eq!(fields.len(), 2, "{fields:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(&buf[..], b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    match parse(&mut buf, false, false) {
        Ok(Some(Parsed::Final(h))) => {
            assert_eq!(h.parts.status, StatusCode::OK);
            assert_eq!(h.body, BodyKind::Length(2));
            assert!(h.parts.headers.get("link").is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(&buf[..], b"ok");
}

#[test]
fn interim_alone_leaves_an_empty_buffer() {
    let (res, rest) = run(b"HTTP/1.1 102 Processing\r\n\r\n", false);
    assert!(
        matches!(res, Ok(Some(Parsed::Interim(StatusCode::PROCESSING, _)))),
        "{res:?}"
    );
    assert!(rest.is_empty());
}

#[test]
fn switching_protocols_is_unexpected_upgrade() {
    let input =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(err(input), HeadError::UnexpectedUpgrade);
}

#[test]
fn conflicting_content_lengths_in_two_headers_are_an_error() {
    assert_eq!(
        err(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        HeadError::ContentLength
    );
}

#[test]
fn conflicting_content_lengths_in_one_header_are_an_error() {
    assert_eq!(
        err(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"),
        HeadError::ContentLength
    );
}

#[test]
fn equal_content_lengths_in_one_header_are_ok() {
    let (h, rest) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
        false,
    );
    assert_eq!(h.body, BodyKind::Length(5));
    assert!(h.keep_alive);
    assert_eq!(&rest[..], b"hello");
}

#[test]
fn equal_content_lengths_in_two_headers_are_ok() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello",
        false,
    );
    assert_eq!(h.body, BodyKind::Length(5));
    assert_eq!(values(&h, "content-length").len(), 2);
}

#[test]
fn invalid_content_lengths_are_an_error() {
    for v in [
        "-1",
        "+5",
        "abc",
        "5a",
        "0x5",
        "",
        "5,",
        ",5",
        "5 5",
        "1.0",
        "99999999999999999999",
    ] {
        let input = format!("HTTP/1.1 200 OK\r\nContent-Length: {v}\r\n\r\n");
        assert_eq!(err(input.as_bytes()), HeadError::ContentLength, "{v:?}");
    }
}

#[test]
fn nineteen_digit_content_length_is_accepted_and_twenty_refused() {
    // `parse_length` takes at most 19 digits (no overflow possible).
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Length(9_999_999_999_999_999_999));
    assert_eq!(
        err(b"HTTP/1.1 200 OK\r\nContent-Length: 00000000000000000005\r\n\r\n"),
        HeadError::ContentLength
    );
}

#[test]
fn invalid_content_length_is_an_error_even_for_head_requests() {
    let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"[..]);
    assert_eq!(
        parse(&mut buf, true, false).map(|_| ()),
        Err(HeadError::ContentLength)
    );
}

#[test]
fn partial_head_is_none_and_leaves_the_buffer_untouched() {
    let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    for end in 0..full.len() {
        let (res, rest) = run(&full[..end], false);
        assert!(matches!(res, Ok(None)), "prefix {end}: {res:?}");
        assert_eq!(&rest[..], &full[..end], "prefix {end}");
    }
    let (h, rest) = final_head(full, false);
    assert_eq!(h.body, BodyKind::Length(5));
    assert!(rest.is_empty());
}

#[test]
fn partial_interim_is_none_and_leaves_the_buffer_untouched() {
    let (res, rest) = run(b"HTTP/1.1 100 Continue\r\n", false);
    assert!(matches!(res, Ok(None)), "{res:?}");
    assert_eq!(&rest[..], b"HTTP/1.1 100 Continue\r\n");
}

#[test]
fn incomplete_head_of_max_head_bytes_is_too_large() {
    let mut input = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    input.resize(MAX_HEAD, b'a');
    assert_eq!(err(&input), HeadError::TooLarge);
    // One byte less is still waiting for more.
    let (res, rest) = run(&input[..MAX_HEAD - 1], false);
    assert!(matches!(res, Ok(None)), "{res:?}");
    assert_eq!(rest.len(), MAX_HEAD - 1);
}

#[test]
fn complete_head_over_max_head_is_too_large() {
    let mut input = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    input.resize(MAX_HEAD + 10, b'a');
    input.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(err(&input), HeadError::TooLarge);
}

#[test]
fn complete_head_of_exactly_max_head_is_accepted() {
    let prefix = b"HTTP/1.1 200 OK\r\nX-Big: ";
    let suffix = b"\r\nContent-Length: 0\r\n\r\n";
    let mut input = prefix.to_vec();
    input.resize(MAX_HEAD - suffix.len(), b'a');
    input.extend_from_slice(suffix);
    assert_eq!(input.len(), MAX_HEAD);
    input.extend_from_slice(b"tail");
    let (h, rest) = final_head(&input, false);
    assert_eq!(h.body, BodyKind::Length(0));
    assert_eq!(&rest[..], b"tail");
}

fn with_headers(n: usize) -> Vec<u8> {
    let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..n {
        input.extend_from_slice(format!("X-H{i}: v{i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    input
}

#[test]
fn max_headers_are_accepted() {
    let (h, _) = final_head(&with_headers(MAX_HEADERS), false);
    assert_eq!(h.parts.headers.len(), MAX_HEADERS);
    assert_eq!(
        h.parts.headers.get("x-h99").map(|v| v.as_bytes()),
        Some(&b"v99"[..])
    );
}

#[test]
fn more_than_max_headers_is_too_large() {
    assert_eq!(err(&with_headers(MAX_HEADERS + 1)), HeadError::TooLarge);
}

#[test]
fn malformed_status_lines_are_malformed() {
    for input in [
        &b"HTTP/1.1 2000 OK\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.2 200 OK\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1200 OK\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    ] {
        assert_eq!(
            run(input, false).0.map(|_| ()),
            Err(HeadError::Malformed),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn malformed_header_line_is_malformed() {
    for input in [
        &b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
    ] {
        assert_eq!(
            run(input, false).0.map(|_| ()),
            Err(HeadError::Malformed),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn unregistered_status_up_to_999_is_accepted() {
    // StatusCode takes 100..=999; the proxy forwards what it cannot name.
    let (h, _) = final_head(b"HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n", false);
    assert_eq!(h.parts.status.as_u16(), 999);
}

#[test]
fn obsolete_line_folding_is_malformed() {
    assert_eq!(
        run(
            b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n",
            false
        )
        .0
        .map(|_| ()),
        Err(HeadError::Malformed)
    );
}

#[test]
fn leading_empty_lines_before_the_status_line_are_taken_with_the_head() {
    let (h, rest) = final_head(b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", false);
    assert_eq!(h.body, BodyKind::Length(1));
    assert_eq!(&rest[..], b"x");
}

#[test]
fn hop_by_hop_fields_and_the_ones_connection_names_stay_out_of_the_map() {
    let (h, rest) = final_head(
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n\
          Proxy-Authenticate: Basic\r\nUpgrade: h2c\r\nTrailer: X-T\r\nTE: trailers\r\n\
          x-hop: 1\r\nConnection: X-Other\r\nX-OTHER: 2\r\nX-Kept: 3\r\nProxy: 4\r\n\
          Content-Length: 2\r\n\r\nok",
        false,
    );
    assert!(h.keep_alive);
    assert_eq!(h.body, BodyKind::Length(2));
    let mut names: Vec<&str> = h.parts.headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    // `Proxy` (no dash) is an ordinary field.
    assert_eq!(names, ["content-length", "proxy", "x-kept"]);
    assert_eq!(&rest[..], b"ok");
}

#[test]
fn chunked_framing_headers_stay_out_of_the_map() {
    let (h, _) = final_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\nX-A: 1\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Chunked);
    let names: Vec<&str> = h.parts.headers.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["x-a"]);
}

/// A transfer coding the proxy would have to decode to remove, or one from
/// an HTTP/1.0 server (which has none): the response is refused (502), as
/// HAProxy refuses it, rather than passed on still encoded without its
/// header.
#[test]
fn a_transfer_coding_other_than_a_final_chunked_is_refused() {
    for head in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
    ] {
        assert!(
            matches!(err(head), HeadError::TransferEncoding),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
    // Bodiless answers carry no body to misframe.
    let (h, _) = final_head(
        b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip\r\n\r\n",
        false,
    );
    assert_eq!(h.body, BodyKind::Length(0));
}

#[test]
fn an_unusual_reason_phrase_is_kept_and_a_usual_one_costs_nothing() {
    let (h, _) = final_head(
        b"HTTP/1.1 299 Whatever Man\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    let r = h.parts.extensions.get::<hyper::ext::ReasonPhrase>();
    assert_eq!(
        r.map(hyper::ext::ReasonPhrase::as_bytes),
        Some(&b"Whatever Man"[..])
    );
    let (h, _) = final_head(
        b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    let r = h.parts.extensions.get::<hyper::ext::ReasonPhrase>();
    assert_eq!(
        r.map(hyper::ext::ReasonPhrase::as_bytes),
        Some(&b"Too Large"[..])
    );
    let (h, _) = final_head(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert!(
        h.parts
            .extensions
            .get::<hyper::ext::ReasonPhrase>()
            .is_none()
    );
}
