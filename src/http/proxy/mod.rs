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
//! place, [`respond::error_response`]. The request-head checks are in
//! [`request`].

mod request;
mod respond;

use std::rc::Rc;
use std::time::Instant;

use crate::http::req_body::ReqBody;
use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use super::body::{ConnReturn, Finish, ProxyBody};
use super::conn::ConnState;
use super::framing::Verdict;
use super::router::{self, RequestView};
use super::upstream_conn::{self, Conn};
use super::wait::{self, Stall};
use super::{grpc, headers, upgrade};
use crate::config::UpstreamHttp;
use crate::error::{ProxyError, Side};
use crate::runtime::{ListenerRt, RouteRt};
use crate::upstream::connect::{self, Target};
use crate::upstream::conns::{ConnKey, ProxyOut, SendFailure, UpResponse};
use crate::upstream::h2::{self, H2Body, H2SendError};
use crate::upstream::{Endpoint, Failure, Pick, Pool};

use request::{check_target, field_count, hash_key, request_host};
pub(in crate::http) use respond::cut_flag;
use respond::{access_record, error_response, redirect};

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
    version: Version,
    /// Read only when the access log is on.
    user_agent: Option<HeaderValue>,
    /// A gRPC call: errors are answered as gRPC statuses.
    grpc: bool,
    /// With the access log on, until a response exists: a request dropped
    /// before (its client went away, an HTTP/2 stream reset, shutdown's
    /// deadline) still gets its line, with status 499 as in NGINX.
    unanswered: Option<&'a ConnState>,
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        if let Some(st) = self.unanswered.take() {
            let status = StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST);
            let mut record = access_record(st, self, status);
            record.response = None;
            record.flags = cut_flag(st);
            record.emit(false, 0);
        }
    }
}

/// Marks the connection busy for one request; if the request is dropped
/// before a response body takes over (an HTTP/2 stream reset by the
/// client), the connection is marked idle again on drop.
struct Busy(Option<Rc<ConnState>>);

impl Busy {
    fn start(st: &Rc<ConnState>) -> Busy {
        st.set_busy();
        Busy(Some(st.clone()))
    }

    /// The response body's `Finish` now ends the request.
    fn handed_over(mut self) {
        self.0 = None;
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(st) = self.0.take() {
            st.set_idle(tokio::time::Instant::now());
        }
    }
}

