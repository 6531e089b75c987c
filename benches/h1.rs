//! Micro-benchmarks of the own HTTP/1.1 path's per-request work: parsing a
//! typical request head into an `http::Request`, encoding a typical
//! response head, and taking an upstream response head from parse to
//! encode with its fields in a `HeaderMap` or kept raw. Compare with
//! callgrind's per-request totals in BENCHMARKS.md.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use switchyard::http::h1::encode::{self, BodyLen};
use switchyard::http::h1::head::{self, Parse};
use switchyard::upstream::h1::response::{self, Parsed};

const REQUEST: &[u8] = b"GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.example.com\r\n\
User-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n\
Cookie: session=abc123; theme=dark\r\nX-Request-Id: 7f3c2a\r\n\r\n";

fn parse_head(c: &mut Criterion) {
    c.bench_function("h1_parse_request_head", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(REQUEST));
            match head::parse(&mut buf, 65536, 100) {
                Parse::Ready { req, .. } => black_box(req),
                other => panic!("not taken: {other:?}"),
            }
        })
    });
}

fn encode_head(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(header::SERVER, HeaderValue::from_static("nginx/1.22.1"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("21"));
    headers.insert(
        header::DATE,
        HeaderValue::from_static("Thu, 26 Nov 2026 19:00:00 GMT"),
    );
    let req = encode::Request {
        head: false,
        keep_alive: true,
    };
    let mut out = Vec::with_capacity(512);
    c.bench_function("h1_encode_response_head", |b| {
        b.iter(|| {
            out.clear();
            let e = encode::head(
                StatusCode::OK,
                None,
                black_box(&headers),
                None,
                BodyLen::Known(21),
                req,
                b"Thu, 26 Nov 2026 19:00:00 GMT",
                &mut out,
            );
            black_box((e, out.len()))
        })
    });
}

/// What nginx answers on the benchmark's `/`.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\
Date: Thu, 26 Nov 2026 19:00:00 GMT\r\nContent-Type: application/octet-stream\r\n\
Content-Length: 21\r\nConnection: keep-alive\r\n\r\n";

fn relay_response_head(c: &mut Criterion) {
    let req = encode::Request {
        head: false,
        keep_alive: true,
    };
    let mut out = Vec::with_capacity(512);
    for (name, raw) in [
        ("h1_relay_response_head_map", false),
        ("h1_relay_response_head_raw", true),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(black_box(RESPONSE));
                let Ok(Some(Parsed::Final(h))) = response::parse(&mut buf, false, raw) else {
                    panic!("not a final head");
                };
                out.clear();
                let e = encode::head(
                    h.parts.status,
                    None,
                    &h.parts.headers,
                    h.raw.as_ref(),
                    BodyLen::Known(21),
                    req,
                    b"Thu, 26 Nov 2026 19:00:00 GMT",
                    &mut out,
                );
                black_box((e, out.len()))
            })
        });
    }
}

criterion_group!(benches, parse_head, encode_head, relay_response_head);
criterion_main!(benches);
