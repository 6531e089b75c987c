//! The response body the proxy sends to clients.
//!
//! Either a short generated body (errors) or the upstream response body,
//! streamed frame by frame (never buffered: hyper pulls the next frame only
//! when the client socket has room). When the body ends or is dropped, the
//! [`Finish`] hook runs exactly once: it returns the upstream connection to
//! the worker's cache (only after a complete body), releases the endpoint's
//! outstanding count, marks the client connection idle and writes the
//! access-log line.
//!
//! A streamed body waits for its upstream at most the pool's
//! `response_body_timeout` at a time (NGINX's `proxy_read_timeout`,
//! HAProxy's `timeout server` once the head is in): past it the body fails
//! with [`BodyStalled`], which ends the response the way any upstream
//! failure mid-body does (HTTP/1.1: the connection closes, so the client
//! cannot take a truncated body for a whole one; HTTP/2: the stream is
//! reset), and the upstream connection is dropped. The clock is read only
//! when the body starts to wait, not per frame.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::conn::ConnState;
use crate::net::stall::StallClock;
use crate::telemetry::AccessRecord;
use crate::upstream::InFlight;
use crate::upstream::conns::UpConn;

/// Where the upstream connection goes back to after a complete response.
pub struct ConnReturn {
    pub key: crate::upstream::conns::ConnKey,
    /// The connection; the body drives it while streaming.
    pub conn: UpConn,
    pub idle_timeout: Duration,
    pub max_idle: usize,
}

/// What to do when the response body is over.
pub struct Finish {
    pub conn: Rc<ConnState>,
    pub upstream: Option<ConnReturn>,
    pub inflight: Option<InFlight>,
    pub log: Option<Box<AccessRecord>>,
}

impl Finish {
    fn run(mut self, complete: bool, bytes: u64) {
        let now = tokio::time::Instant::now();
        if let Some(up) = self.upstream.take()
            && complete
        {
            self.conn
                .worker
                .conns
                .put(up.key, up.conn, up.idle_timeout, up.max_idle, now);
        }
        drop(self.inflight.take());
        self.conn.set_idle(now);
        if let Some(mut log) = self.log.take() {
            if !complete && log.flags == "-" {
                // Ended early by nothing the upstream did: the client left
                // (or reset its stream), or shutdown cut it.
                log.flags = super::proxy::cut_flag(&self.conn);
            }
            log.emit(complete, bytes);
        }
    }
}

enum Kind {
    Full(Option<Bytes>),
    /// From an HTTP/1.1 upstream connection of the own client: read from
    /// the connection in `finish.upstream`.
    Own,
    /// From an HTTP/1.1 upstream connection (driven by this body).
    Upstream(Incoming),
    /// From an upstream HTTP/2 stream (its connection has its own task).
    H2(crate::upstream::h2::H2Body),
}

/// A body error: the upstream connection or stream failed mid-body.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The upstream sent no more of a response body for the pool's
/// `response_body_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing more of the response body for {0:?}")]
pub struct BodyStalled(pub Duration);

/// A response body: generated or streamed from upstream.
pub struct ProxyBody {
    kind: Kind,
    finish: Option<Finish>,
    sent: u64,
    /// The longest wait for the upstream, in milliseconds (0: none; kept
    /// small: a body is moved several times per request).
    timeout_ms: u32,
    /// The wait for the upstream under way (cleared by each frame).
    clock: StallClock,
}

impl ProxyBody {
    /// A generated body.
    pub fn full(bytes: impl Into<Bytes>, finish: Option<Finish>) -> ProxyBody {
        let b: Bytes = bytes.into();
        ProxyBody {
            kind: Kind::Full((!b.is_empty()).then_some(b)),
            finish,
            sent: 0,
            timeout_ms: 0,
            clock: StallClock::default(),
        }
    }

    /// The upstream response body, streamed.
    pub fn upstream(body: Incoming, finish: Finish) -> ProxyBody {
        ProxyBody {
            kind: Kind::Upstream(body),
            finish: Some(finish),
            sent: 0,
            timeout_ms: 0,
            clock: StallClock::default(),
        }
    }

    /// The body of the response on an own-client connection, streamed.
    pub fn own(finish: Finish) -> ProxyBody {
        ProxyBody {
            kind: Kind::Own,
            finish: Some(finish),
            sent: 0,
            timeout_ms: 0,
            clock: StallClock::default(),
        }
    }

