//! Checks and reads of the client's request head that the proxy does
//! before routing: the request-target form (RFC 9112 §3.2), the host
//! (`Host` or an absolute-form authority, RFC 9110 §7.2), the HTTP/2 field
//! count, and the pool's hash key.

use http::header::{self, HeaderValue};
use http::{Method, Uri, Version};

use crate::balance::{client_key, hash_bytes};
use crate::config::HashKey;
use crate::error::ProxyError;
use crate::http::router;

/// The bytes a `Host` value's host part may hold (unreserved, sub-delims,
/// `%` of pct-encoding, and the brackets and colons of an IPv6 literal):
/// one table lookup per byte.
static HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b'['
                    | b']'
                    | b':'
            );
        b += 1;
    }
    t
};

/// `host` of `host:port` (IPv6 literals keep their brackets).
pub(super) fn strip_port(h: &str) -> &str {
    match h.rfind(':') {
        Some(i) if !h[i..].contains(']') => &h[..i],
        _ => h,
    }
}

/// The request target's form (RFC 9112 §3.2): authority-form is CONNECT's
/// alone and asterisk-form OPTIONS's; any other path starts with `/` (an
/// HTTP/2 `:path` such as `?q=1` would otherwise go out as an invalid
/// HTTP/1.1 request line).
pub(super) fn check_target(method: &Method, uri: &Uri) -> Result<(), ProxyError> {
    // An HTTP/2 `:scheme` or an absolute-form target: this proxy speaks
    // HTTP only (a value such as `ftp` would reach the upstream as is).
    if let Some(s) = uri.scheme()
        && *s != http::uri::Scheme::HTTP
        && *s != http::uri::Scheme::HTTPS
    {
        return Err(ProxyError::BadRequest(
            "the request scheme must be http or https",
        ));
    }
    // A host without a scheme: authority-form, whatever follows.
    if uri.scheme().is_none() && uri.authority().is_some() {
        return Err(ProxyError::BadRequest(
            "an authority-form request target is only for CONNECT",
        ));
    }
    // The raw text: `Uri::path` says `/` for an empty path (`?q=1`).
    let path = uri.path_and_query().map_or("", |p| p.as_str());
    match path {
        _ if path.starts_with('/') => Ok(()),
        "*" if method == Method::OPTIONS => Ok(()),
        "*" => Err(ProxyError::BadRequest(
            "the request target * is only for OPTIONS",
        )),
        "" if uri.scheme().is_some() => Ok(()), // `http://a.test`: the path is `/`
        _ => Err(ProxyError::BadRequest("the request path must start with /")),
    }
}

/// The request's host and whether it came from an absolute-form URI (which
/// wins over the `Host` header); else the single `Host` header (RFC 9112
/// §3.2: required in HTTP/1.1, never repeated).
pub(super) fn request_host(
    uri: &Uri,
    headers: &http::HeaderMap,
    version: Version,
) -> Result<(Option<HeaderValue>, bool), ProxyError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(ProxyError::BadRequest("more than one Host header"));
    }
    if let Some(auth) = uri.authority() {
        // The same rules as `Host`: no userinfo (RFC 9110 §4.2.4), a
        // numeric port.
        if !valid_host(auth.as_str().as_bytes()) {
            return Err(ProxyError::BadRequest("invalid authority"));
        }
        return HeaderValue::try_from(auth.as_str())
            .map(|v| (Some(v), true))
            .map_err(|_| ProxyError::BadRequest("invalid authority"));
    }
    match first {
        Some(h) => {
            if !valid_host(h.as_bytes()) {
                return Err(ProxyError::BadRequest("invalid Host header"));
            }
            Ok((Some(h.clone()), false))
        }
        None if version == Version::HTTP_10 => Ok((None, false)),
        None => Err(ProxyError::BadRequest("missing Host header")),
    }
}

