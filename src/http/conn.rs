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

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::framing::Framing;
use crate::runtime::ListenerRt;
use crate::worker::WorkerCtx;

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
    pub listener: Arc<ListenerRt>,
    pub peer: SocketAddr,
    /// `peer`'s IP as header text (for X-Forwarded-For), made once.
    pub peer_ip: http::HeaderValue,
    pub worker: Rc<WorkerCtx>,
    phase: Cell<Phase>,
    deadline: Cell<Instant>,
    pub framing: RefCell<Framing>,
}

impl ConnState {
    pub fn phase(&self) -> Phase {
        self.phase.get()
    }

    /// The request is being served.
    pub fn set_busy(&self) {
        self.phase.set(Phase::Busy);
    }

    /// The response ended: the keep-alive idle timeout starts.
    pub fn set_idle(&self) {
        self.phase.set(Phase::Idle);
        self.deadline
            .set(Instant::now() + self.listener.timeouts.idle);
    }

    /// Bytes arrived from the client.
    fn on_read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase.get() == Phase::Idle {
            self.phase.set(Phase::Head);
            self.deadline
                .set(Instant::now() + self.listener.timeouts.request_header);
        }
        self.framing.borrow_mut().feed(bytes);
    }
}

/// The client socket as hyper sees it, observing every byte read.
pub struct ClientIo {
    stream: TcpStream,
    state: Rc<ConnState>,
}

impl Read for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // SAFETY: the tokio ReadBuf only writes initialised bytes into the
        // cursor's spare capacity, and we advance by exactly what it filled.
        let n = unsafe {
            let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
            match Pin::new(&mut this.stream).poll_read(cx, &mut tbuf) {
                Poll::Ready(Ok(())) => {
                    this.state.on_read(tbuf.filled());
                    tbuf.filled().len()
                }
                other => return other,
            }
        };
        // SAFETY: `n` bytes were initialised by the read above.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl Write for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Serves one accepted client connection to completion.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerRt>,
    worker: Rc<WorkerCtx>,
) {
    let _active = worker.track();
    let _ = stream.set_nodelay(true);
    let closing = worker.closing();
    let state = Rc::new(ConnState {
        framing: RefCell::new(Framing::new(listener.limits.max_header_bytes)),
        phase: Cell::new(Phase::Idle),
        // The first request must arrive within the header timeout.
        deadline: Cell::new(Instant::now() + listener.timeouts.request_header),
        listener,
        peer,
        peer_ip: super::headers::ip_value(peer.ip()),
        worker,
    });
    let io = ClientIo {
        stream,
        state: state.clone(),
    };
    let svc_state = state.clone();
    let service = hyper::service::service_fn(move |req| {
        let st = svc_state.clone();
        async move { Ok::<_, std::convert::Infallible>(super::proxy::handle(st, req).await) }
    });
    let conn = state.listener.http.serve_connection(io, service);
    tokio::pin!(conn);
    let timer = tokio::time::sleep_until(state.deadline.get());
    tokio::pin!(timer);
    tokio::pin!(closing);
    let mut closed = false;
    loop {
        tokio::select! {
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(peer = %state.peer, error = %e, "client connection ended with an error");
                }
                return;
            }
            _ = &mut timer => {
                let now = Instant::now();
                match state.phase() {
                    Phase::Busy => timer.as_mut().reset(now + state.listener.timeouts.idle),
                    phase if now >= state.deadline.get() => {
                        tracing::debug!(peer = %state.peer, ?phase, "closing client connection: timeout");
                        return;
                    }
                    _ => timer.as_mut().reset(state.deadline.get()),
                }
            }
            _ = &mut closing, if !closed => {
                closed = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
