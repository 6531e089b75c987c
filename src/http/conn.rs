//! One client connection: the IO wrapper, the connection phase clock, and
//! the task that drives hyper's HTTP/1.1 server over it.
//!
//! hyper's own header-read timeout cannot tell "idle between requests" from
//! "in the middle of a request head", so the client-side timeouts live
//! here: [`ClientIo`] sees every byte the client sends, moves the connection
//! from *idle* to *reading a head* on the first byte of a request, and feeds
//! the smuggling guard ([`Framing`]); the service marks the connection busy;
//! the response body marks it idle again when it ends. One lazily re-armed
//! timer per connection enforces `request_header_timeout` and `idle_timeout`.
//!
//! **Parking.** hyper keeps two buffers (≈16 KiB) per connection for as long
//! as the connection lives. A keep-alive connection idle for [`PARK_AFTER`]
//! is *parked*: `ClientIo` reports end-of-stream to hyper (never to the
//! client), hyper hands the socket back without shutting it down, and the
//! connection waits for its next byte holding only its small state. The next
//! request gets a fresh hyper connection. Like NGINX and HAProxy releasing
//! buffers of idle connections, this keeps 10 000 idle clients cheap.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::framing::Framing;
use super::hyper_h1::{Active, drive};
use crate::net::Stream;
use crate::runtime::{Admitted, ListenerRt, ListenerSlot};
use crate::worker::WorkerCtx;

/// The HTTP/2 connection preface a prior-knowledge (h2c) client starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a keep-alive connection must be idle before it is parked.
pub const PARK_AFTER: Duration = Duration::from_millis(250);

/// How long an idle HTTP/1 connection that must close (a reload replaced
/// its listener, shutdown, `max_connection_duration`) is kept for its
/// client's next request, which is then served with `Connection: close`
/// (HAProxy's `idle-close-on-response`). Closing it at once would race the
/// request a busy client has already sent: that request would be lost, and
/// with its bytes unread the close is a reset. An idle client sends nothing
/// and is closed when the grace ends.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Where a client connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between requests (or before the first byte): idle timeout runs.
    Idle,
    /// A request head has started arriving: header timeout runs.
    Head,
    /// A request is being served: upstream timeouts apply instead.
    Busy,
}

/// Per-connection state shared by the IO wrapper, the service and bodies.
pub struct ConnState {
    /// The compiled listener state this connection was accepted with.
    pub listener: Arc<ListenerRt>,
    slot: Arc<ListenerSlot>,
    pub peer: SocketAddr,
    /// The client socket, for `local_addr` (looked up only when needed: a
    /// `getsockname` per connection would cost a syscall on every one).
    fd: std::os::fd::RawFd,
    /// `peer`'s IP as header text (for X-Forwarded-For), made once.
    pub peer_ip: http::HeaderValue,
    pub worker: Rc<WorkerCtx>,
    phase: Cell<Phase>,
    /// When the head being read began to arrive (for the access line of
    /// a head refused before it was whole).
    head_began: Cell<Option<Instant>>,
    /// When the current phase times out (Idle, Head).
    deadline: Cell<Instant>,
    /// When the connection last became idle.
    idle_since: Cell<Instant>,
    /// No request served yet: the first head's budget runs from accept.
    first: Cell<bool>,
    /// Set to make `ClientIo` report end-of-stream to hyper (parking).
    pub(super) park: Cell<bool>,
    /// Set once that end-of-stream has been reported.
    pub(super) parked: Cell<bool>,
    /// Set when the connection must close after the current request
    /// (reload, shutdown, `max_connection_duration`): responses then carry
    /// `Connection: close`.
    pub(super) closing: Cell<bool>,
    /// When `max_connection_duration` (jittered) is up: the connection is
    /// then asked to reconnect.
    expires: Option<Instant>,
    pub framing: RefCell<Framing>,
    /// Requests being served (several at once on HTTP/2).
    streams: Cell<usize>,
    /// The connection speaks HTTP/2 (no HTTP/1 framing to follow).
    h2: Cell<bool>,
    /// The request being served came through the own HTTP/1.1 reader, and
    /// its response goes out through the own writer, which can send an
    /// upstream response's fields as they arrived (`upstream::h1::raw`).
    /// Set and cleared around each such request (HTTP/1 requests on a
    /// connection are served one at a time); set for the whole connection
    /// when the own HTTP/2 server serves it (its stream writer encodes
    /// such fields into HPACK).
    own_writer: Cell<bool>,
    /// Interim (1xx) heads from the upstream of the request being polled,
    /// for the own writer to send ahead of the final head.
    pub interim: super::interim::Interim,
    /// `https` on TLS connections, else `http` (X-Forwarded-Proto).
    pub scheme: &'static str,
    /// The verified client certificate (mTLS), as upstream headers.
    pub identity: Option<Box<super::tls_info::IdentityHeaders>>,
    /// The upstream side of an upgrade the proxy answered with `101`: the
    /// connection becomes a tunnel once the response is written.
    pub upgrade: RefCell<Option<super::tunnel::UpstreamSide>>,
    /// The own HTTP/2 server's stream whose tunnel is in `upgrade`.
    upgrade_stream: Cell<u32>,
    /// The response closes the connection while the client may still be
    /// sending (an error before its body was read): the socket lingers
    /// after the response (`linger::linger_close`).
    pub(super) linger: Cell<bool>,
}

