//! Request heads and body framing for the proxy's own HTTP/1.1 upstream
//! client.
//!
//! The framing rules are hyper's client rules (`proto::h1::role::Client`),
//! so an upstream cannot tell which client sent a request: a body already
//! over sends no framing header (a `Content-Length` the request carries is
//! kept); a `Transfer-Encoding` is made to end in `chunked`; a valid
//! `Content-Length` is used as is; a known size adds one; an unknown size
//! is chunked. One departure: hyper sends no body for a GET or HEAD of
//! unknown size, which would drop a body the client did send (chunked, or
//! HTTP/2 DATA without a `content-length`); it goes chunked here, as
//! HAProxy and Envoy send it. A bodiless GET is never of unknown size (its
//! body is already over), so it gains no framing header.
//! Trailers go out with a chunked body: the announced ones when the request
//! still has a `Trailer` header, else all of them (the proxy strips
//! `Trailer` as hop-by-hop; see `encode::chunked_end`).
//!
//! Several `cookie` fields (an HTTP/2 client may split its cookie, RFC 9113
//! §8.2.3) go out as one, joined with "; ", as HTTP/1.1 requires.

use http::header::{self, HeaderName};
use http::{Method, request::Parts};

use crate::http::h1::encode::{ends_with_chunked, merge_length};

/// How the request body goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (0: no body is sent).
    Length(u64),
    /// Chunked; trailers only with the names a `Trailer` header announced.
    Chunked { trailers: Option<Vec<HeaderName>> },
}

/// What the body is known to be before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySize {
    /// Already over.
    Empty,
    Known(u64),
    Unknown,
}

/// Writes the request head (`origin-form` target, HTTP/1.1) into `dst`
/// and says how the body follows.
pub fn head(parts: &Parts, body: BodySize, dst: &mut Vec<u8>) -> Framing {
    let headers = &parts.headers;
    dst.extend_from_slice(parts.method.as_str().as_bytes());
    dst.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    dst.extend_from_slice(target.as_bytes());
    dst.extend_from_slice(b" HTTP/1.1\r\n");

    let te = headers.get_all(header::TRANSFER_ENCODING);
    let has_te = te.iter().next().is_some();
    let length = content_length(parts);
    let framing = match body {
        BodySize::Empty => Framing::Length(0),
        _ if has_te => Framing::Chunked { trailers: None },
        _ if length.is_some() => Framing::Length(length.unwrap_or(0)),
        BodySize::Known(n) => Framing::Length(n),
        BodySize::Unknown => match parts.method {
            Method::CONNECT => Framing::Length(0),
            _ => Framing::Chunked { trailers: None },
        },
    };
    let chunked = matches!(framing, Framing::Chunked { .. });
    let te_ends_chunked = te
        .iter()
        .next_back()
        .is_some_and(|v| ends_with_chunked(v.as_bytes()));
    let mut cookie_sent = false;
    for (name, value) in headers {
        if *name == header::TRANSFER_ENCODING && body == BodySize::Empty {
            continue;
        }
        if *name == header::COOKIE {
            // RFC 9113 §8.2.3: an HTTP/2 client may split its cookie over
            // several fields; HTTP/1.1 gets one, joined with "; ". Written
            // where the first one was, straight from the map.
            if !cookie_sent {
                cookie_sent = true;
                cookie_line(dst, headers);
            }
            continue;
        }
        // Chunked framing wins over any Content-Length; an invalid one
        // gives way to the body's known size.
        if *name == header::CONTENT_LENGTH
            && (chunked || (length.is_none() && matches!(body, BodySize::Known(_))))
        {
            continue;
        }
        line(dst, name.as_str().as_bytes(), value.as_bytes());
    }
    if chunked && !has_te {
        line(dst, b"transfer-encoding", b"chunked");
    } else if chunked && !te_ends_chunked {
        // hyper's repair: a coding that does not end the body gets
        // `chunked` after it.
        line(dst, b"transfer-encoding", b"chunked");
    }
    if let (BodySize::Known(n), None, false) = (body, length, chunked) {
        let mut num = itoa::Buffer::new();
        line(dst, b"content-length", num.format(n).as_bytes());
    }
    dst.extend_from_slice(b"\r\n");
    match framing {
        Framing::Chunked { .. } => Framing::Chunked {
            trailers: announced_trailers(parts),
        },
        other => other,
    }
}

/// The request's `Content-Length` when every value agrees and is valid.
fn content_length(parts: &Parts) -> Option<u64> {
    let mut length = None;
    for v in parts.headers.get_all(header::CONTENT_LENGTH) {
        merge_length(v.as_bytes(), &mut length)?;
    }
    length
}

/// The names a `Trailer` header announced, if any.
fn announced_trailers(parts: &Parts) -> Option<Vec<HeaderName>> {
    let names: Vec<HeaderName> = parts
        .headers
        .get_all(header::TRAILER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|s| HeaderName::from_bytes(s.trim().as_bytes()).ok())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// The one `cookie` line of every `cookie` value in `headers`.
fn cookie_line(dst: &mut Vec<u8>, headers: &http::HeaderMap) {
    dst.extend_from_slice(b"cookie: ");
    for (i, v) in headers.get_all(header::COOKIE).iter().enumerate() {
        if i > 0 {
            dst.extend_from_slice(b"; ");
        }
        dst.extend_from_slice(v.as_bytes());
    }
    dst.extend_from_slice(b"\r\n");
}

fn line(dst: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
