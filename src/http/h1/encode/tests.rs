use super::*;
use http::HeaderValue;

const DATE: &[u8] = b"Thu, 26 Nov 2026 19:00:00 GMT";
const GET: Request = Request {
    head: false,
    keep_alive: true,
};

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

/// Encodes with the fields in a `HeaderMap`, and again with the same
/// fields raw (names in upper case, as an upstream may send them): both
/// must give the same bytes and verdict.
fn enc(status: u16, headers: &[(&str, &str)], body: BodyLen, req: Request) -> (String, Encoded) {
    let status = StatusCode::from_u16(status).expect("status");
    let mut out = Vec::new();
    let e = head(status, None, &map(headers), None, body, req, DATE, &mut out).expect("encodes");
    let upper: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_uppercase(), *v))
        .collect();
    let raw = RawFields::from_pairs(&upper);
    let mut raw_out = Vec::new();
    let raw_e = head(
        status,
        None,
        &HeaderMap::new(),
        Some(&raw),
        body,
        req,
        DATE,
        &mut raw_out,
    )
    .expect("encodes raw");
    assert_eq!(
        String::from_utf8_lossy(&raw_out),
        String::from_utf8_lossy(&out),
        "raw fields encode differently"
    );
    assert_eq!(raw_e, e);
    (String::from_utf8(out).expect("ascii"), e)
}

fn length(n: u64) -> Encoded {
    Encoded {
        encoder: Encoder::Length(n),
        close: false,
    }
}

#[test]
fn a_known_length_body_gets_content_length_and_a_date() {
    let (text, e) = enc(
        200,
        &[("content-type", "text/plain")],
        BodyLen::Known(5),
        GET,
    );
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\ndate: Thu, 26 Nov 2026 19:00:00 GMT\r\n\r\n"
    );
    assert_eq!(e, length(5));
}

#[test]
fn an_upstream_content_length_is_kept_once() {
    let (text, e) = enc(
        200,
        &[("content-length", "7"), ("content-length", "7")],
        BodyLen::Unknown,
        GET,
    );
    assert_eq!(text.matches("content-length: 7\r\n").count(), 1, "{text}");
    assert_eq!(e, length(7));
}

#[test]
fn an_unknown_length_is_chunked() {
    let (text, e) = enc(200, &[], BodyLen::Unknown, GET);
    assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
    assert_eq!(e.encoder, Encoder::Chunked { trailers: None });
    assert!(!e.close);
}

#[test]
fn an_empty_body_says_content_length_zero_except_where_it_must_not() {
    let (text, e) = enc(200, &[], BodyLen::Empty, GET);
    assert!(text.contains("content-length: 0\r\n"), "{text}");
    assert_eq!(e, length(0));
    for status in [204, 304] {
        let (text, e) = enc(status, &[], BodyLen::Empty, GET);
        assert!(!text.contains("content-length"), "{status}: {text}");
        assert_eq!(e, length(0));
    }
    let head_req = Request {
        head: true,
        keep_alive: true,
    };
    let (text, _) = enc(200, &[], BodyLen::Empty, head_req);
    assert!(!text.contains("content-length"), "{text}");
}

#[test]
fn a_head_answer_keeps_its_content_length_and_sends_no_body() {
    let head_req = Request {
        head: true,
        keep_alive: true,
    };
    let (text, e) = enc(200, &[("content-length", "1234")], BodyLen::Empty, head_req);
    assert!(text.contains("content-length: 1234\r\n"), "{text}");
    assert_eq!(e, length(0));
}

#[test]
fn no_body_statuses_send_no_body_whatever_the_headers() {
    let (_, e) = enc(
        304,
        &[("transfer-encoding", "chunked")],
        BodyLen::Unknown,
        GET,
    );
    assert_eq!(e, length(0));
    let (text, e) = enc(204, &[], BodyLen::Known(3), GET);
    assert!(!text.contains("content-length"), "{text}");
    assert_eq!(e, length(0));
}

#[test]
fn a_client_that_asked_to_close_is_told_so() {
    let closing = Request {
        head: false,
        keep_alive: false,
    };
    let (text, e) = enc(200, &[], BodyLen::Known(1), closing);
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert!(e.close);
    // Added to what the response already says, once.
    let (text, _) = enc(
        200,
        &[("connection", "x-custom")],
        BodyLen::Known(1),
        closing,
    );
    assert!(text.contains("connection: x-custom, close\r\n"), "{text}");
    let (text, _) = enc(200, &[("connection", "close")], BodyLen::Known(1), closing);
    assert_eq!(text.matches("close").count(), 1, "{text}");
}

#[test]
fn a_response_saying_close_closes_the_connection() {
    let (_, e) = enc(200, &[("connection", "close")], BodyLen::Known(1), GET);
    assert!(e.close);
}