impl ConnState {
    pub fn phase(&self) -> Phase {
        self.phase.get()
    }

    /// Whether the connection speaks HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.h2.get()
    }

    /// Whether the current request's response is written by an own writer
    /// (HTTP/1.1, or the own HTTP/2 server's; see the field).
    pub fn own_writer(&self) -> bool {
        self.own_writer.get()
    }

    /// Where the upstream client puts interim (1xx) heads: only when an
    /// own writer will send them (hyper's servers cannot).
    pub fn interim_sink(&self) -> Option<&super::interim::Interim> {
        self.own_writer.get().then_some(&self.interim)
    }

    /// An own-server HTTP/2 stream's upstream said `101`: its tunnel
    /// side waits for the stream (which counts as busy until the tunnel
    /// ends).
    pub fn set_h2_tunnel(&self, stream: u32, side: super::tunnel::UpstreamSide) {
        self.set_busy();
        self.upgrade_stream.set(stream);
        *self.upgrade.borrow_mut() = Some(side);
    }

    /// The tunnel side waiting for `stream`, if any.
    pub fn take_h2_tunnel(&self, stream: u32) -> Option<super::tunnel::UpstreamSide> {
        if self.upgrade_stream.get() != stream {
            return None;
        }
        self.upgrade_stream.set(0);
        self.upgrade.borrow_mut().take()
    }

    /// See the `linger` field.
    pub(super) fn linger_on_close(&self) {
        self.linger.set(true);
    }

    pub(super) fn set_own_writer(&self, on: bool) {
        self.own_writer.set(on);
    }

    /// The address the client connected to.
    pub fn local_addr(&self) -> SocketAddr {
        // SAFETY: the descriptor belongs to this connection's socket, which
        // lives as long as the connection is served; ManuallyDrop keeps the
        // temporary from closing it.
        let s = std::mem::ManuallyDrop::new(unsafe {
            <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(self.fd)
        });
        s.local_addr().unwrap_or(self.peer)
    }

    /// Reload or shutdown made this connection's state stale: it must
    /// finish its request and close.
    fn check_stale(&self) -> bool {
        if !self.closing.get() && self.slot.is_stale(&self.listener) {
            self.closing.set(true);
        }
        self.closing.get()
    }

    /// Whether the response being written must close the connection.
    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// A request is being served.
    pub fn set_busy(&self) {
        self.first.set(false);
        self.streams.set(self.streams.get() + 1);
        self.phase.set(Phase::Busy);
    }

    /// A response ended at `now`; when it was the last one in progress, the
    /// keep-alive idle timeout starts.
    pub fn set_idle(&self, now: Instant) {
        let n = self.streams.get().saturating_sub(1);
        self.streams.set(n);
        if n > 0 {
            return;
        }
        self.phase.set(Phase::Idle);
        self.idle_since.set(now);
        let idle = now + self.listener.timeouts.idle;
        // An idle connection past its lifetime closes then, after the grace.
        self.deadline.set(
            self.expires
                .map_or(idle, |e| idle.min(e.max(now) + CLOSE_GRACE)),
        );
    }

    /// The connection must close while idle: it waits at most
    /// [`CLOSE_GRACE`] from `now` for a last request (never longer than its
    /// deadline already allowed; repeated calls do not extend it).
    pub(super) fn close_soon(&self, now: Instant) {
        self.deadline
            .set(self.deadline.get().min(now + CLOSE_GRACE));
    }

    /// Whether `max_connection_duration` is up (the clock is read only when
    /// it is set); see [`expired`](Self::expired).
    pub fn expired_now(&self) -> bool {
        self.expires.is_some() && self.expired(Instant::now())
    }

    /// `max_connection_duration` is up at `now` (the connection is marked
    /// closing).
    pub(super) fn expired(&self, now: Instant) -> bool {
        if self.expires.is_some_and(|e| now >= e) {
            self.closing.set(true);
            return true;
        }
        false
    }

    /// Bytes arrived from the client.
    fn on_read(&self, bytes: &[u8]) {
        if bytes.is_empty() || self.h2.get() {
            // HTTP/2 frames its own messages; its idle time is counted in
            // streams, not bytes (pings and window updates are not requests).
            return;
        }
        self.note_read();
        self.framing.borrow_mut().feed(bytes);
    }

    /// Bytes of an HTTP/1.1 request arrived: an idle connection is now
    /// reading a head (the header timeout runs). The caller sees to the
    /// framing guard.
    /// When the head being read began to arrive, if one is.
    pub(super) fn head_began(&self) -> Option<Instant> {
        (self.phase.get() == Phase::Head)
            .then(|| self.head_began.get())
            .flatten()
    }

    pub(super) fn note_read(&self) {
        if self.phase.get() == Phase::Idle {
            self.phase.set(Phase::Head);
            let now = Instant::now();
            self.head_began.set(Some(now));
            let fresh = now + self.listener.timeouts.request_header;
            // The first head shares its budget with the wait for it (and
            // the TLS handshake): `request_header_timeout` from accept.
            let deadline = if self.first.get() {
                fresh.min(self.deadline.get())
            } else {
                fresh
            };
            self.deadline.set(deadline);
        }
    }
}