    fn own_conn(&self) -> Option<&UpConn> {
        self.finish.as_ref()?.upstream.as_ref().map(|u| &u.conn)
    }

    /// The response's fields as they arrived, when the own client kept
    /// them raw (the head's `HeaderMap` then holds only what the proxy
    /// added): once. For the own HTTP/1.1 writer.
    pub fn take_raw_fields(&mut self) -> Option<crate::upstream::h1::raw::RawFields> {
        if !matches!(self.kind, Kind::Own) {
            return None;
        }
        match &mut self.finish.as_mut()?.upstream.as_mut()?.conn {
            UpConn::Own(c) => c.take_raw(),
            UpConn::Hyper(_) => None,
        }
    }

    /// The body of an upstream HTTP/2 stream, streamed.
    pub fn h2(body: crate::upstream::h2::H2Body, finish: Finish) -> ProxyBody {
        ProxyBody {
            kind: Kind::H2(body),
            finish: Some(finish),
            sent: 0,
            timeout_ms: 0,
            clock: StallClock::default(),
        }
    }

    /// Bounds each wait for the upstream by `timeout` (see the module
    /// docs).
    pub fn wait_at_most(mut self, timeout: Duration) -> ProxyBody {
        // At least 1 ms, at most about 49 days.
        self.timeout_ms = u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        self
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }

    /// The body waits for its upstream: true once it has waited too long.
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let limit = self.timeout();
        self.timeout_ms != 0 && self.clock.expired(cx, limit)
    }

    /// Names what ended the response early in its access line.
    fn flag(&mut self, flags: &'static str) {
        if let Some(log) = self.finish.as_mut().and_then(|f| f.log.as_mut()) {
            log.flags = flags;
        }
    }

    fn done(&mut self, complete: bool) {
        if let Some(f) = self.finish.take() {
            f.run(complete, self.sent);
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let mut polled = match &mut this.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Own => match this.finish.as_mut().and_then(|f| f.upstream.as_mut()) {
                Some(up) => up
                    .conn
                    .poll_frame(cx)
                    .map(|f| f.map(|r| r.map_err(BodyError::from))),
                None => Poll::Ready(None),
            },
            Kind::Upstream(inc) => {
                // The upstream connection is driven by whoever waits on it.
                if let Some(up) = this.finish.as_mut().and_then(|f| f.upstream.as_mut()) {
                    up.conn.drive(cx);
                }
                Pin::new(inc)
                    .poll_frame(cx)
                    .map(|f| f.map(|r| r.map_err(BodyError::from)))
            }
            Kind::H2(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(BodyError::from))),
        };
        match &mut polled {
            Poll::Ready(None) => this.done(true),
            Poll::Ready(Some(Err(e))) => {
                // The upstream's fault (the client leaving drops the body
                // instead): say so, as for a stalled body.
                let endpoint = this
                    .finish
                    .as_ref()
                    .and_then(|f| f.upstream.as_ref())
                    .map(|u| u.key.endpoint);
                tracing::warn!(
                    endpoint = endpoint.map(tracing::field::display),
                    sent = this.sent,
                    error = %e,
                    "upstream response body failed; ending the response"
                );
                this.flag("UC");
                this.done(false);
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.clock.progress();
                if let Some(d) = frame.data_ref() {
                    this.sent += d.len() as u64;
                } else if let Some(t) = frame.trailers_mut() {
                    // Fields that must not be trailers are left out for
                    // every client (an HTTP/2 one would refuse the whole
                    // response over one).
                    super::headers::clean_trailers(t);
                }
            }
            Poll::Pending => {
                if this.stalled(cx) {
                    let after = this.timeout();
                    tracing::warn!(
                        ?after,
                        sent = this.sent,
                        "upstream response body stalled; ending the response"
                    );
                    this.flag("UT");
                    this.done(false);
                    return Poll::Ready(Some(Err(Box::new(BodyStalled(after)))));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Own => self.own_conn().is_none_or(UpConn::is_end_stream),
            Kind::Upstream(inc) => inc.is_end_stream(),
            Kind::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Own => self
                .own_conn()
                .map_or_else(|| SizeHint::with_exact(0), UpConn::size_hint),
            Kind::Upstream(inc) => inc.size_hint(),
            Kind::H2(b) => b.size_hint(),
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        let complete = self.is_end_stream();
        self.done(complete);
    }
}
