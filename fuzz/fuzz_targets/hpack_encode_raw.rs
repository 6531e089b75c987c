//! The HPACK encoder on an HTTP/1.1 upstream's fields as they arrived
//! (`Encoder::encode_response_with` with `RawFields`, what the own HTTP/2
//! server sends): for any token names in any case and any values the
//! HTTP/1.1 parser would hand over, the block decodes (with our decoder)
//! to `:status`, then the map's fields, then the raw fields in their
//! order, names lowercased, values byte for byte; and the raw form gives
//! the same fields as the same pairs put in a `HeaderMap` first.
//!
//! Input: two status bytes, then `name\0value` pairs separated by `\n`.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use switchyard::http::h2::hpack::{Decoder, Encoder, Field, Pseudo};
use switchyard::upstream::h1::raw::RawFields;

/// The block's status and fields, in order.
fn decode(block: Vec<u8>) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut status = Vec::new();
    let mut fields = Vec::new();
    Decoder::new(4096)
        .decode(&Bytes::from(block), |f| match f {
            Ok(Field::Pseudo(Pseudo::Status, v)) => status = v.to_vec(),
            Ok(Field::Header(n, v)) => fields.push((n.as_str().to_owned(), v.as_bytes().to_vec())),
            other => panic!("our own block gave {other:?}"),
        })
        .expect("our own block");
    (status, fields)
}

fuzz_target!(|data: &[u8]| {
    let [s0, s1, rest @ ..] = data else {
        return;
    };
    let Ok(status) = StatusCode::from_u16(100 + (u16::from(*s0) << 8 | u16::from(*s1)) % 900)
    else {
        return;
    };
    // What httparse hands over: a token name (any case) and a value
    // without control characters (but HTAB) and without surrounding
    // whitespace.
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut map = HeaderMap::new();
    for pair in rest.split(|b| *b == b'\n').take(100) {
        let Some(at) = pair.iter().position(|b| *b == 0) else {
            continue;
        };
        let (n, v) = (&pair[..at], &pair[at + 1..]);
        let value_ok = v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
            && !matches!(v.first(), Some(b' ' | b'\t'))
            && !matches!(v.last(), Some(b' ' | b'\t'));
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) else {
            continue;
        };
        if !value_ok {
            continue;
        }
        pairs.push((n.to_vec(), v.to_vec()));
        map.append(name, value);
    }
    let raw = RawFields::from_pairs(&pairs);
    let mut added = HeaderMap::new();
    added.insert("x-added", HeaderValue::from_static("1"));

    let mut block = Vec::new();
    Encoder::new().encode_response_with(status, &added, Some(&raw), &mut block);
    let (got_status, got) = decode(block);
    assert_eq!(got_status, status.as_str().as_bytes());
    let mut want = vec![("x-added".to_owned(), b"1".to_vec())];
    want.extend(
        pairs
            .iter()
            .map(|(n, v)| (String::from_utf8_lossy(n).to_ascii_lowercase(), v.clone())),
    );
    assert_eq!(got, want, "raw fields: not in order, lowercased, unchanged");

    // The same pairs through a HeaderMap (grouped by name) give the same
    // fields.
    let mut block = Vec::new();
    Encoder::new().encode_response(status, &map, &mut block);
    let (_, mut via_map) = decode(block);
    let mut raw_only = got[1..].to_vec();
    raw_only.sort_by(|a, b| a.0.cmp(&b.0));
    via_map.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(raw_only, via_map, "raw fields and the map differ");
});
