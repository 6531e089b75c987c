//! Response heads and body framing for the proxy's own HTTP/1.1 writer.
//!
//! The rules are hyper's server rules (`proto::h1::role::Server::encode`),
//! so a client cannot tell which path answered: which of `Content-Length`,
//! `Transfer-Encoding: chunked` or close-delimited frames the body, when a
//! `Content-Length: 0` is implied, which statuses and methods carry no
//! body, `Connection: close` when the connection ends after the response,
//! a `Date` header when the response has none. One departure: trailers
//! are sent without a `Trailer` header announcing them (see
//! [`chunked_end`]). Sans-io: bytes in, bytes out.

use http::header::{self, HeaderName};
use http::{HeaderMap, StatusCode};

use crate::upstream::h1::raw::RawFields;

/// What the response body is known to be before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    /// Already over (no bytes at all).
    Empty,
    /// Exactly this many bytes.
    Known(u64),
    /// Unknown until it ends.
    Unknown,
}

/// How the body goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoder {
    /// Exactly this many bytes follow (0: no body at all).
    Length(u64),
    /// Chunked; trailers only with names a `Trailer` header announced.
    Chunked { trailers: Option<Vec<HeaderName>> },
    /// Until the connection closes.
    Close,
}

/// The encoded head's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub encoder: Encoder,
    /// The connection closes after this response.
    pub close: bool,
}

/// A response hyper would refuse to send (it ends the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("response has conflicting or invalid Content-Length / Transfer-Encoding headers")]
    Length,
    #[error("response has an informational status")]
    Informational,
}

/// What the encoder needs to know about the request and connection.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// The request was `HEAD`.
    pub head: bool,
    /// The connection stays open after this response unless the response
    /// itself says `Connection: close`.
    pub keep_alive: bool,
}

fn can_have_body(req: Request, status: StatusCode) -> bool {
    !req.head && can_have_content_length(status)
}

fn can_have_content_length(status: StatusCode) -> bool {
    !status.is_informational()
        && !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
}

fn has_token(v: &[u8], token: &[u8]) -> bool {
    v.split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// What a field means to the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    ContentLength,
    TransferEncoding,
    Connection,
    Date,
    Trailer,
    Other,
}

#[inline]
fn role(name: &HeaderName) -> Role {
    match *name {
        header::CONTENT_LENGTH => Role::ContentLength,
        header::TRANSFER_ENCODING => Role::TransferEncoding,
        header::CONNECTION => Role::Connection,
        header::DATE => Role::Date,
        header::TRAILER => Role::Trailer,
        _ => Role::Other,
    }
}

/// [`role`] of a name in any case (a raw field).
#[inline]
fn raw_role(name: &[u8]) -> Role {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    match name.len() {
        4 if is(b"date") => Role::Date,
        7 if is(b"trailer") => Role::Trailer,
        10 if is(b"connection") => Role::Connection,
        14 if is(b"content-length") => Role::ContentLength,
        17 if is(b"transfer-encoding") => Role::TransferEncoding,
        _ => Role::Other,
    }
}

