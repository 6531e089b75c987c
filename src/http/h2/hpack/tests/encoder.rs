//! The response encoder: its exact bytes for the simple cases, and that
//! what it writes decodes (with our decoder) to the same status and fields.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::super::{Decoder, Encoder, Field, Pseudo};
use super::decode;

/// Decodes a response block into its status and fields.
fn decode_response(dec: &mut Decoder, block: &[u8]) -> (Option<Vec<u8>>, HeaderMap) {
    let mut status = None;
    let mut map = HeaderMap::new();
    for field in decode(dec, block).unwrap() {
        match field.unwrap() {
            Field::Pseudo(Pseudo::Status, v) => {
                assert!(status.is_none(), "two :status");
                assert!(map.is_empty(), ":status after a field");
                status = Some(v.to_vec());
            }
            Field::Pseudo(p, _) => panic!("unexpected {p:?}"),
            Field::Header(n, v) => {
                map.append(n, v);
            }
        }
    }
    (status, map)
}

/// The fields of `map` in iteration order, sensitivity included.
fn list(map: &HeaderMap) -> Vec<(HeaderName, HeaderValue, bool)> {
    map.iter()
        .map(|(n, v)| (n.clone(), v.clone(), v.is_sensitive()))
        .collect()
}

#[test]
fn first_block_starts_with_a_size_update_to_zero_and_no_later_one_does() {
    let mut enc = Encoder::new();
    let mut dst = Vec::new();
    enc.encode_response(StatusCode::OK, &HeaderMap::new(), &mut dst);
    assert_eq!(dst, [0x20, 0x88]);
    dst.clear();
    enc.encode_response(StatusCode::OK, &HeaderMap::new(), &mut dst);
    assert_eq!(dst, [0x88]);
    dst.clear();
    enc.encode_trailers(&HeaderMap::new(), &mut dst);
    assert_eq!(dst, []);
    // Trailers first: the update goes there.
    let mut enc = Encoder::new();
    enc.encode_trailers(&HeaderMap::new(), &mut dst);
    assert_eq!(dst, [0x20]);
}

#[test]
fn static_table_statuses_are_one_indexed_byte() {
    for (code, byte) in [
        (200, 0x88),
        (204, 0x89),
        (206, 0x8a),
        (304, 0x8b),
        (400, 0x8c),
        (404, 0x8d),
        (500, 0x8e),
    ] {
        let mut enc = Encoder::new();
        let mut dst = Vec::new();
        enc.encode_response(
            StatusCode::from_u16(code).unwrap(),
            &HeaderMap::new(),
            &mut dst,
        );
        assert_eq!(dst, [0x20, byte], "{code}");
    }
}

#[test]
fn other_statuses_are_literals_with_the_status_name_index() {
    let mut dec = Decoder::default();
    for code in [
        100, 101, 103, 201, 301, 302, 307, 418, 429, 502, 503, 599, 999,
    ] {
        let mut enc = Encoder::new();
        let mut dst = Vec::new();
        enc.encode_response(
            StatusCode::from_u16(code).unwrap(),
            &HeaderMap::new(),
            &mut dst,
        );
        let digits = code.to_string();
        let mut expected = vec![0x20, 0x08, 0x03];
        expected.extend_from_slice(digits.as_bytes());
        assert_eq!(dst, expected);
        let (status, map) = decode_response(&mut dec, &dst);
        assert_eq!(status.unwrap(), digits.as_bytes());
        assert!(map.is_empty());
    }
    // Nothing was inserted.
    assert_eq!(dec.table_len(), 0);
}

#[test]
fn fields_are_literals_without_indexing_with_static_names() {
    let mut enc = Encoder::new();
    let mut map = HeaderMap::new();
    map.insert("content-length", HeaderValue::from_static("5"));
    map.insert("x-a", HeaderValue::from_static("b"));
    map.insert("age", HeaderValue::from_static("1"));
    let mut dst = Vec::new();
    enc.encode_trailers(&map, &mut dst);
    assert_eq!(
        dst,
        [
            0x20, // size update
            0x0f, 0x0d, 0x01, b'5', // content-length (28 = 15 + 13)
            0x00, 0x03, b'x', b'-', b'a', 0x01, b'b', // x-a, literal name
            0x0f, 0x06, 0x01, b'1', // age (21 = 15 + 6)
        ]
    );
}

#[test]
fn sensitive_values_are_never_indexed_and_decode_sensitive() {
    let mut enc = Encoder::new();
    let mut map = HeaderMap::new();
    let mut secret = HeaderValue::from_static("s3cr3t");
    secret.set_sensitive(true);
    map.insert("set-cookie", secret);
    map.insert("x-token", {
        let mut v = HeaderValue::from_static("t");
        v.set_sensitive(true);
        v
    });
    let mut dst = Vec::new();
    enc.encode_trailers(&map, &mut dst);
    // set-cookie is 55 = 15 + 40, with the never-indexed flags.
    assert_eq!(&dst[..3], [0x20, 0x1f, 0x28]);
    let (_, back) = decode_response(&mut Decoder::default(), &dst);
    assert_eq!(list(&back), list(&map));
    assert!(back.values().all(HeaderValue::is_sensitive));
}