#[test]
fn transfer_encoding_always_ends_in_chunked() {
    let (text, e) = enc(200, &[("transfer-encoding", "gzip")], BodyLen::Unknown, GET);
    assert!(
        text.contains("transfer-encoding: gzip, chunked\r\n"),
        "{text}"
    );
    assert!(matches!(e.encoder, Encoder::Chunked { .. }));
}

#[test]
fn conflicting_lengths_are_refused_and_leave_the_buffer_alone() {
    for headers in [
        &[("content-length", "1"), ("content-length", "2")][..],
        &[("content-length", "x")][..],
        &[("content-length", "1"), ("transfer-encoding", "chunked")][..],
    ] {
        let mut out = b"kept".to_vec();
        let r = head(
            StatusCode::OK,
            None,
            &map(headers),
            None,
            BodyLen::Unknown,
            GET,
            DATE,
            &mut out,
        );
        assert_eq!(r, Err(EncodeError::Length), "{headers:?}");
        assert_eq!(out, b"kept");
        let r = head(
            StatusCode::OK,
            None,
            &HeaderMap::new(),
            Some(&RawFields::from_pairs(headers)),
            BodyLen::Unknown,
            GET,
            DATE,
            &mut out,
        );
        assert_eq!(r, Err(EncodeError::Length), "raw {headers:?}");
        assert_eq!(out, b"kept");
    }
}

#[test]
fn informational_statuses_are_refused() {
    let mut out = Vec::new();
    let r = head(
        StatusCode::CONTINUE,
        None,
        &HeaderMap::new(),
        None,
        BodyLen::Empty,
        GET,
        DATE,
        &mut out,
    );
    assert_eq!(r, Err(EncodeError::Informational));
}

#[test]
fn a_custom_reason_and_an_upstream_date_are_kept() {
    let mut out = Vec::new();
    head(
        StatusCode::NOT_FOUND,
        Some(b"Nothing Here"),
        &map(&[("date", "Mon, 01 Jan 2024 00:00:00 GMT")]),
        None,
        BodyLen::Empty,
        GET,
        DATE,
        &mut out,
    )
    .expect("encodes");
    let text = String::from_utf8(out).expect("ascii");
    assert!(text.starts_with("HTTP/1.1 404 Nothing Here\r\n"), "{text}");
    assert_eq!(text.matches("date: ").count(), 1, "{text}");
    assert!(text.contains("2024"), "{text}");
    let (text, _) = enc(503, &[], BodyLen::Empty, GET);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{text}"
    );
    // An unregistered code without a phrase: an empty one, no placeholder.
    let (text, _) = enc(299, &[], BodyLen::Empty, GET);
    assert!(text.starts_with("HTTP/1.1 299 \r\n"), "{text}");
}

#[test]
fn announced_trailers_limit_what_is_sent_and_forbidden_fields_never_are() {
    let (_, e) = enc(
        200,
        &[("trailer", "grpc-status, content-type")],
        BodyLen::Unknown,
        GET,
    );
    let Encoder::Chunked { trailers } = e.encoder else {
        panic!("chunked expected");
    };
    let allowed = trailers.expect("announced names");
    let sent = map(&[
        ("grpc-status", "0"),
        ("content-type", "x"),
        ("x-unannounced", "1"),
    ]);
    let mut out = Vec::new();
    chunked_end(Some(&sent), Some(&allowed), &mut out);
    assert_eq!(out, b"0\r\ngrpc-status: 0\r\n\r\n");
    // Unannounced (the `Trailer` header is hop-by-hop here): every
    // trailer but the forbidden fields.
    let mut out = Vec::new();
    chunked_end(Some(&sent), None, &mut out);
    assert_eq!(out, b"0\r\ngrpc-status: 0\r\nx-unannounced: 1\r\n\r\n");
    let mut out = Vec::new();
    chunked_end(None, None, &mut out);
    assert_eq!(out, b"0\r\n\r\n");
}

#[test]
fn chunk_lines_are_hex() {
    let mut out = Vec::new();
    chunk_line(255, &mut out);
    chunk_line(4096, &mut out);
    assert_eq!(out, b"FF\r\n1000\r\n");
}

#[test]
fn an_interim_head_is_its_status_line_and_fields_with_no_framing() {
    let mut out = b"kept".to_vec();
    let headers = map(&[
        ("link", "</a.css>; rel=preload"),
        ("link", "</b.js>; rel=preload"),
    ]);
    interim(StatusCode::from_u16(103).unwrap(), &headers, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "keptHTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\nlink: </b.js>; rel=preload\r\n\r\n"
    );
    let mut out = Vec::new();
    interim(
        StatusCode::from_u16(104).unwrap(),
        &HeaderMap::new(),
        &mut out,
    );
    assert_eq!(out, b"HTTP/1.1 104 \r\n\r\n");
}