/// The hyper service entry point: never fails, errors become responses.
pub async fn handle(st: Rc<ConnState>, req: Request<ReqBody>) -> Response<ProxyBody> {
    let busy = Busy::start(&st);
    let mut ctx = Ctx {
        start: st.listener.access_log.then(Instant::now),
        method: req.method().clone(),
        uri: req.uri().clone(),
        host: None,
        route: None,
        pool: None,
        endpoint: None,
        request_id: None,
        version: req.version(),
        user_agent: if st.listener.access_log {
            req.headers().get(header::USER_AGENT).cloned()
        } else {
            None
        },
        grpc: false,
        unanswered: st.listener.access_log.then_some(&*st),
    };
    let mut resp = match st.listener.https_redirect {
        Some(port) => redirect(&st, &req, port),
        None => match forward(&st, req, &mut ctx).await {
            Ok(resp) => resp,
            Err(e) => error_response(&st, e, &ctx),
        },
    };
    ctx.unanswered = None;
    busy.handed_over();
    if let Some(hsts) = &st.listener.hsts {
        // The listener's policy, over any the upstream sent: a backend must
        // not shorten or lift (`max-age=0`) what the operator set.
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if !st.is_h2() && (st.is_closing() || st.expired_now()) {
        // Reload, shutdown or the connection's lifetime is up: finish this
        // request, then close (HTTP/2 connections say GOAWAY instead).
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

async fn forward<'a>(
    st: &'a Rc<ConnState>,
    req: Request<ReqBody>,
    ctx: &mut Ctx<'a>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let listener: &'a ListenerRt = &st.listener;
    let (mut parts, body) = req.into_parts();
    // gRPC is HTTP/2 only (gRPC-Web over HTTP/1.1 is plain HTTP to us).
    ctx.grpc = st.is_h2() && grpc::is_grpc(&parts.headers);

    // 1. Request check (HTTP/2 frames its own messages: no smuggling there).
    // CONNECT is refused, but for WebSocket over HTTP/2 (RFC 8441).
    let h2_websocket = st.is_h2() && upgrade::is_h2_websocket(&parts)?;
    if parts.method == Method::CONNECT && !h2_websocket {
        return Err(ProxyError::MethodNotAllowed("CONNECT"));
    }
    check_target(&parts.method, &parts.uri)?;
    if !st.is_h2() {
        match st.framing.borrow_mut().next_verdict() {
            Some(Verdict::Ok) => {}
            Some(Verdict::Reject(why)) => return Err(ProxyError::BadRequest(why)),
            Some(Verdict::Lost) | None => {
                return Err(ProxyError::BadRequest(
                    "request framing could not be verified",
                ));
            }
        }
    }
    if st.is_h2() && field_count(&parts.headers) > listener.limits.max_headers {
        return Err(ProxyError::TooManyHeaders {
            limit: listener.limits.max_headers,
        });
    }
    let target_len = parts.uri.path_and_query().map_or(0, |p| p.as_str().len())
        + parts.uri.authority().map_or(0, |a| a.as_str().len());
    if target_len > listener.limits.max_uri_bytes {
        return Err(ProxyError::UriTooLong {
            limit: listener.limits.max_uri_bytes,
        });
    }
    let websocket = h2_websocket || (!st.is_h2() && upgrade::is_websocket(&parts)?);
    // An RFC 8441 stream is tunnelled once the upstream said 101.
    let mut on_upgrade = if h2_websocket {
        upgrade::h2_to_h1_handshake(&mut parts, &mut st.worker.rng.borrow_mut());
        match parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
            Some(pending) => Some(H2Tunnel::Hyper(pending)),
            None => parts
                .extensions
                .get::<super::h2::serve::OwnStream>()
                .map(|s| H2Tunnel::Own(s.0)),
        }
    } else {
        None
    };
    let (host_value, host_from_uri) = request_host(&parts.uri, &parts.headers, parts.version)?;
    ctx.host.clone_from(&host_value);
    let host_raw = host_value
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    // Normalised only for routers that match hosts (most listeners of one
    // site do not).
    let host = if listener.router.uses_host() {
        router::normalize_host(host_raw)
    } else {
        std::borrow::Cow::Borrowed(host_raw)
    };
    // Client-sent X-Client-Cert-* headers never pass, on any listener: only
    // a verified certificate (mTLS) sets them, before routing so routes can
    // match the identity.
    super::tls_info::apply(&mut parts.headers, st.identity.as_deref());

    // 2. Route, on the normalised path (when a route looks at paths); the
    // request goes upstream as sent.
    let path = if listener.normalize_path {
        router::normalize_path(parts.uri.path())
    } else {
        std::borrow::Cow::Borrowed(parts.uri.path())
    };
    let view = RequestView {
        method: &parts.method,
        host: &host,
        path: &path,
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
        .and_then(|k| hash_key(k, st.peer, &parts, &path));
    let grpc_deadline = ctx.grpc.then(|| grpc::timeout(&parts.headers)).flatten();
    let response_timeout = match grpc_deadline {
        Some(t) => t.min(pool.response_timeout),
        None => pool.response_timeout,
    };

    // 3. Upstream request.
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::from(pq);
    // Room for the forwarding headers: one growth of the map, not several.
    parts.headers.reserve(4);
    // `TE: trailers` survives only towards HTTP/2 upstreams (gRPC needs it).
    let te_trailers = pool.http_version != UpstreamHttp::Http1
        && parts.headers.get(header::TE).is_some_and(|v| {
            v.as_bytes()
                .windows(8)
                .any(|w| w.eq_ignore_ascii_case(b"trailers"))
        });
    headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::EXPECT);
    if websocket {
        upgrade::restore_headers(&mut parts.headers);
    }
    let fw = listener.forwarding;
    headers::add_forwarding(
        &mut parts.headers,
        fw,
        &st.peer_ip,
        st.scheme,
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
    // A body still to come is watched: `response_timeout` then starts at
    // its end, and pauses in it are bounded on their own (`wait`). A gRPC
    // deadline counts from the start.
    let body_timeout = listener.timeouts.request_body;
    let watch = if grpc_deadline.is_none() {
        req.body_mut().watch()
    } else {
        None
    };

    // 4. Pick, connect, send.
    let mut tried: [usize; MAX_CONNECT_ATTEMPTS] = [usize::MAX; MAX_CONNECT_ATTEMPTS];
    let mut attempts = 0;
    let mut last_err: Option<ProxyError> = None;
    let mut resends = 0;
    // A request already sent again after a pooled HTTP/1.1 connection
    // failed under it: never again, and only on a new connection.
    let mut stale_resent = false;
    // Under max_connections_per_endpoint: when the queue wait ends, and
    // whether this request has had its turn (it then never queues behind
    // later ones again).
    let mut deadline = None;
    let mut had_turn = false;
    loop {
        let no_endpoint = || ProxyError::NoEndpoint {
            pool: pool.name.clone(),
        };
        if attempts == MAX_CONNECT_ATTEMPTS {
            return Err(last_err.unwrap_or_else(no_endpoint));
        }
        let picked = pool.pick_limited(
            key,
            &tried[..attempts],
            &mut st.worker.rng.borrow_mut(),
            had_turn,
        );
        let i = match picked {
            Pick::Endpoint(i) => i,
            Pick::Full => {
                if pool.wait_turn(&mut deadline).await {
                    had_turn = true;
                    continue;
                }
                return Err(ProxyError::Busy {
                    pool: pool.name.clone(),
                    limit: pool.max_connections_per_endpoint,
                });
            }
            Pick::Empty => return Err(last_err.unwrap_or_else(no_endpoint)),
        };
        had_turn = true;
        let ep: &'a Endpoint = &pool.endpoints[i];
        // Counted from before the connect: the limit holds connects too.
        let Some(inflight) = pool.in_flight(ep) else {
            // Another worker took its last slot since the pick: again
            // (full everywhere, the request queues as if it had seen so).
            continue;
        };
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
            tls: pool.tls_key(),
        };
        let target = Target {
            addr: ep.addr,
            label: &ep.label,
            timeout: pool.connect_timeout,
            proxy: pool.send_proxy.map(|version| ProxyOut {
                version,
                source: st.peer,
                destination: st.local_addr(),
            }),
            tls: pool.tls.as_deref(),
        };
        let checked_out = if websocket {
            // Upgrades are HTTP/1.1 upstream: ALPN must not pick h2.
            let target = Target {
                tls: pool.upgrade_tls.as_deref(),
                ..target
            };
            Box::pin(connect::connect(target)).await.map(Conn::Fresh)
        } else if pool.http_version == UpstreamHttp::Http1 {
            st.worker
                .conns
                .checkout(conn_key, target, !stale_resent)
                .await
                .map(Conn::H1)
        } else {
            // Boxed: keeps the HTTP/1.1 request path's state small.
            Box::pin(upstream_conn::checkout(st, pool, conn_key, target)).await
        };
        let conn = match checked_out {
            Ok(c) => c,
            Err(e) => {
                // Another try only with an attempt left and another
                // endpoint to take it (the pick skips the ones tried).
                if attempts + 1 < MAX_CONNECT_ATTEMPTS && pool.endpoints.len() > attempts + 1 {
                    tracing::warn!(pool = %pool.name, endpoint = %ep.label, error = %e, "connect failed; trying another endpoint");
                } else {
                    tracing::warn!(pool = %pool.name, endpoint = %ep.label, error = %e, "connect failed");
                }
                pool.failed(ep, Failure::Connect);
                tried[attempts] = i;
                attempts += 1;
                last_err = Some(e);
                continue;
            }
        };
        let sent_at = pool.tracks_latency.then(Instant::now);
        // An error after the connect counts against the endpoint when it
        // is the endpoint's: not the client's, nor a gRPC client's own
        // deadline shorter than the pool's response_timeout, nor an HTTP/2
        // stream the endpoint reset on a live connection (its answer to
        // that one request: counting it would let any client take
        // endpoints out with requests they reject).
        let blame = |e: ProxyError| {
            let own_deadline = matches!(e, ProxyError::ResponseTimeout { after, .. } if after < pool.response_timeout);
            if e.side() == Side::Upstream && !own_deadline && !h2::is_stream_reset(&e) {
                pool.failed(ep, Failure::Response);
            }
            e
        };
        let timed_out = |stall| {
            blame(match stall {
                Stall::Response => ProxyError::ResponseTimeout {
                    endpoint: ep.label.clone(),
                    after: response_timeout,
                },
                Stall::ClientBody => ProxyError::RequestBodyTimeout {
                    after: body_timeout,
                },
                Stall::UpstreamBody => ProxyError::RequestBodyStalled {
                    endpoint: ep.label.clone(),
                    after: body_timeout,
                },
            })
        };
        let (rparts, body, upstream) = match conn {
            Conn::H1(mut up) => {
                // The own writers send the upstream's fields as they came,
                // unless something here changes them (HSTS, or an RFC 8441
                // stream's 101 that becomes a 200).
                let raw = st.own_writer() && listener.hsts.is_none() && on_upgrade.is_none();
                // The exchange future is made in each arm, not before: one
                // shared local would be copied into either arm's future (it
                // is large, and this is every keep-alive request's path).
                let waited = match watch.as_deref() {
                    None => tokio::time::timeout(
                        response_timeout,
                        up.conn.send(req, up.reused, raw, st.interim_sink()),
                    )
                    .await
                    .map_err(|_| Stall::Response),
                    // Boxed: requests with a body are the rarer ones.
                    Some(w) => {
                        let send = up.conn.send(req, up.reused, raw, st.interim_sink());
                        Box::pin(wait::watched(send, w, response_timeout, body_timeout)).await
                    }
                };
                match waited {
                    Ok(Ok(resp)) => {
                        let (p, b) = match resp {
                            UpResponse::Own(p) => (p, Upstream::Own),
                            UpResponse::Hyper(r) => {
                                let (p, b) = r.into_parts();
                                (p, Upstream::H1(b))
                            }
                        };
                        let back = ConnReturn {
                            key: conn_key,
                            conn: up.conn,
                            idle_timeout: pool.idle_timeout,
                            max_idle: pool.max_idle_per_endpoint,
                        };
                        (p, b, Some(back))
                    }
                    // No byte of answer on a cached connection: it most
                    // likely went stale (the upstream closed it as the
                    // request went out), so an idempotent request goes
                    // once more, on a new connection. Once only: the
                    // upstream may also have failed on this very request
                    // (a query of death), and every replay would run it
                    // again (HAProxy does not replay at all by default).
                    Ok(Err(SendFailure {
                        request: Some(back),
                        reason,
                        ..
                    })) if up.reused && !stale_resent => {
                        tracing::debug!(endpoint = %ep.label, %reason, "pooled connection failed before a response; sending the request again on a new connection");
                        stale_resent = true;
                        req = back;
                        continue;
                    }
                    Ok(Err(f)) if f.client => {
                        return Err(ProxyError::BadRequestBody { reason: f.reason });
                    }
                    Ok(Err(f)) => {
                        return Err(blame(ProxyError::UpstreamFailed {
                            endpoint: ep.label.clone(),
                            reason: f.reason,
                        }));
                    }
                    Err(stall) => return Err(timed_out(stall)),
                }
            }
            Conn::H2(stream) => {
                upstream_conn::to_h2(&mut req, pool, te_trailers);
                // Boxed: the HTTP/2 send state is the largest of all, and
                // inline it would grow every request's future (moved into a
                // task per HTTP/2 stream).
                let send = Box::pin(stream.try_send(req, st.interim_sink()));
                let waited = match watch.as_deref() {
                    None => tokio::time::timeout(response_timeout, send)
                        .await
                        .map_err(|_| Stall::Response),
                    // Boxed: requests with a body are the rarer ones.
                    Some(w) => {
                        Box::pin(wait::watched(send, w, response_timeout, body_timeout)).await
                    }
                };
                match waited {
                    Ok(Ok(resp)) => {
                        let (p, b) = resp.into_parts();
                        (p, Upstream::H2(b), None)
                    }
                    // Nothing was sent: the connection was unusable (it
                    // closed or went away since it was picked); another
                    // connection gets the request.
                    Ok(Err(H2SendError {
                        request: Some(back),
                        error,
                    })) if resends < MAX_H2_RESENDS => {
                        tracing::debug!(endpoint = %ep.label, %error, "request not processed upstream; sending it again");
                        resends += 1;
                        req = back;
                        continue;
                    }
                    Ok(Err(e)) => return Err(blame(e.error)),
                    Err(stall) => return Err(timed_out(stall)),
                }
            }
            Conn::Fresh(stream) => {
                // Boxed: upgrades are rare, and their large future would
                // otherwise grow every request's state.
                let (resp, side) =
                    Box::pin(upgrade::exchange(stream, &ep.label, req, response_timeout))
                        .await
                        .map_err(blame)?;
                let (mut p, b) = resp.into_parts();
                if let Some(mut side) = side {
                    // The tunnel holds the request's slot on the endpoint.
                    side.slot = Some(inflight);
                    headers::strip_hop_by_hop(&mut p.headers);
                    ep.state.responded();
                    if let Some(pending) = on_upgrade.take() {
                        // RFC 8441: the stream is accepted with 200 and
                        // becomes the tunnel.
                        p.status = StatusCode::OK;
                        p.headers.remove(header::SEC_WEBSOCKET_ACCEPT);
                        match pending {
                            H2Tunnel::Hyper(pending) => spawn_h2_tunnel(st, pending, side),
                            // The own server's stream runs the tunnel once
                            // the 200 is sent; it counts as busy till then.
                            H2Tunnel::Own(id) => st.set_h2_tunnel(id, side),
                        }
                    } else {
                        *st.upgrade.borrow_mut() = Some(side);
                        upgrade::restore_headers(&mut p.headers);
                    }
                    let finish = Finish {
                        conn: st.clone(),
                        upstream: None,
                        inflight: None,
                        log: listener
                            .access_log
                            .then(|| access_record(st, ctx, p.status)),
                    };
                    return Ok(Response::from_parts(p, ProxyBody::upstream(b, finish)));
                }
                if on_upgrade.is_some() && p.status.is_success() {
                    // RFC 8441: a 2xx tells the client its tunnel is open. An
                    // upstream that answered the upgrade with a plain 2xx
                    // opened none; its refusals (4xx, 5xx) pass as they are.
                    // Not counted against the endpoint: it answered.
                    return Err(ProxyError::UpstreamFailed {
                        endpoint: ep.label.clone(),
                        reason: format!(
                            "answered the WebSocket upgrade with {}, not 101",
                            p.status
                        ),
                    });
                }
                (p, Upstream::H1(b), None)
            }
        };
        pool.answered(ep, rparts.status);
        if let Some(t) = sent_at {
            ep.state.observe_latency(t.elapsed());
        }

        // 5. Response.
        let mut rparts = rparts;
        if !matches!(body, Upstream::Own) {
            // The own client leaves hop-by-hop fields out as it parses.
            headers::strip_hop_by_hop(&mut rparts.headers);
        }
        rparts.version = if client_version == Version::HTTP_10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        let log = listener
            .access_log
            .then(|| access_record(st, ctx, rparts.status));
        let finish = Finish {
            conn: st.clone(),
            upstream,
            inflight: Some(inflight),
            log,
        };
        let body = match body {
            Upstream::Own => ProxyBody::own(finish),
            Upstream::H1(b) => ProxyBody::upstream(b, finish),
            // A 204 or 304 has no content, nor has the answer to a HEAD
            // (RFC 9110 §15.3.5, §15.4.5, §9.3.2): DATA an HTTP/2 upstream
            // sends with one is not relayed (the HTTP/1.1 paths frame it
            // away already; here the h2 client would fail the stream over
            // it and the client lose the whole response). Dropping the
            // stream cancels it; the head, Content-Length and all, stays.
            Upstream::H2(_)
                if rparts.status == StatusCode::NO_CONTENT
                    || rparts.status == StatusCode::NOT_MODIFIED
                    || ctx.method == Method::HEAD =>
            {
                ProxyBody::full(bytes::Bytes::new(), Some(finish))
            }
            Upstream::H2(b) => ProxyBody::h2(b, finish),
        }
        .wait_at_most(pool.response_body_timeout);
        return Ok(Response::from_parts(rparts, body));
    }
}

/// Where an RFC 8441 WebSocket stream's tunnel runs once the upstream
/// said `101`.
enum H2Tunnel {
    /// hyper's server hands the stream over after the 200.
    Hyper(hyper::upgrade::OnUpgrade),
    /// The own server's stream (its id) runs it.
    Own(u32),
}

/// Runs the tunnel of an RFC 8441 WebSocket stream once hyper hands the
/// stream over (after the 200 is sent). The connection counts as busy while
/// the tunnel lives, so its idle timeout does not end it.
fn spawn_h2_tunnel(
    st: &Rc<ConnState>,
    pending: hyper::upgrade::OnUpgrade,
    side: super::tunnel::UpstreamSide,
) {
    let st = st.clone();
    st.set_busy();
    tokio::task::spawn_local(async move {
        match pending.await {
            Ok(stream) => {
                let io = hyper_util::rt::TokioIo::new(stream);
                super::tunnel::run(io, bytes::Bytes::new(), side, &st).await;
            }
            Err(e) => {
                tracing::debug!(peer = %st.peer, error = %e, "HTTP/2 WebSocket stream not upgraded")
            }
        }
        st.set_idle(tokio::time::Instant::now());
    });
}

/// How often a request the upstream did not process (an HTTP/2 stream
/// refused, or beyond a GOAWAY; a connection found unusable) is sent again.
const MAX_H2_RESENDS: usize = 2;

/// A response body from upstream, by protocol.
enum Upstream {
    /// Read from the own client's connection (in the `ConnReturn`).
    Own,
    H1(Incoming),
    H2(H2Body),
}
