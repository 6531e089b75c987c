//! The own HTTP/1.1 writer's response heads (`http::h1::encode::head`):
//! never panics on any headers, status and body length; a refused head
//! leaves the buffer as it was; an encoded head is one complete, parsable
//! HTTP/1.1 response head that never frames the body two ways. The same
//! fields given raw (as the own upstream client keeps them) give the same
//! verdict and the same head (fields grouped by name, as a `HeaderMap`
//! orders them).
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use switchyard::http::h1::encode::{BodyLen, Encoder, Request, head};
use switchyard::upstream::h1::raw::RawFields;

/// The status line and the fields of an encoded head, fields sorted by
/// name (stable: values of one name keep their order).
fn lines(out: &[u8]) -> Vec<Vec<u8>> {
    let text = out.split(|b| *b == b'\n').map(<[u8]>::to_vec);
    let mut v: Vec<Vec<u8>> = text.collect();
    if v.len() > 1 {
        let end = v.len();
        v[1..end].sort_by(|a, b| {
            let name = |l: &Vec<u8>| l.split(|c| *c == b':').next().unwrap_or_default().to_vec();
            name(a).cmp(&name(b))
        });
    }
    v
}

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
    let names = [
        "content-length",
        "transfer-encoding",
        "connection",
        "trailer",
        "date",
        "x-a",
    ];
    let mut headers = HeaderMap::new();
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for pair in rest.split(|b| *b == b'\n').take(200) {
        let Some((n, v)) = pair.split_first() else {
            continue;
        };
        let static_name = names[usize::from(*n) % names.len()];
        let name = HeaderName::from_static(static_name);
        if let Ok(v) = HeaderValue::from_bytes(v) {
            let raw_name = if n & 0x80 != 0 {
                static_name.to_ascii_uppercase()
            } else {
                static_name.to_owned()
            };
            pairs.push((raw_name, v.as_bytes().to_vec()));
            headers.append(name, v);
        }
    }
    let date = b"Thu, 26 Nov 2026 19:00:00 GMT";
    // Raw fields never hold hop-by-hop ones (the parser drops them), so the
    // two forms are compared on the end-to-end fields.
    pairs.retain(|(n, _)| !switchyard::http::headers::is_hop_by_hop_raw(n.as_bytes()));
    let mut end_to_end = HeaderMap::new();
    for (n, v) in &pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            end_to_end.append(n, v);
        }
    }
    let mut raw_out = b"x".to_vec();
    let raw = RawFields::from_pairs(&pairs);
    let raw_res = head(
        status,
        None,
        &HeaderMap::new(),
        Some(&raw),
        body,
        req,
        date,
        &mut raw_out,
    );
    let mut map_out = b"x".to_vec();
    let map_res = head(
        status,
        None,
        &end_to_end,
        None,
        body,
        req,
        date,
        &mut map_out,
    );
    assert_eq!(raw_res, map_res, "raw fields: another verdict");
    assert_eq!(lines(&raw_out), lines(&map_out), "raw fields: another head");
    let mut out = b"x".to_vec();
    match head(status, None, &headers, None, body, req, date, &mut out) {
        Err(_) => assert_eq!(out, b"x"),
        Ok(encoded) => {
            let mut parsed = [httparse::EMPTY_HEADER; 256];
            let mut resp = httparse::Response::new(&mut parsed);
            let n = match resp.parse(&out[1..]) {
                Ok(httparse::Status::Complete(n)) => n,
                other => panic!("not a complete head: {other:?}"),
            };
            assert_eq!(n, out.len() - 1, "bytes after the head");
            let has = |name: &str| {
                resp.headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case(name))
            };
            assert!(!(has("content-length") && has("transfer-encoding")));
            if matches!(encoded.encoder, Encoder::Chunked { .. }) {
                assert!(has("transfer-encoding"));
            }
        }
    }
});