/// The client connection as hyper sees it, observing every byte read.
pub struct ClientIo {
    pub(super) stream: Stream,
    state: Rc<ConnState>,
    /// Bytes read before hyper took over (parking, protocol detection),
    /// already seen by the framing tracker, replayed first.
    pub(super) replay: Bytes,
}

impl Read for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.park.get() && this.state.phase.get() == Phase::Idle && this.replay.is_empty()
        {
            // Parking: end-of-stream for hyper only; the socket stays open.
            this.state.parked.set(true);
            return Poll::Ready(Ok(()));
        }
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay[..n]);
            this.replay.advance(n);
            return Poll::Ready(Ok(()));
        }
        let state = &this.state;
        this.stream
            .poll_read_observed(cx, &mut buf, |bytes| state.on_read(bytes))
    }
}

impl Write for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().stream), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().stream), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().stream), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().stream), cx)
    }
}

/// An accepted client socket.
pub enum Accepted {
    /// Not registered with the event loop: it will be when it has to wait
    /// (`net::lazy`).
    Lazy(std::net::TcpStream),
    /// Registered already (it was read from before: a PROXY header).
    Registered(TcpStream),
}

impl Accepted {
    fn into_tcp(self) -> crate::net::cork::Tcp {
        match self {
            Accepted::Lazy(s) => crate::net::cork::Tcp::lazy(s),
            Accepted::Registered(s) => crate::net::cork::Tcp::new(s),
        }
    }
}

/// Serves one accepted client connection to completion: the TLS handshake
/// when the listener terminates TLS, then HTTP/2 (ALPN `h2`, or the h2c
/// preface on plain listeners with `http2`) or HTTP/1.1.
pub async fn serve(
    stream: Accepted,
    peer: SocketAddr,
    slot: Arc<ListenerSlot>,
    worker: Rc<WorkerCtx>,
    admitted: Admitted,
) {
    serve_conn(stream, peer, slot, worker, admitted, None).await;
}

/// Serves a connection [`super::parked`] held while it was idle, now that
/// the client sent again: like a new connection whose request is there,
/// without the first connection's steps (h2c detection), and keeping its
/// lifetime.
pub async fn serve_resumed(e: super::parked::Entry, worker: Rc<WorkerCtx>) {
    serve_conn(
        Accepted::Lazy(e.stream),
        e.peer,
        e.slot,
        worker,
        e.admitted,
        Some(e.expires),
    )
    .await;
}

