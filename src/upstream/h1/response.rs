//! Response heads for the proxy's own HTTP/1.1 upstream client: parse one
//! head from the read buffer, and decide how its body is framed and whether
//! the connection may carry another request (RFC 9112 §6.3 and §9.3).
//!
//! Header values are slices of the head's buffer (no copy per header), as in
//! hyper. Anything the proxy cannot forward safely is an error, and the
//! request then fails with 502: a malformed head, conflicting
//! `Content-Length` values, `101` to a request that did not ask to upgrade.

use std::mem::MaybeUninit;

use bytes::BytesMut;

use crate::http::h1::encode::{ends_with_chunked, merge_length};
use crate::http::headers::{connection_named, is_hop_by_hop_raw};
use crate::upstream::h1::raw::{RawFields, Span};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode, Version};

/// Most headers a response may have (hyper's default).
pub const MAX_HEADERS: usize = 100;

/// Largest response head (status line and headers).
pub const MAX_HEAD: usize = 64 << 10;

/// How the response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Exactly this many bytes (0: no body, also for HEAD, 1xx, 204, 304).
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
    /// Until the upstream closes the connection.
    Eof,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    /// Status, version and the end-to-end headers: the hop-by-hop ones
    /// (RFC 9110 §7.6.1: `Connection` and the fields it names,
    /// `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
    /// `Proxy-*`) are read for framing and never enter the map, so the
    /// proxy need not look for them again.
    pub parts: http::response::Parts,
    /// With [`parse`]'s `keep_raw`: the end-to-end fields as they arrived, and
    /// `parts.headers` is empty.
    pub raw: Option<RawFields>,
    pub body: BodyKind,
    /// The connection may carry another request once this one is over.
    pub keep_alive: bool,
}

/// What the buffer held.
#[derive(Debug)]
pub enum Parsed {
    /// A final response; its head has been taken from the buffer.
    Final(Head),
    /// An interim (1xx, not 101) response, taken from the buffer: its
    /// status and end-to-end fields (for relaying, see
    /// [`crate::http::interim`]); the final one follows.
    Interim(StatusCode, HeaderMap),
}

/// Why a head cannot be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("malformed response head")]
    Malformed,
    #[error("response head larger than {MAX_HEAD} bytes or {MAX_HEADERS} headers")]
    TooLarge,
    #[error("invalid or conflicting Content-Length in the response")]
    ContentLength,
    #[error("101 Switching Protocols to a request that did not upgrade")]
    UnexpectedUpgrade,
    #[error("a Transfer-Encoding other than a final chunked in the response")]
    TransferEncoding,
}

