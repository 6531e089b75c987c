//! The own HTTP/1.1 upstream client's response-head parser
//! (`upstream::h1::response::parse`), as a GET and as a HEAD: never panics;
//! leaves the buffer untouched while the head is incomplete; takes exactly
//! the head httparse sees (interim or final) and nothing of what follows;
//! the fields kept raw are the fields of the map, with the same verdict;
//! the framing it decides is consistent (no body for HEAD, 204 and 304, no
//! chunked on HTTP/1.0, close-delimited bodies never keep-alive). When the
//! body is chunked, the chunked decoder runs over the rest: never panics,
//! every step makes progress, and it hands out no more data than it got.
#![no_main]

use bytes::BytesMut;
use http::{StatusCode, Version};
use libfuzzer_sys::fuzz_target;
use switchyard::upstream::h1::chunked::{Decoder, Step};
use switchyard::upstream::h1::response::{BodyKind, MAX_HEAD, Parsed, parse};

/// The length of the complete head at the start of `data`, as httparse
/// (default config, enough header slots) sees it.
fn head_len(data: &[u8]) -> Option<usize> {
    let mut fields = vec![httparse::EMPTY_HEADER; 1024];
    match httparse::Response::new(&mut fields).parse(data) {
        Ok(httparse::Status::Complete(n)) => Some(n),
        _ => None,
    }
}

fn check(data: &[u8], head_request: bool) {
    let mut raw_buf = BytesMut::from(data);
    let raw_res = parse(&mut raw_buf, head_request, true);
    let mut buf = BytesMut::from(data);
    let res = parse(&mut buf, head_request, false);
    assert_eq!(raw_buf, buf, "raw: other bytes taken");
    match (&res, raw_res) {
        (Ok(Some(Parsed::Final(h))), Ok(Some(Parsed::Final(r)))) => {
            assert!(r.parts.headers.is_empty());
            let fields = r.raw.expect("raw fields").into_map();
            assert_eq!(fields.as_ref(), Some(&h.parts.headers), "raw: other fields");
            assert_eq!((r.body, r.keep_alive), (h.body, h.keep_alive));
        }
        (Ok(Some(Parsed::Interim(s, f))), Ok(Some(Parsed::Interim(rs, rf)))) => {
            assert_eq!((s, f), (&rs, &rf), "raw: other interim head");
        }
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(*a, b),
        (a, b) => panic!("map and raw parses differ: {a:?} / {b:?}"),
    }
    match res {
        Ok(None) => assert_eq!(&buf[..], data, "Ok(None) changed the buffer"),
        Ok(Some(Parsed::Interim(status, fields))) => {
            assert!(status.is_informational(), "a final status as interim");
            // No framing or hop-by-hop field is relayed with an interim head.
            for name in fields.keys() {
                let n = name.as_str();
                assert!(
                    !matches!(
                        n,
                        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding"
                            | "upgrade" | "content-length"
                    ),
                    "interim head relays {n}"
                );
            }
            let taken = data.len() - buf.len();
            assert_eq!(Some(taken), head_len(data), "interim: not the head taken");
            assert_eq!(&buf[..], &data[taken..]);
        }
        Ok(Some(Parsed::Final(head))) => {
            let taken = data.len() - buf.len();
            assert_eq!(Some(taken), head_len(data), "final: not the head taken");
            assert!(taken <= MAX_HEAD);
            assert_eq!(&buf[..], &data[taken..]);
            let status = head.parts.status;
            assert!(!status.is_informational(), "1xx as a final head");
            if head_request
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED
            {
                assert_eq!(head.body, BodyKind::Length(0));
            }
            if head.body == BodyKind::Eof {
                assert!(!head.keep_alive, "close-delimited body kept alive");
            }
            if head.parts.version == Version::HTTP_10 {
                assert_ne!(head.body, BodyKind::Chunked, "chunked on HTTP/1.0");
            }
            if head.body == BodyKind::Chunked {
                decode(buf);
            }
        }
        Err(_) => {}
    }
}

fn decode(mut buf: BytesMut) {
    let input = buf.len();
    let mut dec = Decoder::default();
    let mut total = 0usize;
    loop {
        match dec.step(&mut buf) {
            Ok(Step::Data(d)) => {
                assert!(!d.is_empty(), "empty data step");
                total += d.len();
                assert!(total <= input, "more data than input");
            }
            Ok(Step::End(_)) => {
                assert!(dec.is_done());
                break;
            }
            Ok(Step::Need) | Err(_) => {
                assert!(!dec.is_done());
                break;
            }
        }
    }
    assert!(total + buf.len() <= input);
}

fuzz_target!(|data: &[u8]| {
    check(data, false);
    check(data, true);
});