/// Appends the status line and headers of a response to `dst` (which is
/// left as it was on error). `reason`: a non-canonical reason phrase to
/// keep (hyper's `ReasonPhrase`). `date`: the current `Date` value.
/// `raw`: fields sent after `headers`, as the upstream sent them (names
/// are written in lower case, as `HeaderName`s are).
#[allow(clippy::too_many_arguments)]
pub fn head(
    status: StatusCode,
    reason: Option<&[u8]>,
    headers: &HeaderMap,
    raw: Option<&RawFields>,
    body: BodyLen,
    req: Request,
    date: &[u8],
    dst: &mut Vec<u8>,
) -> Result<Encoded, EncodeError> {
    if status.is_informational() {
        return Err(EncodeError::Informational);
    }
    let start = dst.len();
    let refuse = |dst: &mut Vec<u8>| {
        dst.truncate(start);
        Err(EncodeError::Length)
    };
    dst.reserve(64 + (headers.len() + raw.map_or(0, RawFields::len)) * 32);
    if status == StatusCode::OK && reason.is_none() {
        dst.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        dst.extend_from_slice(b"HTTP/1.1 ");
        dst.extend_from_slice(status.as_str().as_bytes());
        dst.push(b' ');
        match reason {
            Some(r) => dst.extend_from_slice(r),
            // An unregistered code has no usual phrase: an empty one is
            // valid (RFC 9112 §4), a placeholder is not.
            None => dst.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes()),
        }
        dst.extend_from_slice(b"\r\n");
    }
    let chunkable = can_have_body(req, status);
    let mut close = !req.keep_alive;
    let mut encoder = None;
    let mut wrote_length_header = false;
    let mut prev_len = None;
    let mut wrote_date = false;
    let mut connection_close = false;
    let mut trailers: Option<Vec<HeaderName>> = None;
    let mut te_values: Vec<&[u8]> = Vec::new();
    let mut connection_values: Vec<&[u8]> = Vec::new();
    let map_fields = headers
        .iter()
        .map(|(n, v)| (role(n), n.as_str().as_bytes(), false, v.as_bytes()));
    let raw_fields = raw
        .into_iter()
        .flat_map(RawFields::iter)
        .map(|(n, v)| (raw_role(n), n, true, v));
    for (role, name, lower, v) in map_fields.chain(raw_fields) {
        match role {
            Role::ContentLength => {
                if !te_values.is_empty() {
                    return refuse(dst);
                }
                match body {
                    BodyLen::Known(n) => {
                        if !wrote_length_header {
                            encoder = Some(Encoder::Length(n));
                            line(dst, b"content-length", v);
                            wrote_length_header = true;
                        }
                    }
                    BodyLen::Unknown => {
                        let Some(len) = parse_length(v) else {
                            return refuse(dst);
                        };
                        match prev_len {
                            Some(p) if p != len => return refuse(dst),
                            Some(_) => {}
                            None => {
                                encoder = Some(Encoder::Length(len));
                                line(dst, b"content-length", v);
                                wrote_length_header = true;
                                prev_len = Some(len);
                            }
                        }
                    }
                    BodyLen::Empty => {
                        if req.head && !wrote_length_header {
                            // A HEAD answer states the length of the body
                            // it does not send.
                            line(dst, b"content-length", v);
                            wrote_length_header = true;
                            encoder = Some(Encoder::Length(0));
                        }
                    }
                }
                continue;
            }
            Role::TransferEncoding => {
                if wrote_length_header {
                    return refuse(dst);
                }
                if chunkable {
                    te_values.push(v);
                }
                continue;
            }
            Role::Connection => {
                connection_close |= has_token(v, b"close");
                connection_values.push(v);
                continue;
            }
            Role::Date => wrote_date = true,
            Role::Trailer => {
                if !chunkable {
                    continue;
                }
                let names = trailers.get_or_insert_with(Vec::new);
                if v.is_ascii() {
                    names.extend(
                        v.split(|&b| b == b',')
                            .filter_map(|n| HeaderName::from_bytes(n.trim_ascii()).ok()),
                    );
                }
            }
            Role::Other => {}
        }
        if lower {
            let at = dst.len();
            line(dst, name, v);
            dst[at..at + name.len()].make_ascii_lowercase();
        } else {
            line(dst, name, v);
        }
    }
    if !te_values.is_empty() {
        dst.extend_from_slice(b"transfer-encoding: ");
        join(dst, &te_values);
        if !te_values.last().is_some_and(|v| ends_with_chunked(v)) {
            dst.extend_from_slice(b", chunked");
        }
        dst.extend_from_slice(b"\r\n");
        encoder = Some(Encoder::Chunked { trailers: None });
    }
    if !connection_close && close {
        // The client asked to close: say so (hyper's enforce_version).
        connection_values.push(b"close");
    }
    close |= connection_close;
    if !connection_values.is_empty() {
        dst.extend_from_slice(b"connection: ");
        join(dst, &connection_values);
        dst.extend_from_slice(b"\r\n");
    }
    let mut encoder = match encoder {
        Some(e) => e,
        None => match body {
            BodyLen::Empty | BodyLen::Known(0) => {
                if can_have_content_length(status) && !req.head {
                    dst.extend_from_slice(b"content-length: 0\r\n");
                }
                Encoder::Length(0)
            }
            BodyLen::Known(n) => {
                if can_have_content_length(status) {
                    let mut buf = itoa::Buffer::new();
                    line(dst, b"content-length", buf.format(n).as_bytes());
                    Encoder::Length(n)
                } else {
                    Encoder::Length(0)
                }
            }
            BodyLen::Unknown if chunkable => {
                dst.extend_from_slice(b"transfer-encoding: chunked\r\n");
                Encoder::Chunked { trailers: None }
            }
            BodyLen::Unknown => Encoder::Close,
        },
    };
    if !can_have_body(req, status) {
        encoder = Encoder::Length(0);
    }
    if let Encoder::Chunked { trailers: t } = &mut encoder {
        *t = trailers;
    }
    if !wrote_date {
        line(dst, b"date", date);
    }
    dst.extend_from_slice(b"\r\n");
    let close = close || encoder == Encoder::Close;
    Ok(Encoded { encoder, close })
}

