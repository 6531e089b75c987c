//! Every [`DecodeError`] (a COMPRESSION_ERROR for the connection) and every
//! [`FieldError`] (a malformed field, a stream error after which decoding
//! goes on and the dynamic table stays in step).

use super::super::encoder::encode_int;
use super::super::huffman;
use super::super::{
    DEFAULT_MAX_STRING_LEN, DecodeError, Decoder, Field, FieldError, HuffmanError, Pseudo,
};
use super::{assert_table, decode, strings};

/// Representation kinds, by their first byte's flags and prefix.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// Literal with incremental indexing, `01`, 6-bit index.
    Incremental,
    /// Literal without indexing, `0000`, 4-bit index.
    Without,
    /// Literal never indexed, `0001`, 4-bit index.
    Never,
}

/// Appends a literal with a new (plain) name.
pub(super) fn lit(kind: Kind, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    lit_indexed(kind, 0, out);
    plain(name, out);
    plain(value, out);
}

/// Appends a literal's first byte(s) with name index `index` (0: a name
/// string follows; the caller appends the strings).
pub(super) fn lit_indexed(kind: Kind, index: usize, out: &mut Vec<u8>) {
    match kind {
        Kind::Incremental => encode_int(index, 6, 0x40, out),
        Kind::Without => encode_int(index, 4, 0x00, out),
        Kind::Never => encode_int(index, 4, 0x10, out),
    }
}

/// Appends a plain string literal.
pub(super) fn plain(s: &[u8], out: &mut Vec<u8>) {
    encode_int(s.len(), 7, 0, out);
    out.extend_from_slice(s);
}

/// Appends a Huffman-coded string literal.
pub(super) fn huff(s: &[u8], out: &mut Vec<u8>) {
    encode_int(huffman::encoded_len(s), 7, 0x80, out);
    huffman::encode(s, out);
}

/// Appends an indexed field.
pub(super) fn indexed(index: usize, out: &mut Vec<u8>) {
    encode_int(index, 7, 0x80, out);
}

/// Appends a dynamic table size update.
pub(super) fn size_update(size: usize, out: &mut Vec<u8>) {
    encode_int(size, 5, 0x20, out);
}

fn err(block: &[u8]) -> DecodeError {
    decode(&mut Decoder::new(4096), block).unwrap_err()
}

#[test]
fn truncated_integer_is_a_decode_error() {
    assert_eq!(err(&[0xff]), DecodeError::IntegerTruncated);
    assert_eq!(err(&[0xff, 0x80]), DecodeError::IntegerTruncated);
    // In a string length.
    assert_eq!(err(&[0x40, 0x7f, 0x81]), DecodeError::IntegerTruncated);
}

#[test]
fn integer_beyond_32_bits_or_5_continuation_bytes_is_a_decode_error() {
    assert_eq!(
        err(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        DecodeError::IntegerOverflow
    );
    // 127 + 0x7f << 28 is past u32::MAX.
    assert_eq!(
        err(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x7f]),
        DecodeError::IntegerOverflow
    );
    // 5 zero continuation bytes are a valid (if silly) 127: index 127,
    // out of range.
    assert_eq!(
        err(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x00]),
        DecodeError::IndexOutOfRange(127)
    );
    // A sixth is too many.
    assert_eq!(
        err(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        DecodeError::IntegerOverflow
    );
}

#[test]
fn string_longer_than_the_block_is_a_decode_error() {
    // Name length 5, one byte there.
    assert_eq!(err(&[0x40, 0x05, b'a']), DecodeError::StringTruncated);
    // Name complete, value missing altogether.
    assert_eq!(err(&[0x40, 0x01, b'a']), DecodeError::StringTruncated);
    // Indexed name, value length past the end.
    assert_eq!(err(&[0x04, 0x03, b'/']), DecodeError::StringTruncated);
    // A length of 32 MiB: past the default cap, and past the block.
    let block = [0x04, 0x7f, 0x81, 0x80, 0x80, 0x10];
    assert_eq!(
        err(&block),
        DecodeError::StringTooLong {
            max: DEFAULT_MAX_STRING_LEN
        }
    );
    let mut dec = Decoder::new(4096).with_max_string_len(usize::MAX);
    assert_eq!(
        decode(&mut dec, &block).unwrap_err(),
        DecodeError::StringTruncated
    );
}