/// Parses the response head at the start of `buf`; `Ok(None)` while it is
/// incomplete. `head_request`: the request was HEAD (no body follows).
/// `keep_raw`: keep the fields as [`RawFields`] instead of a `HeaderMap`.
pub fn parse(
    buf: &mut BytesMut,
    head_request: bool,
    keep_raw: bool,
) -> Result<Option<Parsed>, HeadError> {
    let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let base = buf.as_ptr() as usize;
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut raw,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let code = parsed.code.ok_or(HeadError::Malformed)?;
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Malformed)?;
    let version = match parsed.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(HeadError::Malformed),
    };
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(HeadError::UnexpectedUpgrade);
    }
    if status.is_informational() {
        let fields = interim_fields(parsed.headers);
        bytes::Buf::advance(buf, len);
        return Ok(Some(Parsed::Interim(status, fields)));
    }

    // A reason phrase other than the status's usual one is relayed as the
    // upstream wrote it (an allocation only then).
    let reason = parsed
        .reason
        .filter(|r| Some(*r) != status.canonical_reason())
        .and_then(|r| hyper::ext::ReasonPhrase::try_from(r.as_bytes()).ok());
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let count = parsed.headers.len();
    let mut length: Option<u64> = None;
    let mut te: Option<bool> = None; // Some(ends in chunked)
    // `close` wins over `keep-alive` (RFC 9112 §9.3).
    let (mut saw_close, mut saw_keep_alive) = (false, false);
    // A `Connection` value naming other fields (rare): those are dropped too.
    let mut names_fields = false;
    for (span, h) in spans.iter_mut().zip(parsed.headers.iter()) {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            merge_length(h.value, &mut length).ok_or(HeadError::ContentLength)?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the last coding counts (a later header adds codings).
            te = Some(ends_with_chunked(h.value));
        } else if name.eq_ignore_ascii_case(b"connection") {
            names_fields |= connection_named(h.value).next().is_some();
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    saw_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    saw_keep_alive = true;
                }
            }
        }
        // Offsets fit: the head is within MAX_HEAD.
        *span = (
            offset(name) as u32,
            name.len() as u32,
            offset(h.value) as u32,
            h.value.len() as u32,
        );
    }
    let close = saw_close || (version == Version::HTTP_10 && !saw_keep_alive);
    let body =
        if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            BodyKind::Length(0)
        } else {
            match (te, length) {
                (Some(true), _) if version == Version::HTTP_11 => BodyKind::Chunked,
                // A coding the proxy would have to decode to remove (gzip,
                // `chunked, identity`), or any coding from an HTTP/1.0
                // server, which has none: passing the bytes on without
                // the header would corrupt the body (HAProxy: 502 too).
                (Some(_), _) => return Err(HeadError::TransferEncoding),
                (None, Some(n)) => BodyKind::Length(n),
                (None, None) => BodyKind::Eof,
            }
        };
    // Both framings at once may be an attempt at response splitting: the
    // body is read by Transfer-Encoding (RFC 9112 §6.3) and the connection
    // is not used again.
    let keep_alive = !close && body != BodyKind::Eof && !(te.is_some() && length.is_some());

    let head = buf.split_to(len).freeze();
    let field = |&(na, nl, va, vl): &(u32, u32, u32, u32)| {
        let (na, nl, va, vl) = (na as usize, nl as usize, va as usize, vl as usize);
        (&head[na..na + nl], va, vl)
    };
    let named: Vec<&[u8]> = if names_fields {
        spans[..count]
            .iter()
            .map(field)
            .filter(|(n, _, _)| n.eq_ignore_ascii_case(b"connection"))
            .flat_map(|(_, va, vl)| connection_named(&head[va..va + vl]))
            .collect()
    } else {
        Vec::new()
    };
    // Hop-by-hop fields are read above and dropped here; so is a
    // Content-Length next to Transfer-Encoding (which frames the body: a
    // length passed on would frame it differently to the client).
    let kept = |raw_name: &[u8]| {
        !(is_hop_by_hop_raw(raw_name)
            || named.iter().any(|n| n.eq_ignore_ascii_case(raw_name))
            || (te.is_some() && raw_name.eq_ignore_ascii_case(b"content-length")))
    };
    let mut headers = HeaderMap::new();
    let mut fields = None;
    if keep_raw {
        let mut kept_spans = Vec::with_capacity(count);
        for &(name, name_len, value, value_len) in &spans[..count] {
            if kept(field(&(name, name_len, value, value_len)).0) {
                kept_spans.push(Span {
                    name,
                    name_len,
                    value,
                    value_len,
                });
            }
        }
        fields = Some(RawFields::new(head.clone(), kept_spans));
    } else {
        headers.reserve(count);
        for span in &spans[..count] {
            let (raw_name, va, vl) = field(span);
            if !kept(raw_name) {
                continue;
            }
            let name = HeaderName::from_bytes(raw_name).map_err(|_| HeadError::Malformed)?;
            let value = HeaderValue::from_maybe_shared(head.slice(va..va + vl))
                .map_err(|_| HeadError::Malformed)?;
            headers.append(name, value);
        }
    }
    let mut resp = http::Response::new(());
    *resp.status_mut() = status;
    *resp.version_mut() = version;
    *resp.headers_mut() = headers;
    if let Some(r) = reason {
        resp.extensions_mut().insert(r);
    }
    let (parts, ()) = resp.into_parts();
    Ok(Some(Parsed::Final(Head {
        parts,
        raw: fields,
        body,
        keep_alive,
    })))
}

/// An interim head's end-to-end fields. Hop-by-hop ones, those
/// `Connection` names, and framing ones (a 1xx has no body) are left out;
/// so is a field `HeaderMap` refuses (an interim head is advice, not worth
/// failing the response over).
fn interim_fields(fields: &[httparse::Header<'_>]) -> HeaderMap {
    let named: Vec<&[u8]> = fields
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| connection_named(h.value))
        .collect();
    let mut headers = HeaderMap::new();
    for h in fields {
        let name = h.name.as_bytes();
        if is_hop_by_hop_raw(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || named.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(n, v);
        }
    }
    headers
}

#[cfg(test)]
mod tests;
