//! Header rewriting between client and upstream.
//!
//! Hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and every header it
//! names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
//! `Proxy-*`; and `HTTP2-Settings`, which only an h2c upgrade request
//! carries, RFC 7540 §3.2.1) are removed in both directions, and the request gets the
//! forwarding headers an upstream needs: `X-Forwarded-For` (appended),
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Request-Id`. Several
//! `cookie` fields are joined for hyper's HTTP/1.1 client.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::balance::Rng;
use crate::config::Forwarding;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a header is hop-by-hop by definition (not counting the ones a
/// `Connection` header names). Names are lower case; the match compiles to
/// a length switch and one comparison.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "http2-settings"
    ) || n.starts_with("proxy-")
}

/// [`is_hop_by_hop`] for a raw field name in any case (as read off the
/// wire, before it becomes a `HeaderName`).
pub fn is_hop_by_hop_raw(name: &[u8]) -> bool {
    const FIXED: [&[u8]; 7] = [
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"http2-settings",
    ];
    FIXED
        .iter()
        .any(|h| h.len() == name.len() && h.eq_ignore_ascii_case(name))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"proxy-"))
}

/// The header names a `Connection` value lists besides its own options
/// (`close`, `keep-alive`): those are hop-by-hop too. Except `Host`: a
/// client naming it would have the request routed by one host and reach
/// the upstream with another (the endpoint's address), so it is never
/// taken for a hop-by-hop field.
pub fn connection_named(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').filter_map(|token| {
        let t = token.trim_ascii();
        let own = t.is_empty()
            || t.eq_ignore_ascii_case(b"close")
            || t.eq_ignore_ascii_case(b"keep-alive")
            || t.eq_ignore_ascii_case(b"host");
        (!own).then_some(t)
    })
}

/// Whether `name` may be sent as a trailer: neither a field that frames,
/// routes, authenticates or describes the message (RFC 9110 §6.5.1, see
/// [`crate::http::h1::encode::is_valid_trailer`]) nor a connection-specific
/// one (which HTTP/2 forbids anywhere, RFC 9113 §8.2.2).
pub fn trailer_allowed(name: &HeaderName) -> bool {
    crate::http::h1::encode::is_valid_trailer(name) && !is_hop_by_hop(name)
}

/// Leaves out of `trailers` the fields [`trailer_allowed`] refuses. An
/// HTTP/2 peer would take a response carrying one for malformed and
/// refuse all of it. Rare: the map is rebuilt only then.
pub fn clean_trailers(trailers: &mut HeaderMap) {
    if trailers.keys().all(trailer_allowed) {
        return;
    }
    *trailers = trailers
        .iter()
        .filter(|(n, _)| trailer_allowed(n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
}

/// Removes hop-by-hop headers. Allocation-free unless `Connection` names
/// headers other than `close`/`keep-alive`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most heads carry none: one pass over the names and no lookup. (A
    // field `Connection` names matters only when `Connection` is there.)
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // The common case, one `Connection: close` or `keep-alive` line, names
    // no other header: one removal, not a drain of the entry.
    let only_own_options = {
        let mut lines = headers.get_all(header::CONNECTION).iter();
        match (lines.next(), lines.next()) {
            (Some(v), None) => connection_named(v.as_bytes()).next().is_none(),
            _ => false,
        }
    };
    if only_own_options {
        headers.remove(header::CONNECTION);
    } else if let http::header::Entry::Occupied(e) = headers.entry(header::CONNECTION) {
        let (_, values) = e.remove_entry_mult();
        let mut named: Vec<HeaderName> = Vec::new();
        for v in values {
            named.extend(
                connection_named(v.as_bytes()).filter_map(|t| HeaderName::from_bytes(t).ok()),
            );
        }
        for n in &named {
            headers.remove(n);
        }
    }
    while let Some(name) = headers.keys().find(|n| is_hop_by_hop(n)).cloned() {
        headers.remove(&name);
    }
}

/// The client IP as header text, made once per connection.
pub fn ip_value(ip: IpAddr) -> HeaderValue {
    let mut buf = [0u8; 15];
    let text: &[u8] = match ip {
        IpAddr::V4(v4) => {
            // Hand-rolled: `Display` for Ipv4Addr goes through the
            // formatting machinery (~1500 instructions).
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    buf[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    buf[n] = b'0' + (octet / 10) % 10;
                    n += 1;
                }
                buf[n] = b'0' + octet % 10;
                n += 1;
            }
            &buf[..n]
        }
        IpAddr::V6(_) => {
            return HeaderValue::try_from(ip.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static(""));
        }
    };
    HeaderValue::from_bytes(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Adds the forwarding headers to a request going upstream; `client` is
/// the client IP as made by [`ip_value`].
pub fn add_forwarding(
    headers: &mut HeaderMap,
    fw: Forwarding,
    client: &HeaderValue,
    proto: &'static str,
    host: Option<HeaderValue>,
) {
    if fw.proto {
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    }
    if fw.host {
        match host {
            Some(h) => {
                headers.insert(X_FORWARDED_HOST.clone(), h);
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
    }
    if !fw.xff {
        return;
    }
    // One lookup: the entry both finds a client list and takes the result.
    match headers.entry(&X_FORWARDED_FOR) {
        header::Entry::Occupied(mut e) => {
            let mut list = Vec::with_capacity(64);
            for v in e.iter() {
                let s = v.as_bytes().trim_ascii();
                if !s.is_empty() {
                    list.extend_from_slice(s);
                    list.extend_from_slice(b", ");
                }
            }
            list.extend_from_slice(client.as_bytes());
            e.insert(HeaderValue::from_bytes(&list).unwrap_or_else(|_| client.clone()));
        }
        header::Entry::Vacant(e) => {
            e.insert(client.clone());
        }
    }
}

/// Keeps a client's `X-Request-Id` (one value of 1 to 200 visible ASCII
/// characters, no space, quote or backslash: UUIDs, hex, base64 and
/// tracing ids all qualify) or generates one (128 random bits as 32 hex
/// digits). A value with spaces could pose as other fields wherever the
/// id is logged.
pub fn ensure_request_id(headers: &mut HeaderMap, rng: &mut Rng) {
    let mut existing = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(v), None) = (existing.next(), existing.next())
        && !v.is_empty()
        && v.len() <= 200
        && v.as_bytes()
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
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

/// Joins several `cookie` fields into one, values separated by "; ", for
/// an HTTP/1.1 upstream served by hyper's client (the own client joins
/// them as it writes): RFC 9113 §8.2.3 lets an HTTP/2 client split its
/// cookie, HTTP/1.1 wants one field. One field, the common case, is left
/// as it is without allocating.
pub fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(header::COOKIE).iter();
    if values.next().is_none() || values.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for v in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    // Valid values and "; " make a valid value.
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_cookie_fields_are_joined_into_one_in_place() {
        let mut h = HeaderMap::new();
        h.append(header::HOST, HeaderValue::from_static("a.test"));
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::ACCEPT, HeaderValue::from_static("*/*"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        join_cookies(&mut h);
        let cookies: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; b=2"]);
        let names: Vec<_> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["host", "cookie", "accept"]);
    }

    #[test]
    fn one_cookie_field_or_none_is_left_alone() {
        let mut h = HeaderMap::new();
        join_cookies(&mut h);
        assert!(h.is_empty());
        h.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        join_cookies(&mut h);
        let cookies: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; b=2"]);
    }

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
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-kept"]);
    }

    #[test]
    fn a_plain_close_or_keep_alive_connection_line_is_removed() {
        for v in ["close", "keep-alive", " Keep-Alive ,close", ""] {
            let mut h = HeaderMap::new();
            h.insert(header::CONNECTION, HeaderValue::from_static(v));
            h.insert(header::HOST, HeaderValue::from_static("a"));
            strip_hop_by_hop(&mut h);
            assert!(!h.contains_key(header::CONNECTION), "{v:?}");
            assert!(h.contains_key(header::HOST));
        }
    }

    #[test]
    fn a_header_named_in_a_second_connection_line_goes_too() {
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("close"));
        h.append(header::CONNECTION, HeaderValue::from_static("x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept"]);
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
            Forwarding::default(),
            &ip_value("2001:db8::1".parse().unwrap()),
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
    fn ip_value_formats_every_octet_width() {
        for ip in [
            "0.0.0.0",
            "1.22.255.9",
            "255.255.255.255",
            "10.0.100.7",
            "::1",
            "2001:db8::8a2e:370:7334",
        ] {
            assert_eq!(ip_value(ip.parse().unwrap()), ip);
        }
    }

    #[test]
    fn forwarded_for_is_the_client_alone_without_a_client_list() {
        let mut h = HeaderMap::new();
        add_forwarding(
            &mut h,
            Forwarding::default(),
            &ip_value("192.0.2.1".parse().unwrap()),
            "http",
            None,
        );
        assert_eq!(h[&X_FORWARDED_FOR], "192.0.2.1");
        assert!(h.get(&X_FORWARDED_HOST).is_none());
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
        // Ids of any usual shape are kept; one with a space, a quote, a
        // backslash or a control character is replaced.
        for kept in [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "ZGF0YQ==",
            "req:42/a+b",
        ] {
            let mut h = HeaderMap::new();
            h.insert(&X_REQUEST_ID, HeaderValue::from_static(kept));
            ensure_request_id(&mut h, &mut rng);
            assert_eq!(h[&X_REQUEST_ID], kept);
        }
        for replaced in ["x status=500", "a\"b", "a\\b", "a\tb"] {
            let mut h = HeaderMap::new();
            h.insert(&X_REQUEST_ID, HeaderValue::from_str(replaced).unwrap());
            ensure_request_id(&mut h, &mut rng);
            let id = h[&X_REQUEST_ID].to_str().unwrap();
            assert_eq!(id.len(), 32, "{replaced:?} kept");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn raw_hop_by_hop_names_match_in_any_case_and_agree_with_header_names() {
        for n in [
            "Connection",
            "KEEP-ALIVE",
            "te",
            "Trailer",
            "transfer-encoding",
            "Upgrade",
            "Proxy-Authorization",
            "proxy-",
            "HTTP2-Settings",
        ] {
            assert!(is_hop_by_hop_raw(n.as_bytes()), "{n}");
        }
        for n in [
            "tes",
            "t",
            "proxy",
            "proxyx-a",
            "x-connection",
            "trailers",
            "",
        ] {
            assert!(!is_hop_by_hop_raw(n.as_bytes()), "{n}");
        }
        for n in [
            "connection",
            "te",
            "x-a",
            "proxy-b",
            "trailer",
            "http2-settings",
        ] {
            let name = HeaderName::from_static(n);
            assert_eq!(is_hop_by_hop(&name), is_hop_by_hop_raw(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn connection_named_lists_fields_but_not_its_own_options() {
        let named: Vec<&[u8]> = connection_named(b" close , X-A,,keep-alive, x-b ").collect();
        assert_eq!(named, [&b"X-A"[..], &b"x-b"[..]]);
        assert_eq!(connection_named(b"Keep-Alive, CLOSE").count(), 0);
        assert_eq!(connection_named(b"close, Host").count(), 0);
    }
}
