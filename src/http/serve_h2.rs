//! Serving one HTTP/2 client connection (ALPN `h2` or prior-knowledge h2c)
//! with hyper's HTTP/2 server: the fallback a listener chooses with
//! `h2_server = "hyper"` (the own server, `super::h2::serve`, is the
//! default). The lingering close below serves both.
//!
//! hyper's HTTP/2 server runs the streams; each request goes through the
//! same proxy path as HTTP/1 requests (so the streams of one connection are
//! balanced one by one). The connection's safety limits (concurrent
//! streams, header list size, Rapid Reset cap) are in the listener's
//! builder. Here: the idle timeout (no stream open for `idle_timeout`), and
//! a graceful GOAWAY on reload, shutdown or idle, letting open streams end
//! (a client that then never acknowledges is dropped after a short grace).
//!
//! **Lingering close.** When the server ends a connection (a GOAWAY for a
//! flood, or after a graceful one) the client may still be writing. Closing
//! a socket with unread bytes makes the kernel send a reset, and a reset can
//! reach the client before it has read the GOAWAY, so it sees a broken pipe
//! instead of the reason. Like NGINX's `lingering_close`, the socket is kept
//! after the server's shutdown and read to the end (or for at most
//! [`LINGER_TIME`] and [`LINGER_BYTES`]) before it is closed.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::Instant;

use super::conn::{ClientIo, ConnState, PARK_AFTER};
use crate::net::Stream;

/// The longest a closed connection's socket is read and discarded.
pub(super) const LINGER_TIME: Duration = Duration::from_secs(1);
/// The most bytes discarded in that time; a client sending more is reset.
const LINGER_BYTES: usize = 1 << 20;

/// How long a connection told to go away may stay without open streams
/// (waiting for the client to acknowledge the GOAWAY's PING).
const GOAWAY_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the HTTP/2 server over `io` until the connection ends.
pub(super) async fn serve(
    io: ClientIo,
    state: &Rc<ConnState>,
    mut closing: Pin<&mut crate::worker::Closing>,
) {
    let svc_state = state.clone();
    // Each stream's future is boxed: hyper spawns one task per stream and
    // tokio copies a task's whole future on spawn and at every stage change
    // (running, finished, consumed). Boxed, those copies are a pointer;
    // inline, they were kilobytes each and the largest item in the HTTP/2
    // profile (memcpy, ~9 % of CPU).
    let service = hyper::service::service_fn(move |req| {
        let fut = Box::pin(super::proxy::handle(svc_state.clone(), req.map(Into::into)));
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    });
    let linger = Rc::new(Cell::new(None));
    let io = H2Io {
        io: Some(io),
        shut: false,
        linger: linger.clone(),
    };
    {
        // In a block of its own: the connection (and with it the socket,
        // into `linger` when the server shut it down) is dropped at its end.
        let conn = state.listener.h2.serve_connection(io, service);
        tokio::pin!(conn);
        let timer = tokio::time::sleep(PARK_AFTER);
        tokio::pin!(timer);
        let mut going_away = false;
        // When the GOAWAY was sent; a client that never acknowledges its PING
        // is dropped once it has no stream open for GOAWAY_GRACE.
        let mut away_since = Instant::now();
        loop {
            tokio::select! {
                biased;
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(peer = %state.peer, error = %e, "HTTP/2 client connection ended with an error");
                    }
                    break;
                }
                _ = timer.as_mut() => {
                    let now = Instant::now();
                    if going_away
                        && state.idle_deadline().is_some()
                        && now >= away_since + GOAWAY_GRACE
                    {
                        tracing::debug!(peer = %state.peer, "dropping HTTP/2 client connection that ignored GOAWAY");
                        break;
                    }
                    if !going_away && state.expired(now) {
                        tracing::debug!(peer = %state.peer, "HTTP/2 client connection reached max_connection_duration");
                        conn.as_mut().graceful_shutdown();
                        going_away = true;
                        away_since = now;
                    } else if !going_away && state.idle_deadline().is_some_and(|d| now >= d) {
                        tracing::debug!(peer = %state.peer, "closing idle HTTP/2 client connection");
                        conn.as_mut().graceful_shutdown();
                        going_away = true;
                        away_since = now;
                    }
                    let next = now + PARK_AFTER;
                    let wake = if going_away {
                        next
                    } else {
                        state.idle_deadline().map_or(next, |d| d.max(now).min(next))
                    };
                    timer.as_mut().reset(wake);
                }
                _ = closing.as_mut(), if !going_away => {
                    if state.stale() {
                        // GOAWAY: open streams finish, new ones go to a new connection.
                        conn.as_mut().graceful_shutdown();
                        going_away = true;
                        away_since = Instant::now();
                    } else {
                        closing.set(state.worker.closing());
                    }
                }
            }
        }
    }
    if let Some(stream) = linger.take() {
        Box::pin(linger_close(stream)).await;
    }
}

/// The client connection as hyper's HTTP/2 server sees it. Once the server
/// has shut down its side, dropping it hands the socket to `linger`.
struct H2Io {
    io: Option<ClientIo>,
    shut: bool,
    linger: Rc<Cell<Option<Stream>>>,
}

impl H2Io {
    fn io(&mut self) -> io::Result<Pin<&mut ClientIo>> {
        match &mut self.io {
            Some(io) => Ok(Pin::new(io)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Drop for H2Io {
    fn drop(&mut self) {
        if self.shut
            && let Some(io) = self.io.take()
        {
            self.linger.set(Some(io.stream));
        }
    }
}

impl Read for H2Io {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().io()?.poll_read(cx, buf)
    }
}

impl Write for H2Io {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io()?.poll_write(cx, buf)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = std::task::ready!(this.io()?.poll_shutdown(cx));
        this.shut = true;
        Poll::Ready(res)
    }
}

/// Reads and discards what the client still sends after the server's
/// shutdown, until it closes, [`LINGER_TIME`] passes or [`LINGER_BYTES`]
/// were read; then the socket is closed.
pub(super) async fn linger_close(mut stream: Stream) {
    let deadline = Instant::now() + LINGER_TIME;
    let mut buf = vec![0u8; 16 << 10];
    let mut left = LINGER_BYTES;
    loop {
        match tokio::time::timeout_at(deadline, stream.readable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        match stream.try_read_raw(&mut buf) {
            Ok(0) => return,
            Ok(n) if n >= left => return,
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
