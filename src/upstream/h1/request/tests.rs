use super::*;
use crate::http::h1::encode::parse_length;

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).expect("request").into_parts().0
}

/// The head as text and the framing.
fn write(p: &Parts, body: BodySize) -> (String, Framing) {
    let mut dst = Vec::new();
    let framing = head(p, body, &mut dst);
    (String::from_utf8(dst).expect("ascii head"), framing)
}

/// The head's header lines (request line and final empty line left out).
fn lines(text: &str) -> Vec<&str> {
    let body = text.strip_suffix("\r\n\r\n").expect("ends in CRLFCRLF");
    body.split("\r\n").skip(1).collect()
}

/// Values of the header lines named `name` (case-insensitive).
fn field<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    lines(text)
        .into_iter()
        .filter_map(|l| l.split_once(": "))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

fn chunked(trailers: Option<Vec<HeaderName>>) -> Framing {
    Framing::Chunked { trailers }
}

#[test]
fn get_with_empty_body_has_no_framing_headers() {
    let p = parts("GET", "/index.html", &[("host", "example.com")]);
    let (text, framing) = write(&p, BodySize::Empty);
    assert_eq!(
        text,
        "GET /index.html HTTP/1.1\r\nhost: example.com\r\n\r\n"
    );
    assert_eq!(framing, Framing::Length(0));
}

#[test]
fn post_with_empty_body_has_no_framing_headers() {
    let p = parts("POST", "/submit", &[]);
    let (text, framing) = write(&p, BodySize::Empty);
    assert_eq!(text, "POST /submit HTTP/1.1\r\n\r\n");
    assert_eq!(framing, Framing::Length(0));
}

#[test]
fn empty_body_keeps_a_content_length_the_request_carries() {
    let p = parts("POST", "/", &[("content-length", "0")]);
    let (text, framing) = write(&p, BodySize::Empty);
    assert_eq!(field(&text, "content-length"), ["0"]);
    assert_eq!(framing, Framing::Length(0));
}

#[test]
fn known_body_without_content_length_adds_one() {
    let p = parts("POST", "/upload", &[("content-type", "text/plain")]);
    let (text, framing) = write(&p, BodySize::Known(1234));
    assert_eq!(
        text,
        "POST /upload HTTP/1.1\r\ncontent-type: text/plain\r\ncontent-length: 1234\r\n\r\n"
    );
    assert_eq!(framing, Framing::Length(1234));
    assert!(field(&text, "transfer-encoding").is_empty());
}

#[test]
fn known_zero_body_adds_content_length_zero() {
    let p = parts("PUT", "/x", &[]);
    let (text, framing) = write(&p, BodySize::Known(0));
    assert_eq!(field(&text, "content-length"), ["0"]);
    assert_eq!(framing, Framing::Length(0));
}

#[test]
fn known_body_with_valid_content_length_keeps_it_and_uses_it() {
    let p = parts("POST", "/", &[("content-length", "10"), ("x-after", "1")]);
    // The header wins over what the body says about itself (hyper's rule).
    let (text, framing) = write(&p, BodySize::Known(7));
    assert_eq!(
        text,
        "POST / HTTP/1.1\r\ncontent-length: 10\r\nx-after: 1\r\n\r\n"
    );
    assert_eq!(framing, Framing::Length(10));
}

#[test]
fn repeated_equal_content_lengths_are_valid_and_kept() {
    let p = parts(
        "POST",
        "/",
        &[("content-length", "5"), ("content-length", "5, 5")],
    );
    let (text, framing) = write(&p, BodySize::Known(5));
    assert_eq!(field(&text, "content-length"), ["5", "5, 5"]);
    assert_eq!(framing, Framing::Length(5));
}

#[test]
fn unknown_body_with_valid_content_length_uses_it() {
    let p = parts("POST", "/", &[("content-length", "42")]);
    let (text, framing) = write(&p, BodySize::Unknown);
    assert_eq!(field(&text, "content-length"), ["42"]);
    assert!(field(&text, "transfer-encoding").is_empty());
    assert_eq!(framing, Framing::Length(42));
}

#[test]
fn invalid_content_length_with_known_body_is_replaced() {
    for bad in [
        &["abc"][..],
        &["-1"],
        &["+5"],
        &["5", "6"],
        &["5, 6"],
        &[""],
    ] {
        let headers: Vec<_> = bad.iter().map(|v| ("content-length", *v)).collect();
        let p = parts("POST", "/", &headers);
        let (text, framing) = write(&p, BodySize::Known(9));
        assert_eq!(field(&text, "content-length"), ["9"], "{bad:?}");
        assert_eq!(framing, Framing::Length(9), "{bad:?}");
    }
}

#[test]
fn invalid_content_length_with_unknown_body_on_post_is_chunked_without_it() {
    let p = parts("POST", "/", &[("content-length", "nope")]);
    let (text, framing) = write(&p, BodySize::Unknown);
    assert!(field(&text, "content-length").is_empty());
    assert_eq!(field(&text, "transfer-encoding"), ["chunked"]);
    assert_eq!(framing, chunked(None));
}

