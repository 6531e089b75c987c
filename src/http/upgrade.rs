//! HTTP/1.1 Upgrade (WebSocket): validating the handshake and running it
//! against an upstream.
//!
//! A WebSocket upgrade is checked as RFC 6455 §4.2.1 asks (GET, HTTP/1.1,
//! one well-formed `Sec-WebSocket-Key`, version 13, else 400 or 426) and
//! forwarded on a fresh upstream connection of its own (never a pooled
//! one: it will not come back). When the upstream answers `101`, hyper
//! hands both connections back and they become a tunnel (`tunnel`);
//! any other answer is relayed as a normal response. Upgrades to anything
//! else (`h2c`, `TLS/1.0`) are not honoured: the request is forwarded
//! without its `Upgrade` header, as a plain request.
//!
//! WebSocket over HTTP/2 (RFC 8441): an extended CONNECT with `:protocol
//! websocket` is turned into the HTTP/1.1 handshake upstream (a fresh
//! `Sec-WebSocket-Key`, the client's version, protocols and extensions);
//! the upstream's `101` becomes `200` on the client's stream, and the stream
//! is tunnelled to the upstream connection like an HTTP/1.1 upgrade.

use std::time::Duration;

use crate::http::req_body::ReqBody;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;

use super::tunnel::UpstreamSide;
use crate::error::ProxyError;
use crate::net::Stream;

static SEC_WEBSOCKET_KEY: header::HeaderName = header::SEC_WEBSOCKET_KEY;
static SEC_WEBSOCKET_VERSION: header::HeaderName = header::SEC_WEBSOCKET_VERSION;

/// Whether the request asks for a WebSocket upgrade; an invalid WebSocket
/// handshake is an error.
pub fn is_websocket(parts: &http::request::Parts) -> Result<bool, ProxyError> {
    // One header lookup for the common case (no Upgrade header).
    let Some(upgrade) = parts.headers.get(header::UPGRADE) else {
        return Ok(false);
    };
    let wants_upgrade = parts.headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
    });
    let websocket = upgrade
        .as_bytes()
        .split(|b| *b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"websocket"));
    if !wants_upgrade || !websocket {
        return Ok(false);
    }
    if parts.method != Method::GET {
        return Err(ProxyError::BadRequest("a WebSocket upgrade must be a GET"));
    }
    if parts.version != Version::HTTP_11 {
        return Err(ProxyError::BadRequest("a WebSocket upgrade needs HTTP/1.1"));
    }
    let mut keys = parts.headers.get_all(&SEC_WEBSOCKET_KEY).iter();
    let key_ok = match (keys.next(), keys.next()) {
        (Some(k), None) => valid_key(k.as_bytes()),
        _ => false,
    };
    if !key_ok {
        return Err(ProxyError::BadRequest("invalid Sec-WebSocket-Key"));
    }
    version_13(&parts.headers)?;
    Ok(true)
}

/// Whether an HTTP/2 request is an extended CONNECT for WebSocket (RFC
/// 8441); an invalid one is an error.
pub fn is_h2_websocket(parts: &http::request::Parts) -> Result<bool, ProxyError> {
    let websocket = parts.method == Method::CONNECT
        && parts
            .extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    if !websocket {
        return Ok(false);
    }
    version_13(&parts.headers)?;
    Ok(true)
}

/// Turns an RFC 8441 extended CONNECT into the HTTP/1.1 WebSocket
/// handshake for the upstream: GET, a new `Sec-WebSocket-Key`.
pub fn h2_to_h1_handshake(parts: &mut http::request::Parts, rng: &mut crate::balance::Rng) {
    parts.method = Method::GET;
    parts.extensions.remove::<hyper::ext::Protocol>();
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    nonce[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    if let Ok(key) = HeaderValue::from_bytes(&base64_16(&nonce)) {
        parts.headers.insert(&SEC_WEBSOCKET_KEY, key);
    }
}

/// Base64 of 16 bytes (24 characters with `==`), for `Sec-WebSocket-Key`.
fn base64_16(b: &[u8; 16]) -> [u8; 24] {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = [b'='; 24];
    for (i, chunk) in b.chunks(3).enumerate() {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (j, x)| acc | u32::from(*x) << (16 - 8 * j));
        let chars = chunk.len() + 1;
        for k in 0..chars {
            out[i * 4 + k] = A[((n >> (18 - 6 * k)) & 63) as usize];
        }
    }
    out
}

/// The only WebSocket version there is (RFC 6455 §4.4): else 426.
fn version_13(headers: &http::HeaderMap) -> Result<(), ProxyError> {
    match headers.get(&SEC_WEBSOCKET_VERSION) {
        Some(v) if v.as_bytes().trim_ascii() == b"13" => Ok(()),
        _ => Err(ProxyError::WebSocketVersion),
    }
}