#[test]
fn response_round_trips_through_the_decoder() {
    let mut map = HeaderMap::new();
    map.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    map.insert("content-length", HeaderValue::from_static("12345"));
    map.append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
    map.append("set-cookie", HeaderValue::from_static("b=2"));
    map.insert(
        "date",
        HeaderValue::from_static("Mon, 21 Oct 2013 20:13:21 GMT"),
    );
    map.insert("x-custom", HeaderValue::from_static("value"));
    map.insert("x-empty", HeaderValue::from_static(""));
    map.insert("www-authenticate", HeaderValue::from_static("Basic"));
    map.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    map.insert(
        "x-obs-text",
        HeaderValue::from_bytes(b"caf\xc3\xa9\ttab").unwrap(),
    );
    // Lengths at and around the multi-byte integer boundaries.
    for len in [126, 127, 128, 200, 16383 + 127, 16384 + 127, 20_000] {
        let name = HeaderName::from_bytes(format!("x-long-{len}").as_bytes()).unwrap();
        let value = HeaderValue::from_str(&"v".repeat(len)).unwrap();
        map.insert(name, value);
    }
    let long_name = HeaderName::from_bytes("n".repeat(300).as_bytes()).unwrap();
    map.insert(long_name, HeaderValue::from_static("x"));

    let mut enc = Encoder::new();
    let mut dec = Decoder::default();
    for status in [StatusCode::OK, StatusCode::IM_A_TEAPOT] {
        let mut dst = Vec::new();
        enc.encode_response(status, &map, &mut dst);
        let (got_status, back) = decode_response(&mut dec, &dst);
        assert_eq!(got_status.unwrap(), status.as_str().as_bytes());
        assert_eq!(list(&back), list(&map));
    }
    // Trailers, on a fresh decoder.
    let mut dst = Vec::new();
    Encoder::new().encode_trailers(&map, &mut dst);
    let (status, back) = decode_response(&mut Decoder::default(), &dst);
    assert!(status.is_none());
    assert_eq!(list(&back), list(&map));
    assert_eq!(dec.table_len(), 0);
}

#[test]
fn raw_upstream_fields_follow_the_map_lowercased_with_static_name_indexes() {
    use crate::upstream::h1::raw::RawFields;
    let mut map = HeaderMap::new();
    map.insert("x-added", HeaderValue::from_static("1"));
    let long = "X-Thirty-Three-Bytes-Long-Name-Xy";
    assert_eq!(long.len(), 33);
    let raw = RawFields::from_pairs(&[
        ("Content-Type", "text/plain"),
        ("SERVER", "up"),
        ("X-Custom", "Mixed Case Value"),
        (long, "v"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("x-empty", ""),
    ]);
    let mut enc = Encoder::new();
    let mut dst = Vec::new();
    enc.encode_response_with(StatusCode::OK, &map, Some(&raw), &mut dst);
    // After the size update and :status, the map's field, then
    // `content-type` by its static name index (31, 4-bit prefix: 0x0f 0x10).
    assert_eq!(&dst[..2], [0x20, 0x88]);
    let after_map = 2 + 1 + 1 + "x-added".len() + 1 + 1;
    assert_eq!(&dst[after_map..after_map + 2], [0x0f, 0x10]);
    let (status, got) = decode_response(&mut Decoder::default(), &dst);
    assert_eq!(status.unwrap(), b"200");
    let names: Vec<&str> = got.keys().map(HeaderName::as_str).collect();
    assert_eq!(
        names,
        [
            "x-added",
            "content-type",
            "server",
            "x-custom",
            "x-thirty-three-bytes-long-name-xy",
            "set-cookie",
            "x-empty"
        ]
    );
    assert_eq!(got["x-custom"], "Mixed Case Value");
    let cookies: Vec<_> = got.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(got["x-empty"], "");
    assert_eq!(got[long.to_ascii_lowercase().as_str()], "v");
}

#[test]
fn a_204_or_1xx_head_never_carries_content_length() {
    let mut headers = HeaderMap::new();
    headers.insert("content-length", HeaderValue::from_static("42"));
    headers.insert("x-kept", HeaderValue::from_static("1"));
    for (code, kept) in [(204, false), (103, false), (200, true), (304, true)] {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new(4096);
        let mut dst = Vec::new();
        let status = StatusCode::from_u16(code).unwrap();
        enc.encode_response(status, &headers, &mut dst);
        let (_, map) = decode_response(&mut dec, &dst);
        assert_eq!(map.contains_key("content-length"), kept, "{code}");
        assert_eq!(map["x-kept"], "1");
        // The same from an HTTP/1.1 upstream's raw fields.
        let raw = crate::upstream::h1::raw::RawFields::from_pairs(&[
            ("Content-Length", "42"),
            ("X-Raw", "2"),
        ]);
        dst.clear();
        enc.encode_response_with(status, &HeaderMap::new(), Some(&raw), &mut dst);
        let (_, map) = decode_response(&mut dec, &dst);
        assert_eq!(map.contains_key("content-length"), kept, "raw {code}");
        assert_eq!(map["x-raw"], "2");
    }
}
