//! A response head's end-to-end fields kept as the bytes they arrived in.
//!
//! **Why.** A response from the own upstream client that the own HTTP/1.1
//! writer sends on (the common keep-alive and one-request-per-connection
//! case) needs its fields only to be copied: turning each into an
//! `http::HeaderName` and `HeaderValue`, hashing it into a `HeaderMap` and
//! iterating the map again to write it was about a tenth of the proxy's
//! instructions per request (callgrind, `l7-keepalive`). HAProxy copies
//! them too. The fields were validated by the parser (httparse accepts
//! exactly the bytes `HeaderName` and `HeaderValue` accept), and the
//! hop-by-hop ones are already left out.
//!
//! The own HTTP/2 server encodes the same fields into HPACK, names
//! lowercased (`h2::hpack::encoder`), skipping the same work.
//!
//! Only the own writers may ask for this form (see `ConnState::own_writer`):
//! every other consumer reads the `HeaderMap`, and [`RawFields::into_map`]
//! makes one when needed.

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// Where one field's name and value lie in the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub name: u32,
    pub name_len: u32,
    pub value: u32,
    pub value_len: u32,
}

/// The end-to-end fields of a response head, in order, names in the case
/// the upstream sent them.
#[derive(Debug, Clone)]
pub struct RawFields {
    head: Bytes,
    spans: Vec<Span>,
}

impl RawFields {
    /// Fields of `head` at `spans`; every span lies within `head` (the
    /// parser made them from it).
    pub fn new(head: Bytes, spans: Vec<Span>) -> RawFields {
        RawFields { head, spans }
    }

    /// Fields made from (name, value) pairs as given (for tests and fuzzing;
    /// the parser makes them from a head it read).
    pub fn from_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> RawFields {
        let mut head = Vec::new();
        let mut spans = Vec::with_capacity(pairs.len());
        for (n, v) in pairs {
            let (n, v) = (n.as_ref(), v.as_ref());
            let name = head.len();
            head.extend_from_slice(n);
            head.extend_from_slice(b": ");
            let value = head.len();
            head.extend_from_slice(v);
            head.extend_from_slice(b"\r\n");
            let at = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
            spans.push(Span {
                name: at(name),
                name_len: at(n.len()),
                value: at(value),
                value_len: at(v.len()),
            });
        }
        RawFields::new(Bytes::from(head), spans)
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The fields as (name, value) bytes, in the order they came.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans.iter().filter_map(|s| {
            let name = self
                .head
                .get(s.name as usize..(s.name as usize).checked_add(s.name_len as usize)?)?;
            let value = self
                .head
                .get(s.value as usize..(s.value as usize).checked_add(s.value_len as usize)?)?;
            Some((name, value))
        })
    }

    /// The fields as a `HeaderMap` (values share the head's bytes); `None`
    /// if a field is not a valid header (the parser never makes those).
    pub fn into_map(self) -> Option<HeaderMap> {
        let mut map = HeaderMap::with_capacity(self.spans.len());
        for s in &self.spans {
            let (n, v) = (s.name as usize, s.value as usize);
            let name = HeaderName::from_bytes(self.head.get(n..n + s.name_len as usize)?).ok()?;
            let end = v.checked_add(s.value_len as usize)?;
            self.head.get(v..end)?;
            let value = HeaderValue::from_maybe_shared(self.head.slice(v..end)).ok()?;
            map.append(name, value);
        }
        Some(map)
    }
}
