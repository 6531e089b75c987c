//! Which upstream connection a request goes out on, for HTTP/2 and `auto`
//! pools (an HTTP/2 stream slot, a cached HTTP/1.1 connection, or a new
//! connection whose ALPN decides), and the HTTP/1.1 → HTTP/2 request
//! rewrite. Split from [`super::proxy`], which drives the whole exchange.

use http::header::{self, HeaderValue};
use http::{Request, Uri, Version};

use super::conn::ConnState;
use super::req_body::ReqBody;
use crate::config::UpstreamHttp;
use crate::error::ProxyError;
use crate::upstream::Pool;
use crate::upstream::connect::{self, Target};
use crate::upstream::conns::{self, ConnKey};
use crate::upstream::h2::H2Stream;

/// Local cap on the streams of one upstream HTTP/2 connection (the
/// endpoint's SETTINGS_MAX_CONCURRENT_STREAMS usually binds first).
const H2_MAX_STREAMS: usize = 1000;

/// An upstream connection ready for one request.
pub(super) enum Conn {
    H1(crate::upstream::Upstream),
    H2(H2Stream),
    /// A new transport for an upgrade (never pooled).
    Fresh(crate::net::Stream),
}

/// For HTTP/2 and `auto` pools, a connection for the request: an HTTP/2
/// stream slot or a cached HTTP/1.1 connection when there is one, else a
/// new connection (with `auto`, ALPN decides its protocol).
pub(super) async fn checkout(
    st: &ConnState,
    pool: &Pool,
    key: ConnKey,
    target: Target<'_>,
) -> Result<Conn, ProxyError> {
    let version = pool.http_version;
    if let Some(s) = st.worker.h2.get(key, H2_MAX_STREAMS) {
        return Ok(Conn::H2(s));
    }
    // HTTP/2 pools open one connection at a time per endpoint: a request
    // that finds one being opened (or not yet past its SETTINGS) waits for
    // it instead of opening its own, so a burst shares one connection.
    // (`auto` is not gated: ALPN may still pick HTTP/1.1.)
    let gated = version == UpstreamHttp::Http2;
    if gated
        && let Some(s) = st
            .worker
            .h2
            .wait_pending(key, H2_MAX_STREAMS, pool.connect_timeout)
            .await
    {
        return Ok(Conn::H2(s));
    }
    // No await from here to `begin_connect`: requests woken with this one
    // must see the new connect and wait for it.
    let _gate = gated.then(|| st.worker.h2.begin_connect(key));
    if version == UpstreamHttp::Auto {
        while let Some(mut conn) = st.worker.conns.take(key) {
            if conn.ready().await {
                return Ok(Conn::H1(crate::upstream::Upstream { conn, reused: true }));
            }
        }
    }
    let stream = Box::pin(connect::connect(target)).await?;
    if version == UpstreamHttp::Http2 || stream.alpn() == Some(b"h2") {
        let s = st
            .worker
            .h2
            .handshake(key, stream, target.label, H2_MAX_STREAMS, liveness(pool))
            .await?;
        return Ok(Conn::H2(s));
    }
    let mut conn = conns::handshake(stream, target.label).await?;
    if !conn.ready().await {
        return Err(ProxyError::Connect {
            endpoint: target.label.to_owned(),
            reason: "closed during handshake".into(),
        });
    }
    Ok(Conn::H1(crate::upstream::Upstream {
        conn,
        reused: false,
    }))
}

/// How a pool's HTTP/2 connections are watched: its keepalive, and probes
/// (after a request gave up on its response head) answered within the
/// pool's `response_timeout`, at most 20 s.
fn liveness(pool: &Pool) -> crate::upstream::h2::Liveness {
    crate::upstream::h2::Liveness {
        keepalive: pool.h2_keepalive,
        probe_timeout: pool
            .response_timeout
            .min(std::time::Duration::from_secs(20)),
    }
}

/// Turns the HTTP/1.1-shaped upstream request into an HTTP/2 one: absolute
/// URI (`:scheme`, `:authority` from Host), no Host header, and `te:
/// trailers` kept when the client sent it (gRPC needs it).
pub(super) fn to_h2(req: &mut Request<ReqBody>, pool: &Pool, te_trailers: bool) {
    let scheme = if pool.tls.is_some() { "https" } else { "http" };
    let authority = req
        .headers_mut()
        .remove(header::HOST)
        .and_then(|h| http::uri::Authority::try_from(h.as_bytes()).ok());
    if let Some(authority) = authority {
        let mut parts = http::uri::Parts::default();
        parts.scheme = http::uri::Scheme::try_from(scheme).ok();
        parts.authority = Some(authority);
        parts.path_and_query = req.uri().path_and_query().cloned();
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    *req.version_mut() = Version::HTTP_2;
    if te_trailers {
        req.headers_mut()
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
}