/// A `Sec-WebSocket-Key`: 16 bytes in base64 (22 characters and `==`).
fn valid_key(k: &[u8]) -> bool {
    k.len() == 24
        && k.ends_with(b"==")
        && k[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// Restores the upgrade headers that hop-by-hop stripping removed.
pub fn restore_headers(headers: &mut http::HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Sends the upgrade request on `stream`, a new connection to the endpoint
/// `label`, and waits (up to `timeout`) for the response head. With `101`
/// the upstream side of the tunnel comes back too.
pub async fn exchange(
    stream: Stream,
    label: &str,
    mut req: Request<ReqBody>,
    timeout: Duration,
) -> Result<(Response<Incoming>, Option<UpstreamSide>), ProxyError> {
    // An RFC 8441 WebSocket's cookie may come in several fields.
    super::headers::join_cookies(req.headers_mut());
    let failed = |reason: String| ProxyError::UpstreamFailed {
        endpoint: label.to_owned(),
        reason,
    };
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(stream)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut conn = Box::pin(conn.without_shutdown());
    // The connection future may finish first (on `101` it completes as
    // soon as the head is read): keep its result, it must not be polled
    // again.
    let mut finished = None;
    let exchange = async {
        let sent = sender.send_request(req);
        tokio::pin!(sent);
        tokio::select! {
            resp = sent.as_mut() => resp.map_err(|e| failed(e.to_string())),
            done = conn.as_mut() => match done {
                Err(e) => Err(failed(e.to_string())),
                // The connection ended (or upgraded) with the response
                // head read: the response future now resolves.
                Ok(parts) => {
                    finished = Some(parts);
                    sent.await.map_err(|e| failed(e.to_string()))
                }
            },
        }
    };
    let resp = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ProxyError::ResponseTimeout {
            endpoint: label.to_owned(),
            after: timeout,
        })??;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Not upgraded: the connection carries the response body; drive it
        // on its own (it is not reused).
        if finished.is_none() {
            tokio::task::spawn_local(async move {
                let _ = conn.await;
            });
        }
        return Ok((resp, None));
    }
    // The client asked for a WebSocket and is told it has one (the
    // upgrade headers it gets are restored as `websocket`): a 101 to some
    // other protocol would open a tunnel speaking it.
    let websocket = resp
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !websocket {
        return Err(failed(
            "a 101 response without `Upgrade: websocket`".to_owned(),
        ));
    }
    let parts = match finished {
        Some(parts) => parts,
        None => conn.await.map_err(|e| failed(e.to_string()))?,
    };
    Ok((
        resp,
        Some(UpstreamSide {
            io: parts.io,
            buf: parts.read_buf,
            slot: None,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], method: Method) -> http::request::Parts {
        let mut b = Request::builder().method(method).uri("/ws");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).map(|r| r.into_parts().0).expect("request")
    }

    const OK: &[(&str, &str)] = &[
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];

    #[test]
    fn generated_keys_are_valid() {
        assert_eq!(&base64_16(b"the sample nonce"), b"dGhlIHNhbXBsZSBub25jZQ==");
        let mut rng = crate::balance::Rng::seeded(7);
        let mut p = parts(&[], Method::CONNECT);
        h2_to_h1_handshake(&mut p, &mut rng);
        assert_eq!(p.method, Method::GET);
        let key = p.headers.get(&SEC_WEBSOCKET_KEY).expect("key");
        assert!(valid_key(key.as_bytes()), "{key:?}");
    }

    #[test]
    fn websocket_handshakes() {
        assert!(matches!(is_websocket(&parts(OK, Method::GET)), Ok(true)));
        assert!(matches!(
            is_websocket(&parts(OK, Method::POST)),
            Err(ProxyError::BadRequest(_))
        ));
        let mut v12 = OK.to_vec();
        v12[3] = ("sec-websocket-version", "12");
        assert!(matches!(
            is_websocket(&parts(&v12, Method::GET)),
            Err(ProxyError::WebSocketVersion)
        ));
        let mut bad_key = OK.to_vec();
        bad_key[2] = ("sec-websocket-key", "short");
        assert!(matches!(
            is_websocket(&parts(&bad_key, Method::GET)),
            Err(ProxyError::BadRequest(_))
        ));
        // Not an upgrade, or an upgrade to something else: plain requests.
        assert!(matches!(is_websocket(&parts(&[], Method::GET)), Ok(false)));
        let h2c = [
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
        ];
        assert!(matches!(is_websocket(&parts(&h2c, Method::GET)), Ok(false)));
    }
}
