//! The HPACK decoder (`http::h2::hpack::Decoder`) on arbitrary header
//! blocks, up to three in a row through one decoder so the dynamic table
//! carries over: never panics; every field handed out is well formed (lower
//! case token name, value without control characters or surrounding
//! whitespace, size = name + value + 32); the table's size stays within its
//! maximum and that within our limit. The regular fields of each block
//! that decoded go through the `Encoder` and a fresh decoder and come back
//! identical (sensitivity included). And the Huffman code round-trips the
//! input.
//!
//! Input: one configuration byte (bits 0-1: table size 0, 64, 256 or 4096;
//! bit 2: a 16-byte string cap), two lengths (the first two blocks, up to
//! 255 bytes each), then the blocks, the third being the rest.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchyard::http::h2::hpack::{Decoder, Encoder, FIELD_OVERHEAD, Field, huffman};

/// A value as the decoder promises it: no control character but HTAB, no
/// DEL, no leading or trailing SP or HTAB.
fn check_value(v: &[u8]) {
    assert!(
        v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
        "control character in {v:?}"
    );
    assert!(
        !matches!(v.first(), Some(b' ' | b'\t')),
        "leading space {v:?}"
    );
    assert!(
        !matches!(v.last(), Some(b' ' | b'\t')),
        "trailing space {v:?}"
    );
}

fn check_field(field: &Field) {
    let (name, value): (&str, &[u8]) = match field {
        Field::Pseudo(p, v) => (p.as_str(), v),
        Field::Header(n, v) => {
            let name = n.as_str();
            assert!(!name.is_empty());
            assert!(
                name.bytes().all(|b| b.is_ascii_graphic()
                    && !b.is_ascii_uppercase()
                    && !b"\"(),/:;<=>?@[\\]{}".contains(&b)),
                "bad name {name:?}"
            );
            (name, v.as_bytes())
        }
    };
    check_value(value);
    assert_eq!(field.size(), name.len() + value.len() + FIELD_OVERHEAD);
}

fn list(map: &HeaderMap) -> Vec<(HeaderName, HeaderValue, bool)> {
    map.iter()
        .map(|(n, v)| (n.clone(), v.clone(), v.is_sensitive()))
        .collect()
}

/// Encodes `map` as trailers and decodes it with a fresh decoder.
fn round_trip(map: &HeaderMap) {
    let mut block = Vec::new();
    Encoder::new().encode_trailers(map, &mut block);
    let mut back = HeaderMap::new();
    Decoder::new(4096)
        .decode(&Bytes::from(block), |f| match f {
            Ok(Field::Header(n, v)) => {
                back.append(n, v);
            }
            other => panic!("round trip gave {other:?}"),
        })
        .expect("our own block");
    assert_eq!(list(&back), list(map));
}

fuzz_target!(|data: &[u8]| {
    let [cfg, len1, len2, rest @ ..] = data else {
        return;
    };
    let table = [0, 64, 256, 4096][usize::from(cfg & 3)];
    let max_string = if cfg & 4 != 0 { 16 } else { 4096 };
    let (b1, rest) = rest.split_at(usize::from(*len1).min(rest.len()));
    let (b2, b3) = rest.split_at(usize::from(*len2).min(rest.len()));

    let mut dec = Decoder::new(table).with_max_string_len(max_string);
    for block in [b1, b2, b3] {
        let mut map = HeaderMap::new();
        let res = dec.decode(&Bytes::copy_from_slice(block), |f| {
            if let Ok(field) = f {
                check_field(&field);
                if let Field::Header(n, v) = field {
                    assert!(v.len() <= max_string);
                    map.append(n, v);
                }
            }
        });
        assert!(dec.table_size() <= dec.table_capacity());
        assert!(dec.table_capacity() <= dec.max_table_size());
        if res.is_err() {
            // A connection error: the decoder is done with.
            break;
        }
        round_trip(&map);
    }

    let mut coded = Vec::new();
    huffman::encode(data, &mut coded);
    assert_eq!(coded.len(), huffman::encoded_len(data));
    let mut plain = Vec::new();
    huffman::decode(&coded, &mut plain).expect("own Huffman");
    assert_eq!(plain, data);
});
