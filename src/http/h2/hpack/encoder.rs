//! The HPACK encoder for response header blocks (server to client), built
//! for speed rather than ratio, as HAProxy's is: no dynamic table, no
//! Huffman coding, no hashing.
//!
//! - `:status` is one indexed byte when the static table has it (200, 204,
//!   206, 304, 400, 404, 500), else a literal with the static name index 8.
//! - Every other field is a literal without indexing (`0000xxxx`, RFC 7541
//!   §6.2.2), or never indexed (`0001xxxx`, §6.2.3) when its value is
//!   marked sensitive; the name is a static table index when the static
//!   table has it (found by a switch on the name's length, then a few
//!   compares), else a plain literal. Strings are plain (H bit 0).
//!
//! **The one size update.** As nothing is ever inserted, the peer's
//! SETTINGS_HEADER_TABLE_SIZE never limits what we send. But RFC 9113
//! §4.3.1 (after RFC 7541 §4.2) says that once we acknowledge a
//! SETTINGS_HEADER_TABLE_SIZE that brings the maximum below our table's
//! current size (4096 at first), our next block MUST start with a size
//! update at or below it, and the peer treats a block without one as a
//! COMPRESSION_ERROR; strict decoders (nghttp2: curl, Apache) enforce it.
//! Rather than track the peer's settings, the encoder starts the
//! connection's first block with a size update to 0 (one byte, `0x20`): our
//! table is then 0 bytes as far as the peer knows, no setting can bring the
//! maximum below that, and no other update is ever needed.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::upstream::h1::raw::RawFields;

/// The HPACK encoder of one connection's responses.
///
/// Its only state is whether the first block (with its size update, see
/// the module docs) was written; use one per connection, and send every
/// block it writes, in order.
#[derive(Debug, Default)]
pub struct Encoder {
    /// The size update to 0 has been written.
    started: bool,
}

impl Encoder {
    /// An encoder for a new connection.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Appends the header block of a response: `:status`, then `headers`
    /// in the map's order. Connection-specific fields are the caller's to
    /// leave out.
    pub fn encode_response(&mut self, status: StatusCode, headers: &HeaderMap, dst: &mut Vec<u8>) {
        self.encode_response_with(status, headers, None, dst);
    }

    /// [`encode_response`](Self::encode_response), then an HTTP/1.1
    /// upstream's fields as they arrived (`raw`, see
    /// `upstream::h1::raw`), their names lowercased as HTTP/2 requires.
    pub fn encode_response_with(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        raw: Option<&RawFields>,
        dst: &mut Vec<u8>,
    ) {
        self.start(dst);
        encode_status(status, dst);
        // A 204 or 1xx has no content and MUST NOT carry Content-Length
        // (RFC 9110 §8.6): an upstream's is left out (HTTP/2 clients such
        // as curl and nghttp refuse the response otherwise), as the
        // HTTP/1.1 writer leaves it out.
        let no_length = status == StatusCode::NO_CONTENT || status.is_informational();
        for (name, value) in headers {
            if !(no_length && name == http::header::CONTENT_LENGTH) {
                encode_field(name, value, dst);
            }
        }
        if let Some(raw) = raw {
            for (name, value) in raw.iter() {
                if !(no_length && name.eq_ignore_ascii_case(b"content-length")) {
                    encode_raw_field(name, value, dst);
                }
            }
        }
    }

    /// Appends the header block of trailers (no pseudo-headers).
    pub fn encode_trailers(&mut self, headers: &HeaderMap, dst: &mut Vec<u8>) {
        self.start(dst);
        encode_fields(headers, dst);
    }

    /// Writes the size update to 0 before the connection's first block.
    #[inline]
    fn start(&mut self, dst: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            // Dynamic table size update (§6.3), 001xxxxx, to 0.
            dst.push(0x20);
        }
    }
}

/// Appends `:status`.
#[inline]
fn encode_status(status: StatusCode, dst: &mut Vec<u8>) {
    // Indexed field (§6.1), 1xxxxxxx, with the static index.
    let indexed = match status.as_u16() {
        200 => 8,
        204 => 9,
        206 => 10,
        304 => 11,
        400 => 12,
        404 => 13,
        500 => 14,
        _ => 0,
    };
    if indexed != 0 {
        dst.push(0x80 | indexed);
    } else {
        // Literal without indexing, name index 8 (`:status`), 3 digits.
        let code = status.as_str().as_bytes();
        dst.push(0x08);
        encode_str(code, dst);
    }
}

/// Appends every field of `headers`.
#[inline]
fn encode_fields(headers: &HeaderMap, dst: &mut Vec<u8>) {
    for (name, value) in headers {
        encode_field(name, value, dst);
    }
}

