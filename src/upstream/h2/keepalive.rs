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
//!
//! Without keepalive, a request whose wait for its response head was
//! given up (its `response_timeout`, or its client went away) has the
//! connection *probed*: one PING, answered within the probe timeout or
//! the connection is closed. Probes are at most one per [`PROBE_EVERY`] per
//! connection, the PING rate gRPC servers accept by default (grpc-go
//! answers faster ones with GOAWAY `too_many_pings`).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use std::time::Duration;

use ::h2::{Ping, PingPong};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::H2Keepalive;

/// The least time between two probes of one connection.
pub const PROBE_EVERY: Duration = Duration::from_secs(300);

/// How a pool watches its HTTP/2 connections.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    /// Keepalive PINGs (`h2_keepalive_interval`), if configured.
    pub keepalive: Option<H2Keepalive>,
    /// How long a probe's PING may go unanswered.
    pub probe_timeout: Duration,
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness {
            keepalive: None,
            probe_timeout: Duration::from_secs(20),
        }
    }
}

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
    /// A PING (what it was for: keepalive, or a probe) went unanswered,
    /// and nothing else came either: the connection should be closed.
    Silent(&'static str),
    /// The connection failed or closed on its own.
    Closed,
}

/// Watches the connection until it is found silent ([`Verdict::Silent`])
/// or ends: with keepalive, pings it whenever nothing was heard from it
/// for the interval; without, pings it when `probe` is notified (at most
/// once per [`PROBE_EVERY`]). `heard` is the flag of the connection's
/// [`Heard`] transport; the connection's driver must be polled meanwhile
/// (it sends the PINGs and reads the answers).
pub(super) async fn watch(
    pings: &mut PingPong,
    heard: &Cell<bool>,
    probe: &Notify,
    live: Liveness,
) -> Verdict {
    let Some(ka) = live.keepalive else {
        let mut last: Option<Instant> = None;
        loop {
            probe.notified().await;
            if last.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
                continue;
            }
            last = Some(Instant::now());
            match ping(pings, heard, live.probe_timeout).await {
                Answer::Heard => {}
                Answer::Nothing => return Verdict::Silent("a PING after a request gave up"),
                Answer::Closed => return Verdict::Closed,
            }
        }
    };
    loop {
        // Quiet for a whole interval?
        loop {
            heard.set(false);
            tokio::time::sleep(ka.interval).await;
            if !heard.get() {
                break;
            }
        }
        match ping(pings, heard, ka.timeout).await {
            Answer::Heard => {}
            Answer::Nothing => return Verdict::Silent("a keepalive PING"),
            Answer::Closed => return Verdict::Closed,
        }
    }
}

/// What came back after a PING.
enum Answer {
    /// Its ACK, or other frames in time.
    Heard,
    /// Nothing within the timeout.
    Nothing,
    /// The connection ended.
    Closed,
}

/// Sends a PING and waits up to `timeout` for its ACK; anything else heard
/// in the meantime restarts the wait (a peer streaming a lot may answer
/// late, but it is there).
async fn ping(pings: &mut PingPong, heard: &Cell<bool>, timeout: Duration) -> Answer {
    if pings.send_ping(Ping::opaque()).is_err() {
        return Answer::Closed;
    }
    loop {
        heard.set(false);
        let pong = std::future::poll_fn(|cx| pings.poll_pong(cx));
        match tokio::time::timeout(timeout, pong).await {
            Ok(Ok(_)) => return Answer::Heard,
            Ok(Err(_)) => return Answer::Closed,
            Err(_) if heard.get() => {}
            Err(_) => return Answer::Nothing,
        }
    }
}
