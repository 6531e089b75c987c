//! The dynamic table (RFC 7541 §2.3.2, §4): eviction order, size
//! accounting, size updates, oversized entries; and the static table's
//! contents (Appendix A).

use super::super::encoder::static_name_index;
use super::super::table::STATIC;
use super::super::{Decoder, Field, STATIC_LEN};
use super::errors::{Kind, huff, indexed, lit, lit_indexed, plain, size_update};
use super::{assert_table, decode, decode_ok, owned};

#[test]
fn entries_are_evicted_oldest_first_when_the_table_is_full() {
    // Room for two 34-byte entries, not three.
    let mut dec = Decoder::new(100);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"a", b"1", &mut block);
    lit(Kind::Incremental, b"b", b"2", &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("b", "2", 34), ("a", "1", 34)], 68);

    let mut block = Vec::new();
    lit(Kind::Incremental, b"c", b"3", &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("c", "3", 34), ("b", "2", 34)], 68);

    // Two more: each evicts the oldest as needed (38 evicts b, 33 evicts c).
    let mut block = Vec::new();
    lit(Kind::Incremental, b"dd", b"3333", &mut block);
    lit(Kind::Incremental, b"e", b"", &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("e", "", 33), ("dd", "3333", 38)], 71);

    // Indices follow: 62 newest, 63 next.
    let mut block = Vec::new();
    indexed(62, &mut block);
    indexed(63, &mut block);
    assert_eq!(
        decode_ok(&mut dec, &block),
        owned(&[("e", ""), ("dd", "3333")])
    );
}

#[test]
fn sizes_count_decoded_lengths_not_huffman_lengths() {
    let mut dec = Decoder::new(4096);
    let mut block = vec![0x40];
    huff(b"x-long-name", &mut block);
    huff(b"0000000000", &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("x-long-name", "0000000000", 11 + 10 + 32)], 53);
}

#[test]
fn size_update_to_zero_clears_the_table() {
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"a", b"1", &mut block);
    lit(Kind::Incremental, b"b", b"2", &mut block);
    decode_ok(&mut dec, &block);
    assert_eq!(dec.table_len(), 2);

    decode_ok(&mut dec, &[0x20]);
    assert_table(&dec, &[], 0);
    assert_eq!(dec.table_capacity(), 0);
    // Nothing fits now: inserting is a no-op, and index 62 is gone.
    let mut block = Vec::new();
    lit(Kind::Incremental, b"c", b"3", &mut block);
    assert_eq!(decode_ok(&mut dec, &block), owned(&[("c", "3")]));
    assert_table(&dec, &[], 0);
    assert!(decode(&mut dec, &[0xbe]).is_err());

    // Back to 4096.
    let mut block = Vec::new();
    size_update(4096, &mut block);
    lit(Kind::Incremental, b"c", b"3", &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("c", "3", 34)], 34);
}

#[test]
fn size_update_below_the_size_evicts_down_to_it() {
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"a", b"1", &mut block);
    lit(Kind::Incremental, b"b", b"2", &mut block);
    lit(Kind::Incremental, b"c", b"3", &mut block);
    decode_ok(&mut dec, &block);
    let mut block = Vec::new();
    size_update(68, &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("c", "3", 34), ("b", "2", 34)], 68);
    let mut block = Vec::new();
    size_update(67, &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("c", "3", 34)], 34);
}

#[test]
fn entry_larger_than_the_table_empties_it_and_is_not_added() {
    let mut dec = Decoder::new(64);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"a", b"1", &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("a", "1", 34)], 34);

    // 33 bytes of name and value: 65 > 64.
    let value = "v".repeat(32);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"b", value.as_bytes(), &mut block);
    assert_eq!(decode_ok(&mut dec, &block), owned(&[("b", &value)]));
    assert_table(&dec, &[], 0);

    // Exactly 64 fits.
    let value = "v".repeat(31);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"b", value.as_bytes(), &mut block);
    decode_ok(&mut dec, &block);
    assert_table(&dec, &[("b", &value, 64)], 64);
}