async fn serve_conn(
    stream: Accepted,
    peer: SocketAddr,
    slot: Arc<ListenerSlot>,
    worker: Rc<WorkerCtx>,
    admitted: Admitted,
    resumed: Option<Option<Instant>>,
) {
    let _active = worker.track();
    // Given to the parked entry when the connection parks.
    let mut admitted = Some(admitted);
    // TCP_NODELAY is inherited from the listening socket (server::bind).
    // Subscribe before reading the state: a reload between the two is then
    // seen either as a stale state (checked below) or as a later signal.
    let closing = worker.closing();
    tokio::pin!(closing);
    let listener = slot.rt.load_full();
    let mut stream = stream.into_tcp();
    stream.set_send_timeout(Some(listener.timeouts.send));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream.tcp);
    let (stream, identity, accepted) = match &listener.tls {
        None => (Stream::Tcp(stream), None, None),
        Some(tls) => {
            let accepted = Instant::now();
            // The handshake shares the request-header budget: a client
            // that stalls in it is a slowloris too.
            let deadline = accepted + listener.timeouts.request_header;
            // Boxed, like every path plain HTTP/1.1 connections do not
            // take: the task of every connection is as large as its largest
            // state, and a handshake's is several kilobytes.
            let screened = Box::pin(super::plain_on_tls::screen(
                stream,
                deadline,
                peer,
                &listener.name,
            ))
            .await;
            let Some(stream) = screened else {
                return;
            };
            // The configuration of the moment (a client CA change replaces it).
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
            let hs = Box::pin(tokio::time::timeout_at(deadline, acceptor.accept(stream))).await;
            match hs {
                Ok(Ok(s)) => {
                    let identity = if listener.client_identity {
                        super::tls_info::IdentityHeaders::of(s.get_ref().1).map(Box::new)
                    } else {
                        None
                    };
                    (Stream::ServerTls(Box::new(s)), identity, Some(accepted))
                }
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
        }
    };
    let is_tls = matches!(stream, Stream::ServerTls(_));
    let alpn_h2 = stream.alpn() == Some(b"h2");
    let now = Instant::now();
    let expires = match resumed {
        Some(e) => e,
        None => listener
            .timeouts
            .max_connection
            .map(|d| now + jittered(d, peer)),
    };
    let resumed = resumed.is_some();
    let state = Rc::new(ConnState {
        framing: RefCell::new(Framing::new(listener.limits.max_header_bytes)),
        phase: Cell::new(Phase::Idle),
        head_began: Cell::new(None),
        // The first request must arrive within the header timeout, counted
        // from accept: a TLS handshake uses up part of it.
        deadline: Cell::new(accepted.unwrap_or(now) + listener.timeouts.request_header),
        first: Cell::new(!resumed),
        idle_since: Cell::new(now),
        park: Cell::new(false),
        parked: Cell::new(false),
        closing: Cell::new(false),
        expires,
        streams: Cell::new(0),
        h2: Cell::new(alpn_h2),
        own_writer: Cell::new(false),
        interim: Default::default(),
        scheme: if is_tls { "https" } else { "http" },
        identity,
        upgrade: RefCell::new(None),
        upgrade_stream: Cell::new(0),
        linger: Cell::new(false),
        listener,
        slot,
        fd,
        peer,
        peer_ip: super::headers::ip_value(peer.ip()),
        worker,
    });
    // Accepted just before a reload whose signal this worker already relayed?
    state.check_stale();
    let mut io = ClientIo {
        stream,
        state: state.clone(),
        replay: Bytes::new(),
    };
    if !is_tls && state.listener.http2 && !resumed {
        match Box::pin(sniff_h2c(&mut io, &state)).await {
            Some(h2) => state.h2.set(h2),
            None => return,
        }
    }
    if state.h2.get() {
        if state.listener.h2_limits.hyper_server {
            Box::pin(super::serve_h2::serve(io, &state, closing.as_mut())).await;
        } else {
            // Every response of the own HTTP/2 server goes out through its
            // own stream writer.
            state.set_own_writer(true);
            let ClientIo { stream, replay, .. } = io;
            Box::pin(super::h2::serve::serve(
                stream,
                replay,
                &state,
                closing.as_mut(),
            ))
            .await;
        }
        return;
    }
    let timer = tokio::time::sleep_until(state.deadline.get().min(now + PARK_AFTER));
    tokio::pin!(timer);
    loop {
        // The plainest requests are served by the proxy's own reader; the
        // first one it does not take goes to hyper, with the bytes read.
        let own = Box::pin(super::h1::serve(
            &mut io,
            &state,
            timer.as_mut(),
            closing.as_mut(),
        ));
        match own.await {
            super::h1::Outcome::Done => return,
            super::h1::Outcome::Linger => {
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut io.stream).await;
                Box::pin(super::linger::linger_close(io.stream)).await;
                return;
            }
            super::h1::Outcome::Parked => {}
            super::h1::Outcome::Hyper => {
                // Boxed like the other paths: a task is as large as its
                // future's largest state, and a parked connection keeps it.
                io = match Box::pin(drive(io, &state, timer.as_mut(), closing.as_mut())).await {
                    Active::Parked(io) => io,
                    Active::Upgraded(mut io, client_buf, upstream) => {
                        // A tunnel has its own idle timeout, both ways.
                        io.stream.set_send_timeout(None);
                        Box::pin(super::tunnel::run(io.stream, client_buf, upstream, &state)).await;
                        return;
                    }
                    Active::Linger(mut io) => {
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut io.stream).await;
                        Box::pin(super::linger::linger_close(io.stream)).await;
                        return;
                    }
                    Active::Done => return,
                };
                state.park.set(false);
                state.parked.set(false);
                if !io.replay.is_empty() {
                    continue;
                }
            }
        }
        // Parked: nothing of either HTTP path is held until the client
        // sends again.
        tracing::trace!(peer = %state.peer, "parked idle connection");
        state.framing.borrow_mut().release_memory();
        io.stream.release_memory();
        // Plain TCP: the worker's parked set holds the socket and this task
        // ends (see `parked`); the next request gets a new one.
        if io.replay.is_empty() && !state.check_stale() {
            io = match hand_over(io, &state, &mut admitted) {
                Ok(()) => return,
                Err(io) => io,
            };
        }
        if !park(&mut io, &state, timer.as_mut(), closing.as_mut()).await {
            return;
        }
    }
}

