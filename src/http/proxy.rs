//! Proxying one request: validate → route → pick → connect → forward →
//! stream the response back.
//!
//! The phases, in order:
//! 1. **request check**: smuggling verdict, method, URI length, Host;
//! 2. **route**: first matching route of the listener, then its pool (a
//!    weighted draw for split routes);
//! 3. **upstream request**: origin-form URI, hop-by-hop headers removed,
//!    forwarding headers added;
//! 4. **pick + connect**: the pool's balancer picks an endpoint; a failed
//!    connect marks it and is retried once on another endpoint (nothing has
//!    been sent, so it is always safe); a stale cached connection that fails
//!    before sending is replaced by a fresh one;
//! 5. **response**: hop-by-hop headers removed, body streamed.
//!
//! Every failure is a `ProxyError`, turned into a response in exactly one
//! place, [`error_response`].

use std::rc::Rc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use super::body::{ConnReturn, Finish, ProxyBody};
use super::conn::ConnState;
use super::framing::Verdict;
use super::headers;
use super::router::{self, RequestView};
use crate::balance::{client_key, hash_bytes};
use crate::config::HashKey;
use crate::error::ProxyError;
use crate::runtime::{ListenerRt, RouteRt};
use crate::telemetry::AccessRecord;
use crate::upstream::conns::{ConnKey, ProxyOut, Upstream};
use crate::upstream::{Endpoint, InFlight, Pool};

/// How many distinct endpoints one request may try to connect to.
const MAX_CONNECT_ATTEMPTS: usize = 2;

/// What the error path and the access log know about a request. Holds
/// references and shared bytes only: text is made when a line is written.
struct Ctx<'a> {
    /// Read only when the access log is on (a clock read costs ~30 ns).
    start: Option<Instant>,
    method: Method,
    uri: Uri,
    host: Option<HeaderValue>,
    route: Option<&'a RouteRt>,
    pool: Option<&'a Pool>,
    endpoint: Option<&'a Endpoint>,
    request_id: Option<HeaderValue>,
}