/// A `Host` value per RFC 9110 §7.2: a reg-name or IPv4 address, or an
/// IPv6 literal in brackets, with an optional port. Checked by hand: the
/// general URI-authority parser costs several times more per request.
pub(super) fn valid_host(h: &[u8]) -> bool {
    let port = if h.first() == Some(&b'[') {
        let Some(end) = h.iter().position(|b| *b == b']') else {
            return false;
        };
        let inner = &h[1..end];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return false;
        }
        &h[end + 1..]
    } else {
        // One pass: every request (HTTP/2 ones by their `:authority`)
        // comes through here.
        let mut i = 0;
        while let Some(&b) = h.get(i) {
            if b == b':' {
                break;
            }
            if !HOST_BYTE[usize::from(b)] {
                return false;
            }
            i += 1;
        }
        if i == 0 {
            return false;
        }
        &h[i..]
    };
    match port.split_first() {
        None => true,
        Some((b':', digits)) if digits.len() <= 5 => {
            let mut n = 0u32;
            for &d in digits {
                if !d.is_ascii_digit() {
                    return false;
                }
                n = n * 10 + u32::from(d - b'0');
            }
            n <= 65535
        }
        Some(_) => false,
    }
}

/// The hash of the request attribute a hashing pool balances on; `None`
/// when the attribute is absent (the balancer then picks at random).
/// `path` is the path routing saw (normalised unless the listener says
/// `normalize_path = false`), so `/a//b` and `/a/b` reach one endpoint.
pub(super) fn hash_key(
    key: &HashKey,
    client: std::net::SocketAddr,
    parts: &http::request::Parts,
    path: &str,
) -> Option<u64> {
    match key {
        HashKey::ClientIp => Some(client_key(client, false)),
        HashKey::ClientIpPort => Some(client_key(client, true)),
        HashKey::Path => Some(hash_bytes(path.as_bytes())),
        HashKey::Header(name) => parts.headers.get(name).map(|v| hash_bytes(v.as_bytes())),
        HashKey::Cookie(name) => {
            router::cookie(&parts.headers, name).map(|v| hash_bytes(v.as_bytes()))
        }
    }
}

/// The header fields of an HTTP/2 request as `max_headers` counts them:
/// the `cookie` crumbs a client may split its cookies into (RFC 9113
/// §8.2.3) are one field, as joined for HTTP/1.1.
pub(super) fn field_count(headers: &http::HeaderMap) -> usize {
    let crumbs = headers.get_all(header::COOKIE).iter().count();
    headers.len() - crumbs.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::{check_target, valid_host};
    use http::{Method, Uri};

    #[test]
    fn request_target_forms() {
        let ok = |m: Method, t: &str| check_target(&m, &t.parse::<Uri>().unwrap()).is_ok();
        assert!(ok(Method::GET, "/a?b"));
        assert!(ok(Method::GET, "http://u.test/a"));
        assert!(ok(Method::OPTIONS, "*"));
        assert!(!ok(Method::GET, "*"), "asterisk-form is OPTIONS's");
        assert!(
            !ok(Method::GET, "evil.test:8080"),
            "authority-form is CONNECT's"
        );
        assert!(ok(Method::GET, "https://u.test/a"));
        assert!(!ok(Method::GET, "ftp://u.test/a"), "only http and https");
        // An HTTP/2 `:path` of `?q=1` (the URI hyper and the own server
        // build from the pseudo-headers).
        let h2 = Uri::builder()
            .scheme("http")
            .authority("a.test")
            .path_and_query("?q=1")
            .build();
        let h2 = h2.expect("the http crate builds it");
        assert!(check_target(&Method::GET, &h2).is_err(), "{h2}");
    }

    #[test]
    fn host_values() {
        for ok in [
            "a",
            "example.com",
            "EXAMPLE.com:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:443",
            "a_b.c",
            "x:",
            "a:65535",
        ] {
            assert!(valid_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a/b",
            "a@b",
            "[::1",
            "[zz]",
            "a:80x",
            "a:123456",
            ":80",
            "a\tb",
            "[::1]x",
            "a:99999",
            "u:pw@a.test",
            "a.test:abc",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn every_byte_of_a_host_part_is_checked_against_the_rfc_set() {
        let allowed: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%";
        for b in 0..=255u8 {
            // `x` then the byte: a one-label host whose second byte is `b`
            // (`:` starts the port and `[` only opens an IPv6 literal at the
            // start, so both are left to `host_values`).
            if matches!(b, b':' | b'[' | b']') {
                continue;
            }
            let host = [b'x', b];
            assert_eq!(valid_host(&host), allowed.contains(&b), "byte {b:#04x}");
        }
    }
}
