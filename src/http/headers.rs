//! Header rewriting between client and upstream.
//!
//! Hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and every header it
//! names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
//! `Proxy-*`) are removed in both directions, and the request gets the
//! forwarding headers an upstream needs: `X-Forwarded-For` (appended),
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Request-Id`.

use std::fmt::Write as _;
use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::balance::Rng;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a header is hop-by-hop by definition (not counting the ones a
/// `Connection` header names).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || n.starts_with("proxy-")
}

/// Removes hop-by-hop headers (and, for requests, `Expect`, which this
/// proxy has already answered with 100 Continue).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut named: Vec<HeaderName> = Vec::new();
    for v in headers.get_all(header::CONNECTION) {
        let Ok(s) = v.to_str() else { continue };
        for token in s.split(',') {
            if let Ok(n) = HeaderName::from_bytes(token.trim().as_bytes()) {
                named.push(n);
            }
        }
    }
    let mut found: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if is_hop_by_hop(name) {
            found.push(name.clone());
        }
    }
    for n in named.iter().chain(found.iter()) {
        headers.remove(n);
    }
}

/// Adds the forwarding headers to a request going upstream.
pub fn add_forwarding(
    headers: &mut HeaderMap,
    client: IpAddr,
    proto: &'static str,
    host: Option<HeaderValue>,
) {
    let mut xff = String::new();
    for v in headers.get_all(&X_FORWARDED_FOR) {
        if let Ok(s) = v.to_str() {
            let s = s.trim();
            if !s.is_empty() {
                xff.push_str(s);
                xff.push_str(", ");
            }
        }
    }
    let _ = write!(xff, "{client}");
    if let Ok(v) = HeaderValue::try_from(xff) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    match host {
        Some(h) => {
            headers.insert(X_FORWARDED_HOST.clone(), h);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
}

/// Keeps a client's `X-Request-Id` (one valid value) or generates one
/// (128 random bits as 32 hex digits).
pub fn ensure_request_id(headers: &mut HeaderMap, rng: &mut Rng) {
    let mut existing = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(v), None) = (existing.next(), existing.next())
        && !v.is_empty()
        && v.len() <= 200
    {
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for out in id.chunks_mut(16) {
        let mut x = rng.next_u64();
        for b in out.iter_mut().rev() {
            *b = HEX[(x & 0xf) as usize];
            x >>= 4;
        }
    }
    if let Ok(v) = HeaderValue::from_bytes(&id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_connection_named_ones_go() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("x-secret", "1"),
            ("x-kept", "1"),
            ("content-length", "3"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept", "content-length"]);
    }

    #[test]
    fn forwarded_for_appends_and_proto_host_are_set() {
        let mut h = HeaderMap::new();
        h.append(&X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.append(
            &X_FORWARDED_FOR,
            HeaderValue::from_static("10.0.0.2, 10.0.0.3"),
        );
        h.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        add_forwarding(
            &mut h,
            "2001:db8::1".parse().unwrap(),
            "http",
            Some(HeaderValue::from_static("a.example")),
        );
        assert_eq!(h.get_all(&X_FORWARDED_FOR).iter().count(), 1);
        assert_eq!(
            h[&X_FORWARDED_FOR],
            "10.0.0.1, 10.0.0.2, 10.0.0.3, 2001:db8::1"
        );
        assert_eq!(h[&X_FORWARDED_PROTO], "http");
        assert_eq!(h[&X_FORWARDED_HOST], "a.example");
    }

    #[test]
    fn request_id_kept_or_generated() {
        let mut rng = Rng::seeded(7);
        let mut h = HeaderMap::new();
        h.insert(&X_REQUEST_ID, HeaderValue::from_static("abc"));
        ensure_request_id(&mut h, &mut rng);
        assert_eq!(h[&X_REQUEST_ID], "abc");
        let mut h = HeaderMap::new();
        ensure_request_id(&mut h, &mut rng);
        let id = h[&X_REQUEST_ID].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let mut h2 = HeaderMap::new();
        ensure_request_id(&mut h2, &mut rng);
        assert_ne!(h2[&X_REQUEST_ID], id.as_str());
        // Two values are not trusted: a fresh one replaces them.
        let mut h3 = HeaderMap::new();
        h3.append(&X_REQUEST_ID, HeaderValue::from_static("a"));
        h3.append(&X_REQUEST_ID, HeaderValue::from_static("b"));
        ensure_request_id(&mut h3, &mut rng);
        assert_eq!(h3.get_all(&X_REQUEST_ID).iter().count(), 1);
        assert_eq!(h3[&X_REQUEST_ID].len(), 32);
    }
}
