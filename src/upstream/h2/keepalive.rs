//! Keepalive PINGs on HTTP/2 upstream connections (a pool's
//! `h2_keepalive_interval`, Envoy's `connection_keepalive`).
//!
//! Why this exists: one HTTP/2 connection carries every request of a worker
//! to an endpoint. When the endpoint's host vanishes, or a middlebox
//! (a cloud load balancer, a NAT, a firewall) drops the connection's state
//! without a reset, nothing tells the proxy: the kernel retransmits for
//! some fifteen minutes, and meanwhile every request sent on that
//! connection waits for its `response_timeout`. A PING that goes
//! unanswered finds that out in seconds, and the connection is closed so
//! the next request opens a new one.
//!
//! How: the transport is wrapped in [`Heard`], which notes that something
//! was read. After `interval` with nothing read a PING is sent; anything
//! read within `timeout` after it (its ACK, or any other frame) proves the
//! peer alive. A connection that is busy is never pinged.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use ::h2::{Ping, PingPong};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::H2Keepalive;

/// A transport that records whether anything was read from it since the
/// flag was last cleared.
pub(super) struct Heard<T> {
    io: T,
    heard: Rc<Cell<bool>>,
}

impl<T> Heard<T> {
    pub(super) fn new(io: T, heard: Rc<Cell<bool>>) -> Heard<T> {
        Heard { io, heard }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Heard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.heard.set(true);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Heard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Why [`watch`] returned.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A PING went unanswered, and nothing else came either: the
    /// connection should be closed.
    Silent,
    /// The connection failed or closed on its own.
    Closed,
}

/// Pings the peer whenever nothing was heard from it for `ka.interval`,
/// until a PING goes unanswered for `ka.timeout` ([`Verdict::Silent`]) or
/// the connection ends. `heard` is the flag of the connection's [`Heard`]
/// transport; the connection's driver must be polled meanwhile (it sends
/// the PINGs and reads the answers).
pub(super) async fn watch(pings: &mut PingPong, heard: &Cell<bool>, ka: H2Keepalive) -> Verdict {
    loop {
        // Quiet for a whole interval?
        loop {
            heard.set(false);
            tokio::time::sleep(ka.interval).await;
            if !heard.get() {
                break;
            }
        }
        if pings.send_ping(Ping::opaque()).is_err() {
            return Verdict::Closed;
        }
        // Wait for the ACK; anything else heard in the meantime restarts
        // the wait (a peer streaming a lot may answer late, but it is
        // there).
        loop {
            heard.set(false);
            let pong = std::future::poll_fn(|cx| pings.poll_pong(cx));
            match tokio::time::timeout(ka.timeout, pong).await {
                Ok(Ok(_)) => break,
                Ok(Err(_)) => return Verdict::Closed,
                Err(_) if heard.get() => {}
                Err(_) => return Verdict::Silent,
            }
        }
    }
}
