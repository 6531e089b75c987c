//! The examples of RFC 7541 Appendix C, hex dumps as the RFC prints them:
//! integers (C.1), single fields (C.2), three requests without and with
//! Huffman coding (C.3, C.4), and three responses with a 256-byte table and
//! eviction, without and with Huffman coding (C.5, C.6). After each block
//! the dynamic table's entries, their sizes and the total are checked.

use super::super::decoder::Cursor;
use super::super::encoder::encode_int;
use super::super::{Decoder, Field, Pseudo};
use super::{assert_table, decode, decode_ok, hex, owned};

/// Decodes the integer at the start of `bytes` with a `prefix`-bit prefix;
/// also returns the bytes used.
fn int(bytes: &[u8], prefix: u32) -> (usize, usize) {
    let mut cur = Cursor::new(&bytes[1..]);
    let v = cur.int(bytes[0], prefix).unwrap();
    (v, cur.pos() + 1)
}

/// Encodes `value` with a `prefix`-bit prefix and no flags.
fn enc(value: usize, prefix: u32) -> Vec<u8> {
    let mut out = Vec::new();
    encode_int(value, prefix, 0, &mut out);
    out
}

#[test]
fn c1_1_integer_10_in_a_5_bit_prefix_is_one_byte() {
    assert_eq!(enc(10, 5), [0x0a]);
    assert_eq!(int(&[0x0a], 5), (10, 1));
    // The bits above the prefix are not part of the integer.
    assert_eq!(int(&[0xea], 5), (10, 1));
}

#[test]
fn c1_2_integer_1337_in_a_5_bit_prefix_is_three_bytes() {
    assert_eq!(enc(1337, 5), [0x1f, 0x9a, 0x0a]);
    assert_eq!(int(&[0x1f, 0x9a, 0x0a], 5), (1337, 3));
}

#[test]
fn c1_3_integer_42_at_an_octet_boundary_is_one_byte() {
    assert_eq!(enc(42, 8), [0x2a]);
    assert_eq!(int(&[0x2a], 8), (42, 1));
}

#[test]
fn integers_round_trip_for_every_prefix_at_the_edges() {
    for prefix in 1..=8u32 {
        let max = (1usize << prefix) - 1;
        for v in [
            0,
            1,
            max - 1,
            max,
            max + 1,
            max + 127,
            max + 128,
            max + 16383,
            max + 16384,
            u32::MAX as usize - 1,
            u32::MAX as usize,
        ] {
            let bytes = enc(v, prefix);
            assert_eq!(int(&bytes, prefix), (v, bytes.len()), "{v} / {prefix}");
        }
    }
    // A full prefix takes a continuation byte, even a zero one.
    assert_eq!(enc(31, 5), [0x1f, 0x00]);
}

#[test]
fn c2_1_literal_with_indexing_is_added_to_the_table() {
    let mut dec = Decoder::new(4096);
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573
                     746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode_ok(&mut dec, &block),
        owned(&[("custom-key", "custom-header")])
    );
    assert_table(&dec, &[("custom-key", "custom-header", 55)], 55);
}

#[test]
fn c2_2_literal_without_indexing_leaves_the_table_empty() {
    let mut dec = Decoder::new(4096);
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode_ok(&mut dec, &block),
        owned(&[(":path", "/sample/path")])
    );
    assert_table(&dec, &[], 0);
}

#[test]
fn c2_3_never_indexed_literal_is_sensitive_and_not_added() {
    let mut dec = Decoder::new(4096);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    let out = decode(&mut dec, &block).unwrap();
    assert_eq!(out.len(), 1);
    match &out[0] {
        Ok(Field::Header(n, v)) => {
            assert_eq!(n, "password");
            assert_eq!(v, "secret");
            assert!(v.is_sensitive());
        }
        other => panic!("{other:?}"),
    }
    assert_table(&dec, &[], 0);
}

#[test]
fn c2_4_indexed_field_comes_from_the_static_table() {
    let mut dec = Decoder::new(4096);
    let out = decode(&mut dec, &hex("82")).unwrap();
    assert_eq!(out, [Ok(Field::Pseudo(Pseudo::Method, "GET".into()))]);
    assert_table(&dec, &[], 0);
}

/// The three requests of C.3 and C.4: decoded fields, then the table.
fn requests(blocks: [&str; 3]) {
    let mut dec = Decoder::new(4096);
    let first = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    assert_eq!(decode_ok(&mut dec, &hex(blocks[0])), owned(&first));
    assert_table(&dec, &[(":authority", "www.example.com", 57)], 57);

    let mut second = first.to_vec();
    second.push(("cache-control", "no-cache"));
    assert_eq!(decode_ok(&mut dec, &hex(blocks[1])), owned(&second));
    assert_table(
        &dec,
        &[
            ("cache-control", "no-cache", 53),
            (":authority", "www.example.com", 57),
        ],
        110,
    );

    let third = [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ];
    assert_eq!(decode_ok(&mut dec, &hex(blocks[2])), owned(&third));
    assert_table(
        &dec,
        &[
            ("custom-key", "custom-value", 54),
            ("cache-control", "no-cache", 53),
            (":authority", "www.example.com", 57),
        ],
        164,
    );
}

#[test]
fn c3_requests_without_huffman_fill_the_dynamic_table() {
    requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579
         0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

#[test]
fn c4_requests_with_huffman_fill_the_dynamic_table() {
    requests([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925
         a849 e95b b8e8 b4bf",
    ]);
}

/// The three responses of C.5 and C.6 (256-byte table): decoded fields,
/// then the table, with evictions.
fn responses(blocks: [&str; 3]) {
    let mut dec = Decoder::new(256);
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let location = "https://www.example.com";
    assert_eq!(
        decode_ok(&mut dec, &hex(blocks[0])),
        owned(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", location),
        ])
    );
    assert_table(
        &dec,
        &[
            ("location", location, 63),
            ("date", date1, 65),
            ("cache-control", "private", 52),
            (":status", "302", 42),
        ],
        222,
    );

    // `:status: 307` evicts `:status: 302`.
    assert_eq!(
        decode_ok(&mut dec, &hex(blocks[1])),
        owned(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", location),
        ])
    );
    assert_table(
        &dec,
        &[
            (":status", "307", 42),
            ("location", location, 63),
            ("date", date1, 65),
            ("cache-control", "private", 52),
        ],
        222,
    );

    // Three insertions, five evictions.
    let date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
    let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
    assert_eq!(
        decode_ok(&mut dec, &hex(blocks[2])),
        owned(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", date2),
            ("location", location),
            ("content-encoding", "gzip"),
            ("set-cookie", cookie),
        ])
    );
    assert_table(
        &dec,
        &[
            ("set-cookie", cookie, 98),
            ("content-encoding", "gzip", 52),
            ("date", date2, 65),
        ],
        215,
    );
}

#[test]
fn c5_responses_without_huffman_evict_from_a_256_byte_table() {
    responses([
        "4803 3330 3258 0770 7269 7661 7465 611d
         4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768
         7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420
         3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153
         444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61
         6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman_evict_from_a_256_byte_table() {
    responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe
         9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8
         e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595
         040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
         3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}
