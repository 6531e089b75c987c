//! HTTP/2 upstream connections and the per-worker pool of them.
//!
//! Why this exists: an HTTP/2 upstream connection carries many requests at
//! once, so it cannot be checked out and returned like the HTTP/1.1
//! connections of [`conns`](super::conns). A request needs a free *stream
//! slot* on some connection, and how many slots a connection has is decided
//! by the upstream (its `SETTINGS_MAX_CONCURRENT_STREAMS`). hyper's client
//! hides that value, so this module drives the `h2` crate directly and reads
//! it from [`SendRequest::current_max_send_streams`].
//!
//! How it works: each worker owns one [`H2Pool`] (single-threaded: `Rc`,
//! `Cell`, no locks). A connection's I/O is driven by its own local task
//! (`spawn_local`, so everything must run inside a `LocalSet`), because
//! several requests share it. Each connection counts its streams in flight;
//! [`H2Pool::get`] reserves a slot on the least busy connection that has one
//! (below both the peer's limit and the caller's cap) and returns `None`
//! when all are full, so the caller connects a new one and hands the
//! transport to [`H2Pool::handshake`]. A new connection serves only the
//! stream it was opened for until the upstream's SETTINGS are known (a PING
//! round trip, or the first response head, proves they were applied);
//! before that its real limit is unknown and h2 would silently queue the
//! excess streams.
//!
//! A burst of requests to an endpoint with no usable connection would make
//! every request open its own. The *connect gate* prevents that: a request
//! that finds no slot first calls [`H2Pool::wait_pending`], which, while a
//! connect to the key is in progress ([`H2Pool::begin_connect`]) or a new
//! connection's SETTINGS are unknown, waits until that connection is usable
//! (or has failed) and then takes a slot on it. Only when nothing is pending
//! does a request connect itself, so one connection per endpoint carries the
//! streams and another is opened only once the existing ones are full.
//!
//! [`H2Stream::send`] converts the request head to HTTP/2 (absolute URI for
//! `:scheme`/`:authority`, no connection-specific headers), sends it, and
//! streams the request body from a local task under h2 flow control (one
//! chunk at a time, never the whole body), so the response head can arrive
//! while the request body is still flowing (gRPC bidi streaming). The
//! response body, [`H2Body`], hands flow-control window back as its data is
//! consumed and releases the stream slot when it ends or is dropped.
//!
//! Streams the upstream did not process (reset with `REFUSED_STREAM`, or
//! beyond the last stream id of a `GOAWAY`) fail with
//! [`ProxyError::UpstreamFailed`] whose reason contains [`REFUSED_STREAM`]
//! (see [`is_refused_stream`]): such a request may be retried elsewhere.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::http::interim::Interim;
use crate::http::req_body::ReqBody;
use ::h2::Reason;
use ::h2::client::SendRequest;
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::conns::ConnKey;
use crate::error::ProxyError;

mod body;
mod head;
mod keepalive;

pub use body::H2Body;
pub use keepalive::{Liveness, PROBE_EVERY};

/// Receive window per stream: how much of one response the upstream may
/// send ahead of the client reading it (1 MiB/RTT per stream).
const STREAM_WINDOW: u32 = 1 << 20;
/// Receive window per connection: bounds the response data buffered for
/// all streams of a connection together.
const CONN_WINDOW: u32 = 8 << 20;
/// Largest response head (HPACK-decoded) accepted from an upstream.
const MAX_HEADER_LIST: u32 = 64 << 10;

/// Marks the reason of a [`ProxyError::UpstreamFailed`] for a stream the
/// upstream did not process (safe to retry on another connection).
pub const REFUSED_STREAM: &str = "refused stream";

/// Marks the reason of a [`ProxyError::UpstreamFailed`] for a stream the
/// upstream reset (other than REFUSED_STREAM) on a live connection.
pub const STREAM_RESET: &str = "HTTP/2 stream reset by the upstream";

/// Whether `err` reports a stream the upstream reset on a live connection:
/// its answer to that request (grpc-core resets a gRPC request without
/// `te: trailers`, for one), not a sign that the endpoint failed.
pub fn is_stream_reset(err: &ProxyError) -> bool {
    matches!(err, ProxyError::UpstreamFailed { reason, .. } if reason.starts_with(STREAM_RESET))
}

