//! Request heads for the proxy's own HTTP/1.1 reader: parse, and decide
//! whether the request is one the reader serves itself.
//!
//! The reader takes only the plainest requests: HTTP/1.1, no body (no
//! `Content-Length` but a single `0`, no `Transfer-Encoding`), no upgrade, no `Expect`, not
//! `CONNECT`, a head that fits the listener's limits and parses cleanly.
//! Everything else, errors included, is left to hyper ([`Parse::Hyper`]),
//! which then sees exactly the bytes the client sent and answers as it
//! always has (400, 414, 431, bodies, 100-continue, upgrades). So this code
//! never has to be right about an unusual request: it only has to
//! recognise a usual one.
//!
//! Header values are slices of the head's buffer (no copy per header), as
//! in hyper.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri, Version};

use crate::http::req_body::ReqBody;

/// Most headers a request served here may have; more go to hyper.
pub const MAX_HEADERS: usize = 64;

/// Headers the proxy adds to a request (X-Forwarded-For, -Proto, -Host,
/// X-Request-Id).
const EXTRA_HEADERS: usize = 4;

/// What a buffer holds.
// Returned once per request and matched at once: boxing the request would
// add an allocation per request to save a move.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parse {
    /// The head is not complete yet.
    Partial,
    /// A request this reader serves; its head has been taken from the
    /// buffer (`head`: its bytes). `close`: the client asked to close
    /// after it.
    Ready {
        req: Request<ReqBody>,
        close: bool,
        head: Bytes,
    },
    /// Not for this reader: hyper must serve it (the buffer is untouched).
    Hyper,
    /// The head is larger than `max_head`, complete or not; `line`: the
    /// length of its request line, `None` when that alone does not fit.
    TooLarge { line: Option<usize> },
    /// The head has more than `max_headers` fields.
    TooMany,
}

/// Where one header's name and value lie in the head (offset, length).
#[derive(Clone, Copy, Default)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

/// Parses the request head at the start of `buf`. `max_head`: the
/// listener's header-block limit; `max_headers`: its header-count limit.
pub fn parse(buf: &mut BytesMut, max_head: usize, max_headers: usize) -> Parse {
    let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let len = match parsed.parse_with_uninit_headers(buf, &mut raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= max_head {
                too_large(buf, max_head)
            } else {
                Parse::Partial
            };
        }
        // More than this reader holds: over the listener's limit if that
        // is lower; else counted here once the head is whole (a rare
        // head), and hyper's to read if within the limit.
        Err(httparse::Error::TooManyHeaders) => {
            return count_fields(buf, max_head, max_headers);
        }
        Err(_) => return Parse::Hyper,
    };
    if len > max_head {
        return too_large(buf, max_head);
    }
    if parsed.headers.len() > max_headers {
        return Parse::TooMany;
    }
    if parsed.version != Some(1) {
        return Parse::Hyper;
    }
    let (Some(method), Some(path)) = (parsed.method, parsed.path) else {
        return Parse::Hyper;
    };
    let method = match method {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        "CONNECT" => return Parse::Hyper,
        other => match Method::from_bytes(other.as_bytes()) {
            Ok(m) => m,
            Err(_) => return Parse::Hyper,
        },
    };
    if path.as_bytes().contains(&b'#') {
        return Parse::Hyper; // refused there (`framing`)
    }
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let path = (offset(path.as_bytes()), path.len());
    let mut spans = [Span::default(); MAX_HEADERS];
    let mut close = false;
    let mut zero_length = false;
    let count = parsed.headers.len();
    for (span, h) in spans.iter_mut().zip(parsed.headers.iter()) {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            // One `Content-Length: 0` (a POST without a body, as browsers
            // send it) is no body; anything else is hyper's, after the
            // smuggling guard.
            if zero_length || h.value != b"0" {
                return Parse::Hyper;
            }
            zero_length = true;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
        {
            return Parse::Hyper;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parse::Hyper;
                }
            }
        }
        // Offsets fit: the head is within `max_head`, far below 4 GiB.
        *span = Span {
            name: (offset(name) as u32, name.len() as u32),
            value: (offset(h.value) as u32, h.value.len() as u32),
        };
    }
    let head = buf.split_to(len).freeze();
    match build(&head, method, path, &spans[..count]) {
        Some(req) => Parse::Ready { req, close, head },
        None => {
            // Put the head back for hyper: rare (a name or value the http
            // types refuse), so the copy does not matter.
            let mut whole = BytesMut::with_capacity(head.len() + buf.len());
            whole.extend_from_slice(&head);
            whole.extend_from_slice(buf);
            *buf = whole;
            Parse::Hyper
        }
    }
}

/// A head with more fields than this reader holds: [`Parse::TooMany`]
/// when over `max_headers`, [`Parse::Hyper`] when within it, and
/// [`Parse::Partial`] (or too large) until the head is whole. Lines are
/// counted (`httparse` refuses folded ones, so a line is a field).
fn count_fields(buf: &[u8], max_head: usize, max_headers: usize) -> Parse {
    if max_headers <= MAX_HEADERS {
        return Parse::TooMany;
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= max_head {
            too_large(buf, max_head)
        } else {
            Parse::Partial
        };
    };
    if end + 4 > max_head {
        return too_large(buf, max_head);
    }
    // The request line, then one line per field.
    let fields = buf[..end].iter().filter(|&&b| b == b'\n').count();
    if fields > max_headers {
        Parse::TooMany
    } else {
        Parse::Hyper
    }
}

/// [`Parse::TooLarge`] for a head past `max_head` bytes at the start of
/// `buf`.
fn too_large(buf: &[u8], max_head: usize) -> Parse {
    let within = &buf[..buf.len().min(max_head)];
    Parse::TooLarge {
        line: within.iter().position(|&b| b == b'\n'),
    }
}

fn build(
    head: &Bytes,
    method: Method,
    (path_at, path_len): (usize, usize),
    spans: &[Span],
) -> Option<Request<ReqBody>> {
    let uri = Uri::from_maybe_shared(head.slice(path_at..path_at + path_len)).ok()?;
    // Room for the forwarding headers the proxy adds without regrowing.
    let mut headers = HeaderMap::with_capacity(spans.len() + EXTRA_HEADERS);
    for s in spans {
        let (at, len) = (s.name.0 as usize, s.name.1 as usize);
        let name = HeaderName::from_bytes(&head[at..at + len]).ok()?;
        let (at, len) = (s.value.0 as usize, s.value.1 as usize);
        let value = HeaderValue::from_maybe_shared(head.slice(at..at + len)).ok()?;
        headers.append(name, value);
    }
    let mut req = Request::new(ReqBody::Empty);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Some(req)
}

#[cfg(test)]
mod tests;