/// Gives an idle plain-TCP connection to the worker's parked set; `Err`
/// hands `io` back (TLS, bytes still queued, or the set refused it).
fn hand_over(
    io: ClientIo,
    state: &Rc<ConnState>,
    admitted: &mut Option<Admitted>,
) -> Result<(), ClientIo> {
    let ClientIo {
        stream,
        state: io_state,
        replay,
    } = io;
    let Some(slot_admitted) = admitted.take() else {
        return Err(ClientIo {
            stream,
            state: io_state,
            replay,
        });
    };
    let socket = match stream.into_idle_socket() {
        Ok(s) => s,
        Err(stream) => {
            *admitted = Some(slot_admitted);
            return Err(ClientIo {
                stream,
                state: io_state,
                replay,
            });
        }
    };
    let entry = super::parked::Entry {
        stream: socket,
        peer: state.peer,
        slot: state.slot.clone(),
        admitted: slot_admitted,
        deadline: state.deadline.get(),
        expires: state.expires,
    };
    super::parked::park(&state.worker, entry).map_err(|e| {
        let e = *e;
        *admitted = Some(e.admitted);
        ClientIo {
            stream: Stream::plain_lazy(e.stream),
            state: io_state,
            replay,
        }
    })
}

/// `d` ±10 %, spread by the client's port, so that connections made
/// together (after a deploy, a failover) do not all expire together.
fn jittered(d: Duration, peer: SocketAddr) -> Duration {
    let bits = u64::from(peer.port()).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44;
    #[allow(clippy::cast_precision_loss)]
    let frac = bits as f64 / (1u64 << 20) as f64;
    d.mul_f64(0.9 + 0.2 * frac)
}