/// Whether `err` reports a stream the upstream refused without processing
/// it (`REFUSED_STREAM`, or not covered by a `GOAWAY`).
pub fn is_refused_stream(err: &ProxyError) -> bool {
    matches!(err, ProxyError::UpstreamFailed { reason, .. } if reason.starts_with(REFUSED_STREAM))
}

/// Bookkeeping of one connection, shared by the pool, its slots and its
/// driver task (which must not hold the `SendRequest`: dropping the last
/// one is what lets h2 close an unused connection).
struct ConnState {
    label: Box<str>,
    /// Fallback `:authority` for requests that name none.
    endpoint: SocketAddr,
    in_flight: Cell<usize>,
    /// When the last stream ended (or the connection opened).
    last_used: Cell<Instant>,
    /// Closed, failed or going away: takes no new streams.
    closed: Cell<bool>,
    /// The upstream's SETTINGS were applied, so its stream limit is known.
    settings_known: Cell<bool>,
    /// The gate of the connection's key while its SETTINGS are unknown (it
    /// counts in [`Gate::unsettled`]); taken when they become known or the
    /// connection closes, whichever comes first.
    gate: Cell<Option<Rc<Gate>>>,
    /// Told by the keepalive watch that the peer is gone: the driver drops
    /// the connection.
    silent: Notify,
    /// Told by the driver that the connection ended: the keepalive watch
    /// stops.
    ended: Notify,
    /// Told when a request gave up waiting for its response head: the
    /// watch checks, with a PING, that the upstream is still there.
    probe: Notify,
}

impl ConnState {
    /// The upstream's SETTINGS are known: the connection's stream limit is
    /// real now, so the requests waiting for it may take slots.
    fn settle(&self) {
        self.settings_known.set(true);
        if let Some(g) = self.gate.take() {
            g.unsettled.set(g.unsettled.get() - 1);
            g.notify.notify_waiters();
        }
    }

    /// The connection takes no new streams any more. Closing before its
    /// SETTINGS were known is a failed connect for those waiting on it.
    fn close(&self) {
        self.closed.set(true);
        self.release_unsettled();
        self.ended.notify_one();
    }

    fn release_unsettled(&self) {
        if let Some(g) = self.gate.take() {
            g.unsettled.set(g.unsettled.get() - 1);
            g.failures.set(g.failures.get() + 1);
            g.notify.notify_waiters();
        }
    }
}

impl Drop for ConnState {
    fn drop(&mut self) {
        // Normally the driver task closes the connection first; this covers
        // a driver dropped unfinished (runtime shutdown).
        self.release_unsettled();
    }
}

/// Per-key state of the connect gate: what is pending for the key, and the
/// requests waiting for it.
#[derive(Default)]
struct Gate {
    /// Live [`ConnectGuard`]s.
    connecting: Cell<usize>,
    /// Open connections whose SETTINGS are not known yet.
    unsettled: Cell<usize>,
    /// Successful handshakes so far (tells a guard whether a connection
    /// was made while it lived).
    handshakes: Cell<u64>,
    /// Failed connects so far: guards dropped with no handshake made while
    /// they lived, connections closed before their SETTINGS were known.
    failures: Cell<u64>,
    notify: Notify,
}

impl Gate {
    fn pending(&self) -> bool {
        self.connecting.get() > 0 || self.unsettled.get() > 0
    }
}

/// A connect to a key in progress (see [`H2Pool::begin_connect`]). Dropping
/// it ends the connect: if no connection to the key was handshaken while it
/// lived, the connect counts as failed and the waiting requests are
/// released to connect on their own; else they go on waiting for the new
/// connection's SETTINGS.
#[must_use = "the connect counts as in progress only while the guard lives"]
pub struct ConnectGuard {
    gate: Rc<Gate>,
    /// `gate.handshakes` when the guard was made.
    handshakes: u64,
}

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        let g = &self.gate;
        g.connecting.set(g.connecting.get() - 1);
        // With several connects to one key at once, another one's handshake
        // may be taken for this one's: then a failure goes unnoticed and the
        // waiters stay until the other connection is usable, never the
        // reverse.
        let failed = g.handshakes.get() == self.handshakes;
        if failed {
            g.failures.set(g.failures.get() + 1);
        }
        if failed || !g.pending() {
            g.notify.notify_waiters();
        }
    }
}

