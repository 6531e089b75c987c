//! The request head as HTTP/2 wants it (RFC 9113 §8.2.2, §8.3.1).

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Uri, Version};

use crate::error::ProxyError;

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// Converts a request head (HTTP/1.1- or HTTP/2-style) for HTTP/2: the URI
/// becomes absolute (`:scheme` from the URI, else `http`; `:authority` from
/// the URI, else the Host header, else the endpoint address), Host and the
/// connection-specific headers are removed.
pub(super) fn h2_head(
    mut parts: http::request::Parts,
    endpoint: SocketAddr,
) -> Result<Request<()>, ProxyError> {
    strip_connection_headers(&mut parts.headers);
    // :authority replaces Host; a URI that names an authority wins.
    let host = parts.headers.remove(header::HOST);
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    if uri.authority.is_none() {
        uri.authority = Some(authority(host.as_ref(), endpoint)?);
    }
    // CONNECT carries only :authority.
    if parts.method != Method::CONNECT {
        uri.scheme.get_or_insert(Scheme::HTTP);
        uri.path_and_query
            .get_or_insert(PathAndQuery::from_static("/"));
    }
    parts.uri = Uri::from_parts(uri)
        .map_err(|_| ProxyError::BadRequest("request target not expressible in HTTP/2"))?;
    parts.version = Version::HTTP_2;
    Ok(Request::from_parts(parts, ()))
}

fn authority(host: Option<&HeaderValue>, endpoint: SocketAddr) -> Result<Authority, ProxyError> {
    match host {
        Some(h) if !h.is_empty() => {
            // A Host header never carries userinfo (RFC 9110 §7.2).
            if h.as_bytes().contains(&b'@') {
                return Err(ProxyError::BadRequest("invalid Host header"));
            }
            Authority::try_from(h.as_bytes())
                .map_err(|_| ProxyError::BadRequest("invalid Host header"))
        }
        _ => Authority::try_from(endpoint.to_string().as_str())
            .map_err(|_| ProxyError::BadRequest("no authority for the request")),
    }
}

/// Removes what HTTP/2 forbids (RFC 9113 §8.2.2): `connection` and the
/// headers it names, `keep-alive`, `proxy-connection`, `transfer-encoding`,
/// `upgrade`, `http2-settings`; `te` survives only as `te: trailers` (kept
/// when `trailers` is among its tokens, which gRPC needs).
fn strip_connection_headers(h: &mut HeaderMap) {
    if h.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            // `te` has its own rule; Host becomes :authority.
            .filter(|n| *n != header::TE && *n != header::HOST)
            .collect();
        for n in named {
            h.remove(n);
        }
        h.remove(header::CONNECTION);
    }
    for n in [&KEEP_ALIVE, &PROXY_CONNECTION, &HTTP2_SETTINGS] {
        h.remove(n);
    }
    h.remove(header::TRANSFER_ENCODING);
    h.remove(header::UPGRADE);
    if h.contains_key(header::TE) {
        let trailers = h.get_all(header::TE).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',').any(|t| {
                    t.split(';')
                        .next()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
                })
            })
        });
        h.remove(header::TE);
        if trailers {
            h.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(req: http::request::Builder) -> Result<Request<()>, ProxyError> {
        let endpoint: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        h2_head(req.body(()).unwrap().into_parts().0, endpoint)
    }

    #[test]
    fn origin_form_takes_its_authority_from_host() {
        let r = convert(Request::get("/a?b=1").header("host", "example.com:81")).unwrap();
        assert_eq!(r.uri(), "http://example.com:81/a?b=1");
        assert_eq!(r.version(), Version::HTTP_2);
        assert!(r.headers().get(header::HOST).is_none());
    }

    #[test]
    fn an_absolute_uri_wins_and_keeps_its_scheme() {
        let r = convert(Request::get("https://api.example/x").header("host", "other")).unwrap();
        assert_eq!(r.uri(), "https://api.example/x");
        assert!(r.headers().get(header::HOST).is_none());
    }

    #[test]
    fn without_host_the_endpoint_is_the_authority() {
        let r = convert(Request::get("/").version(Version::HTTP_10)).unwrap();
        assert_eq!(r.uri(), "http://10.0.0.1:8080/");
        let r = convert(Request::get("/").header("host", "")).unwrap();
        assert_eq!(r.uri(), "http://10.0.0.1:8080/");
    }

    #[test]
    fn a_bad_host_is_a_bad_request() {
        for host in ["a b", "user@example.com", "exa/mple"] {
            let err = convert(Request::get("/").header("host", host)).unwrap_err();
            assert!(matches!(err, ProxyError::BadRequest(_)), "{host}: {err}");
        }
    }

    #[test]
    fn connection_specific_headers_are_removed() {
        let r = convert(
            Request::post("/")
                .header("host", "h")
                .header("connection", "keep-alive, X-Hop")
                .header("connection", "upgrade")
                .header("x-hop", "1")
                .header("keep-alive", "timeout=5")
                .header("proxy-connection", "keep-alive")
                .header("transfer-encoding", "chunked")
                .header("upgrade", "h2c")
                .header("http2-settings", "AAMAAABkAAQAAP__")
                .header("te", "gzip")
                .header("x-kept", "1"),
        )
        .unwrap();
        let names: Vec<_> = r.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn te_trailers_survives_alone() {
        let r = convert(
            Request::get("/")
                .header("te", "Trailers, deflate;q=0.5")
                .header("connection", "te"),
        )
        .unwrap();
        assert_eq!(r.headers().get_all(header::TE).iter().count(), 1);
        assert_eq!(r.headers()[header::TE], "trailers");
    }

    #[test]
    fn connect_keeps_only_the_authority() {
        let r = convert(Request::connect("example.com:443")).unwrap();
        assert_eq!(
            r.uri().authority().map(|a| a.as_str()),
            Some("example.com:443")
        );
        assert!(r.uri().scheme().is_none());
    }
}