#[test]
fn new_entry_may_reuse_the_name_of_the_entry_it_evicts() {
    // RFC 7541 §4.4: the name is taken before the eviction.
    let mut dec = Decoder::new(64);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"x-name", b"a", &mut block);
    lit_indexed(Kind::Incremental, 62, &mut block);
    plain(b"bbbbbbbbbbbbbbbbbbbbbbbbb", &mut block);
    let got = decode_ok(&mut dec, &block);
    assert_eq!(
        got,
        owned(&[("x-name", "a"), ("x-name", "bbbbbbbbbbbbbbbbbbbbbbbbb")])
    );
    assert_table(&dec, &[("x-name", "bbbbbbbbbbbbbbbbbbbbbbbbb", 63)], 63);
}

#[test]
fn indexed_values_are_owned_copies_not_slices_of_the_block() {
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"x", b"hello", &mut block);
    lit(Kind::Without, b"y", b"world", &mut block);
    let block = bytes::Bytes::from(block);
    let mut out = Vec::new();
    dec.decode(&block, |f| out.push(f.unwrap())).unwrap();
    let range = block.as_ptr_range();
    let inside = |f: &Field| match f {
        Field::Header(_, v) => range.contains(&v.as_bytes().as_ptr()),
        Field::Pseudo(..) => unreachable!(),
    };
    // The indexed one is a copy; the other is zero-copy.
    assert!(!inside(&out[0]));
    assert!(inside(&out[1]));
}

#[test]
fn static_table_matches_appendix_a() {
    const APPENDIX_A: [(&str, &str); STATIC_LEN] = [
        (":authority", ""),
        (":method", "GET"),
        (":method", "POST"),
        (":path", "/"),
        (":path", "/index.html"),
        (":scheme", "http"),
        (":scheme", "https"),
        (":status", "200"),
        (":status", "204"),
        (":status", "206"),
        (":status", "304"),
        (":status", "400"),
        (":status", "404"),
        (":status", "500"),
        ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"),
        ("accept-language", ""),
        ("accept-ranges", ""),
        ("accept", ""),
        ("access-control-allow-origin", ""),
        ("age", ""),
        ("allow", ""),
        ("authorization", ""),
        ("cache-control", ""),
        ("content-disposition", ""),
        ("content-encoding", ""),
        ("content-language", ""),
        ("content-length", ""),
        ("content-location", ""),
        ("content-range", ""),
        ("content-type", ""),
        ("cookie", ""),
        ("date", ""),
        ("etag", ""),
        ("expect", ""),
        ("expires", ""),
        ("from", ""),
        ("host", ""),
        ("if-match", ""),
        ("if-modified-since", ""),
        ("if-none-match", ""),
        ("if-range", ""),
        ("if-unmodified-since", ""),
        ("last-modified", ""),
        ("link", ""),
        ("location", ""),
        ("max-forwards", ""),
        ("proxy-authenticate", ""),
        ("proxy-authorization", ""),
        ("range", ""),
        ("referer", ""),
        ("refresh", ""),
        ("retry-after", ""),
        ("server", ""),
        ("set-cookie", ""),
        ("strict-transport-security", ""),
        ("transfer-encoding", ""),
        ("user-agent", ""),
        ("vary", ""),
        ("via", ""),
        ("www-authenticate", ""),
    ];
    let mut dec = Decoder::new(4096);
    for (i, (name, value)) in APPENDIX_A.iter().enumerate() {
        let index = i + 1;
        // Through the decoder, as an indexed field.
        let mut block = Vec::new();
        indexed(index, &mut block);
        assert_eq!(
            decode_ok(&mut dec, &block),
            owned(&[(name, value)]),
            "{index}"
        );
        assert_eq!(
            super::strings(STATIC[i].as_ref().unwrap()),
            ((*name).to_owned(), (*value).to_owned())
        );
        // The encoder's name lookup agrees for regular names.
        if !name.starts_with(':') {
            assert_eq!(static_name_index(name.as_bytes()), index, "{name}");
        }
    }
}

#[test]
fn encoder_name_lookup_misses_names_not_in_the_static_table() {
    for name in [
        "te",
        "origin",
        "x-forwarded-for",
        "grpc-status",
        ":status",
        "",
        "accepT",
    ] {
        assert_eq!(static_name_index(name.as_bytes()), 0, "{name}");
    }
}