struct PoolConn {
    sender: SendRequest<Bytes>,
    state: Rc<ConnState>,
}

impl PoolConn {
    /// Whether the connection still takes new streams. A GOAWAY or failure
    /// seen by the driver makes h2 refuse them: ask it (without waiting;
    /// this handle never has a stream pending open, so it never parks).
    fn usable(&mut self) -> bool {
        if self.state.closed.get() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(Err(_)) = self.sender.poll_ready(&mut cx) {
            self.state.close();
            return false;
        }
        true
    }

    fn has_room(&self, max_streams: usize) -> bool {
        let s = &self.state;
        s.settings_known.get()
            && s.in_flight.get() < max_streams.min(self.sender.current_max_send_streams())
    }

    fn reserve(&self) -> H2Stream {
        H2Stream {
            sender: self.sender.clone(),
            slot: Slot::reserve(&self.state),
        }
    }
}

/// Per-worker set of HTTP/2 upstream connections, by [`ConnKey`].
#[derive(Default)]
pub struct H2Pool {
    conns: RefCell<rustc_hash::FxHashMap<ConnKey, Vec<PoolConn>>>,
    /// Connect gates, by key; an entry nobody else holds is dropped by
    /// [`sweep`](Self::sweep).
    gates: RefCell<rustc_hash::FxHashMap<ConnKey, Rc<Gate>>>,
}

impl H2Pool {
    /// A live connection to `key` with a free stream slot (in-flight
    /// streams below both the peer's current `MAX_CONCURRENT_STREAMS` and
    /// `max_streams`), the least busy one; the slot is reserved. `None` when
    /// every connection is full (or there is none): connect a new one.
    pub fn get(&self, key: ConnKey, max_streams: usize) -> Option<H2Stream> {
        let mut conns = self.conns.borrow_mut();
        let list = conns.get_mut(&key)?;
        list.retain_mut(PoolConn::usable);
        list.iter()
            .filter(|c| c.has_room(max_streams))
            .min_by_key(|c| c.state.in_flight.get())
            .map(PoolConn::reserve)
    }

    /// When a connection to `key` is being opened ([`begin_connect`]) or a
    /// new connection's SETTINGS are not known yet, waits (at most
    /// `timeout`) until it is usable or has failed, then tries
    /// [`get`](Self::get). Returns `None` at once when nothing is pending for
    /// `key`.
    ///
    /// Woken with every connection still full while another connection to
    /// `key` is still pending, it waits on (within the same `timeout`) for
    /// that one. It returns `None` (connect on your own) when nothing is
    /// pending any more, when a connect to `key` failed during the wait, or
    /// at the timeout. Call [`begin_connect`] right after a `None`, with no
    /// `.await` in between: the requests woken with this one then wait for
    /// that connect instead of each opening one.
    ///
    /// [`begin_connect`]: Self::begin_connect
    pub async fn wait_pending(
        &self,
        key: ConnKey,
        max_streams: usize,
        timeout: Duration,
    ) -> Option<H2Stream> {
        let gate = self
            .gates
            .borrow()
            .get(&key)
            .filter(|g| g.pending())
            .cloned()?;
        let deadline = Instant::now() + timeout;
        let failures = gate.failures.get();
        // Each turn needs a notification: something pending for `key`
        // settled, failed or ended. Nothing can happen between the checks
        // and `notified()` (one thread), so no notification is missed.
        while tokio::time::timeout_at(deadline, gate.notify.notified())
            .await
            .is_ok()
        {
            if let Some(s) = self.get(key, max_streams) {
                return Some(s);
            }
            if gate.failures.get() != failures || !gate.pending() {
                return None;
            }
        }
        self.get(key, max_streams)
    }