/// Appends an interim (1xx) response head: its status line and `headers`
/// (end-to-end ones only; the caller left the rest out), no body.
pub fn interim(status: StatusCode, headers: &HeaderMap, dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    dst.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        line(dst, name.as_str().as_bytes(), value.as_bytes());
    }
    dst.extend_from_slice(b"\r\n");
}

fn line(dst: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\r\n");
}

fn join(dst: &mut Vec<u8>, values: &[&[u8]]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            dst.extend_from_slice(b", ");
        }
        dst.extend_from_slice(v);
    }
}

/// Whether a `Transfer-Encoding` value's last coding is `chunked`.
pub fn ends_with_chunked(v: &[u8]) -> bool {
    v.rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Folds one `Content-Length` field value (possibly a list, `5, 5`) into
/// the length seen so far; `None` when a value is invalid or disagrees.
pub fn merge_length(value: &[u8], length: &mut Option<u64>) -> Option<()> {
    for part in value.split(|&b| b == b',') {
        let n = parse_length(part.trim_ascii())?;
        if length.is_some_and(|l| l != n) {
            return None;
        }
        *length = Some(n);
    }
    Some(())
}

/// A `Content-Length` value: digits only, no sign, no overflow.
pub fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The line that starts a chunk of `len` bytes (`len` in hex, CRLF).
pub fn chunk_line(len: usize, dst: &mut Vec<u8>) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(dst, "{len:X}\r\n");
}

/// The end of a chunked body: the last chunk and its trailers, except
/// fields that must not be trailers. With `allowed` (a `Trailer` header
/// the message still carries announced them) only those names; without,
/// every trailer the body ended with. hyper sends only announced ones, but
/// `Trailer` is hop-by-hop to this proxy (it is stripped on the way), so
/// that rule alone would drop every trailer relayed (gRPC statuses from an
/// HTTP/2 upstream to an HTTP/1.1 client, a checksum after an upload).
pub fn chunked_end(
    trailers: Option<&HeaderMap>,
    allowed: Option<&[HeaderName]>,
    dst: &mut Vec<u8>,
) {
    dst.extend_from_slice(b"0\r\n");
    if let Some(map) = trailers {
        for (name, value) in map {
            if allowed.is_none_or(|a| a.contains(name)) && is_valid_trailer(name) {
                line(dst, name.as_str().as_bytes(), value.as_bytes());
            }
        }
    }
    dst.extend_from_slice(b"\r\n");
}

/// Whether a field may be a trailer: not one that frames, routes,
/// authenticates or describes the message (RFC 9110 §6.5.1), which a
/// recipient would take from the head.
pub(crate) fn is_valid_trailer(name: &HeaderName) -> bool {
    !matches!(
        *name,
        header::AUTHORIZATION
            | header::CACHE_CONTROL
            | header::CONTENT_ENCODING
            | header::CONTENT_LENGTH
            | header::CONTENT_RANGE
            | header::CONTENT_TYPE
            | header::HOST
            | header::MAX_FORWARDS
            | header::SET_COOKIE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::TE
    )
}

#[cfg(test)]
mod tests;
