use super::*;

fn parse_str(s: &str) -> (Parse, BytesMut) {
    let mut buf = BytesMut::from(s.as_bytes());
    let p = parse(&mut buf, 8192, 100);
    (p, buf)
}

fn ready(s: &str) -> (Request<ReqBody>, bool, BytesMut) {
    match parse_str(s) {
        (Parse::Ready { req, close, .. }, rest) => (req, close, rest),
        (other, _) => panic!("expected Ready for {s:?}, got {other:?}"),
    }
}

fn goes_to_hyper(s: &str) {
    let (p, rest) = parse_str(s);
    assert!(
        matches!(p, Parse::Hyper),
        "expected Hyper for {s:?}, got {p:?}"
    );
    assert_eq!(
        &rest[..],
        s.as_bytes(),
        "the buffer is left untouched for hyper"
    );
}

#[test]
fn a_plain_get_is_parsed_and_taken_from_the_buffer() {
    let (req, close, rest) =
        ready("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing: v\r\n\r\nNEXT");
    assert_eq!(req.method(), Method::GET);
    assert_eq!(req.uri(), "/a/b?x=1");
    assert_eq!(req.version(), Version::HTTP_11);
    assert_eq!(req.headers()["host"], "example.com");
    assert_eq!(req.headers()["x-thing"], "v");
    assert!(!close);
    assert_eq!(&rest[..], b"NEXT", "pipelined bytes stay in the buffer");
}

#[test]
fn the_head_bytes_are_handed_back_exactly() {
    let text = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut buf = BytesMut::from(format!("{text}GET /2").as_bytes());
    match parse(&mut buf, 8192, 100) {
        Parse::Ready { head, .. } => assert_eq!(&head[..], text.as_bytes()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn repeated_headers_keep_every_value_in_order() {
    let (req, _, _) = ready("GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n");
    let all: Vec<_> = req.headers().get_all("cookie").iter().collect();
    assert_eq!(all, ["a=1", "b=2"]);
}

#[test]
fn connection_close_is_reported_among_other_tokens() {
    let (_, close, _) = ready("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n");
    assert!(close);
    let (_, close, _) = ready("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
    assert!(!close);
}

#[test]
fn extension_methods_and_absolute_targets_are_served() {
    let (req, _, _) = ready("PURGE http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(req.method().as_str(), "PURGE");
    assert_eq!(req.uri().host(), Some("example.com"));
    assert_eq!(req.uri().path(), "/x");
}

#[test]
fn leading_empty_lines_are_skipped_as_hyper_does() {
    let (req, _, rest) = ready("\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(req.uri(), "/x");
    assert!(rest.is_empty());
}

#[test]
fn an_incomplete_head_waits_for_more() {
    let (p, rest) = parse_str("GET / HTTP/1.1\r\nHost: h\r\n");
    assert!(matches!(p, Parse::Partial));
    assert_eq!(rest.len(), 25);
}

#[test]
fn requests_with_bodies_go_to_hyper() {
    goes_to_hyper("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    goes_to_hyper("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    // Zero, but not plainly one zero: hyper's (and the smuggling guard's).
    goes_to_hyper("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n");
    goes_to_hyper("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 00\r\n\r\n");
    goes_to_hyper("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +0\r\n\r\n");
    goes_to_hyper("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 0\r\n\r\n");
    goes_to_hyper(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
}

/// A POST with `Content-Length: 0` (browsers send one for an empty body)
/// has no body: served here, the header kept, the next request's bytes
/// left in the buffer.
#[test]
fn a_single_zero_content_length_is_no_body() {
    let (req, close, rest) =
        ready("POST /act HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n");
    assert_eq!(req.method(), Method::POST);
    assert!(matches!(req.body(), ReqBody::Empty));
    assert_eq!(req.headers()["content-length"], "0");
    assert!(!close);
    assert_eq!(&rest[..], b"GET / HTTP/1.1\r\n");
}

#[test]
fn upgrades_expect_and_connect_go_to_hyper() {
    goes_to_hyper("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    goes_to_hyper("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n");
    goes_to_hyper("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
    goes_to_hyper("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
}

#[test]
fn http10_and_malformed_heads_go_to_hyper() {
    goes_to_hyper("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
    goes_to_hyper("GET / HTTP/2.0\r\n\r\n");
    goes_to_hyper("GET / HTTP/1.1\r\nBad Header: v\r\n\r\n");
    goes_to_hyper("GET /\x01 HTTP/1.1\r\n\r\n");
    goes_to_hyper("G(ET / HTTP/1.1\r\n\r\n");
}

#[test]
fn heads_over_the_limits() {
    // Over the byte limit, complete or not: too large, with where the
    // request line ends (the buffer untouched).
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(200));
    let mut buf = BytesMut::from(long.as_bytes());
    assert!(matches!(
        parse(&mut buf, 100, 100),
        Parse::TooLarge { line: Some(15) }
    ));
    assert_eq!(&buf[..], long.as_bytes());
    let mut buf = BytesMut::from(&long.as_bytes()[..150]);
    assert!(matches!(
        parse(&mut buf, 100, 100),
        Parse::TooLarge { line: Some(15) }
    ));
    // A request line that alone does not fit.
    let target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(200));
    let mut buf = BytesMut::from(target.as_bytes());
    assert!(matches!(
        parse(&mut buf, 100, 100),
        Parse::TooLarge { line: None }
    ));
    // Over the header-count limit, also past what this reader holds.
    let many: String = (0..5).map(|i| format!("X-{i}: v\r\n")).collect();
    let mut buf = BytesMut::from(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert!(matches!(parse(&mut buf, 8192, 4), Parse::TooMany));
    let many: String = (0..MAX_HEADERS + 1)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect();
    let mut buf = BytesMut::from(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert!(matches!(parse(&mut buf, 8192, MAX_HEADERS), Parse::TooMany));
    // Past what this reader holds, within the limit: hyper's to read.
    goes_to_hyper(&format!("GET / HTTP/1.1\r\n{many}\r\n"));
    // Past it and over a higher limit: counted here, once whole.
    let more: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let whole = format!("GET / HTTP/1.1\r\n{more}\r\n");
    let mut buf = BytesMut::from(whole.as_bytes());
    assert!(matches!(parse(&mut buf, 8192, 100), Parse::TooMany));
    assert_eq!(&buf[..], whole.as_bytes());
    let mut buf = BytesMut::from(&whole.as_bytes()[..whole.len() - 2]);
    assert!(matches!(parse(&mut buf, 8192, 100), Parse::Partial));
    let exactly: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
    goes_to_hyper(&format!("GET / HTTP/1.1\r\n{exactly}\r\n"));
}