#[test]
fn string_longer_than_the_cap_is_a_decode_error_plain_or_huffman() {
    let mut dec = Decoder::new(4096).with_max_string_len(4);
    let mut block = Vec::new();
    lit(Kind::Without, b"abcde", b"v", &mut block);
    assert_eq!(
        decode(&mut dec, &block).unwrap_err(),
        DecodeError::StringTooLong { max: 4 }
    );
    // Five '0' code in 4 bytes but decode to 5.
    let mut block = vec![0x04];
    huff(b"00000", &mut block);
    assert_eq!(block.len(), 6);
    let mut dec = Decoder::new(4096).with_max_string_len(4);
    assert_eq!(
        decode(&mut dec, &block).unwrap_err(),
        DecodeError::StringTooLong { max: 4 }
    );
    // At the cap is fine.
    let mut block = vec![0x04];
    huff(b"/000", &mut block);
    let mut dec = Decoder::new(4096).with_max_string_len(4);
    assert_eq!(decode(&mut dec, &block).unwrap().len(), 1);
}

#[test]
fn invalid_huffman_is_a_decode_error() {
    // A name of one byte of padding only.
    assert_eq!(
        err(&[0x40, 0x81, 0xff, 0x00]),
        DecodeError::Huffman(HuffmanError::PaddingTooLong)
    );
    // A value with EOS.
    assert_eq!(
        err(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]),
        DecodeError::Huffman(HuffmanError::Eos)
    );
    // A value with a zero in its padding.
    assert_eq!(
        err(&[0x04, 0x81, 0x1e]),
        DecodeError::Huffman(HuffmanError::PaddingNotEos)
    );
}

#[test]
fn index_zero_is_a_decode_error_indexed_or_as_a_name() {
    assert_eq!(err(&[0x80]), DecodeError::ZeroIndex);
    // A literal's name index 0 means "name follows", so the literal forms
    // cannot carry index 0; the indexed form is the only one.
}

#[test]
fn index_past_the_tables_is_a_decode_error() {
    assert_eq!(err(&[0xbe]), DecodeError::IndexOutOfRange(62));
    // As a literal's name index.
    assert_eq!(err(&[0x7e, 0x00]), DecodeError::IndexOutOfRange(62));
    assert_eq!(err(&[0x0f, 0x2f, 0x00]), DecodeError::IndexOutOfRange(62));
    // With one dynamic entry, 62 is fine and 63 is not.
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"a", b"b", &mut block);
    indexed(62, &mut block);
    assert_eq!(decode(&mut dec, &block).unwrap().len(), 2);
    assert_eq!(
        decode(&mut dec, &[0xbf]).unwrap_err(),
        DecodeError::IndexOutOfRange(63)
    );
    // The last static index is fine.
    assert_eq!(err(&[0xbd, 0xbe]), DecodeError::IndexOutOfRange(62));
}

#[test]
fn size_update_above_our_limit_is_a_decode_error() {
    let mut block = Vec::new();
    size_update(4097, &mut block);
    assert_eq!(
        err(&block),
        DecodeError::SizeUpdateTooLarge {
            size: 4097,
            max: 4096
        }
    );
    let mut block = Vec::new();
    size_update(4096, &mut block);
    assert_eq!(decode(&mut Decoder::new(4096), &block).unwrap(), []);
}

#[test]
fn size_update_after_a_field_is_a_decode_error() {
    assert_eq!(err(&[0x82, 0x20]), DecodeError::SizeUpdateNotAtStart);
    // Even when the field was malformed.
    let mut block = Vec::new();
    lit(Kind::Without, b"A", b"b", &mut block);
    size_update(0, &mut block);
    assert_eq!(err(&block), DecodeError::SizeUpdateNotAtStart);
    // Several at the start are fine.
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    size_update(0, &mut block);
    size_update(100, &mut block);
    size_update(4096, &mut block);
    indexed(2, &mut block);
    assert_eq!(decode(&mut dec, &block).unwrap().len(), 1);
    assert_eq!(dec.table_capacity(), 4096);
    // A new block may start with one again.
    assert_eq!(decode(&mut dec, &[0x20, 0x82]).unwrap().len(), 1);
    assert_eq!(dec.table_capacity(), 0);
}