    /// Marks a connect to `key` as in progress until the guard is dropped:
    /// meanwhile [`wait_pending`](Self::wait_pending) waits for it. Its
    /// waiters are released when the guard is dropped without a
    /// [`handshake`](Self::handshake) for `key` (the connect failed), else
    /// when the connection made by the handshake learns its SETTINGS or
    /// fails. Drop the guard once the handshake returned.
    pub fn begin_connect(&self, key: ConnKey) -> ConnectGuard {
        let gate = Rc::clone(self.gates.borrow_mut().entry(key).or_default());
        gate.connecting.set(gate.connecting.get() + 1);
        ConnectGuard {
            handshakes: gate.handshakes.get(),
            gate,
        }
    }

    /// Performs the HTTP/2 client handshake over a freshly connected
    /// transport (TCP, or TLS that negotiated `h2`), spawns the connection
    /// driver on the current `LocalSet`, adds the connection to the pool and
    /// returns a reserved slot on it (a connection's first stream always
    /// fits, whatever `max_streams`). `label` names the endpoint in errors
    /// and logs.
    pub async fn handshake<T>(
        &self,
        key: ConnKey,
        io: T,
        label: &str,
        max_streams: usize,
        live: Liveness,
    ) -> Result<H2Stream, ProxyError>
    where
        T: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let heard = Rc::new(Cell::new(false));
        let (sender, mut conn) = ::h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_header_list_size(MAX_HEADER_LIST)
            .enable_push(false)
            .handshake::<_, Bytes>(keepalive::Heard::new(io, heard.clone()))
            .await
            .map_err(|e| ProxyError::Connect {
                endpoint: label.to_owned(),
                reason: format!("HTTP/2 handshake: {e}"),
            })?;
        let state = Rc::new(ConnState {
            label: label.into(),
            endpoint: key.endpoint,
            in_flight: Cell::new(0),
            last_used: Cell::new(Instant::now()),
            closed: Cell::new(false),
            settings_known: Cell::new(false),
            gate: Cell::new(None),
            silent: Notify::new(),
            ended: Notify::new(),
            probe: Notify::new(),
        });
        // Pending for `key` until its SETTINGS are known.
        let gate = Rc::clone(self.gates.borrow_mut().entry(key).or_default());
        gate.unsettled.set(gate.unsettled.get() + 1);
        gate.handshakes.set(gate.handshakes.get() + 1);
        state.gate.set(Some(gate));
        tracing::debug!(
            endpoint = label,
            max_streams,
            "HTTP/2 upstream connection opened"
        );

        // The server's SETTINGS are its first frame, and h2 applies them
        // before reading the next one: once our PING is answered, the
        // stream limit we read is the upstream's (and the requests waiting
        // in `wait_pending` are woken). A failed PING means a failed
        // connection: its driver then closes it, which wakes them too.
        // Then the same PING handle watches the connection for silence
        // (`keepalive`).
        if let Some(mut pings) = conn.ping_pong() {
            let st = Rc::clone(&state);
            tokio::task::spawn_local(async move {
                if pings.ping(::h2::Ping::opaque()).await.is_err() {
                    return;
                }
                st.settle();
                let verdict = tokio::select! {
                    v = keepalive::watch(&mut pings, &heard, &st.probe, live) => v,
                    () = st.ended.notified() => keepalive::Verdict::Closed,
                };
                if let keepalive::Verdict::Silent(what) = verdict {
                    tracing::warn!(
                        endpoint = %st.label,
                        "HTTP/2 upstream connection did not answer {what}; closing it"
                    );
                    st.silent.notify_one();
                }
            });
        }
        let st = Rc::clone(&state);
        tokio::task::spawn_local(async move {
            // Dropping the connection fails the streams still on it.
            let res = tokio::select! {
                r = conn => r,
                () = st.silent.notified() => Ok(()),
            };
            if let Err(e) = res {
                tracing::debug!(endpoint = %st.label, error = %e, "HTTP/2 upstream connection failed");
            }
            st.close();
        });

