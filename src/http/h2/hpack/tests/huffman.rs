//! The Huffman code: the typed table is a complete prefix code, every byte
//! round-trips, the RFC's coded strings come out bit for bit, and the three
//! errors of RFC 7541 §5.2 are caught.

use super::super::HuffmanError;
use super::super::huffman::{CODES, decode, encode, encoded_len};
use super::hex;

fn dec(src: &[u8]) -> Result<Vec<u8>, HuffmanError> {
    let mut out = Vec::new();
    decode(src, &mut out).map(|()| out)
}

fn enc(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(src, &mut out);
    assert_eq!(out.len(), encoded_len(src));
    out
}

#[test]
fn code_table_kraft_sum_is_exactly_one() {
    // Sum of 2^-len over all 257 codes, scaled by 2^30 (the longest code).
    let sum: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
    assert_eq!(sum, 1 << 30);
}

#[test]
fn code_table_has_no_code_that_is_a_prefix_of_another() {
    for (i, &(ci, li)) in CODES.iter().enumerate() {
        assert!(
            u64::from(ci) < 1u64 << li,
            "symbol {i} wider than its length"
        );
        for (j, &(cj, lj)) in CODES.iter().enumerate() {
            if i != j && li <= lj {
                assert_ne!(cj >> (lj - li), ci, "code of {i} is a prefix of {j}'s");
            }
        }
    }
}

#[test]
fn code_table_spot_checks_against_appendix_b() {
    assert_eq!(CODES[0], (0x1ff8, 13));
    assert_eq!(CODES[usize::from(b' ')], (0x14, 6));
    assert_eq!(CODES[usize::from(b'0')], (0x0, 5));
    assert_eq!(CODES[usize::from(b'a')], (0x3, 5));
    assert_eq!(CODES[usize::from(b'A')], (0x21, 6));
    assert_eq!(CODES[usize::from(b'z')], (0x7b, 7));
    assert_eq!(CODES[255], (0x3ffffee, 26));
    assert_eq!(CODES[256], (0x3fffffff, 30));
    // The code is canonical: lengths never decrease along code order.
    let mut sorted: Vec<_> = CODES
        .iter()
        .map(|&(c, l)| (u64::from(c) << (30 - l), l))
        .collect();
    sorted.sort();
    assert!(sorted.windows(2).all(|w| w[0].1 <= w[1].1));
}

#[test]
fn every_byte_value_round_trips_alone_and_together() {
    for b in 0..=255u8 {
        assert_eq!(dec(&enc(&[b])).unwrap(), [b], "byte {b}");
        assert_eq!(dec(&enc(&[b, b, b])).unwrap(), [b, b, b], "byte {b} x3");
    }
    let all: Vec<u8> = (0..=255u8).collect();
    assert_eq!(dec(&enc(&all)).unwrap(), all);
    let rev: Vec<u8> = (0..=255u8).rev().collect();
    assert_eq!(dec(&enc(&rev)).unwrap(), rev);
}

#[test]
fn shortest_codes_expand_the_most_and_decode_whole() {
    for len in 0..64 {
        let zeros = vec![b'0'; len];
        assert_eq!(dec(&enc(&zeros)).unwrap(), zeros);
    }
}

#[test]
fn rfc_appendix_c4_strings_encode_bit_for_bit() {
    for (plain, coded) in [
        ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
        ("no-cache", "a8eb 1064 9cbf"),
        ("custom-key", "25a8 49e9 5ba9 7d7f"),
        ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
        ("302", "6402"),
        ("private", "aec3 771a 4b"),
        (
            "Mon, 21 Oct 2013 20:13:21 GMT",
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
        ),
        (
            "https://www.example.com",
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
        ),
        ("gzip", "9bd9 ab"),
    ] {
        assert_eq!(enc(plain.as_bytes()), hex(coded), "{plain}");
        assert_eq!(dec(&hex(coded)).unwrap(), plain.as_bytes(), "{plain}");
    }
}

#[test]
fn empty_string_decodes_to_nothing() {
    assert_eq!(dec(&[]).unwrap(), b"");
    assert_eq!(enc(b""), b"");
}

#[test]
fn eos_symbol_in_the_string_is_rejected() {
    // EOS alone: 30 ones, padded with ones.
    assert_eq!(dec(&[0xff, 0xff, 0xff, 0xff]), Err(HuffmanError::Eos));
    // 'a' (00011), then EOS, then padding: 5 + 30 + 5 bits.
    let mut bits = "00011".to_owned() + &"1".repeat(30) + "11111";
    assert_eq!(dec(&pack(&bits)), Err(HuffmanError::Eos));
    // EOS followed by a symbol.
    bits = "1".repeat(30) + "00011" + "11111";
    assert_eq!(dec(&pack(&bits)), Err(HuffmanError::Eos));
}

#[test]
fn padding_longer_than_7_bits_is_rejected() {
    // A whole byte of padding.
    assert_eq!(dec(&[0xff]), Err(HuffmanError::PaddingTooLong));
    // 'a' (00011) and 11 bits of ones.
    assert_eq!(dec(&[0x1f, 0xff]), Err(HuffmanError::PaddingTooLong));
    // 'a' and 27 ones: all of EOS but its last 3 bits.
    let bits = "00011".to_owned() + &"1".repeat(27);
    assert_eq!(dec(&pack(&bits)), Err(HuffmanError::PaddingTooLong));
    // Up to 7 bits of padding are fine: 'a' 'a' (10 bits) and 6 ones.
    assert_eq!(dec(&pack("0001100011111111")).unwrap(), b"aa");
    // Exactly 7: five '0' (25 bits) and 7 ones.
    assert_eq!(enc(b"00000"), [0x00, 0x00, 0x00, 0x7f]);
    assert_eq!(dec(&[0x00, 0x00, 0x00, 0x7f]).unwrap(), b"00000");
    // One more byte of ones is 15 bits of padding.
    assert_eq!(
        dec(&[0x00, 0x00, 0x00, 0x7f, 0xff]),
        Err(HuffmanError::PaddingTooLong)
    );
}

#[test]
fn padding_with_a_zero_bit_is_rejected() {
    // 'a' (00011) then 110.
    assert_eq!(dec(&[0x1e]), Err(HuffmanError::PaddingNotEos));
    // 'a' then 011.
    assert_eq!(dec(&[0x1b]), Err(HuffmanError::PaddingNotEos));
    // A code cut short: the first 8 bits of NUL's 13-bit code.
    assert_eq!(dec(&[0xff, 0xc0]), Err(HuffmanError::PaddingNotEos));
    // 'a' with its padding right is fine.
    assert_eq!(dec(&[0x1f]).unwrap(), b"a");
}

/// Packs a string of '0' and '1' (a multiple of 8 long) into bytes.
fn pack(bits: &str) -> Vec<u8> {
    assert_eq!(bits.len() % 8, 0, "{bits}");
    bits.as_bytes()
        .chunks(8)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
        .collect()
}