#[test]
fn lower_limit_requires_a_size_update_at_the_next_block() {
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"a", &[b'x'; 100], &mut block);
    decode(&mut dec, &block).unwrap();
    dec.set_max_table_size(64);
    // Shrunk (and evicted) at once.
    assert_eq!((dec.table_capacity(), dec.table_size()), (64, 0));
    assert_eq!(
        decode(&mut dec, &[0x82]).unwrap_err(),
        DecodeError::SizeUpdateMissing
    );

    let mut dec = Decoder::new(4096);
    dec.set_max_table_size(64);
    // An empty block leaves the requirement for the next one.
    assert_eq!(decode(&mut dec, &[]).unwrap(), []);
    let mut block = Vec::new();
    size_update(64, &mut block);
    indexed(2, &mut block);
    assert_eq!(decode(&mut dec, &block).unwrap().len(), 1);
    // Satisfied once.
    assert_eq!(decode(&mut dec, &[0x82]).unwrap().len(), 1);
    assert_eq!(
        decode(&mut dec, &[0x3f, 0x22]).unwrap_err(),
        DecodeError::SizeUpdateTooLarge { size: 65, max: 64 }
    );

    // A higher limit needs no update, and allows one.
    let mut dec = Decoder::new(4096);
    dec.set_max_table_size(8192);
    assert_eq!(dec.table_capacity(), 4096);
    assert_eq!(decode(&mut dec, &[0x82]).unwrap().len(), 1);
    let mut block = Vec::new();
    size_update(8192, &mut block);
    decode(&mut dec, &block).unwrap();
    assert_eq!(dec.table_capacity(), 8192);
}

/// Decodes one literal without indexing and returns what the sink got.
fn one(name: &[u8], value: &[u8]) -> Result<Field, FieldError> {
    let mut block = Vec::new();
    lit(Kind::Without, name, value, &mut block);
    let mut out = decode(&mut Decoder::new(4096), &block).unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

#[test]
fn upper_case_name_is_a_field_error() {
    assert_eq!(one(b"Foo", b"bar"), Err(FieldError::UpperCaseName));
    assert_eq!(one(b"x-fOo", b"bar"), Err(FieldError::UpperCaseName));
}

#[test]
fn empty_or_non_token_name_is_a_field_error() {
    assert_eq!(one(b"", b"bar"), Err(FieldError::EmptyName));
    for name in [
        &b"fo o"[..],
        b"foo:bar",
        b"a\"b",
        b"a(b",
        b"a\x00b",
        b"a\x7fb",
        b"a\xc3\xa9",
        b"a\r\nb",
    ] {
        assert_eq!(one(name, b"bar"), Err(FieldError::InvalidName), "{name:?}");
    }
    assert!(one(b"x-a!#$%&'*+-.^_`|~09", b"ok").is_ok());
}

#[test]
fn unknown_pseudo_header_is_a_field_error() {
    assert_eq!(one(b":foo", b"bar"), Err(FieldError::UnknownPseudo));
    assert_eq!(one(b":Method", b"GET"), Err(FieldError::UnknownPseudo));
    assert_eq!(one(b":", b"x"), Err(FieldError::UnknownPseudo));
    assert_eq!(
        one(b":protocol", b"websocket"),
        Ok(Field::Pseudo(Pseudo::Protocol, "websocket".into()))
    );
}

#[test]
fn value_with_nul_cr_lf_or_control_is_a_field_error() {
    for value in [
        &b"a\x00b"[..],
        b"a\rb",
        b"a\nb",
        b"\x01",
        b"a\x7f",
        b"a\x1fb",
    ] {
        assert_eq!(one(b"x", value), Err(FieldError::InvalidValue), "{value:?}");
        assert_eq!(
            one(b":path", value),
            Err(FieldError::InvalidValue),
            "{value:?}"
        );
    }
    // HTAB inside and obs-text are fine.
    let f = one(b"x", b"a\tb\x80\xff").unwrap();
    assert_eq!(f.size(), 1 + 5 + 32);
}

#[test]
fn value_with_leading_or_trailing_whitespace_is_a_field_error() {
    for value in [&b" a"[..], b"a ", b"\ta", b"a\t", b" ", b"\t"] {
        assert_eq!(
            one(b"x", value),
            Err(FieldError::ValueWhitespace),
            "{value:?}"
        );
        assert_eq!(one(b":path", value), Err(FieldError::ValueWhitespace));
    }
    assert!(one(b"x", b"a b").is_ok());
    assert!(one(b"x", b"").is_ok());
}

#[test]
fn decoding_goes_on_after_field_errors_and_the_table_stays_in_step() {
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    // 62 after the block: a malformed name, inserted.
    lit(Kind::Incremental, b"Bad", b"v", &mut block);
    // A malformed value with a valid name, inserted.
    lit(Kind::Incremental, b"x-a", b"1\r\n", &mut block);
    // A valid one.
    lit(Kind::Incremental, b"good", b"yes", &mut block);
    let out = decode(&mut dec, &block).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], Err(FieldError::UpperCaseName));
    assert_eq!(out[1], Err(FieldError::InvalidValue));
    assert_eq!(
        strings(out[2].as_ref().unwrap()),
        ("good".into(), "yes".into())
    );
    assert_table(
        &dec,
        &[
            ("good", "yes", 39),
            ("InvalidValue", "", 38),
            ("UpperCaseName", "", 36),
        ],
        113,
    );

    let mut block = Vec::new();
    // The malformed entries report their errors again.
    indexed(64, &mut block);
    indexed(63, &mut block);
    // Their names: the invalid one stays invalid, the valid one is reused.
    lit_indexed(Kind::Without, 64, &mut block);
    plain(b"v", &mut block);
    lit_indexed(Kind::Incremental, 63, &mut block);
    plain(b"fine", &mut block);
    // The valid entry, now at 63.
    indexed(63, &mut block);
    let out = decode(&mut dec, &block).unwrap();
    assert_eq!(
        out,
        [
            Err(FieldError::UpperCaseName),
            Err(FieldError::InvalidValue),
            Err(FieldError::UpperCaseName),
            Ok(Field::Header(
                "x-a".parse().unwrap(),
                "fine".parse().unwrap()
            )),
            Ok(Field::Header(
                "good".parse().unwrap(),
                "yes".parse().unwrap()
            )),
        ]
    );
    assert_eq!(dec.table_len(), 4);
    assert_eq!(dec.table_size(), 113 + 39);
}