        let conn = PoolConn { sender, state };
        let stream = conn.reserve();
        self.conns.borrow_mut().entry(key).or_default().push(conn);
        Ok(stream)
    }

    /// Drops closed connections and connections with no stream in flight
    /// since `idle_timeout` (h2 then closes them with a GOAWAY). Called once
    /// a second.
    pub fn sweep(&self, idle_timeout: Duration) {
        let now = Instant::now();
        self.conns.borrow_mut().retain(|_, list| {
            list.retain(|c| {
                let s = &c.state;
                !s.closed.get()
                    && (s.in_flight.get() > 0
                        || now.saturating_duration_since(s.last_used.get()) < idle_timeout)
            });
            !list.is_empty()
        });
        // Held only by the map: nothing pending, nobody waiting.
        self.gates
            .borrow_mut()
            .retain(|_, g| Rc::strong_count(g) > 1);
    }

    /// Number of open connections (for tests and stats).
    pub fn conn_count(&self) -> usize {
        let conns = self.conns.borrow();
        conns.values().map(|l| open_count(l)).sum()
    }

    /// Number of open connections to `key`.
    pub fn conn_count_for(&self, key: ConnKey) -> usize {
        self.conns.borrow().get(&key).map_or(0, |l| open_count(l))
    }
}

fn open_count(list: &[PoolConn]) -> usize {
    list.iter().filter(|c| !c.state.closed.get()).count()
}

/// A reserved stream slot: counted in its connection's in-flight streams
/// until dropped.
struct Slot(Rc<ConnState>);

impl Slot {
    fn reserve(state: &Rc<ConnState>) -> Slot {
        state.in_flight.set(state.in_flight.get() + 1);
        Slot(Rc::clone(state))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let s = &self.0;
        s.in_flight.set(s.in_flight.get().saturating_sub(1));
        s.last_used.set(Instant::now());
    }
}

/// One reserved stream slot on an upstream HTTP/2 connection.
pub struct H2Stream {
    sender: SendRequest<Bytes>,
    slot: Slot,
}

/// A failed [`H2Stream::try_send`]; `request` is handed back when nothing
/// of it was sent (the connection turned out unusable), so it can be sent
/// on another connection.
pub struct H2SendError {
    pub error: ProxyError,
    pub request: Option<Request<ReqBody>>,
}

impl H2Stream {
    /// Sends the request and waits for the response head. The request body
    /// is streamed by a local task under h2 flow control (trailers
    /// forwarded; a failing request body resets the stream), so the
    /// response head may arrive before the request body is finished.
    pub async fn send(self, req: Request<ReqBody>) -> Result<Response<H2Body>, ProxyError> {
        self.try_send(req, None).await.map_err(|e| e.error)
    }

