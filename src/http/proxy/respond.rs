//! What the proxy answers and logs itself: the one place where a
//! `ProxyError` becomes a response and a log line ([`error_response`]),
//! the HTTPS redirect of `https_redirect` listeners, and access records.

use std::rc::Rc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Version};

use super::Ctx;
use super::request::{strip_port, valid_host};
use crate::error::ProxyError;
use crate::http::body::{Finish, ProxyBody};
use crate::http::conn::ConnState;
use crate::http::grpc;
use crate::http::req_body::ReqBody;
use crate::telemetry::AccessRecord;

/// Who cut a request that ended early for no error of its own: `LR`
/// when shutdown's deadline passed (the proxy closed it), else `DC` (the
/// client left, or reset its stream).
pub(in crate::http) fn cut_flag(st: &ConnState) -> &'static str {
    if st.worker.cutting.get() { "LR" } else { "DC" }
}

/// An HTTP→HTTPS redirect listener's answer: `308 Permanent Redirect` (the
/// method and body are kept on the retry) to the same host and target on
/// `https://`, port `port`.
pub(super) fn redirect(
    st: &Rc<ConnState>,
    req: &Request<ReqBody>,
    port: u16,
) -> Response<ProxyBody> {
    let host = req
        .uri()
        .authority()
        .map(|a| a.host().to_owned())
        .or_else(|| {
            let h = req.headers().get(header::HOST)?.to_str().ok()?;
            valid_host(h.as_bytes()).then(|| strip_port(h).to_owned())
        });
    let finish = Finish {
        conn: st.clone(),
        upstream: None,
        inflight: None,
        log: None,
    };
    let Some(host) = host else {
        let mut resp = Response::new(ProxyBody::full(
            "400 bad request: missing Host header\n",
            Some(finish),
        ));
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        return resp;
    };
    // The asterisk-form target of `OPTIONS *` is not a path (appended, it
    // would make `https://host*`): point at the server's root instead.
    let pq = match req.uri().path_and_query().map(PathAndQuery::as_str) {
        Some(pq) if pq.starts_with('/') => pq,
        _ => "/",
    };
    let location = if port == 443 {
        format!("https://{host}{pq}")
    } else {
        format!("https://{host}:{port}{pq}")
    };
    let mut resp = Response::new(ProxyBody::full("", Some(finish)));
    *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = HeaderValue::try_from(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn text(v: Option<&HeaderValue>) -> String {
    v.and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The access-log record of a request whose response (head) exists now.
pub(super) fn access_record(
    st: &ConnState,
    ctx: &Ctx<'_>,
    status: StatusCode,
) -> Box<AccessRecord> {
    let start = ctx.start.unwrap_or_else(Instant::now);
    Box::new(AccessRecord {
        start,
        response: Some(start.elapsed()),
        proto: match ctx.version {
            Version::HTTP_2 => "HTTP/2",
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        },
        user_agent: text(ctx.user_agent.as_ref()),
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
        flags: "-",
    })
}

/// The one place where a `ProxyError` becomes a response and a log line.
pub(super) fn error_response(
    st: &Rc<ConnState>,
    err: ProxyError,
    ctx: &Ctx<'_>,
) -> Response<ProxyBody> {
    let status = err.status();
    // A request matching no route is the client's choice too: any client
    // could fill the log at WARN with them.
    match err.side() {
        _ if matches!(err, ProxyError::NoRoute) => {
            tracing::info!(listener = %st.listener.name, client = %st.peer, status = status.as_u16(), error = %err, "request refused");
        }
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
    let log = st.listener.access_log.then(|| {
        let mut record = access_record(st, ctx, status);
        record.flags = err.flag();
        record
    });
    let finish = Finish {
        conn: st.clone(),
        upstream: None,
        inflight: None,
        log,
    };
    if ctx.grpc {
        // Answer as a gRPC server would: 200, status in a trailers-only
        // response.
        let mut resp = Response::new(ProxyBody::full("", Some(finish)));
        grpc::error_headers(resp.headers_mut(), &err);
        return resp;
    }
    let mut resp = Response::new(ProxyBody::full(err.body(), Some(finish)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if matches!(err, ProxyError::WebSocketVersion) {
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    if err.must_close() && !st.is_h2() {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        // The client may still be sending the body: read it away after the
        // response, or the close would reset the connection under it.
        st.linger_on_close();
    }
    resp
}