/// The hyper service entry point: never fails, errors become responses.
pub async fn handle(st: Rc<ConnState>, req: Request<Incoming>) -> Response<ProxyBody> {
    st.set_busy();
    let mut ctx = Ctx {
        start: st.listener.access_log.then(Instant::now),
        method: req.method().clone(),
        uri: req.uri().clone(),
        host: None,
        route: None,
        pool: None,
        endpoint: None,
        request_id: None,
    };
    let mut resp = match forward(&st, req, &mut ctx).await {
        Ok(resp) => resp,
        Err(e) => error_response(&st, e, &ctx),
    };
    if st.is_closing() {
        // Reload or shutdown: finish this request, then close.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

async fn forward<'a>(
    st: &'a Rc<ConnState>,
    req: Request<Incoming>,
    ctx: &mut Ctx<'a>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let listener: &'a ListenerRt = &st.listener;
    let (mut parts, body) = req.into_parts();

    // 1. Request check.
    let verdict = st.framing.borrow_mut().next_verdict();
    if parts.method == Method::CONNECT {
        return Err(ProxyError::MethodNotAllowed("CONNECT"));
    }
    match verdict {
        Some(Verdict::Ok) => {}
        Some(Verdict::Reject(why)) => return Err(ProxyError::BadRequest(why)),
        Some(Verdict::Lost) | None => {
            return Err(ProxyError::BadRequest(
                "request framing could not be verified",
            ));
        }
    }
    let target_len = parts.uri.path_and_query().map_or(0, |p| p.as_str().len())
        + parts.uri.authority().map_or(0, |a| a.as_str().len());
    if target_len > listener.limits.max_uri_bytes {
        return Err(ProxyError::UriTooLong {
            limit: listener.limits.max_uri_bytes,
        });
    }
    let (host_value, host_from_uri) = request_host(&parts.uri, &parts.headers, parts.version)?;
    ctx.host.clone_from(&host_value);
    let host_raw = host_value
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host = router::normalize_host(host_raw);

    // 2. Route.
    let view = RequestView {
        method: &parts.method,
        host: &host,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    let route = &listener.routes[listener.router.find(&view).ok_or(ProxyError::NoRoute)?];
    ctx.route = Some(route);
    let pool: &'a Pool = route.target.choose(&mut st.worker.rng.borrow_mut());
    ctx.pool = Some(pool);
    let key = pool
        .hash_key
        .as_ref()
        .and_then(|k| hash_key(k, st.peer, &parts));

    // 3. Upstream request.
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::from(pq);
    // Room for the forwarding headers: one growth of the map, not several.
    parts.headers.reserve(4);
    headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::EXPECT);
    let fw = listener.forwarding;
    headers::add_forwarding(
        &mut parts.headers,
        fw,
        &st.peer_ip,
        "http",
        host_value.clone(),
    );
    if fw.request_id {
        headers::ensure_request_id(&mut parts.headers, &mut st.worker.rng.borrow_mut());
    }
    if listener.access_log {
        ctx.request_id = parts.headers.get(&headers::X_REQUEST_ID).cloned();
    }
    if host_from_uri && let Some(h) = host_value {
        // Absolute-form target: its authority replaces any Host header.
        parts.headers.insert(header::HOST, h);
    }
    let client_version = parts.version;
    parts.version = Version::HTTP_11;
    let mut req = Request::from_parts(parts, body);

    // 4. Pick, connect, send.
    let mut tried: [usize; MAX_CONNECT_ATTEMPTS] = [usize::MAX; MAX_CONNECT_ATTEMPTS];
    let mut attempts = 0;
    let mut last_err: Option<ProxyError> = None;
    loop {
        let no_endpoint = || ProxyError::NoEndpoint {
            pool: pool.name.clone(),
        };
        if attempts == MAX_CONNECT_ATTEMPTS {
            return Err(last_err.unwrap_or_else(no_endpoint));
        }
        let picked = pool.pick(key, &tried[..attempts], &mut st.worker.rng.borrow_mut());
        let Some(i) = picked else {
            return Err(last_err.unwrap_or_else(no_endpoint));
        };
        let ep: &'a Endpoint = &pool.endpoints[i];
        ctx.endpoint = Some(ep);
        if !req.headers().contains_key(header::HOST)
            && let Ok(v) = HeaderValue::try_from(ep.label.as_str())
        {
            // An HTTP/1.0 request without Host: name the endpoint.
            req.headers_mut().insert(header::HOST, v);
        }
        // With a PROXY header, a connection names its client: it is reused
        // by that client only.
        let conn_key = ConnKey {
            endpoint: ep.addr,
            client: pool.send_proxy.map(|_| st.peer),
        };
        let mut up = match checkout(st, ep, pool, conn_key).await {
            Ok(up) => up,
            Err(e) => {
                tracing::warn!(pool = %pool.name, endpoint = %ep.label, error = %e, "connect failed; trying another endpoint");
                ep.state.connect_failed(pool.fail_timeout);
                tried[attempts] = i;
                attempts += 1;
                last_err = Some(e);
                continue;
            }
        };
        let inflight = InFlight::start(&ep.state);
        let sent_at = pool.tracks_latency.then(Instant::now);
        let resp = match tokio::time::timeout(pool.response_timeout, up.conn.send(req)).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(mut e)) => match e.take_message() {
                // Nothing was written: a cached connection went stale.
                Some(back) if up.reused => {
                    req = back;
                    continue;
                }
                _ => {
                    return Err(ProxyError::UpstreamFailed {
                        endpoint: ep.label.clone(),
                        reason: e.error().to_string(),
                    });
                }
            },
            Err(_) => {
                return Err(ProxyError::ResponseTimeout {
                    endpoint: ep.label.clone(),
                    after: pool.response_timeout,
                });
            }
        };
        ep.state.responded();
        if let Some(t) = sent_at {
            ep.state.observe_latency(t.elapsed());
        }

        // 5. Response.
        let (mut rparts, rbody) = resp.into_parts();
        headers::strip_hop_by_hop(&mut rparts.headers);
        if client_version == Version::HTTP_10 {
            rparts.version = Version::HTTP_10;
        }
        let log = listener
            .access_log
            .then(|| access_record(st, ctx, rparts.status));
        let finish = Finish {
            conn: st.clone(),
            upstream: Some(ConnReturn {
                key: conn_key,
                conn: up.conn,
                idle_timeout: pool.idle_timeout,
                max_idle: pool.max_idle_per_endpoint,
            }),
            inflight: Some(inflight),
            log,
        };
        return Ok(Response::from_parts(
            rparts,
            ProxyBody::upstream(rbody, finish),
        ));
    }
}