#[test]
fn unknown_body_on_post_is_chunked() {
    let p = parts("POST", "/stream", &[("content-type", "application/json")]);
    let (text, framing) = write(&p, BodySize::Unknown);
    assert_eq!(
        text,
        "POST /stream HTTP/1.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    assert_eq!(framing, chunked(None));
}

#[test]
fn unknown_body_on_put_patch_delete_options_is_chunked() {
    for m in ["PUT", "PATCH", "DELETE", "OPTIONS", "X-CUSTOM"] {
        let (text, framing) = write(&parts(m, "/", &[]), BodySize::Unknown);
        assert_eq!(field(&text, "transfer-encoding"), ["chunked"], "{m}");
        assert_eq!(framing, chunked(None), "{m}");
    }
}

#[test]
fn unknown_body_on_get_and_head_is_chunked_not_dropped() {
    for m in ["GET", "HEAD"] {
        let (text, framing) = write(&parts(m, "/", &[]), BodySize::Unknown);
        assert_eq!(field(&text, "transfer-encoding"), ["chunked"], "{m}");
        assert_eq!(framing, chunked(None), "{m}");
    }
    // Bodiless: no framing header at all.
    let (text, framing) = write(&parts("GET", "/", &[]), BodySize::Empty);
    assert_eq!(text, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(framing, Framing::Length(0));
}

#[test]
fn unknown_body_on_connect_sends_no_body() {
    let (text, framing) = write(&parts("CONNECT", "/", &[]), BodySize::Unknown);
    assert_eq!(text, "CONNECT / HTTP/1.1\r\n\r\n");
    assert_eq!(framing, Framing::Length(0));
}

#[test]
fn te_with_empty_body_is_dropped() {
    let p = parts(
        "POST",
        "/",
        &[("transfer-encoding", "chunked"), ("x-a", "1")],
    );
    let (text, framing) = write(&p, BodySize::Empty);
    assert_eq!(text, "POST / HTTP/1.1\r\nx-a: 1\r\n\r\n");
    assert_eq!(framing, Framing::Length(0));
}

#[test]
fn te_chunked_with_known_body_is_chunked_and_drops_content_length() {
    let p = parts(
        "POST",
        "/",
        &[("content-length", "5"), ("transfer-encoding", "chunked")],
    );
    let (text, framing) = write(&p, BodySize::Known(5));
    assert_eq!(
        text,
        "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    assert_eq!(framing, chunked(None));
}

#[test]
fn te_on_get_with_unknown_body_is_chunked() {
    let p = parts("GET", "/", &[("transfer-encoding", "chunked")]);
    let (text, framing) = write(&p, BodySize::Unknown);
    assert_eq!(field(&text, "transfer-encoding"), ["chunked"]);
    assert_eq!(framing, chunked(None));
}

#[test]
fn te_not_ending_in_chunked_gets_chunked_added() {
    let p = parts("POST", "/", &[("transfer-encoding", "gzip")]);
    let (text, framing) = write(&p, BodySize::Unknown);
    assert_eq!(field(&text, "transfer-encoding"), ["gzip", "chunked"]);
    assert_eq!(framing, chunked(None));
}

#[test]
fn te_ending_in_chunked_is_not_repeated() {
    let p = parts("POST", "/", &[("transfer-encoding", "gzip, Chunked")]);
    let (text, _) = write(&p, BodySize::Known(3));
    assert_eq!(field(&text, "transfer-encoding"), ["gzip, Chunked"]);
}

#[test]
fn trailer_header_announces_the_trailers() {
    let p = parts("POST", "/", &[("trailer", "x-a, X-B")]);
    let (text, framing) = write(&p, BodySize::Unknown);
    assert_eq!(field(&text, "trailer"), ["x-a, X-B"]);
    assert_eq!(
        framing,
        chunked(Some(vec![
            HeaderName::from_static("x-a"),
            HeaderName::from_static("x-b")
        ]))
    );
}

#[test]
fn trailers_from_several_trailer_headers_are_all_announced() {
    let p = parts("POST", "/", &[("trailer", "x-a"), ("trailer", "x-b")]);
    let (_, framing) = write(&p, BodySize::Unknown);
    assert_eq!(
        framing,
        chunked(Some(vec![
            HeaderName::from_static("x-a"),
            HeaderName::from_static("x-b")
        ]))
    );
}

#[test]
fn trailer_header_is_ignored_without_chunked_framing() {
    let p = parts("POST", "/", &[("trailer", "x-a")]);
    let (_, framing) = write(&p, BodySize::Known(3));
    assert_eq!(framing, Framing::Length(3));
}

#[test]
fn trailer_header_of_only_invalid_names_announces_none() {
    let p = parts("POST", "/", &[("trailer", " , bad name")]);
    let (_, framing) = write(&p, BodySize::Unknown);
    assert_eq!(framing, chunked(None));
}

#[test]
fn request_line_uses_origin_form_path_and_query() {
    let p = parts("GET", "http://example.com:8080/a/b?x=1&y=%20", &[]);
    let (text, _) = write(&p, BodySize::Empty);
    assert!(
        text.starts_with("GET /a/b?x=1&y=%20 HTTP/1.1\r\n"),
        "{text:?}"
    );
    assert!(!text.contains("example.com"));
}

#[test]
fn request_line_of_authority_without_path_is_slash() {
    let p = parts("GET", "http://example.com", &[]);
    let (text, _) = write(&p, BodySize::Empty);
    assert_eq!(text, "GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn request_line_keeps_query_on_root() {
    let p = parts("DELETE", "/?id=7", &[]);
    let (text, _) = write(&p, BodySize::Empty);
    assert!(text.starts_with("DELETE /?id=7 HTTP/1.1\r\n"), "{text:?}");
}

#[test]
fn request_line_is_http11_whatever_the_request_version() {
    let mut p = parts("GET", "/", &[]);
    p.version = http::Version::HTTP_10;
    let (text, _) = write(&p, BodySize::Empty);
    assert_eq!(text, "GET / HTTP/1.1\r\n\r\n");
    p.version = http::Version::HTTP_2;
    let (text, _) = write(&p, BodySize::Empty);
    assert_eq!(text, "GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn header_order_is_preserved() {
    let p = parts(
        "POST",
        "/",
        &[
            ("x-first", "1"),
            ("host", "h"),
            ("x-multi", "a"),
            ("accept", "*/*"),
            ("x-multi", "b"),
            ("x-last", "z"),
        ],
    );
    let (text, _) = write(&p, BodySize::Known(2));
    // http::HeaderMap groups repeated names at their first position.
    assert_eq!(
        lines(&text),
        [
            "x-first: 1",
            "host: h",
            "x-multi: a",
            "x-multi: b",
            "accept: */*",
            "x-last: z",
            "content-length: 2",
        ]
    );
}

#[test]
fn head_ends_with_one_crlfcrlf() {
    for body in [BodySize::Empty, BodySize::Known(3), BodySize::Unknown] {
        for p in [parts("GET", "/", &[]), parts("POST", "/", &[("a", "b")])] {
            let (text, _) = write(&p, body);
            assert!(text.ends_with("\r\n\r\n"), "{text:?}");
            assert_eq!(text.matches("\r\n\r\n").count(), 1, "{text:?}");
        }
    }
}

#[test]
fn head_is_appended_to_what_dst_holds() {
    let p = parts("GET", "/", &[]);
    let mut dst = b"previous".to_vec();
    head(&p, BodySize::Empty, &mut dst);
    assert_eq!(dst, b"previousGET / HTTP/1.1\r\n\r\n");
}

#[test]
fn written_head_parses_back_with_the_same_framing() {
    let cases = [
        (parts("POST", "/", &[("x", "y")]), BodySize::Known(5)),
        (parts("POST", "/", &[("x", "y")]), BodySize::Unknown),
        (parts("GET", "/q?a", &[]), BodySize::Empty),
        (
            parts("PUT", "/", &[("content-length", "bad")]),
            BodySize::Known(8),
        ),
        (
            parts("PUT", "/", &[("transfer-encoding", "gzip")]),
            BodySize::Unknown,
        ),
    ];
    for (p, body) in cases {
        let mut dst = Vec::new();
        let framing = head(&p, body, &mut dst);
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut fields);
        let n = match req.parse(&dst) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("{other:?} for {:?}", String::from_utf8_lossy(&dst)),
        };
        assert_eq!(n, dst.len());
        let cl: Vec<_> = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
            .collect();
        let te: Vec<_> = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
            .collect();
        match framing {
            Framing::Chunked { .. } => {
                assert!(cl.is_empty());
                assert!(ends_with_chunked(te.last().expect("te").value));
            }
            Framing::Length(0) => assert!(te.is_empty()),
            Framing::Length(n) => {
                assert!(te.is_empty());
                assert_eq!(cl.len(), 1);
                assert_eq!(parse_length(cl[0].value), Some(n));
            }
        }
    }
}

#[test]
fn several_cookie_fields_go_out_as_one_joined_with_semicolons() {
    // As an HTTP/2 client may send them (RFC 9113 §8.2.3), in order and
    // among other fields.
    let p = parts(
        "GET",
        "/",
        &[
            ("host", "example.com"),
            ("cookie", "a=1"),
            ("accept", "*/*"),
            ("cookie", "b=2"),
            ("cookie", "c=3"),
        ],
    );
    let (text, _) = write(&p, BodySize::Empty);
    assert_eq!(
        lines(&text),
        ["host: example.com", "cookie: a=1; b=2; c=3", "accept: */*"]
    );
}

#[test]
fn one_cookie_field_goes_out_as_it_is() {
    let p = parts("GET", "/", &[("cookie", "a=1; b=2"), ("accept", "*/*")]);
    let (text, _) = write(&p, BodySize::Empty);
    assert_eq!(lines(&text), ["cookie: a=1; b=2", "accept: */*"]);
}
