//! Request heads and trailers from decoded header blocks, checked against
//! RFC 9113 §8.1.1, §8.2.2 and §8.3.1 (and RFC 8441 §4 for extended
//! CONNECT).
//!
//! [`Head`] is the sink of [`Decoder::decode`](super::super::hpack::Decoder::decode):
//! it takes the fields one by one, keeps the first reason the block is
//! malformed, and stops keeping fields (never decoding: the HPACK table
//! must stay in step) once the header list is over
//! SETTINGS_MAX_HEADER_LIST_SIZE.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::super::hpack::{Field, FieldError, Pseudo};
use super::RequestHead;

/// Why a block yields no request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Malformed (RFC 9113 §8.1.1): a stream error PROTOCOL_ERROR.
    Malformed(&'static str),
    /// The header list is over SETTINGS_MAX_HEADER_LIST_SIZE: 431.
    TooLarge,
}

/// A header block being decoded, for a request head or trailers.
#[derive(Debug)]
pub(super) struct Head {
    trailers: bool,
    max_list: usize,
    size: usize,
    malformed: Option<&'static str>,
    regular_seen: bool,
    method: Option<Bytes>,
    scheme: Option<Bytes>,
    authority: Option<Bytes>,
    path: Option<Bytes>,
    protocol: Option<Bytes>,
    content_length: Option<u64>,
    headers: HeaderMap,
}

impl Head {
    /// A request head (`trailers` false) or trailers (no pseudo-header
    /// allowed), with the header list limit `max_list`.
    pub(super) fn new(trailers: bool, max_list: usize) -> Head {
        Head {
            trailers,
            max_list,
            size: 0,
            malformed: None,
            regular_seen: false,
            method: None,
            scheme: None,
            authority: None,
            path: None,
            protocol: None,
            content_length: None,
            headers: HeaderMap::new(),
        }
    }

    /// Takes one decoded field.
    pub(super) fn field(&mut self, field: Result<Field, FieldError>) {
        let field = match field {
            Ok(f) => f,
            Err(_) => return self.malformed("malformed field"),
        };
        self.size = self.size.saturating_add(field.size());
        if self.size > self.max_list || self.malformed.is_some() {
            // Past the limit, or already malformed: nothing more to keep.
            return;
        }
        match field {
            Field::Pseudo(p, value) => self.pseudo(p, value),
            Field::Header(name, value) => self.regular(name, value),
        }
    }

    #[cold]
    fn malformed(&mut self, reason: &'static str) {
        if self.malformed.is_none() {
            self.malformed = Some(reason);
        }
    }

    fn pseudo(&mut self, p: Pseudo, value: Bytes) {
        if self.trailers {
            return self.malformed("pseudo-header in trailers");
        }
        if self.regular_seen {
            return self.malformed("pseudo-header after a regular field");
        }
        let slot = match p {
            Pseudo::Method => &mut self.method,
            Pseudo::Scheme => &mut self.scheme,
            Pseudo::Authority => &mut self.authority,
            Pseudo::Path => &mut self.path,
            Pseudo::Protocol => &mut self.protocol,
            Pseudo::Status => return self.malformed(":status in a request"),
        };
        if slot.is_some() {
            return self.malformed("duplicate pseudo-header");
        }
        *slot = Some(value);
    }

    fn regular(&mut self, name: HeaderName, value: HeaderValue) {
        self.regular_seen = true;
        if name == CONTENT_LENGTH {
            match (parse_length(value.as_bytes()), self.content_length) {
                (None, _) => return self.malformed("invalid content-length"),
                (Some(n), Some(m)) if n != m => {
                    return self.malformed("conflicting content-length");
                }
                (n, _) => self.content_length = n,
            }
        } else if is_connection_specific(&name) {
            return self.malformed("connection-specific field");
        } else if name == TE && value.as_bytes() != b"trailers" {
            return self.malformed("te other than trailers");
        }
        self.headers.append(name, value);
    }

    /// The header list went over SETTINGS_MAX_HEADER_LIST_SIZE.
    pub(super) fn too_large(&self) -> bool {
        self.size > self.max_list
    }

    /// The trailers, once the whole block is decoded.
    pub(super) fn into_trailers(self) -> Result<HeaderMap, Refusal> {
        if let Some(reason) = self.malformed {
            return Err(Refusal::Malformed(reason));
        }
        if self.too_large() {
            return Err(Refusal::TooLarge);
        }
        Ok(self.headers)
    }

    /// The request head and its `content-length`, once the whole block is
    /// decoded. `connect_protocol`: extended CONNECT is enabled.
    pub(super) fn into_request(
        self,
        connect_protocol: bool,
    ) -> Result<(RequestHead, Option<u64>), Refusal> {
        // A too-large list is answered 431 even if malformed further on:
        // the fields past the limit were not checked.
        if self.too_large() {
            return Err(Refusal::TooLarge);
        }
        if let Some(reason) = self.malformed {
            return Err(Refusal::Malformed(reason));
        }
        let bad = |reason| Err(Refusal::Malformed(reason));
        let Some(method) = self.method else {
            return bad("no :method");
        };
        let Ok(method) = Method::from_bytes(&method) else {
            return bad("invalid :method");
        };
        let connect = method == Method::CONNECT;
        match (&self.protocol, connect) {
            (Some(_), false) => return bad(":protocol without CONNECT"),
            (Some(_), true) if !connect_protocol => return bad(":protocol not enabled"),
            (None, true) => {
                // Plain CONNECT (§8.5): only :authority.
                if self.authority.is_none() {
                    return bad("CONNECT without :authority");
                }
                if self.scheme.is_some() || self.path.is_some() {
                    return bad("CONNECT with :scheme or :path");
                }
            }
            _ => {
                if self.scheme.is_none() {
                    return bad("no :scheme");
                }
                match &self.path {
                    None => return bad("no :path"),
                    Some(p) if p.is_empty() => return bad("empty :path"),
                    // §8.3.1: path and query only (a URI parser would drop
                    // the fragment, so a route would match less than sent).
                    Some(p) if p.contains(&b'#') => return bad("fragment in :path"),
                    Some(_) => {}
                }
                if self.protocol.is_some() && self.authority.is_none() {
                    return bad("extended CONNECT without :authority");
                }
            }
        }
        let head = RequestHead {
            method,
            scheme: self.scheme,
            authority: self.authority,
            path: self.path,
            protocol: self.protocol,
            headers: self.headers,
        };
        Ok((head, self.content_length))
    }
}

/// The connection-specific fields RFC 9113 §8.2.2 forbids (`te` aside).
#[inline]
fn is_connection_specific(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// A `content-length` value: digits only (no list, no sign), within u64.
#[inline]
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}
