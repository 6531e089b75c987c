//! Upstream HTTP/1.1 connections and the per-worker cache of idle ones.
//!
//! An upstream connection is driven *inside the task of the client request
//! using it*, not by a task of its own: hyper's client `Connection` future
//! is polled by whoever is waiting on it (the request while it waits for a
//! response head, the response body while it streams). That saves two task
//! hand-offs per request (request → connection task → request), which on a
//! proxy is a sizeable share of the user-space work.
//!
//! Each worker thread owns one cache (no locks: workers run single-threaded
//! event loops). A connection is returned to the cache only after its
//! response body was read to the end, so a cached connection is always
//! between requests. Idle connections are not polled; at checkout the
//! connection is driven once, which reveals an upstream that closed it in
//! the meantime. Expired connections are closed by a once-a-second sweep.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::http::req_body::ReqBody;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tokio::time::Instant;

use super::connect::Target;
use crate::error::ProxyError;
use crate::net::Stream;

pub use super::connect::ProxyOut;

/// The sending half of an upstream connection.
pub type Sender = http1::SendRequest<ReqBody>;

type Driver = Pin<Box<http1::Connection<Stream, ReqBody>>>;

/// One upstream HTTP/1.1 connection: the proxy's own client ([`super::h1`])
/// or, with `SWITCHYARD_NO_OWN_H1_CLIENT=1`, hyper's.
pub enum UpConn {
    Own(Box<super::h1::H1Conn>),
    Hyper(HyperConn),
}

/// A response head from upstream, with the body where hyper holds it.
pub enum UpResponse {
    /// From the own client: the body is read from the connection.
    Own(http::response::Parts),
    Hyper(http::Response<Incoming>),
}

/// A failed request, handed back when it may go to another connection.
pub struct SendFailure {
    pub request: Option<http::Request<ReqBody>>,
    pub reason: String,
    /// The client's request body failed (bad framing, cut short), not the
    /// upstream.
    pub client: bool,
}

impl UpConn {
    /// Makes progress on hyper's connection I/O (the own client makes
    /// progress when its body is polled); false once it is over.
    pub fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        match self {
            UpConn::Own(c) => c.is_reusable(),
            UpConn::Hyper(c) => c.drive(cx),
        }
    }

    /// Whether a pooled connection can take a request.
    pub async fn ready(&mut self) -> bool {
        match self {
            UpConn::Own(c) => std::future::poll_fn(|cx| c.poll_alive(cx)).await,
            UpConn::Hyper(c) => c.ready().await,
        }
    }

    /// Sends a request and waits for the response head. `reused`: the
    /// connection came from the cache. `raw`: the own client keeps the
    /// response's fields raw (see [`super::h1::H1Conn::send`]; hyper's ignores it).
    /// `interim`: where the own client puts interim (1xx) heads (hyper's
    /// drops them: this client is for side-by-side comparisons only).
    pub async fn send(
        &mut self,
        req: http::Request<ReqBody>,
        reused: bool,
        raw: bool,
        interim: Option<&crate::http::interim::Interim>,
    ) -> Result<UpResponse, SendFailure> {
        match self {
            UpConn::Own(c) => c
                .send(req, reused, raw, interim)
                .await
                .map(UpResponse::Own)
                .map_err(|f| SendFailure {
                    client: matches!(
                        f.error,
                        crate::upstream::h1::ConnError::Body(_)
                            | crate::upstream::h1::ConnError::ShortBody
                    ),
                    request: f.request,
                    reason: f.error.to_string(),
                }),
            UpConn::Hyper(c) => {
                c.send(req)
                    .await
                    .map(UpResponse::Hyper)
                    .map_err(|mut e| SendFailure {
                        request: e.take_message(),
                        reason: e.error().to_string(),
                        // hyper's "user" errors on a send are the body
                        // stream's: the request body the client sends.
                        client: e.error().is_user(),
                    })
            }
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            UpConn::Own(c) => !c.is_reusable(),
            UpConn::Hyper(c) => c.is_closed(),
        }
    }

    /// The own client's response body: its next frame.
    pub fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, super::h1::ConnError>>> {
        match self {
            UpConn::Own(c) => c.poll_frame(cx),
            UpConn::Hyper(_) => Poll::Ready(None),
        }
    }

    /// Whether the own client's response body is over.
    pub fn is_end_stream(&self) -> bool {
        match self {
            UpConn::Own(c) => c.is_end_stream(),
            UpConn::Hyper(_) => true,
        }
    }

    /// The own client's response body size, when known.
    pub fn size_hint(&self) -> http_body::SizeHint {
        match self {
            UpConn::Own(c) => c.size_hint(),
            UpConn::Hyper(_) => http_body::SizeHint::with_exact(0),
        }
    }
}

/// hyper's request handle and its I/O driver.
pub struct HyperConn {
    pub sender: Sender,
    /// `None` once the connection finished (closed or failed).
    driver: Option<Driver>,
}

impl HyperConn {
    /// Makes progress on the connection's I/O; returns false once the
    /// connection is over.
    pub fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(d) = self.driver.as_mut()
            && let Poll::Ready(res) = d.as_mut().poll(cx)
        {
            if let Err(e) = res {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
            self.driver = None;
        }
        self.driver.is_some()
    }

