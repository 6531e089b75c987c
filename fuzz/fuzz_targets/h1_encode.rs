//! The own HTTP/1.1 writer's response heads (`http::h1::encode::head`):
//! never panics on any headers, status and body length; a refused head
//! leaves the buffer as it was; an encoded head is one complete, parsable
//! HTTP/1.1 response head that never frames the body two ways.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use switchyard::http::h1::encode::{BodyLen, Encoder, Request, head};

fuzz_target!(|data: &[u8]| {
    let [s0, s1, flags, len, rest @ ..] = data else {
        return;
    };
    let Ok(status) = StatusCode::from_u16(100 + (u16::from(*s0) << 8 | u16::from(*s1)) % 500)
    else {
        return;
    };
    let body = match flags % 3 {
        0 => BodyLen::Empty,
        1 => BodyLen::Known(u64::from(*len)),
        _ => BodyLen::Unknown,
    };
    let req = Request {
        head: flags & 4 != 0,
        keep_alive: flags & 8 != 0,
    };
    let names = ["content-length", "transfer-encoding", "connection", "trailer", "date", "x-a"];
    let mut headers = HeaderMap::new();
    for pair in rest.split(|b| *b == b'\n').take(200) {
        let Some((n, v)) = pair.split_first() else {
            continue;
        };
        let name = HeaderName::from_static(names[usize::from(*n) % names.len()]);
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.append(name, v);
        }
    }
    let mut out = b"x".to_vec();
    match head(status, None, &headers, body, req, b"Thu, 26 Nov 2026 19:00:00 GMT", &mut out) {
        Err(_) => assert_eq!(out, b"x"),
        Ok(encoded) => {
            let mut parsed = [httparse::EMPTY_HEADER; 256];
            let mut resp = httparse::Response::new(&mut parsed);
            let n = match resp.parse(&out[1..]) {
                Ok(httparse::Status::Complete(n)) => n,
                other => panic!("not a complete head: {other:?}"),
            };
            assert_eq!(n, out.len() - 1, "bytes after the head");
            let has = |name: &str| resp.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
            assert!(!(has("content-length") && has("transfer-encoding")));
            if matches!(encoded.encoder, Encoder::Chunked { .. }) {
                assert!(has("transfer-encoding"));
            }
        }
    }
});