/// Waits for a parked connection's next byte: true when it arrives, false
/// when the connection must close (idle timeout, reload or shutdown).
async fn park(
    io: &mut ClientIo,
    state: &ConnState,
    mut timer: Pin<&mut tokio::time::Sleep>,
    mut closing: Pin<&mut crate::worker::Closing>,
) -> bool {
    if state.is_closing() {
        // Stale or expired already: a last request within the grace.
        state.close_soon(Instant::now());
    }
    loop {
        tokio::select! {
            biased;
            ready = io.stream.readable() => {
                if ready.is_err() {
                    return false;
                }
                timer.as_mut().reset(Instant::now() + PARK_AFTER);
                return true;
            }
            _ = timer.as_mut() => {
                if Instant::now() >= state.deadline.get() {
                    tracing::debug!(peer = %state.peer, "closing idle client connection");
                    return false;
                }
                timer.as_mut().reset(state.deadline.get());
            }
            _ = closing.as_mut(), if !state.is_closing() => {
                state.on_closing(closing.as_mut());
                timer.as_mut().reset(state.deadline.get());
            }
        }
    }
}

/// On a plain listener that accepts h2c: reads until the first bytes tell
/// the HTTP/2 preface from an HTTP/1 request. The bytes read are replayed
/// to whichever server takes the connection. `None`: the client closed or
/// stalled.
async fn sniff_h2c(io: &mut ClientIo, state: &ConnState) -> Option<bool> {
    let mut buf = bytes::BytesMut::with_capacity(H2_PREFACE.len());
    let deadline = state.deadline.get();
    loop {
        let read = tokio::time::timeout_at(deadline, async {
            tokio::io::AsyncReadExt::read_buf(&mut io.stream, &mut buf).await
        })
        .await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => return None,
        }
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            // HTTP/1: these bytes start a request; the framing guard must
            // see them as hyper will.
            state.on_read(&buf);
            io.replay = buf.freeze();
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            io.replay = buf.freeze();
            return Some(true);
        }
    }
}

/// What a connection's timer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tick {
    /// A client timeout expired, or the connection is idle and must close.
    Close,
    /// Idle for at least [`PARK_AFTER`]: buffers may be released.
    IdleLong,
    /// Nothing to do.
    Continue,
}

impl ConnState {
    /// The connection's timer fired: checks the phase deadlines and re-arms
    /// it. It wakes at least every [`PARK_AFTER`]: phases change without
    /// touching the timer (re-arming it per request would cost more).
    pub(super) fn tick(&self, mut timer: Pin<&mut tokio::time::Sleep>) -> Tick {
        let now = Instant::now();
        let phase = self.phase();
        let next = now + PARK_AFTER;
        // Past its lifetime: the response under way says `Connection:
        // close`, an idle connection closes below.
        self.expired(now);
        if phase == Phase::Busy {
            timer.as_mut().reset(next);
            return Tick::Continue;
        }
        if now >= self.deadline.get() {
            tracing::debug!(peer = %self.peer, ?phase, "closing client connection: timeout");
            return Tick::Close;
        }
        if phase == Phase::Idle && self.closing.get() {
            self.close_soon(now);
        }
        timer.as_mut().reset(next.min(self.deadline.get()));
        if phase == Phase::Idle && now >= self.idle_since.get() + PARK_AFTER {
            Tick::IdleLong
        } else {
            Tick::Continue
        }
    }

    /// A reload or shutdown signal arrived. A stale connection in the
    /// middle of a request finishes it with `Connection: close`; an idle one
    /// gets [`CLOSE_GRACE`] for a last request (the caller's timer is armed
    /// no later than [`PARK_AFTER`] ahead, and [`tick`](Self::tick) re-arms
    /// it to the deadline). A reload that did not touch this listener
    /// re-arms `closing`.
    pub(super) fn on_closing(&self, mut closing: Pin<&mut crate::worker::Closing>) {
        if !self.check_stale() {
            closing.set(self.worker.closing());
        } else if self.phase() == Phase::Idle {
            self.close_soon(Instant::now());
        }
    }

    /// For the HTTP/2 driver: the connection's idle deadline, when no
    /// stream is open.
    pub(super) fn idle_deadline(&self) -> Option<Instant> {
        (self.streams.get() == 0).then(|| self.deadline.get())
    }

    /// For the HTTP/2 driver: whether a reload or shutdown made this
    /// connection stale (it then says GOAWAY).
    pub(super) fn stale(&self) -> bool {
        self.check_stale()
    }
}