#[test]
fn malformed_literal_names_keep_their_size_in_the_table() {
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    lit(Kind::Incremental, b":nope", b"abc", &mut block);
    // A malformed name reused by index, with a new value, inserted again.
    lit_indexed(Kind::Incremental, 62, &mut block);
    plain(b"abcdef", &mut block);
    let out = decode(&mut dec, &block).unwrap();
    assert_eq!(
        out,
        [
            Err(FieldError::UnknownPseudo),
            Err(FieldError::UnknownPseudo)
        ]
    );
    assert_table(
        &dec,
        &[
            ("UnknownPseudo", "", 5 + 6 + 32),
            ("UnknownPseudo", "", 5 + 3 + 32),
        ],
        83,
    );
}

#[test]
fn never_indexed_literal_is_sensitive_with_a_new_or_indexed_name() {
    let mut dec = Decoder::new(4096);
    let mut block = Vec::new();
    lit(Kind::Incremental, b"x-key", b"plain", &mut block);
    lit_indexed(Kind::Never, 62, &mut block);
    plain(b"secret", &mut block);
    lit(Kind::Never, b"x-other", b"hidden", &mut block);
    // Pseudo-headers carry no sensitivity; the value is still checked.
    lit_indexed(Kind::Never, 4, &mut block);
    plain(b"/p", &mut block);
    let out = decode(&mut dec, &block).unwrap();
    let sensitive: Vec<_> = out
        .iter()
        .map(|f| match f.as_ref().unwrap() {
            Field::Header(_, v) => Some(v.is_sensitive()),
            Field::Pseudo(..) => None,
        })
        .collect();
    assert_eq!(sensitive, [Some(false), Some(true), Some(true), None]);
    assert_eq!(
        strings(out[1].as_ref().unwrap()),
        ("x-key".into(), "secret".into())
    );
    // Only the first was inserted.
    assert_table(&dec, &[("x-key", "plain", 42)], 42);
}