/// A ready connection to the endpoint: a cached one that is still usable, or a new one.
async fn checkout(
    st: &ConnState,
    ep: &Endpoint,
    pool: &Pool,
    key: ConnKey,
) -> Result<Upstream, ProxyError> {
    let proxy = pool.send_proxy.map(|version| ProxyOut {
        version,
        source: st.peer,
        destination: st.local_addr(),
    });
    st.worker
        .conns
        .checkout(key, &ep.label, pool.connect_timeout, proxy)
        .await
}

/// The request's host and whether it came from an absolute-form URI (which
/// wins over the `Host` header); else the single `Host` header (RFC 9112
/// §3.2: required in HTTP/1.1, never repeated).
fn request_host(
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
fn valid_host(h: &[u8]) -> bool {
    let (host, port) = match h.first() {
        Some(b'[') => match h.iter().position(|b| *b == b']') {
            Some(end) => {
                let inner = &h[1..end];
                if inner.is_empty()
                    || !inner
                        .iter()
                        .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
                {
                    return false;
                }
                (&h[..=end], &h[end + 1..])
            }
            None => return false,
        },
        _ => match h.iter().position(|b| *b == b':') {
            Some(i) => (&h[..i], &h[i..]),
            None => (h, &h[h.len()..]),
        },
    };
    let host_ok = !host.is_empty()
        && host.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
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
                )
        });
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    host_ok && port_ok
}

/// The hash of the request attribute a hashing pool balances on; `None`
/// when the attribute is absent (the balancer then picks at random).
fn hash_key(
    key: &HashKey,
    client: std::net::SocketAddr,
    parts: &http::request::Parts,
) -> Option<u64> {
    match key {
        HashKey::ClientIp => Some(client_key(client, false)),
        HashKey::ClientIpPort => Some(client_key(client, true)),
        HashKey::Path => Some(hash_bytes(parts.uri.path().as_bytes())),
        HashKey::Header(name) => parts.headers.get(name).map(|v| hash_bytes(v.as_bytes())),
        HashKey::Cookie(name) => {
            router::cookie(&parts.headers, name).map(|v| hash_bytes(v.as_bytes()))
        }
    }
}

fn text(v: Option<&HeaderValue>) -> String {
    v.and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn access_record(st: &ConnState, ctx: &Ctx<'_>, status: StatusCode) -> Box<AccessRecord> {
    Box::new(AccessRecord {
        start: ctx.start.unwrap_or_else(Instant::now),
        listener: st.listener.name.clone(),
        client: st.peer,
        method: ctx.method.to_string(),
        host: text(ctx.host.as_ref()),
        path: ctx.uri.path().to_owned(),
        status,
        route: ctx.route.map(|r| r.name.clone()).unwrap_or_default(),
        pool: ctx.pool.map(|p| p.name.clone()).unwrap_or_default(),
        endpoint: ctx.endpoint.map(|e| e.label.clone()).unwrap_or_default(),
        request_id: text(ctx.request_id.as_ref()),
    })
}

/// The one place where a `ProxyError` becomes a response and a log line.
fn error_response(st: &Rc<ConnState>, err: ProxyError, ctx: &Ctx<'_>) -> Response<ProxyBody> {
    let status = err.status();
    match err.side() {
        crate::error::Side::Downstream => {
            tracing::info!(listener = %st.listener.name, client = %st.peer, status = status.as_u16(), error = %err, "request refused");
        }
        _ => tracing::warn!(
            listener = %st.listener.name,
            client = %st.peer,
            method = %ctx.method,
            path = %ctx.uri.path(),
            route = ctx.route.map_or("", |r| r.name.as_str()),
            pool = ctx.pool.map_or("", |p| p.name.as_str()),
            status = status.as_u16(),
            error = %err,
            "request failed"
        ),
    }
    let log = st
        .listener
        .access_log
        .then(|| access_record(st, ctx, status));
    let finish = Finish {
        conn: st.clone(),
        upstream: None,
        inflight: None,
        log,
    };
    let mut resp = Response::new(ProxyBody::full(err.body(), Some(finish)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if err.must_close() {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::valid_host;

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
        ] {
            assert!(valid_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "a b", "a/b", "a@b", "[::1", "[zz]", "a:80x", "a:123456", ":80", "a\tb", "[::1]x",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }
}