    /// Waits until the connection can take a request, driving it meanwhile.
    /// Fails when the connection is over.
    pub async fn ready(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            let alive = self.drive(cx);
            match self.sender.poll_ready(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(true),
                Poll::Ready(Err(_)) => Poll::Ready(false),
                Poll::Pending if !alive => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Sends a request and waits for the response head, driving the
    /// connection meanwhile. A request that was not written is handed back
    /// (see hyper's `try_send_request`).
    pub async fn send(
        &mut self,
        mut req: http::Request<ReqBody>,
    ) -> Result<http::Response<Incoming>, hyper::client::conn::TrySendError<http::Request<ReqBody>>>
    {
        crate::http::headers::join_cookies(req.headers_mut());
        let HyperConn { sender, driver } = self;
        let fut = sender.try_send_request(req);
        tokio::pin!(fut);
        std::future::poll_fn(|cx| {
            if let Some(d) = driver.as_mut()
                && let Poll::Ready(_) = d.as_mut().poll(cx)
            {
                // The connection ended; the response future now resolves
                // with the reason.
                *driver = None;
            }
            fut.as_mut().poll(cx)
        })
        .await
    }

    fn is_closed(&self) -> bool {
        self.driver.is_none() || self.sender.is_closed()
    }
}

struct Idle {
    conn: UpConn,
    expires: Instant,
}

/// Idle upstream connections of one worker, by endpoint address.
#[derive(Default)]
pub struct ConnCache {
    idle: RefCell<rustc_hash::FxHashMap<ConnKey, Vec<Idle>>>,
}

/// Which idle connections a request may reuse: those to the same endpoint,
/// and, when the pool sends a PROXY header, opened for the same client
/// (the header names the client of the connection, so it cannot serve
/// another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub endpoint: SocketAddr,
    pub client: Option<SocketAddr>,
    /// The TLS settings the connection was made with
    /// ([`ClientTls::key`](crate::tls::client::ClientTls::key); 0 = plain
    /// TCP): pools with different TLS settings never share one, nor does a
    /// pool once its CA or client certificate was reloaded.
    pub tls: u64,
}

/// A connection checked out for one request.
pub struct Upstream {
    pub conn: UpConn,
    /// Whether it came from the cache (a stale cached connection may fail
    /// without having sent anything; a fresh one is then opened).
    pub reused: bool,
}

impl ConnCache {
    /// The most recently used connection to `addr` that is not known to be
    /// closed. Expiry is enforced by [`sweep`](Self::sweep) (every second),
    /// not here: reading the clock on every request costs more than a
    /// connection kept up to a second past its idle timeout.
    pub fn take(&self, key: ConnKey) -> Option<UpConn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&key)?;
        while let Some(c) = list.pop() {
            if !c.conn.is_closed() {
                return Some(c.conn);
            }
        }
        None
    }

    /// Returns a connection after a complete exchange (`now` is the caller's
    /// clock reading, shared with its other bookkeeping).
    pub fn put(
        &self,
        key: ConnKey,
        conn: UpConn,
        idle_timeout: Duration,
        max_idle: usize,
        now: Instant,
    ) {
        if max_idle == 0 || conn.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(key).or_default();
        if list.len() >= max_idle {
            list.remove(0);
        }
        let mut conn = conn;
        if let UpConn::Own(c) = &mut conn {
            c.idle();
        }
        list.push(Idle {
            conn,
            expires: now + idle_timeout,
        });
    }

    /// Closes expired and dead idle connections; called periodically.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.idle.borrow_mut().retain(|_, list| {
            list.retain_mut(|c| {
                let keep = c.expires > now && !c.conn.is_closed();
                if keep && let UpConn::Own(h1) = &mut c.conn {
                    // Idle at a sweep: its buffers go (HAProxy and NGINX
                    // hold none for idle server connections either). A
                    // busy connection is rarely idle at that moment, and
                    // then pays one allocation a second.
                    h1.release_memory();
                }
                keep
            });
            !list.is_empty()
        });
    }

    /// Number of idle connections held (for tests and stats).
    pub fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    /// A ready cached connection to `target` (unless `reuse` is false), or
    /// a new one.
    pub async fn checkout(
        &self,
        key: ConnKey,
        target: Target<'_>,
        reuse: bool,
    ) -> Result<Upstream, ProxyError> {
        while reuse && let Some(mut conn) = self.take(key) {
            if conn.ready().await {
                return Ok(Upstream { conn, reused: true });
            }
        }
        // Boxed: the connect path is rare with keep-alive, and inlining its
        // large future would make every request's state bigger to move.
        let mut conn = Box::pin(connect(target)).await?;
        if !conn.ready().await {
            return Err(ProxyError::Connect {
                endpoint: target.label.to_owned(),
                reason: "closed during handshake".into(),
            });
        }
        Ok(Upstream {
            conn,
            reused: false,
        })
    }
}

/// Opens a new upstream HTTP/1.1 connection (transport, then handshake).
pub async fn connect(target: Target<'_>) -> Result<UpConn, ProxyError> {
    let stream = super::connect::connect(target).await?;
    handshake(stream, target.label).await
}

/// Starts HTTP/1.1 on a connected transport to the endpoint `label`.
pub async fn handshake(stream: Stream, label: &str) -> Result<UpConn, ProxyError> {
    if !super::h1::disabled() {
        return Ok(UpConn::Own(Box::new(super::h1::H1Conn::new(stream))));
    }
    let (sender, driver) =
        http1::Builder::new()
            .handshake(stream)
            .await
            .map_err(|e| ProxyError::Connect {
                endpoint: label.to_owned(),
                reason: e.to_string(),
            })?;
    Ok(UpConn::Hyper(HyperConn {
        sender,
        driver: Some(Box::pin(driver)),
    }))
}
