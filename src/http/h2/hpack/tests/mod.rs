//! HPACK unit tests: the RFC 7541 Appendix C examples (`rfc`), the Huffman
//! code (`huffman`), every decoding and field error (`errors`), the dynamic
//! table (`table`), the encoder (`encoder`), and a cross-check against the
//! `h2` crate's HPACK over a real HTTP/2 exchange (`interop`).

use bytes::Bytes;

use super::table::Entry;
use super::{Decoder, Field, FieldError};

mod encoder;
mod errors;
mod huffman;
mod interop;
mod rfc;
mod table;

/// The bytes of a hex dump (whitespace ignored), as the RFC prints them.
pub(super) fn hex(dump: &str) -> Bytes {
    let digits: Vec<u8> = dump.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert_eq!(digits.len() % 2, 0, "odd hex dump");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

/// A field as `(name, value)` strings.
pub(super) fn strings(field: &Field) -> (String, String) {
    match field {
        Field::Pseudo(p, v) => (
            p.as_str().to_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ),
        Field::Header(n, v) => (
            n.as_str().to_owned(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        ),
    }
}

/// Decodes `block`, collecting what the sink gets.
pub(super) fn decode(
    dec: &mut Decoder,
    block: &[u8],
) -> Result<Vec<Result<Field, FieldError>>, super::DecodeError> {
    let mut out = Vec::new();
    dec.decode(&Bytes::copy_from_slice(block), |f| out.push(f))?;
    Ok(out)
}

/// Decodes `block`, which must be valid with only well-formed fields, as
/// `(name, value)` strings.
pub(super) fn decode_ok(dec: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
    decode(dec, block)
        .unwrap()
        .iter()
        .map(|f| strings(f.as_ref().unwrap()))
        .collect()
}

/// The dynamic table, newest first: `(name, value, size)` for well-formed
/// entries, `(error, "", size)` for malformed ones.
pub(super) fn table(dec: &Decoder) -> Vec<(String, String, usize)> {
    dec.table()
        .entries()
        .map(|(entry, size): (&Entry, usize)| match entry {
            Ok(f) => {
                let (n, v) = strings(f);
                (n, v, size)
            }
            Err(bad) => (format!("{:?}", bad.error), String::new(), size),
        })
        .collect()
}

/// `[(name, value)]` as owned strings.
pub(super) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// `[(name, value, size)]` as owned strings.
pub(super) fn owned3(entries: &[(&str, &str, usize)]) -> Vec<(String, String, usize)> {
    entries
        .iter()
        .map(|(n, v, s)| ((*n).to_owned(), (*v).to_owned(), *s))
        .collect()
}

/// Checks the table's entries and total size, and that the size is the
/// sum of the entries'.
pub(super) fn assert_table(dec: &Decoder, expected: &[(&str, &str, usize)], size: usize) {
    assert_eq!(table(dec), owned3(expected));
    assert_eq!(dec.table_size(), size);
    assert_eq!(expected.iter().map(|e| e.2).sum::<usize>(), size);
    assert_eq!(dec.table_len(), expected.len());
}