    /// [`send`](Self::send), but a request that was not sent at all is
    /// returned with the error. `interim`: where interim (1xx) heads go
    /// (else they are dropped).
    pub async fn try_send(
        self,
        req: Request<ReqBody>,
        interim: Option<&Interim>,
    ) -> Result<Response<H2Body>, H2SendError> {
        let H2Stream { sender, slot } = self;
        let st = Rc::clone(&slot.0);
        let fail = |error| H2SendError {
            error,
            request: None,
        };
        let mut sender = match sender.ready().await {
            Ok(s) => s,
            Err(e) => {
                st.close();
                return Err(H2SendError {
                    error: upstream_failed(&st, format!("HTTP/2 connection unusable: {e}")),
                    request: Some(req),
                });
            }
        };
        let (parts, req_body) = req.into_parts();
        let eos = req_body.is_end_stream();
        // A request without a body can be sent again if the upstream
        // refuses its stream unprocessed (REFUSED_STREAM, or above a
        // GOAWAY's last stream id): keep a copy of its head.
        let copy = eos.then(|| {
            (
                parts.method.clone(),
                parts.uri.clone(),
                parts.version,
                parts.headers.clone(),
            )
        });
        let head = head::h2_head(parts, st.endpoint).map_err(fail)?;
        let (response, tx) = match sender.send_request(head, eos) {
            Ok(r) => r,
            Err(e) => {
                if e.is_go_away() || e.is_io() {
                    st.close();
                }
                let error = upstream_failed(&st, format!("sending the HTTP/2 request: {e}"));
                // Nothing reached the upstream.
                let request = copy.map(|c| rebuild(c, req_body));
                return Err(H2SendError { error, request });
            }
        };
        let (pump, kept_body) = if eos {
            (None, Some(req_body))
        } else {
            (Some(body::spawn_pump(req_body, tx)), None)
        };
        // Given up before the head came (the response timeout, or the
        // client went away): the connection is probed.
        struct HeadWait<'a>(Option<&'a ConnState>);
        impl Drop for HeadWait<'_> {
            fn drop(&mut self) {
                if let Some(st) = self.0 {
                    st.probe.notify_one();
                }
            }
        }
        let mut waiting = HeadWait(Some(&st));
        let mut response = response;
        // An interim head means the upstream did process the request, so
        // a refusal after it is not "unprocessed" (and a replay would
        // relay the hints twice).
        let mut informed = false;
        let response = std::future::poll_fn(|cx| {
            if let Some(sink) = interim {
                while let Poll::Ready(Some(Ok(head))) = response.poll_informational(cx) {
                    let (head, ()) = head.into_parts();
                    informed = true;
                    sink.push(head.status, head.headers);
                }
            }
            Pin::new(&mut response).poll(cx)
        })
        .await;
        waiting.0 = None;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let error = stream_failure(&st, e, informed);
                let request = match (copy, kept_body) {
                    (Some(c), Some(b)) if is_refused_stream(&error) => Some(rebuild(c, b)),
                    _ => None,
                };
                return Err(H2SendError { error, request });
            }
        };
        // A response head is read after the SETTINGS frame.
        st.settle();
        let (parts, recv) = response.into_parts();
        let body = H2Body::new(recv, slot, pump);
        Ok(Response::from_parts(parts, body))
    }
}

/// A bodyless request again, from the copy of its head.
fn rebuild(
    (method, uri, version, headers): (http::Method, http::Uri, http::Version, http::HeaderMap),
    body: ReqBody,
) -> Request<ReqBody> {
    let mut r = Request::new(body);
    *r.method_mut() = method;
    *r.uri_mut() = uri;
    *r.version_mut() = version;
    *r.headers_mut() = headers;
    r
}

fn upstream_failed(st: &ConnState, reason: String) -> ProxyError {
    ProxyError::UpstreamFailed {
        endpoint: st.label.to_string(),
        reason,
    }
}

/// Maps an error of a stream before its response head. `informed`: an
/// interim head came first, so the upstream did process the request and
/// a refusal is a reset like any other (not sent again).
fn stream_failure(st: &ConnState, e: ::h2::Error, informed: bool) -> ProxyError {
    if e.is_remote() {
        // A frame from the upstream was read, so its SETTINGS were too.
        st.settle();
    }
    if e.is_go_away() || e.is_io() {
        st.close();
    }
    if e.is_reset() && !e.is_remote() && e.reason() == Some(Reason::CANCEL) {
        // Our own CANCEL: the body pump sends it only when the client's
        // request body failed (bad framing, cut short). The client's fault.
        return ProxyError::BadRequestBody {
            reason: "the request body failed while it was sent upstream".into(),
        };
    }
    let reason = match e.reason() {
        Some(r) if e.is_remote() && informed => {
            format!("{STREAM_RESET}: {r:?} after an interim response")
        }
        // A remote GOAWAY error reaches only the streams above its last
        // stream id: those the upstream did not process (RFC 9113 §6.8).
        Some(r) if e.is_remote() && e.is_go_away() => {
            format!("{REFUSED_STREAM} (GOAWAY {r:?}): the upstream did not process the request")
        }
        Some(Reason::REFUSED_STREAM) if e.is_remote() && e.is_reset() => {
            format!("{REFUSED_STREAM} (REFUSED_STREAM): the upstream did not process the request")
        }
        Some(_) if e.is_remote() && e.is_reset() => format!("{STREAM_RESET}: {e}"),
        _ => format!("HTTP/2 stream failed: {e}"),
    };
    upstream_failed(st, reason)
}