/// Appends `name: value`, a literal without indexing (never indexed when the
/// value is sensitive).
#[inline]
pub(crate) fn encode_field(name: &HeaderName, value: &HeaderValue, dst: &mut Vec<u8>) {
    let flags = if value.is_sensitive() { 0x10 } else { 0x00 };
    let name = name.as_str();
    match static_name_index(name.as_bytes()) {
        0 => {
            dst.push(flags);
            encode_str(name.as_bytes(), dst);
        }
        index => encode_int(index, 4, flags, dst),
    }
    encode_str(value.as_bytes(), dst);
}

/// Appends `name: value` from an HTTP/1.1 head, a literal without
/// indexing. The parser accepted `name` as a token and `value` as field
/// bytes (what `HeaderName` and `HeaderValue` accept); only the name's
/// case changes.
pub(crate) fn encode_raw_field(name: &[u8], value: &[u8], dst: &mut Vec<u8>) {
    // Names of the static table are at most 27 bytes; longer ones are
    // plain literals.
    let mut lower = [0u8; 32];
    let index = match lower.get_mut(..name.len()) {
        Some(l) => {
            l.copy_from_slice(name);
            l.make_ascii_lowercase();
            static_name_index(l)
        }
        None => 0,
    };
    if index == 0 {
        dst.push(0x00);
        encode_int(name.len(), 7, 0, dst);
        dst.extend(name.iter().map(u8::to_ascii_lowercase));
    } else {
        encode_int(index, 4, 0x00, dst);
    }
    encode_str(value, dst);
}

/// Appends a plain string literal (§5.2, H bit 0).
#[inline]
fn encode_str(s: &[u8], dst: &mut Vec<u8>) {
    encode_int(s.len(), 7, 0, dst);
    dst.extend_from_slice(s);
}

/// Appends `value` as an integer with a `prefix_bits`-bit prefix (1 to 8,
/// RFC 7541 §5.1), the first byte's other bits being `flags`.
#[inline]
pub(crate) fn encode_int(value: usize, prefix_bits: u32, flags: u8, dst: &mut Vec<u8>) {
    let mask = 0xffusize >> (8 - prefix_bits);
    if value < mask {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        dst.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// The static table index of a regular field name (RFC 7541 Appendix A,
/// 15 to 61), or 0 when the static table does not have it.
#[inline]
pub(crate) fn static_name_index(name: &[u8]) -> usize {
    match name.len() {
        3 => match name {
            b"age" => 21,
            b"via" => 60,
            _ => 0,
        },
        4 => match name {
            b"date" => 33,
            b"etag" => 34,
            b"from" => 37,
            b"host" => 38,
            b"link" => 45,
            b"vary" => 59,
            _ => 0,
        },
        5 => match name {
            b"allow" => 22,
            b"range" => 50,
            _ => 0,
        },
        6 => match name {
            b"accept" => 19,
            b"cookie" => 32,
            b"expect" => 35,
            b"server" => 54,
            _ => 0,
        },
        7 => match name {
            b"expires" => 36,
            b"referer" => 51,
            b"refresh" => 52,
            _ => 0,
        },
        8 => match name {
            b"if-match" => 39,
            b"if-range" => 42,
            b"location" => 46,
            _ => 0,
        },
        10 => match name {
            b"set-cookie" => 55,
            b"user-agent" => 58,
            _ => 0,
        },
        11 => match name {
            b"retry-after" => 53,
            _ => 0,
        },
        12 => match name {
            b"content-type" => 31,
            b"max-forwards" => 47,
            _ => 0,
        },
        13 => match name {
            b"accept-ranges" => 18,
            b"authorization" => 23,
            b"cache-control" => 24,
            b"content-range" => 30,
            b"if-none-match" => 41,
            b"last-modified" => 44,
            _ => 0,
        },
        14 => match name {
            b"accept-charset" => 15,
            b"content-length" => 28,
            _ => 0,
        },
        15 => match name {
            b"accept-encoding" => 16,
            b"accept-language" => 17,
            _ => 0,
        },
        16 => match name {
            b"content-encoding" => 26,
            b"content-language" => 27,
            b"content-location" => 29,
            b"www-authenticate" => 61,
            _ => 0,
        },
        17 => match name {
            b"if-modified-since" => 40,
            b"transfer-encoding" => 57,
            _ => 0,
        },
        18 => match name {
            b"proxy-authenticate" => 48,
            _ => 0,
        },
        19 => match name {
            b"content-disposition" => 25,
            b"if-unmodified-since" => 43,
            b"proxy-authorization" => 49,
            _ => 0,
        },
        25 => match name {
            b"strict-transport-security" => 56,
            _ => 0,
        },
        27 => match name {
            b"access-control-allow-origin" => 20,
            _ => 0,
        },
        _ => 0,
    }
}
